package wizard

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/humanize"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// uploadPage is the upload part of the WDS wizard's destination: whether
// to upload, the server (and how to trust its certificate), a Connect
// action that asks for the credentials, the image groups the server lists
// (those the account may add to can be chosen; each with its compression
// type), and whether to delete the local WIM once the server has verified
// the image. Connecting and every check are the agent's
// (agent.StoreGroups, agent.CheckKeys, agent.Prepare).
type uploadPage struct {
	upload  *choiceField
	server  *textField
	cert    *textField
	user    *textField
	pw      *textField
	connect *buttonField
	groups  *groupList
	del     *choiceField
	// askCreds is true once the credentials are asked (Connect pressed,
	// or the INF gives them).
	askCreds bool
	// connecting is true while a connection runs; gen tells its answer
	// from a stale one.
	connecting bool
	gen        int
	// connected says what the list is for ("" when no list): the server,
	// certificate and user it came from; note is the line under Connect.
	connected string
	note      string
	focus     int
}

type connectMsg struct {
	gen    int
	user   string
	groups []protocol.Group
	ps     agent.Problems
}

var (
	keyConnect = binding("Enter", "connect", "enter")
	keyGroup   = binding("Up/Down", "group", "up", "down")
	keyPick    = binding("Enter", "choose this group", "enter")
)

func newUploadPage(s *session) *uploadPage {
	sel := 0
	if s.s.Upload {
		sel = 1
	}
	pw := newTextField(inf.KeyPassword, "Password", s.s.Password.Reveal())
	pw.secret = true
	del := 0
	if s.s.DeleteLocalWimOnSuccess {
		del = 1
	}
	return &uploadPage{
		upload:   newChoiceField(inf.KeyUploadToWDSServer, "Upload", []string{"No", "Yes"}, sel),
		server:   newTextField(inf.KeyWDSServerName, "Server", s.s.ServerName),
		cert:     newTextField(inf.KeyWDSServerCertificate, "Certificate", s.s.ServerCertificate),
		user:     newTextField(inf.KeyUsername, "User name", s.s.Username),
		pw:       pw,
		connect:  &buttonField{baseField: baseField{label: ""}, text: "[ Connect ]"},
		groups:   &groupList{baseField: baseField{key: inf.KeyWDSImageGroup, label: "Image group"}, chosen: s.s.ImageGroup},
		del:      newChoiceField(inf.KeyDeleteLocalWimOnSuccess, "Delete local", []string{"No", "Yes"}, del),
		askCreds: s.s.Username != "" || !s.s.Password.IsZero(),
	}
}

func (*uploadPage) title() string { return "Upload to a WDS server (optional)" }
func (*uploadPage) back() bool    { return true }

// fields are the page's inputs in focus order.
func (p *uploadPage) fields() []field {
	fs := []field{p.upload}
	if p.upload.sel == 0 {
		return fs
	}
	fs = append(fs, p.server, p.cert)
	if p.askCreds {
		fs = append(fs, p.user, p.pw)
	}
	fs = append(fs, p.connect)
	if len(p.groups.list) > 0 || p.groups.chosen != "" {
		fs = append(fs, p.groups)
	}
	return append(fs, p.del)
}

// target is what a connection is for.
func (p *uploadPage) target() string {
	return p.server.Value() + "\x00" + p.cert.Value() + "\x00" + p.user.Value()
}

func (p *uploadPage) enter(s *session) tea.Cmd {
	if p.connecting {
		// Left while connecting: that answer goes to another page, and
		// is stale when it comes back here.
		p.connecting, p.note = false, ""
		p.gen++
	}
	for _, f := range p.fields() {
		f.SetErr(s.problemFor(f.Key()))
	}
	for _, f := range []field{p.user, p.pw} {
		if f.Err() != "" {
			p.askCreds = true
		}
	}
	if p.groups.chosen != s.s.ImageGroup {
		p.groups.chosen = s.s.ImageGroup
	}
	p.focus = 0
	if p.upload.sel == 1 && p.server.Value() == "" {
		// The INF asks for an upload and names no server: it comes first.
		p.focusOn(p.server)
	}
	for i, f := range p.fields() {
		if f.Err() != "" {
			p.focus = i
			break
		}
	}
	return nil
}

func (p *uploadPage) focused() field {
	fs := p.fields()
	p.focus = min(p.focus, len(fs)-1)
	return fs[p.focus]
}

