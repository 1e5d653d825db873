package wizard

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/humanize"
)

// finishPage shows how the capture ended. After a success it reads the
// image back and offers to save the answers as an INF; after a failure it
// leads back to the page that can fix it, every answer kept.
type finishPage struct {
	result  *agent.Result
	runErr  error
	image   *images.ImageInfo
	wimComp images.Compression
	readErr string

	savePath *textField
	savePw   *choiceField
	focus    int
	// confirm is the file to replace once the technician says yes.
	confirm string
	saveMsg string
}

func newFinishPage() *finishPage {
	return &finishPage{
		savePath: newTextField("", "Save INF to", ""),
		savePw:   newChoiceField("", "With password", []string{"No", "Yes"}, 0),
	}
}

func (*finishPage) title() string { return "Finished" }
func (*finishPage) back() bool    { return false }

var (
	keyReplace = binding("y", "replace it", "y", "Y")
	keyKeep    = binding("n", "keep it", "n", "N")
	keyRetry   = binding("Enter", "back to the summary", "enter")
)

func (p *finishPage) enter(s *session) tea.Cmd {
	p.result, p.runErr = s.runResult, s.runErr
	p.image, p.readErr, p.confirm, p.saveMsg, p.focus = nil, "", "", "", 0
	p.savePath.SetErr("")
	s.run = nil
	res := p.result
	if res == nil {
		return nil
	}
	if res.Upload != nil && res.Upload.LocalDeleted {
		return p.setSavePath(s, res)
	}
	r, err := images.Open(res.Dest)
	if err != nil {
		p.readErr = err.Error()
	} else {
		p.wimComp = r.Compression()
		for _, im := range r.Images() {
			if im.Index == res.Image.Index {
				p.image = &im
			}
		}
		if p.image == nil {
			p.readErr = fmt.Sprintf("image %d is not in the WIM's XML", res.Image.Index)
		}
		r.Close()
	}
	return p.setSavePath(s, res)
}

// setSavePath proposes where to save the INF.
func (p *finishPage) setSavePath(s *session, res *agent.Result) tea.Cmd {
	// Next to the WIM, written as the settings name the WIM: with its
	// drive letter when DestinationFile has one.
	local := filepath.Join(filepath.Dir(res.Dest), "WDSCapture.inf")
	p.savePath.SetValue(local)
	if _, _, isDrive := inf.DriveLetter(s.s.DestinationFile); isDrive {
		if win := agent.WindowsPath(local, s.o.Run.DriveMap, s.o.Run.Root); win != "" {
			p.savePath.SetValue(win)
		}
	}
	return nil
}

func (p *finishPage) fields(s *session) []field {
	if p.result == nil {
		return nil
	}
	fs := []field{p.savePath}
	if !s.s.Password.IsZero() {
		fs = append(fs, p.savePw)
	}
	return fs
}

// failurePage is the page that can fix the failed run, if one can.
func (p *finishPage) failurePage() (pageID, bool) {
	var se *agent.SettingError
	if errors.As(p.runErr, &se) {
		return pageOf(se.Topic())
	}
	return 0, false
}

func (p *finishPage) keys(s *session) []key.Binding {
	switch {
	case p.confirm != "":
		return []key.Binding{keyReplace, keyKeep}
	case p.result == nil && p.runErr != nil:
		if pg, ok := p.failurePage(); ok {
			return []key.Binding{binding("Enter", "go to "+pageTitle(pg), "enter"), keyExit, keyExitQuit}
		}
		return []key.Binding{keyRetry, keyExit, keyExitQuit}
	case p.result == nil:
		return []key.Binding{keyExit, keyExitQuit}
	}
	bs := []key.Binding{keySave}
	if len(p.fields(s)) > 1 {
		bs = append(bs, keyTab)
		if p.focus == 1 {
			bs = append(bs, keyChoose)
		}
	}
	return append(bs, keyExit, keyExitQuit)
}

