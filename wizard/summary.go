package wizard

import (
	"errors"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/inf"
)

// summaryPage shows every answer and runs agent.Prepare on them: every
// problem is shown at once under the setting it concerns, the page that
// fixes the first one is marked, and Enter goes there (or starts the
// capture).
type summaryPage struct {
	preparing bool
	gen       int
	plan      *agent.Plan
	err       error // Prepare's error that is not a list of problems
}

type prepMsg struct {
	plan *agent.Plan
	err  error
	gen  int
}

var (
	keyStart      = binding("Enter", "start the capture", "enter")
	keyCheckAgain = binding("Enter", "check again", "enter")
)

func (*summaryPage) title() string { return "Summary" }
func (*summaryPage) back() bool    { return true }

func (p *summaryPage) enter(s *session) tea.Cmd {
	p.gen++
	p.preparing, p.plan, p.err = true, nil, nil
	s.problems = nil
	c := *s.s
	ctx, ro, gen := s.ctx, s.o.Run, p.gen
	ro.Report = s.report // the volumes the technician chose from
	return func() tea.Msg {
		plan, err := agent.Prepare(ctx, &c, ro, agent.Observer{})
		return prepMsg{plan, err, gen}
	}
}

// target is the page of the first problem, if a page can fix it.
func (p *summaryPage) target(s *session) (pageID, bool) {
	for _, pr := range s.problems {
		if pg, ok := pageOf(pr.Topic()); ok {
			return pg, true
		}
	}
	return 0, false
}

func (p *summaryPage) keys(s *session) []key.Binding {
	switch {
	case p.preparing:
		return nil
	case p.plan != nil:
		return []key.Binding{keyStart}
	}
	if pg, ok := p.target(s); ok {
		return []key.Binding{binding("Enter", "go to "+pageTitle(pg), "enter")}
	}
	return []key.Binding{keyCheckAgain}
}

func pageTitle(p pageID) string {
	return map[pageID]string{pageSource: "Capture source", pageDest: "Destination", pageUpload: "Upload"}[p]
}

func (p *summaryPage) update(s *session, msg tea.Msg) (tea.Cmd, nav) {
	switch msg := msg.(type) {
	case prepMsg:
		if msg.gen != p.gen {
			return nil, nav{}
		}
		p.preparing, p.plan = false, msg.plan
		var ps agent.Problems
		switch {
		case msg.err == nil:
		case errors.As(msg.err, &ps):
			s.problems = ps
		default:
			p.err = msg.err
		}
		return nil, nav{}
	case tea.KeyPressMsg:
		if !matches(msg, keyNext) || p.preparing {
			return nil, nav{}
		}
		if p.plan != nil {
			s.plan = p.plan
			return nil, nav{kind: navTo, to: pageProgress}
		}
		if pg, ok := p.target(s); ok {
			return nil, nav{kind: navTo, to: pg}
		}
		return p.enter(s), nav{}
	}
	return nil, nav{}
}