func (p *uploadPage) keys(*session) []key.Binding {
	if p.connecting {
		return nil
	}
	f := p.focused()
	var bs []key.Binding
	switch {
	case p.connects(f):
		bs = append(bs, keyConnect)
	case f == field(p.groups) && len(p.groups.list) > 0:
		bs = append(bs, keyPick)
	default:
		bs = append(bs, keyNext)
	}
	if len(p.fields()) > 1 {
		if f == field(p.groups) && len(p.groups.list) > 1 {
			bs = append(bs, keyTab, keyGroup)
		} else {
			bs = append(bs, keyMove)
		}
	}
	if _, ok := f.(*choiceField); ok {
		bs = append(bs, keyChoose)
	}
	return bs
}

// store sets a field's key and shows the agent's verdict on it.
func (p *uploadPage) store(s *session, f field) bool {
	switch f := f.(type) {
	case *buttonField:
		return true
	case *groupList:
		if f.chosen == "" && p.upload.sel == 1 {
			f.SetErr("connect to the server and choose an image group")
			return false
		}
		return f.Err() == ""
	case *choiceField:
		s.s.Set(f.Key(), f.Value())
		if f == p.upload && f.sel == 0 {
			// No upload: nothing of it can be wrong.
			s.s.Set(inf.KeyDeleteLocalWimOnSuccess, "No")
			p.del.sel = 0
		}
		if f == p.del || f == p.upload {
			var msgs []string
			for _, pr := range agent.CheckKeys(s.s, f.Key()) {
				msgs = append(msgs, pr.Msg)
			}
			f.SetErr(strings.Join(msgs, "\n"))
		}
		return f.Err() == ""
	case *textField:
		v := f.Value()
		if f.secret {
			v = f.Raw()
		}
		s.s.Set(f.Key(), v)
	}
	var msgs []string
	for _, pr := range agent.CheckKeys(s.s, f.Key()) {
		msgs = append(msgs, pr.Msg)
	}
	f.SetErr(strings.Join(msgs, "\n"))
	return f.Err() == ""
}

// connects reports whether Enter on f connects: on Connect, and on the
// password while no group is known yet (the credentials were just asked).
func (p *uploadPage) connects(f field) bool {
	return f == field(p.connect) || f == field(p.pw) && p.groups.chosen == "" && p.connected != p.target()
}

// startConnect checks the server's fields and the credentials, asks for
// the credentials when they are missing, and connects.
func (p *uploadPage) startConnect(s *session) tea.Cmd {
	for _, f := range []field{p.server, p.cert} {
		if !p.store(s, f) {
			p.focusOn(f)
			return nil
		}
	}
	if !p.askCreds || p.user.Value() == "" {
		p.askCreds = true
		p.note = "The server asks who you are: enter the user name and password."
		p.focusOn(p.user)
		return nil
	}
	for _, f := range []field{p.user, p.pw} {
		if !p.store(s, f) {
			p.focusOn(f)
			return nil
		}
	}
	p.gen++
	p.connecting = true
	p.note = "Connecting to " + p.server.Value() + "..."
	c, ctx, ro, gen := *s.s, s.ctx, s.o.Run, p.gen
	return func() tea.Msg {
		user, gs, ps := agent.StoreGroups(ctx, &c, ro)
		return connectMsg{gen: gen, user: user, groups: gs, ps: ps}
	}
}

func (p *uploadPage) focusOn(f field) {
	for i, g := range p.fields() {
		if g == f {
			p.focus = i
		}
	}
}

