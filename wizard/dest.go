package wizard

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/humanize"
)

// destSection is one part of the Destination page, with its own fields,
// checks and lines. The page has one today, the local WIM file; the upload
// to an image store (issue 16: server, Connect, credentials, the list of
// image groups) is to be a second section after it, so that both ways of
// storing the image are chosen on one page.
type destSection interface {
	// fields lists the fields shown now.
	fields(s *session) []field
	// check stores the section's fields in the answers and runs the
	// agent's checks, setting each field's message; it reports whether
	// the section can be used.
	check(s *session) bool
	// changed is called when the focused field's value changed.
	changed(s *session, f field)
	// lines renders the section; cursor is the cursor's cell in them.
	lines(s *session, st styles, w int, focus field) ([]string, *tea.Cursor)
	// enter refreshes the section from the answers and the problems.
	enter(s *session)
}

// destPage asks where the image is stored.
type destPage struct {
	sections []destSection
	focus    int // over the fields of all sections, in order
}

func newDestPage(s *session) *destPage {
	return &destPage{sections: []destSection{newLocalSection(s)}}
}

func (*destPage) title() string { return "Destination" }
func (*destPage) back() bool    { return true }

func (p *destPage) allFields(s *session) []field {
	var fs []field
	for _, sec := range p.sections {
		fs = append(fs, sec.fields(s)...)
	}
	return fs
}

// sectionOf returns the section holding field f.
func (p *destPage) sectionOf(s *session, f field) destSection {
	for _, sec := range p.sections {
		for _, g := range sec.fields(s) {
			if g == f {
				return sec
			}
		}
	}
	return p.sections[0]
}

func (p *destPage) focused(s *session) field {
	fs := p.allFields(s)
	p.focus = max(0, min(p.focus, len(fs)-1))
	return fs[p.focus]
}

func (p *destPage) enter(s *session) tea.Cmd {
	for _, sec := range p.sections {
		sec.enter(s)
	}
	p.focus = 0
	for i, f := range p.allFields(s) {
		if f.Err() != "" {
			p.focus = i
			break
		}
	}
	return nil
}

func (p *destPage) keys(s *session) []key.Binding {
	bs := []key.Binding{keyNext, keyMove}
	if _, ok := p.focused(s).(*choiceField); ok {
		bs = append(bs, keyChoose)
	}
	return bs
}

func (p *destPage) update(s *session, msg tea.Msg) (tea.Cmd, nav) {
	f := p.focused(s)
	if m, ok := msg.(tea.PasteMsg); ok {
		if f.Paste(m.Content) {
			p.sectionOf(s, f).changed(s, f)
		}
		return nil, nav{}
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil, nav{}
	}
	switch {
	case matches(k, keyNext):
		if !p.sectionOf(s, f).check(s) {
			p.focusFirstError(s)
			return nil, nav{}
		}
		if p.focus < len(p.allFields(s))-1 {
			p.focus++
			return nil, nav{}
		}
		for _, sec := range p.sections {
			if !sec.check(s) {
				p.focusFirstError(s)
				return nil, nav{}
			}
		}
		return nil, nav{kind: navNext}
	case matches(k, keyMove):
		p.sectionOf(s, f).check(s)
		p.focus = step(k, p.focus, len(p.allFields(s)))
		return nil, nav{}
	}
	if _, changed := f.Update(k); changed {
		p.sectionOf(s, f).changed(s, f)
	}
	return nil, nav{}
}

func (p *destPage) focusFirstError(s *session) {
	for i, f := range p.allFields(s) {
		if f.Err() != "" {
			p.focus = i
			return
		}
	}
}

func (p *destPage) view(s *session, st styles, w, h int) ([]string, *tea.Cursor) {
	var lines []string
	var cursor *tea.Cursor
	focus := p.focused(s)
	for _, sec := range p.sections {
		ls, c := sec.lines(s, st, w, focus)
		if c != nil {
			c.Y += len(lines)
			cursor = c
		}
		lines = append(lines, ls...)
	}
	return lines, cursor
}

// localSection is the WIM file on a local disk.
type localSection struct {
	file *textField
	comp *choiceField
	over *choiceField
	dest *agent.Destination
	// clash says that the image name is already in the WIM.
	clash string
}

var compressions = []images.Compression{images.CompressXPRESS, images.CompressLZX, images.CompressNone}

func compressionIndex(c images.Compression) int {
	for i, x := range compressions {
		if x == c {
			return i
		}
	}
	return 0
}

func newLocalSection(s *session) *localSection {
	over := 0
	if s.s.Overwrite == inf.OverwriteYes {
		over = 1
	}
	return &localSection{
		file: newTextField(inf.KeyDestinationFile, "WIM file", s.s.DestinationFile),
		comp: newChoiceField(inf.KeyCompression, "Compression", []string{"XPRESS", "LZX", "None"}, compressionIndex(s.s.Compression)),
		over: newChoiceField(inf.KeyOverwrite, "File exists", []string{"Append an image", "Overwrite it"}, over),
	}
}

func (l *localSection) fields(*session) []field {
	fs := []field{l.file, l.comp}
	if l.dest != nil && l.dest.Exists {
		fs = append(fs, l.over)
	}
	return fs
}