func (p *finishPage) update(s *session, msg tea.Msg) (tea.Cmd, nav) {
	if m, ok := msg.(tea.PasteMsg); ok && p.result != nil && p.focus == 0 && p.confirm == "" {
		if p.savePath.Paste(m.Content) {
			p.savePath.SetErr("")
			p.saveMsg = ""
		}
		return nil, nav{}
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil, nav{}
	}
	if p.confirm != "" {
		switch {
		case matches(k, keyReplace):
			p.save(s, true)
		case matches(k, keyKeep):
			p.confirm = ""
			p.savePath.SetErr("not saved: the file was kept; give another path")
		}
		return nil, nav{}
	}
	if matches(k, keyExit, keyExitQuit) {
		return nil, nav{kind: navQuit}
	}
	if p.result == nil {
		if p.runErr == nil || !matches(k, keyNext) {
			return nil, nav{}
		}
		// Back to the page that can fix it, the answers kept.
		var ps agent.Problems
		var se *agent.SettingError
		switch {
		case errors.As(p.runErr, &ps):
			s.problems = ps
		case errors.As(p.runErr, &se):
			s.problems = agent.Problems{se}
		}
		s.runResult, s.runErr = nil, nil
		if pg, ok := p.failurePage(); ok {
			return nil, nav{kind: navTo, to: pg}
		}
		return nil, nav{kind: navTo, to: pageSummary}
	}
	fs := p.fields(s)
	switch {
	case matches(k, keySave):
		p.save(s, false)
		return nil, nav{}
	case len(fs) > 1 && matches(k, keyTab):
		p.focus = step(k, p.focus, len(fs))
		return nil, nav{}
	}
	if _, changed := fs[p.focus].Update(k); changed {
		fs[p.focus].SetErr("")
		p.saveMsg = ""
	}
	return nil, nav{}
}

// save writes the INF through the agent, which refuses relative paths,
// directories and WIM files, and asks before replacing any other file.
func (p *finishPage) save(s *session, replace bool) {
	target := p.savePath.Value()
	p.confirm, p.saveMsg = "", ""
	if target == "" {
		p.savePath.SetErr("enter a path, or press Esc to exit without saving")
		return
	}
	withPassword := p.savePw.sel == 1 && !s.s.Password.IsZero()
	local, err := agent.SaveINF(s.s, target, s.o.Run, agent.SaveOptions{
		Password: withPassword, Replace: replace,
		Protect: []string{p.result.Dest, p.result.Dest + ".log", s.o.Run.LogPath},
	})
	var exists *agent.FileExistsError
	switch {
	case errors.As(err, &exists):
		p.confirm = exists.Path
		p.savePath.SetErr("")
		return
	case err != nil:
		p.savePath.SetErr("not saved: " + err.Error())
		return
	}
	p.savePath.SetErr("")
	what := "without the password"
	if withPassword {
		what = "with the password"
	}
	p.saveMsg = fmt.Sprintf("Saved %s (Unattended=Yes, %s).", local, what)
}

func (p *finishPage) view(s *session, st styles, w, h int) ([]string, *tea.Cursor) {
	if p.result == nil {
		return p.failureView(s, st, w), nil
	}
	res := p.result
	lines := []string{st.ok.Render("The capture finished."), ""}
	row := func(label, value string) { lines = append(lines, "  "+fmt.Sprintf("%-13s", label)+value) }
	up := res.Upload
	switch {
	case up != nil:
		lines[0] = st.ok.Render("The capture finished, and the image store verified and published the image.")
		row("Uploaded to", clip(fmt.Sprintf("%s: image group %s, file %s", up.Server, up.Group, up.Image.FileName), w-15))
		shared := ""
		if total := up.DataBytes + up.SharedBytes; total > 0 && up.SharedBytes > 0 {
			shared = fmt.Sprintf("; %.0f%% of the data was there already", 100*float64(up.SharedBytes)/float64(total))
		}
		row("Sent", clip(humanize.Bytes(uint64(up.SentBytes))+shared, w-15))
	case p.runErr != nil:
		lines[0] = st.err.Render("The capture finished, but the upload failed: the WIM is kept.")
		msg := p.runErr.Error()
		var ue *agent.UploadError
		if errors.As(p.runErr, &ue) {
			msg = ue.Err.Error()
		}
		lines = append(lines, wrap(msg, w, 2, st.err)...)
		if ue != nil {
			lines = append(lines, wrap("To upload it later: "+ue.RetryCommand, w, 2, lipgloss.NewStyle())...)
		}
		lines = append(lines, "")
	}
	if up != nil && up.LocalDeleted {
		row("WIM file", clipPath(res.Dest, w-15-10)+" (deleted)")
	} else {
		row("WIM file", clipPath(res.Dest, w-15))
	}
	ratio := ""
	if res.Size > 0 && res.Image.TotalBytes > 0 {
		ratio = fmt.Sprintf(", ratio %.2f:1", float64(res.Image.TotalBytes)/float64(res.Size))
	}
	comp := ""
	if p.image != nil { // the compression read back from the WIM
		comp = fmt.Sprintf(" (%v)", p.wimComp)
	}
	row("Size", clip(fmt.Sprintf("%s for %s of data%s%s", humanize.Bytes(uint64(res.Size)), humanize.Bytes(res.Image.TotalBytes), ratio, comp), w-15))
	ver := "yes, every stream was read back and checked"
	if !res.Verified {
		ver = "no"
	}
	row("Verified", ver)
	row("Time", res.Duration.Round(time.Second).String())
	if im := p.image; im != nil {
		row(fmt.Sprintf("Image %d", im.Index), clip(im.Name, w-15))
		row("Contents", fmt.Sprintf("%d files, %d directories", im.FileCount, im.DirCount))
		if ws := windowsSummary(im.WindowsXML); ws != "" {
			row("Windows", clip(ws, w-15))
		}
		if ed := edition(im); ed != "" {
			row("Edition", clip(ed, w-15))
		}
	} else if p.readErr != "" {
		lines = append(lines, wrap("! reading the WIM back: "+p.readErr, w, 2, st.err)...)
	}
	lines = append(lines, "", "Save these answers as a WDSCapture.inf for unattended runs (optional):")
	var cursor *tea.Cursor
	for i, f := range p.fields(s) {
		ls, c := fieldLines(st, f, w, i == p.focus && p.confirm == "")
		if c >= 0 {
			cursor = tea.NewCursor(c, len(lines))
		}
		lines = append(lines, ls...)
	}
	if p.confirm != "" {
		lines = append(lines, wrap(fmt.Sprintf("%s exists. Replace it? y = replace, n = keep it", p.confirm), w, 2, st.err)...)
	}
	if p.saveMsg != "" {
		lines = append(lines, wrap(p.saveMsg, w, 2, st.ok)...)
	}
	return lines, cursor
}