// connected takes the server's answer: the group list, or the problems
// under the fields they concern.
func (p *uploadPage) connectedTo(s *session, m connectMsg) {
	p.connecting = false
	if len(m.ps) > 0 {
		p.note = "Not connected."
		for _, f := range []field{p.server, p.cert, p.user, p.pw} {
			var msgs []string
			for _, pr := range m.ps.Key(f.Key()) {
				msgs = append(msgs, pr.Msg)
			}
			if len(msgs) > 0 {
				f.SetErr(strings.Join(msgs, "\n"))
			}
		}
		for _, f := range []field{p.server, p.cert, p.user, p.pw} {
			if f.Err() != "" {
				p.focusOn(f)
				break
			}
		}
		return
	}
	p.connected = p.target()
	p.groups.list = m.groups
	p.groups.SetErr("")
	writable := 0
	for _, g := range m.groups {
		if g.MayWrite {
			writable++
		}
	}
	p.note = fmt.Sprintf("Connected as %s: %d image groups, %d you may add images to.", m.user, len(m.groups), writable)
	p.groups.cursor = -1
	for i, g := range m.groups {
		if p.groups.chosen != "" && strings.EqualFold(g.Name, p.groups.chosen) {
			p.groups.cursor = i
			if !g.MayWrite {
				p.groups.SetErr(fmt.Sprintf("WDSImageGroup=%s: %s may not add images to it; choose another group", g.Name, m.user))
			} else {
				p.pick(s, i)
			}
		}
	}
	if p.groups.chosen != "" && p.groups.cursor < 0 {
		p.groups.SetErr(fmt.Sprintf("WDSImageGroup=%s: the server has no such group (or you may not see it); choose one", p.groups.chosen))
	}
	if p.groups.cursor < 0 {
		for i, g := range m.groups {
			if g.MayWrite {
				p.groups.cursor = i
				break
			}
		}
	}
	p.groups.cursor = max(0, p.groups.cursor)
	p.focusOn(p.groups)
}

// pick chooses group i of the list: its name, and its compression type
// for the capture (the images of a group share their data).
func (p *uploadPage) pick(s *session, i int) bool {
	g := p.groups.list[i]
	if !g.MayWrite {
		p.groups.SetErr(fmt.Sprintf("you may not add images to %s; choose a group marked as yours to add to", g.Name))
		return false
	}
	p.groups.chosen = g.Name
	p.groups.SetErr("")
	s.s.Set(inf.KeyWDSImageGroup, g.Name)
	s.dropProblems(inf.KeyWDSImageGroup)
	if g.Compression != "" {
		s.s.Set(inf.KeyCompression, g.Compression)
	}
	return true
}

func (p *uploadPage) update(s *session, msg tea.Msg) (tea.Cmd, nav) {
	if m, ok := msg.(connectMsg); ok {
		if m.gen == p.gen {
			p.connectedTo(s, m)
		}
		return nil, nav{}
	}
	if p.connecting {
		return nil, nav{}
	}
	fs := p.fields()
	f := p.focused()
	if m, ok := msg.(tea.PasteMsg); ok {
		if f.Paste(m.Content) {
			p.changed(s, f)
		}
		return nil, nav{}
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil, nav{}
	}
	switch {
	case matches(k, keyNext) && p.connects(f):
		return p.startConnect(s), nav{}
	case matches(k, keyNext) && f == field(p.pw):
		// A group is known (the INF's, or one chosen): Connect is
		// there to check it; Enter goes on to it.
		if !p.store(s, f) {
			return nil, nav{}
		}
		p.focusOn(p.groups)
		return nil, nav{}
	case matches(k, keyNext) && f == field(p.groups) && len(p.groups.list) > 0:
		if !p.pick(s, p.groups.cursor) {
			return nil, nav{}
		}
		p.focus++
		return nil, nav{}
	case matches(k, keyNext):
		if !p.store(s, f) {
			return nil, nav{}
		}
		if p.focus < len(fs)-1 {
			p.focus++
			return nil, nav{}
		}
		for i, g := range fs {
			if !p.store(s, g) {
				p.focus = i
				return nil, nav{}
			}
		}
		return nil, nav{kind: navNext}
	case f == field(p.groups) && len(p.groups.list) > 1 && matches(k, keyGroup):
		if k.String() == "down" {
			p.groups.cursor = min(len(p.groups.list)-1, p.groups.cursor+1)
		} else {
			p.groups.cursor = max(0, p.groups.cursor-1)
		}
		return nil, nav{}
	case matches(k, keyMove):
		if _, isText := f.(*textField); isText {
			p.store(s, f)
		}
		p.focus = step(k, p.focus, len(fs))
		return nil, nav{}
	}
	if _, changed := f.Update(k); changed {
		p.changed(s, f)
	}
	return nil, nav{}
}

// changed forgets what a changed value made stale: its messages, and the
// group list when the server or the account changed.
func (p *uploadPage) changed(s *session, f field) {
	f.SetErr("")
	s.dropProblems(f.Key())
	switch f {
	case field(p.upload), field(p.del):
		p.store(s, f)
	case field(p.server), field(p.cert), field(p.user), field(p.pw):
		if p.connected != "" {
			p.connected, p.groups.list = "", nil
			p.note = "The server or the account changed: connect again."
		}
	}
}