func (l *localSection) enter(s *session) {
	if l.file.Raw() != s.s.DestinationFile {
		l.file.SetValue(s.s.DestinationFile)
	}
	l.comp.sel = compressionIndex(s.s.Compression)
	// Problems of the last Prepare or of a failed capture (no room for
	// the data, found only once it was counted) stay shown until the
	// value changes, also when a fresh check does not find them.
	prior := map[string]string{}
	for _, k := range []string{inf.KeyDestinationFile, inf.KeyCompression, inf.KeyOverwrite, inf.KeyImageName} {
		prior[k] = s.problemFor(k)
	}
	if s.s.DestinationFile != "" {
		l.check(s)
	}
	for _, f := range []field{l.file, l.comp, l.over} {
		if f.Err() == "" && prior[f.Key()] != "" {
			f.SetErr(prior[f.Key()])
		}
	}
	if l.clash == "" {
		l.clash = prior[inf.KeyImageName]
	}
}

func (l *localSection) changed(s *session, f field) {
	f.SetErr("")
	s.dropProblems(f.Key())
	if f != field(l.file) {
		l.check(s) // a choice: check it at once
	}
}

// check stores the fields and shows what the agent says about them.
func (l *localSection) check(s *session) bool {
	s.s.Set(inf.KeyDestinationFile, l.file.Value())
	s.s.Compression = compressions[l.comp.sel]
	wasExisting := l.dest != nil && l.dest.Exists
	if wasExisting {
		s.s.Overwrite = []inf.Overwrite{inf.OverwriteAppend, inf.OverwriteYes}[l.over.sel]
	}
	d, ps := agent.CheckDestination(s.s, s.o.Run, s.source())
	if d != nil && d.Exists && !wasExisting {
		// The file choice shows now: it decides what the checks say.
		s.s.Overwrite = []inf.Overwrite{inf.OverwriteAppend, inf.OverwriteYes}[l.over.sel]
		d, ps = agent.CheckDestination(s.s, s.o.Run, s.source())
	}
	// A name the technician did not type is made unique.
	if clash := ps.Key(inf.KeyImageName); len(clash) > 0 && !s.nameTyped && d != nil {
		base := s.s.ImageName
		for n := 2; ; n++ {
			cand := fmt.Sprintf("%s (%d)", base, n)
			if d.ImageNamed(cand) == nil {
				im := d.ImageNamed(base)
				s.s.Set(inf.KeyImageName, cand)
				s.nameNote = fmt.Sprintf("The image is named %q: %q is already image %d of this WIM.", cand, im.Name, im.Index)
				break
			}
		}
		d, ps = agent.CheckDestination(s.s, s.o.Run, s.source())
	}
	l.dest = d
	l.comp.fixed = ""
	if d != nil && d.Exists && s.s.Overwrite == inf.OverwriteAppend && d.Unreadable == nil {
		l.comp.sel = compressionIndex(d.Compression)
		s.s.Compression = d.Compression
		l.comp.fixed = fmt.Sprintf("appending: the WIM's compression (%v) is used", d.Compression)
	}
	msg := func(key string) string {
		var m []string
		for _, p := range ps.Key(key) {
			m = append(m, p.Msg)
		}
		return strings.Join(m, "\n")
	}
	l.file.SetErr(msg(inf.KeyDestinationFile))
	l.comp.SetErr(msg(inf.KeyCompression))
	l.over.SetErr(msg(inf.KeyOverwrite))
	if !(d != nil && d.Exists) && l.over.Err() != "" {
		l.file.SetErr(strings.TrimSpace(l.file.Err() + "\n" + l.over.Err()))
	}
	l.clash = msg(inf.KeyImageName)
	s.problems = withoutTopic(s.problems, agent.TopicDestination)
	return len(ps) == 0
}

// withoutTopic drops the problems of a topic (they were checked again).
func withoutTopic(ps agent.Problems, t agent.Topic) agent.Problems {
	var keep agent.Problems
	for _, p := range ps {
		if p.Topic() != t && p.Key != inf.KeyImageName {
			keep = append(keep, p)
		}
	}
	return keep
}

func (l *localSection) lines(s *session, st styles, w int, focus field) ([]string, *tea.Cursor) {
	var lines []string
	var cursor *tea.Cursor
	indent := strings.Repeat(" ", labelWidth)
	for _, f := range l.fields(s) {
		ls, c := fieldLines(st, f, w, f == focus)
		if c >= 0 {
			cursor = tea.NewCursor(c, len(lines))
		}
		lines = append(lines, ls...)
		if f != field(l.file) || l.dest == nil {
			continue
		}
		d := l.dest
		if d.Path != l.file.Value() {
			lines = append(lines, indent+"local path "+clipPath(d.Path, w-labelWidth-11))
		}
		if d.FreeKnown {
			lines = append(lines, st.dim.Render(indent+humanize.Bytes(d.Free)+" free on its file system"))
		}
		if d.Exists {
			lines = append(lines, indent+"the file exists:")
			switch {
			case d.Unreadable != nil:
				lines = append(lines, wrap("! not a readable WIM: "+d.Unreadable.Error(), w, labelWidth+2, st.err)...)
			default:
				for i, im := range d.Images {
					if i == 4 && len(d.Images) > 5 {
						lines = append(lines, fmt.Sprintf("%s  ... %d more", indent, len(d.Images)-4))
						break
					}
					lines = append(lines, indent+"  "+clip(fmt.Sprintf("%d: %s (%d files)", im.Index, im.Name, im.FileCount), w-labelWidth-2))
				}
				lines = append(lines, fmt.Sprintf("%s  compression %v; appending keeps it", indent, d.Compression))
			}
		}
	}
	if l.clash != "" {
		lines = append(lines, wrap("! "+l.clash+" (Esc goes back to the name)", w, 2, st.err)...)
	} else if s.nameNote != "" {
		lines = append(lines, wrap(s.nameNote, w, 2, st.ok)...)
	}
	lines = append(lines, "", "The WIM file must not be on the volume being captured.")
	return lines, cursor
}