func (p *finishPage) failureView(s *session, st styles, w int) []string {
	err := p.runErr
	if err == nil {
		return []string{"No capture ran."}
	}
	var lines []string
	if errors.Is(err, context.Canceled) || isInterrupted(err) {
		lines = append(lines, st.err.Render("The capture was cancelled."), "",
			"Nothing was captured: a new WIM file was not created, and a WIM being",
			"appended to keeps its images as they were.")
	} else {
		lines = append(lines, st.err.Render("The capture failed."), "")
		msg := err.Error()
		var se *agent.SettingError
		if errors.As(err, &se) {
			msg = se.Msg
		}
		lines = append(lines, wrap(msg, w, 2, st.err)...)
		lines = append(lines, "", "The destination was left as it was: no new file, or the old WIM intact.")
	}
	lines = append(lines, "")
	if pg, ok := p.failurePage(); ok {
		lines = append(lines, fmt.Sprintf("Press Enter to change it on the %s page (your answers are kept),", pageTitle(pg)), "or Esc to exit.")
	} else {
		lines = append(lines, "Press Enter to go back to the summary (your answers are kept),", "or Esc to exit.")
	}
	return lines
}

func isInterrupted(err error) bool {
	var ce *agent.CaptureError
	return errors.As(err, &ce) && ce.Kind == agent.KindInterrupted
}

// windowsSummary is the product, architecture, version and languages of an
// image's <WINDOWS> element; the edition is named once (the product name
// of Windows 11 Enterprise already says Enterprise).
func windowsSummary(raw string) string {
	if raw == "" {
		return ""
	}
	var w struct {
		Arch        string `xml:"ARCH"`
		ProductName string `xml:"PRODUCTNAME"`
		EditionID   string `xml:"EDITIONID"`
		Languages   struct {
			Language []string `xml:"LANGUAGE"`
		} `xml:"LANGUAGES"`
		Version struct {
			Major string `xml:"MAJOR"`
			Minor string `xml:"MINOR"`
			Build string `xml:"BUILD"`
		} `xml:"VERSION"`
	}
	if err := xml.Unmarshal([]byte(raw), &w); err != nil {
		return "unreadable: " + err.Error()
	}
	arch := map[string]string{"0": "x86", "5": "arm", "6": "ia64", "9": "x86_64", "12": "arm64"}[w.Arch]
	parts := []string{w.ProductName}
	if w.EditionID != "" && !strings.Contains(strings.ToLower(w.ProductName), strings.ToLower(w.EditionID)) {
		parts = append(parts, "("+w.EditionID+")")
	}
	parts = append(parts, arch)
	if w.Version.Major != "" {
		parts = append(parts, w.Version.Major+"."+w.Version.Minor+"."+w.Version.Build)
	}
	parts = append(parts, strings.Join(w.Languages.Language, ","))
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// edition names the image's FLAGS (the edition ID, by convention) when the
// Windows line does not already say it.
func edition(im *images.ImageInfo) string {
	if im.Flags != "" && !strings.Contains(strings.ToLower(windowsSummary(im.WindowsXML)), strings.ToLower(im.Flags)) {
		return im.Flags
	}
	return ""
}
