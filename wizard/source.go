package wizard

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/humanize"
	"github.com/wdscapture/wdscapture/scan"
)

// volRow is one line of the volume list: a scanned volume, or the path the
// INF names.
type volRow struct {
	ref        *scan.VolumeRef // nil for the INF's path
	path       string
	selectable bool
	why        string // why it cannot be captured
}

// sourcePage asks which volume to capture and the image's name and
// description.
type sourcePage struct {
	rows   []volRow
	cursor int // the row under the list's cursor
	chosen int // the row chosen, -1 for none
	volErr string
	name   *textField
	desc   *textField
	focus  int // 0 the list, 1 the name, 2 the description
}

func newSourcePage(s *session) *sourcePage {
	p := &sourcePage{chosen: -1,
		name: newTextField(inf.KeyImageName, "Image name", s.s.ImageName),
		desc: newTextField(inf.KeyImageDescription, "Description", s.s.ImageDescription)}
	p.name.limit, p.desc.limit = 1024, 8192
	return p
}

func (*sourcePage) title() string { return "Capture source" }
func (*sourcePage) back() bool    { return true }

// setReport fills the list from the scan: generalized Windows first, then
// the other Windows volumes, then the rest; the INF's path, if it names
// one, comes first.
func (p *sourcePage) setReport(s *session) {
	p.rows = nil
	v := s.s.VolumeToCapture
	if v != "" && (strings.HasPrefix(v, "/") || len(v) > 3) {
		p.rows = append(p.rows, volRow{path: v, selectable: true})
	}
	if s.report != nil {
		var ready, blocked, other []volRow
		for _, ref := range s.report.Volumes() {
			vol := ref.Volume
			r := volRow{ref: &ref}
			switch {
			case vol.State == scan.StateReady && vol.Letter != "":
				r.selectable = true
				ready = append(ready, r)
			case vol.State == scan.StateReady:
				r.why = "has no drive letter (" + vol.NoLetter + "); VolumeToCapture needs one"
				blocked = append(blocked, r)
			case vol.Windows != nil || (vol.State != scan.StateNone && vol.State != scan.StateNoWindows):
				r.why = vol.Reason
				if vol.Detail != "" {
					r.why += " (" + vol.Detail + ")"
				}
				blocked = append(blocked, r)
			default:
				r.why = "no Windows installation"
				if vol.State == scan.StateNone {
					r.why = "not NTFS"
				}
				other = append(other, r)
			}
		}
		p.rows = append(append(append(p.rows, ready...), blocked...), other...)
	}
	// Choose what the INF names, else the first generalized volume.
	p.chosen, p.volErr = -1, ""
	letter, _, isLetter := inf.DriveLetter(v)
	for i, r := range p.rows {
		switch {
		case r.ref == nil:
			p.chosen = i
		case isLetter && len(v) <= 3 && r.ref.Volume.Letter == string(letter):
			if r.selectable {
				p.chosen = i
			} else {
				p.volErr = fmt.Sprintf("VolumeToCapture=%s in the INF cannot be captured: %s; choose another volume", v, r.why)
			}
		}
	}
	if isLetter && len(v) <= 3 && p.chosen < 0 && p.volErr == "" && s.report != nil {
		p.volErr = fmt.Sprintf("VolumeToCapture=%s in the INF: the scan found no volume with that letter; choose one", v)
	}
	if p.chosen < 0 {
		for i, r := range p.rows {
			if r.selectable {
				p.chosen = i
				break
			}
		}
	}
	p.cursor = max(0, p.chosen)
	if p.chosen >= 0 && !(isLetter && len(v) <= 3 && p.volErr != "") {
		p.apply(s)
	}
}

