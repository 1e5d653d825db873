package wizard

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/humanize"
)

// styles are built from one renderer, so that NO_COLOR and the output's
// colour profile apply. Every cue is also shown with plain characters
// (">" for focus, "x" for refused volumes, "!" for errors).
type styles struct {
	title, focus, dim, err, ok, help lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	return styles{
		title: r.NewStyle().Bold(true).Reverse(true),
		focus: r.NewStyle().Bold(true),
		dim:   r.NewStyle().Faint(true),
		err:   r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		ok:    r.NewStyle().Foreground(lipgloss.Color("2")),
		help:  r.NewStyle().Faint(true),
	}
}

// View renders the page to fit the terminal.
func (m *model) View() string {
	w := m.width
	var body []string
	switch m.page {
	case pageWelcome:
		body = m.viewWelcome()
	case pageSource:
		body = m.viewSource()
	case pageDest:
		body = m.viewDest()
	case pageUpload:
		body = m.viewUpload()
	case pageSummary:
		body = m.viewSummary()
	case pageProgress:
		body = m.viewProgress()
	case pageFinish:
		body = m.viewFinish()
	}
	title := fmt.Sprintf(" WDS Image Capture Wizard - %s ", pageTitles[m.page])
	head := m.st.title.Render(padRight(title, w))
	help := m.helpLine()
	if m.askQuit {
		help = m.st.err.Render("Quit without capturing? y = quit, n = stay")
	}
	room := m.height - 3
	if len(body) > room {
		body = body[:room]
	}
	for len(body) < room {
		body = append(body, "")
	}
	lines := append([]string{head, ""}, body...)
	lines = append(lines, help)
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w, "")
	}
	return strings.Join(lines, "\n")
}