func (p *summaryPage) view(s *session, st styles, w, h int) ([]string, *tea.Cursor) {
	a := s.s
	var lines []string
	target, hasTarget := p.target(s)
	section := func(title string, pg pageID) {
		line := title
		if n := countTopic(s.problems, pg); n > 0 {
			mark := fmt.Sprintf("  ! %d to fix on this page", n)
			if n == 1 {
				mark = "  ! 1 to fix on this page"
			}
			if hasTarget && pg == target {
				mark += " (Enter goes there)"
			}
			line += st.err.Render(mark)
		}
		lines = append(lines, line)
	}
	item := func(label, value string, keys ...string) {
		lines = append(lines, clip(fmt.Sprintf("  %-14s%s", label, value), w))
		for _, k := range keys {
			for _, pr := range s.problems.Key(k) {
				lines = append(lines, wrap("! "+pr.Msg, w, 4, st.err)...)
			}
		}
	}
	vol := a.VolumeToCapture
	if s.report != nil {
		for _, r := range s.report.Volumes() {
			if r.Volume.Letter != "" && r.Volume.Letter+`:\` == vol {
				vol = describeVolume(r)
			}
		}
	}
	if vol == "" {
		vol = "(the generalized volume the scan finds)"
	}
	section("Capture source", pageSource)
	item("Volume", clip(vol, w-16), inf.KeyVolumeToCapture, inf.KeySystemRoot)
	item("Image name", clip(a.ImageName, w-16), inf.KeyImageName)
	item("Description", clip(a.ImageDescription, w-16), inf.KeyImageDescription)
	section("Destination", pageDest)
	dest := a.DestinationFile
	item("WIM file", clipPath(dest, w-16), inf.KeyDestinationFile)
	if p.plan != nil && p.plan.Request.Dest != dest {
		item("local path", clipPath(p.plan.Request.Dest, w-16))
	}
	// The compression the capture uses: the plan's (a WIM appended to
	// or the image group may fix it).
	comp := compressionName(a)
	switch {
	case p.plan != nil && p.plan.Request.Append:
		comp = compressionName(p.plan.Settings) + " (the WIM's)"
	case p.plan != nil && p.plan.Upload != nil && p.plan.Upload.Group.Compression != "":
		comp = compressionName(p.plan.Settings) + " (the image group's"
		if chosen := compressionName(a); !strings.EqualFold(chosen, compressionName(p.plan.Settings)) {
			comp += ", not " + chosen + ": its images share data"
		}
		comp += ")"
	}
	item("Compression", comp, inf.KeyCompression, inf.KeyCheckIntegrity)
	ow := "stop (the file must not exist)"
	switch a.Overwrite {
	case inf.OverwriteYes:
		ow = "overwrite it"
	case inf.OverwriteAppend:
		ow = "append the image"
	}
	item("If it exists", ow, inf.KeyOverwrite)
	section("Upload", pageUpload)
	if a.Upload {
		item("Server", clip(a.ServerName+", user "+a.Username, w-16),
			inf.KeyUploadToWDSServer, inf.KeyWDSServerName, inf.KeyWDSServerCertificate, inf.KeyUsername, inf.KeyPassword)
		group := a.ImageGroup
		if p.plan != nil && p.plan.Upload != nil {
			if g := p.plan.Upload.Group; g.Compression == "" {
				group += " (new: this image sets its compression)"
			} else {
				group += fmt.Sprintf(" (%s, %d images)", g.Compression, g.Images)
			}
		}
		item("Image group", clip(group, w-16), inf.KeyWDSImageGroup)
		del := "no, keep it"
		if a.DeleteLocalWimOnSuccess {
			del = "yes, once the server has verified the image"
		}
		item("Delete local", del, inf.KeyDeleteLocalWimOnSuccess)
	} else {
		item("Upload", "no", inf.KeyUploadToWDSServer, inf.KeyWDSServerName, inf.KeyWDSServerCertificate, inf.KeyWDSImageGroup, inf.KeyUsername, inf.KeyPassword, inf.KeyDeleteLocalWimOnSuccess)
	}
	lines = append(lines, "")
	// Problems no page can fix (the exclusion lists of the INF).
	for _, pr := range s.problems {
		if _, ok := pageOf(pr.Topic()); !ok {
			lines = append(lines, wrap("! "+pr.Error(), w, 0, st.err)...)
		}
	}
	switch {
	case p.preparing:
		what := "Checking the settings, the volume and the destination..."
		if a.Upload {
			what = "Checking the settings, the volume, the destination and the image store..."
		}
		lines = append(lines, clip(what, w))
	case p.err != nil:
		lines = append(lines, wrap("! "+p.err.Error(), w, 0, st.err)...)
	case len(s.problems) > 0 && hasTarget:
		lines = append(lines, "The capture cannot start: fix what is marked above.")
	case len(s.problems) > 0:
		lines = append(lines, "The capture cannot start: fix WDSCapture.inf, then check again.")
	case p.plan != nil:
		lines = append(lines, st.ok.Render("Ready. Press Enter to capture to "+clipPath(p.plan.Request.Dest, w-34)+"."))
	}
	return lines, nil
}

func countTopic(ps agent.Problems, pg pageID) int {
	n := 0
	for _, p := range ps {
		if q, ok := pageOf(p.Topic()); ok && q == pg {
			n++
		}
	}
	return n
}

func compressionName(s *inf.Settings) string { return s.Value(inf.KeyCompression) }