// apply stores the chosen volume in the answers and renames the image
// while its name is the default.
func (p *sourcePage) apply(s *session) {
	if p.chosen < 0 {
		return
	}
	r := p.rows[p.chosen]
	old := s.s.VolumeToCapture
	if r.ref == nil {
		s.s.Set(inf.KeyVolumeToCapture, r.path)
	} else {
		s.s.Set(inf.KeyVolumeToCapture, r.ref.Volume.Letter+`:\`)
		if !strings.EqualFold(old, s.s.VolumeToCapture) {
			s.s.Set(inf.KeySystemRoot, "")
		}
	}
	if !strings.EqualFold(old, s.s.VolumeToCapture) {
		s.dropProblems(inf.KeyVolumeToCapture)
	}
	p.defaultName(s)
}

// defaultName names the image after the chosen Windows and the date until
// the technician types a name.
func (p *sourcePage) defaultName(s *session) {
	if s.nameTyped {
		return
	}
	name := "Windows image"
	if p.chosen >= 0 {
		if r := p.rows[p.chosen]; r.ref != nil && r.ref.Volume.Windows != nil && r.ref.Volume.Windows.ProductName != "" {
			name = r.ref.Volume.Windows.ProductName
		}
	}
	name += " " + s.now().Format("2006-01-02")
	s.s.Set(inf.KeyImageName, name)
	s.nameNote = ""
	p.name.SetValue(name)
}

func (p *sourcePage) enter(s *session) tea.Cmd {
	p.name.SetValue(s.s.ImageName)
	p.desc.SetValue(s.s.ImageDescription)
	p.name.SetErr(s.problemFor(inf.KeyImageName))
	p.desc.SetErr(s.problemFor(inf.KeyImageDescription))
	if msg := s.problemFor(inf.KeyVolumeToCapture); msg != "" {
		p.volErr = msg
	}
	if p.chosen < 0 && len(p.rows) == 0 {
		p.setReport(s)
	}
	p.focus = 0
	switch {
	case p.volErr != "":
	case p.name.Err() != "":
		p.focus = 1
	case p.desc.Err() != "":
		p.focus = 2
	}
	return nil
}

func (p *sourcePage) fields() []field { return []field{p.name, p.desc} }

func (p *sourcePage) keys(s *session) []key.Binding {
	if p.focus == 0 {
		return []key.Binding{keyNext, keyTab, keyVolume}
	}
	return []key.Binding{keyNext, keyMove}
}

func (p *sourcePage) update(s *session, msg tea.Msg) (tea.Cmd, nav) {
	if m, ok := msg.(tea.PasteMsg); ok && p.focus > 0 {
		p.changed(s, p.fields()[p.focus-1], p.fields()[p.focus-1].Paste(m.Content))
		return nil, nav{}
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil, nav{}
	}
	switch {
	case matches(k, keyNext):
		if p.focus < 2 {
			if p.leave(s) {
				p.focus++
			}
			return nil, nav{}
		}
		if p.validate(s) {
			return nil, nav{kind: navNext}
		}
		return nil, nav{}
	case p.focus == 0 && matches(k, keyVolume):
		p.moveCursor(s, k.String() == "down")
		return nil, nav{}
	case matches(k, keyMove):
		p.leave(s)
		p.focus = step(k, p.focus, 3)
		return nil, nav{}
	}
	if p.focus > 0 {
		f := p.fields()[p.focus-1]
		_, changed := f.Update(k)
		p.changed(s, f, changed)
	}
	return nil, nav{}
}

// changed clears a field's stale message when its value changes.
func (p *sourcePage) changed(s *session, f field, changed bool) {
	if !changed {
		return
	}
	f.SetErr("")
	s.dropProblems(f.Key())
	if f == field(p.name) {
		s.nameTyped = true
		s.nameNote = ""
	}
}

// moveCursor moves the list's cursor over every row, so that refused
// volumes and their reasons can be scrolled into view; a row that can be
// captured becomes the choice. Down below the last row moves to the name.
func (p *sourcePage) moveCursor(s *session, down bool) {
	if down {
		if p.cursor >= len(p.rows)-1 {
			p.focus = 1
			return
		}
		p.cursor++
	} else if p.cursor > 0 {
		p.cursor--
	}
	if p.cursor < len(p.rows) && p.rows[p.cursor].selectable && p.cursor != p.chosen {
		p.chosen = p.cursor
		p.volErr = ""
		p.apply(s)
	}
}

// leave checks the focused field and stores it; it reports whether it is
// valid.
func (p *sourcePage) leave(s *session) bool {
	switch p.focus {
	case 0:
		p.volErr = p.checkVolume(s)
		return p.volErr == ""
	case 1:
		return p.store(s, p.name)
	}
	return p.store(s, p.desc)
}

func (p *sourcePage) checkVolume(s *session) string {
	switch {
	case s.scanning:
		return "the disks are still being scanned"
	case p.chosen < 0:
		return "no generalized Windows volume to capture: fix a volume listed above, then restart"
	}
	p.apply(s)
	if _, ps := agent.SourceFor(s.s, s.report); len(ps) > 0 {
		return ps[0].Msg
	}
	return ""
}

// store sets the field's key and shows the agent's verdict on it.
func (p *sourcePage) store(s *session, f *textField) bool {
	s.s.Set(f.Key(), f.Value())
	msgs := []string{}
	for _, pr := range agent.CheckKeys(s.s, f.Key()) {
		msgs = append(msgs, pr.Msg)
	}
	f.SetErr(strings.Join(msgs, "\n"))
	return f.Err() == ""
}

// validate checks every field; the first bad one gets the focus.
func (p *sourcePage) validate(s *session) bool {
	first := -1
	for i := 0; i <= 2; i++ {
		p.focus = i
		if !p.leave(s) && first < 0 {
			first = i
		}
	}
	if first >= 0 {
		p.focus = first
		return false
	}
	return true
}

func (p *sourcePage) view(s *session, st styles, w, h int) ([]string, *tea.Cursor) {
	var head, tail []string
	mark := "  "
	if p.focus == 0 {
		mark = "> "
	}
	head = append(head, mark+clip("Volume to capture (x = cannot be captured):", w-2))
	switch {
	case s.scanning:
		head = append(head, "    scanning the disks...")
	case s.scanErr != nil:
		head = append(head, wrap("! the scan failed: "+s.scanErr.Error(), w, 4, st.err)...)
	case len(p.rows) == 0:
		head = append(head, "    no volumes found")
	}
	if p.volErr != "" {
		tail = append(tail, wrap("! "+p.volErr, w, 4, st.err)...)
	}
	tail = append(tail, "")
	var cursor *tea.Cursor
	for i, f := range p.fields() {
		ls, c := fieldLines(st, f, w, p.focus == i+1)
		if c >= 0 {
			cursor = tea.NewCursor(c, len(tail))
		}
		tail = append(tail, ls...)
	}
	list := p.listLines(st, w, h-len(head)-len(tail))
	lines := append(append(head, list...), tail...)
	if cursor != nil {
		cursor.Y += len(head) + len(list)
	}
	return lines, cursor
}

// listLines renders the rows that fit in room lines, scrolled so that the
// cursor's row shows.
func (p *sourcePage) listLines(st styles, w, room int) []string {
	room = max(room, 3)
	rendered := make([][]string, len(p.rows))
	for i, r := range p.rows {
		var desc string
		if r.ref == nil {
			desc = r.path + " (VolumeToCapture in the INF)"
		} else {
			desc = describeVolume(*r.ref)
		}
		mark := "[ ] "
		switch {
		case i == p.chosen:
			mark = "[*] "
		case !r.selectable:
			mark = " x  "
		}
		line := mark + desc
		cur := "  "
		if i == p.cursor && p.focus == 0 {
			cur = "> "
		}
		switch {
		case i == p.chosen:
			line = st.focus.Render(clip(line, w-4))
		case !r.selectable:
			line = st.dim.Render(clip(line, w-4))
		default:
			line = clip(line, w-4)
		}
		rendered[i] = []string{"  " + cur + line}
		if !r.selectable {
			rendered[i] = append(rendered[i], wrap(r.why, w, 10, st.dim)...)
		}
	}
	total := 0
	for _, r := range rendered {
		total += len(r)
	}
	if total <= room {
		var out []string
		for _, r := range rendered {
			out = append(out, r...)
		}
		return out
	}
	// Scroll: start at the cursor's row and add rows before and after it
	// while they fit, keeping a line for each "more" marker.
	first, last := p.cursor, p.cursor
	used := len(rendered[p.cursor]) + 2
	for grew := true; grew; {
		grew = false
		if last+1 < len(rendered) && used+len(rendered[last+1]) <= room {
			last++
			used += len(rendered[last])
			grew = true
		}
		if first > 0 && used+len(rendered[first-1]) <= room {
			first--
			used += len(rendered[first])
			grew = true
		}
	}
	var out []string
	if first > 0 {
		out = append(out, fmt.Sprintf("      ... %d more above", first))
	}
	for _, r := range rendered[first : last+1] {
		out = append(out, r...)
	}
	if n := len(rendered) - last - 1; n > 0 {
		out = append(out, fmt.Sprintf("      ... %d more below", n))
	}
	return out
}

// describeVolume is the one-line summary of a volume.
func describeVolume(ref scan.VolumeRef) string {
	v := ref.Volume
	letter := "  "
	if v.Letter != "" {
		letter = v.Letter + ":"
	}
	where := fmt.Sprintf("%s #%d", ref.Disk.Name, ref.Partition.Index)
	what := string(v.FS)
	if w := v.Windows; w != nil {
		what = strings.TrimSpace(fmt.Sprintf("%s %s %s %s", w.ProductName, w.Version, w.Arch, strings.Join(w.Languages, ",")))
	} else if v.Label != "" {
		what += " " + v.Label
	}
	return fmt.Sprintf("%s %8s  %-7s  %s", letter, humanize.Bytes(uint64(max(v.Size, 0))), where, what)
}
