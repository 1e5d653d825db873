package wizard

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/inf"
)

// uploadPage collects the [WDS] settings. The upload itself is not
// available yet: agent.Prepare refuses UploadToWDSServer=Yes, and the
// answers can still be saved into an INF.
type uploadPage struct {
	upload *choiceField
	text   []*textField // server, group, user, password
	focus  int
}

func newUploadPage(s *session) *uploadPage {
	sel := 0
	if s.s.Upload {
		sel = 1
	}
	pw := newTextField(inf.KeyPassword, "Password", s.s.Password.Reveal())
	pw.secret = true
	return &uploadPage{
		upload: newChoiceField(inf.KeyUploadToWDSServer, "Upload", []string{"No", "Yes"}, sel),
		text: []*textField{
			newTextField(inf.KeyWDSServerName, "Server", s.s.ServerName),
			newTextField(inf.KeyWDSImageGroup, "Image group", s.s.ImageGroup),
			newTextField(inf.KeyUsername, "User name", s.s.Username),
			pw,
		},
	}
}

func (*uploadPage) title() string { return "Upload to a WDS server (optional)" }
func (*uploadPage) back() bool    { return true }

func (p *uploadPage) fields() []field {
	fs := []field{p.upload}
	if p.upload.sel == 1 {
		for _, t := range p.text {
			fs = append(fs, t)
		}
	}
	return fs
}

func (p *uploadPage) enter(s *session) tea.Cmd {
	for _, f := range p.fields() {
		f.SetErr(s.problemFor(f.Key()))
	}
	p.focus = 0
	for i, f := range p.fields() {
		if f.Err() != "" {
			p.focus = i
			break
		}
	}
	return nil
}

func (p *uploadPage) keys(*session) []key.Binding {
	bs := []key.Binding{keyNext}
	if len(p.fields()) > 1 {
		bs = append(bs, keyMove)
	}
	if p.focus == 0 {
		bs = append(bs, keyChoose)
	}
	return bs
}

// store sets a field's key and shows the agent's verdict on it.
func (p *uploadPage) store(s *session, f field) bool {
	switch f := f.(type) {
	case *choiceField:
		s.s.Set(f.Key(), f.Value())
		return true
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

func (p *uploadPage) update(s *session, msg tea.Msg) (tea.Cmd, nav) {
	fs := p.fields()
	p.focus = min(p.focus, len(fs)-1)
	f := fs[p.focus]
	if m, ok := msg.(tea.PasteMsg); ok {
		if f.Paste(m.Content) {
			f.SetErr("")
			s.dropProblems(f.Key())
		}
		return nil, nav{}
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil, nav{}
	}
	switch {
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
	case matches(k, keyMove):
		p.store(s, f)
		p.focus = step(k, p.focus, len(p.fields()))
		return nil, nav{}
	}
	if _, changed := f.Update(k); changed {
		f.SetErr("")
		s.dropProblems(f.Key())
		if f == field(p.upload) {
			p.store(s, f)
		}
	}
	return nil, nav{}
}

func (p *uploadPage) view(s *session, st styles, w, h int) ([]string, *tea.Cursor) {
	lines := []string{
		"Optionally send the image to a Windows Deployment Services server.",
		"Uploading is not available in this version: with Upload=Yes the",
		"summary refuses to start; the answers can still be saved to an INF.",
		"",
	}
	var cursor *tea.Cursor
	for i, f := range p.fields() {
		ls, c := fieldLines(st, f, w, i == p.focus)
		if c >= 0 {
			cursor = tea.NewCursor(c, len(lines))
		}
		lines = append(lines, ls...)
	}
	return lines, cursor
}