func padRight(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

func (m *model) helpLine() string {
	var h string
	switch m.page {
	case pageWelcome:
		h = "Enter next   Esc/Ctrl-C quit"
	case pageSummary:
		switch {
		case m.preparing:
			h = "checking...   Esc back"
		case m.prepErr != nil && m.errPage >= 0:
			h = "Enter go to " + pageTitles[m.errPage] + "   Esc back   Ctrl-C quit"
		case m.prepErr != nil:
			h = "Enter check again   Esc back   Ctrl-C quit"
		default:
			h = "Enter start the capture   Esc back   Ctrl-C quit"
		}
	case pageProgress:
		h = "PgUp/PgDn scroll the log   Esc/Ctrl-C cancel the capture"
		if m.askCancel {
			return m.st.err.Render("Cancel the capture? The destination stays as it was. y = cancel, n = go on")
		}
	case pageFinish:
		h = "Tab/arrows move   Enter save   Esc exit"
	default:
		h = "Tab/arrows move   <-/-> change   Enter next   Esc back   Ctrl-C quit"
	}
	return m.st.help.Render(h)
}

// fieldLine renders one field with its focus marker and error.
func (m *model) fieldLine(f *field, focused bool) []string {
	mark := "  "
	label := fmt.Sprintf("%-14s", f.label)
	if focused {
		mark = "> "
		label = m.st.focus.Render(label)
	}
	var val string
	switch f.kind {
	case kindText:
		in := f.in
		in.Width = max(10, m.width-20)
		val = in.View()
		if !focused && f.in.Value() == "" {
			val = m.st.dim.Render("(empty)")
		}
	case kindChoice:
		var opts []string
		for i, o := range f.opts {
			if i == f.sel {
				opts = append(opts, "("+"*"+") "+o)
			} else {
				opts = append(opts, "( ) "+o)
			}
		}
		val = strings.Join(opts, "  ")
	}
	out := []string{mark + label + val}
	if f.err != "" {
		out = append(out, m.wrap("! "+f.err, 16, m.st.err)...)
	}
	return out
}

// wrap breaks text to the width, indented.
func (m *model) wrap(text string, indent int, st lipgloss.Style) []string {
	w := max(20, m.width-indent)
	var out []string
	for _, l := range strings.Split(ansi.Wrap(text, w, " "), "\n") {
		out = append(out, strings.Repeat(" ", indent)+st.Render(l))
	}
	return out
}

func (m *model) focused(p pageID, f *field) bool {
	fs := m.visible(p)
	return m.focus < len(fs) && fs[m.focus] == f
}

func (m *model) viewWelcome() []string {
	lines := []string{
		"This wizard captures a generalized (sysprepped) Windows volume into a",
		"Windows image (.wim) file. The volume is read directly, never mounted,",
		"and the new image is verified when it is written.",
		"",
		"You will choose the volume to capture, name the image, choose where the",
		"WIM file is written, then confirm before anything is written.",
		"",
	}
	if m.o.INFPath != "" {
		lines = append(lines, "Settings file: "+m.o.INFPath)
		if miss := m.s.Missing(); len(miss) > 0 {
			lines = append(lines, "It lacks "+strings.Join(miss, ", ")+": the pages for them follow;")
			lines = append(lines, "pages whose settings it has are skipped.")
		} else {
			lines = append(lines, "It has every setting: the next page is the summary to confirm.")
		}
	} else {
		lines = append(lines, "No WDSCapture.inf was found: every page will be shown.")
	}
	lines = append(lines, "")
	switch {
	case m.scanning:
		lines = append(lines, "Scanning the disks...")
	case m.scanErr != nil:
		lines = append(lines, m.wrap("! scanning the disks failed: "+m.scanErr.Error(), 0, m.st.err)...)
	case m.report != nil:
		vols, ready := len(m.report.Volumes()), len(m.report.Ready())
		line := fmt.Sprintf("The scan found %d volumes; %d hold a generalized Windows.", vols, ready)
		switch {
		case vols == 1:
			line = fmt.Sprintf("The scan found 1 volume; it %s a generalized Windows.", map[bool]string{true: "holds", false: "does not hold"}[ready == 1])
		case ready == 1:
			line = fmt.Sprintf("The scan found %d volumes; 1 holds a generalized Windows.", vols)
		}
		lines = append(lines, line)
	}
	lines = append(lines, "", "Press Enter to continue.")
	return lines
}

func (m *model) viewSource() []string {
	var lines []string
	fs := m.fields[pageSource]
	vf := fs[0]
	mark := "  "
	if m.focused(pageSource, vf) {
		mark = "> "
	}
	lines = append(lines, mark+"Volume to capture (up/down to choose; x = cannot be captured):")
	switch {
	case m.scanning:
		lines = append(lines, "    scanning the disks...")
	case m.scanErr != nil:
		lines = append(lines, m.wrap("! scan failed: "+m.scanErr.Error(), 4, m.st.err)...)
	case len(m.vols) == 0:
		lines = append(lines, "    no volumes found")
	}
	if m.pathSource != "" {
		row := m.pathSource + " (VolumeToCapture in the INF)"
		if m.volSel < 0 {
			lines = append(lines, "  "+m.st.focus.Render("[*] "+row))
		} else {
			lines = append(lines, "  [ ] "+row)
		}
	}
	// A window of at most 5 volumes around the selection, with reasons.
	first := 0
	const show = 5
	if m.volSel >= show {
		first = m.volSel - show + 1
	}
	if first > 0 {
		lines = append(lines, fmt.Sprintf("    ... %d more above", first))
	}
	for i := first; i < len(m.vols) && i < first+show; i++ {
		r := m.vols[i]
		desc := describeVolume(r.ref)
		switch {
		case i == m.volSel:
			lines = append(lines, "  "+m.st.focus.Render("[*] "+desc))
		case r.selectable:
			lines = append(lines, "  [ ] "+desc)
		default:
			lines = append(lines, m.st.dim.Render("   x  "+desc))
			lines = append(lines, m.wrap(r.why, 8, m.st.dim)...)
		}
	}
	if n := len(m.vols) - first - show; n > 0 {
		lines = append(lines, fmt.Sprintf("    ... %d more below", n))
	}
	if vf.err != "" {
		lines = append(lines, m.wrap("! "+vf.err, 4, m.st.err)...)
	}
	lines = append(lines, "")
	for _, f := range fs[1:] {
		lines = append(lines, m.fieldLine(f, m.focused(pageSource, f))...)
	}
	return lines
}

func (m *model) viewDest() []string {
	var lines []string
	for _, f := range m.visible(pageDest) {
		lines = append(lines, m.fieldLine(f, m.focused(pageDest, f))...)
		if f.key == "DestinationFile" {
			if m.dest.path != "" && m.dest.path != f.value() {
				lines = append(lines, "                local path "+m.dest.path)
			}
			if m.dest.free != "" {
				lines = append(lines, m.wrap(m.dest.free, 16, m.st.dim)...)
			}
			if m.dest.exists {
				lines = append(lines, "                the file exists:")
				if m.dest.openErr != "" {
					lines = append(lines, m.wrap("! not a readable WIM: "+m.dest.openErr, 16, m.st.err)...)
				}
				for i, im := range m.dest.images {
					if i == 4 {
						lines = append(lines, fmt.Sprintf("                  ... %d more", len(m.dest.images)-4))
						break
					}
					lines = append(lines, fmt.Sprintf("                  %d: %s (%d files)", im.Index, im.Name, im.FileCount))
				}
				if m.dest.openErr == "" {
					lines = append(lines, fmt.Sprintf("                  compression %s; appending keeps it", m.dest.comp))
				}
			}
		}
	}
	lines = append(lines, "", "The WIM file must not be on the volume being captured.")
	return lines
}

func (m *model) viewUpload() []string {
	lines := []string{
		"Optionally send the image to a Windows Deployment Services server.",
		"Uploading is not available in this version: with Upload=Yes the",
		"summary refuses to start; the answers can still be saved to an INF.",
		"",
	}
	for _, f := range m.visible(pageUpload) {
		lines = append(lines, m.fieldLine(f, m.focused(pageUpload, f))...)
	}
	return lines
}

func (m *model) viewSummary() []string {
	s := m.s
	var lines []string
	item := func(p pageID, label, value string) {
		lines = append(lines, fmt.Sprintf("  %-14s%s", label, value))
	}
	vol := s.VolumeToCapture
	for _, r := range m.vols {
		if r.ref.Volume.Letter != "" && r.ref.Volume.Letter+`:\` == vol {
			vol = describeVolume(r.ref)
		}
	}
	if vol == "" {
		vol = "(the generalized volume the scan finds)"
	}
	lines = append(lines, "Capture source")
	item(pageSource, "Volume", vol)
	item(pageSource, "Image name", s.ImageName)
	item(pageSource, "Description", s.ImageDescription)
	m.pageError(&lines, pageSource)
	lines = append(lines, "Destination")
	item(pageDest, "WIM file", s.DestinationFile)
	comp := s.Compression.String()
	ow := "no (the file must not exist)"
	switch s.Overwrite {
	case inf.OverwriteYes:
		ow = "overwrite an existing file"
	case inf.OverwriteAppend:
		ow = "append to an existing file"
	}
	item(pageDest, "Compression", comp)
	item(pageDest, "If it exists", ow)
	m.pageError(&lines, pageDest)
	lines = append(lines, "Upload")
	if s.Upload {
		item(pageUpload, "Server", s.ServerName+", group "+s.ImageGroup+", user "+s.Username)
	} else {
		item(pageUpload, "Upload", "no")
	}
	m.pageError(&lines, pageUpload)
	lines = append(lines, "")
	switch {
	case m.preparing:
		lines = append(lines, "Checking the settings, the volume and the destination...")
	case m.prepErr != nil && m.errPage < 0:
		lines = append(lines, m.wrap("! "+m.prepErr.Error(), 0, m.st.err)...)
	case m.prepErr != nil:
		lines = append(lines, "The capture cannot start: fix the page marked above.")
	case m.plan != nil:
		lines = append(lines, m.st.ok.Render("Ready. Press Enter to capture to "+m.plan.Request.Dest+"."))
	}
	return lines
}

// pageError shows the Prepare error next to the page it is about.
func (m *model) pageError(lines *[]string, p pageID) {
	if m.prepErr != nil && m.errPage == p {
		*lines = append(*lines, m.wrap("! "+m.prepErr.Error(), 4, m.st.err)...)
	}
}

func (m *model) viewProgress() []string {
	e := m.last
	phase := m.phase.Name
	if m.cancelling {
		phase += " - cancelling, waiting for the capture to stop..."
	}
	lines := []string{"Phase: " + phase, ""}
	m.bar.Width = max(10, m.width-10)
	if f := e.Fraction(); f >= 0 {
		lines = append(lines, fmt.Sprintf("%s %5.1f%%", m.bar.ViewAs(f), 100*f))
	} else {
		lines = append(lines, "")
	}
	lines = append(lines, e.String())
	path := e.Path
	if w := m.width - 2; len(path) > w && w > 4 {
		path = "..." + path[len(path)-w+3:]
	}
	head := "Log:"
	if m.logBack > 0 {
		head = fmt.Sprintf("Log (%d newer lines below; PgDn/End):", m.logBack)
	}
	lines = append(lines, path, "", head)
	room := max(1, m.height-3-len(lines))
	end := max(0, len(m.log)-m.logBack)
	start := max(0, end-room)
	for _, l := range m.log[start:end] {
		lines = append(lines, "  "+l)
	}
	return lines
}

func (m *model) viewFinish() []string {
	var lines []string
	if m.runErr != nil {
		var title string
		if m.cancelled() {
			title = "The capture was cancelled."
		} else {
			title = "The capture failed."
		}
		lines = append(lines, m.st.err.Render(title))
		lines = append(lines, m.wrap(m.runErr.Error(), 2, m.st.err)...)
		lines = append(lines, "", "The destination was left as it was: no new file, or the old WIM intact.",
			"", "Press Esc to exit.")
		return lines
	}
	res := m.result
	if res == nil {
		return []string{"No capture ran."}
	}
	lines = append(lines, m.st.ok.Render("The capture finished."), "")
	lines = append(lines, "  WIM file     "+res.Dest)
	ratio := ""
	if res.Size > 0 && res.Image.TotalBytes > 0 {
		ratio = fmt.Sprintf(", ratio %.2f:1", float64(res.Image.TotalBytes)/float64(res.Size))
	}
	lines = append(lines, fmt.Sprintf("  Size         %s for %s of data%s (%s)", humanize.Bytes(uint64(res.Size)), humanize.Bytes(res.Image.TotalBytes), ratio, m.wimComp))
	ver := "yes, every stream was read back and checked"
	if !res.Verified {
		ver = "no"
	}
	lines = append(lines, "  Verified     "+ver)
	lines = append(lines, fmt.Sprintf("  Time         %s", res.Duration.Round(time.Second)))
	if m.image != nil {
		im := m.image
		lines = append(lines, fmt.Sprintf("  Image %-7d%s", im.Index, im.Name))
		lines = append(lines, fmt.Sprintf("  Files        %d files, %d directories", im.FileCount, im.DirCount))
		if im.DisplayName != "" || im.Flags != "" {
			lines = append(lines, fmt.Sprintf("  Display      %s   flags %s", im.DisplayName, im.Flags))
		}
		if ws := windowsSummary(im.WindowsXML); ws != "" {
			lines = append(lines, "  Windows      "+ws)
		}
	} else if m.readErr != "" {
		lines = append(lines, m.wrap("! reading the WIM back: "+m.readErr, 2, m.st.err)...)
	}
	lines = append(lines, "", "Save these answers as a WDSCapture.inf for unattended runs (optional):")
	for _, f := range m.visible(pageFinish) {
		lines = append(lines, m.fieldLine(f, m.focused(pageFinish, f))...)
	}
	if m.saveMsg != "" {
		lines = append(lines, m.wrap(m.saveMsg, 2, m.st.ok)...)
	}
	return lines
}

func (m *model) cancelled() bool {
	var ce *agent.CaptureError
	return errors.As(m.runErr, &ce) && ce.Kind == agent.KindInterrupted
}