func (p *uploadPage) view(s *session, st styles, w, h int) ([]string, *tea.Cursor) {
	lines := []string{
		clip("Optionally send the image to an image store (imagestore serve). Connect to", w),
		clip("the server to choose the image group; only the data the group lacks is", w),
		clip("sent, and the local WIM is kept until the server has verified the image.", w),
		"",
	}
	var cursor *tea.Cursor
	for i, f := range p.fields() {
		focused := i == p.focus
		switch f {
		case field(p.connect):
			ls, _ := fieldLines(st, f, w, focused && !p.connecting)
			lines = append(lines, ls...)
			if p.note != "" {
				lines = append(lines, wrap(p.note, w, labelWidth, st.dim)...)
			}
			continue
		case field(p.groups):
			lines = append(lines, p.groups.lines(st, w, focused, s.s.Compression.String())...)
			continue
		}
		ls, c := fieldLines(st, f, w, focused)
		if c >= 0 {
			cursor = tea.NewCursor(c, len(lines))
		}
		lines = append(lines, ls...)
		if f == field(p.cert) && focused && f.Err() == "" {
			lines = append(lines, wrap("the SHA-256 fingerprint imagestore cert prints, or a CA file; empty: the system's CAs", w, labelWidth, st.dim)...)
		}
	}
	if p.connecting {
		cursor = nil
	}
	return lines, cursor
}

// buttonField is an action on the page (Connect): it has no value.
type buttonField struct {
	baseField
	text string
}

func (b *buttonField) Update(tea.KeyPressMsg) (bool, bool) { return false, false }
func (b *buttonField) Paste(string) bool                   { return false }
func (b *buttonField) View(st styles, w int, focused bool) (string, int) {
	if focused {
		return st.focus.Render(b.text), -1
	}
	return b.text, -1
}

// groupList is the image groups the server lists; a group the account may
// add to can be chosen.
type groupList struct {
	baseField
	list   []protocol.Group
	cursor int
	// chosen is the group chosen (or the INF's, before connecting).
	chosen string
}

func (g *groupList) Update(tea.KeyPressMsg) (bool, bool) { return false, false }
func (g *groupList) Paste(string) bool                   { return false }
func (g *groupList) View(st styles, w int, focused bool) (string, int) {
	return clip(g.chosen, w), -1
}

// lines renders the list: one row a group ("(*)" the chosen one, "x" one
// the account may not add to), its compression type, images and free
// space; before connecting only the INF's choice.
func (g *groupList) lines(st styles, w int, focused bool, capture string) []string {
	mark, label := "  ", fmt.Sprintf("%-*s", labelWidth-2, g.label)
	if focused {
		mark, label = "> ", st.focus.Render(label)
	}
	var lines []string
	if len(g.list) == 0 {
		lines = append(lines, clip(mark+label+g.chosen+st.dim.Render("  (from the INF; connect to check it)"), w))
	} else {
		lines = append(lines, mark+label+st.dim.Render("(Up/Down, Enter to choose)"))
		for i, gr := range g.list {
			sel := "( )"
			if strings.EqualFold(gr.Name, g.chosen) {
				sel = "(*)"
			}
			if !gr.MayWrite {
				sel = " x "
			}
			pointer := "  "
			if focused && i == g.cursor {
				pointer = "> "
			}
			comp := gr.Compression
			if comp == "" {
				comp = "new: " + capture
			}
			row := fmt.Sprintf("%s%s %-20s %-12s %3d images  %s free", pointer, sel, clip(gr.Name, 20), comp, gr.Images, humanize.Bytes(gr.FreeBytes))
			if !gr.MayWrite {
				row = fmt.Sprintf("%s%s %-20s read only: you may not add images", pointer, sel, clip(gr.Name, 20))
			}
			line := strings.Repeat(" ", labelWidth-4) + row
			if focused && i == g.cursor {
				line = st.focus.Render(clip(line, w))
			}
			lines = append(lines, clip(line, w))
		}
	}
	if g.Err() != "" {
		lines = append(lines, wrap("! "+g.Err(), w, labelWidth, st.err)...)
	}
	return lines
}
