package wizard

import (
	"context"
	"errors"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/scan"
)

type pageID int

const (
	pageWelcome pageID = iota
	pageSource
	pageDest
	pageUpload
	pageSummary
	pageProgress
	pageFinish
	numPages
)

// pageOf is the page where the settings of a topic are asked.
func pageOf(t agent.Topic) (pageID, bool) {
	switch t {
	case agent.TopicSource:
		return pageSource, true
	case agent.TopicDestination:
		return pageDest, true
	case agent.TopicUpload:
		return pageUpload, true
	}
	return 0, false
}

// session is what the pages share: the answers, the scan, and the problems
// the agent found.
type session struct {
	ctx context.Context
	o   Options
	// s holds the answers; loaded is the INF as it was read (the skip
	// rule looks at what the INF set, not at what was typed since).
	s, loaded *inf.Settings
	now       func() time.Time

	scanning bool
	report   *scan.Report
	scanErr  error

	// problems are those of the last Prepare, or of a failed capture;
	// a page shows those about its keys until the value changes.
	problems agent.Problems
	// firstPass is true until the summary is reached or Back is used:
	// only then are pages the INF completes skipped.
	firstPass bool
	// nameTyped is true once the technician typed the image name (or the
	// INF set it): the default name is no longer changed.
	nameTyped bool
	// nameNote says why the default name was changed, "" if it was not.
	nameNote string

	// plan is what the summary prepared; run the capture running on it,
	// runResult and runErr how the last one ended.
	plan      *agent.Plan
	run       *runner
	runResult *agent.Result
	runErr    error
}

// source resolves the source the answers name, nil when they name none
// that can be captured.
func (s *session) source() *agent.Source {
	if s.report == nil && !strings.HasPrefix(s.s.VolumeToCapture, "/") {
		return nil
	}
	src, ps := agent.SourceFor(s.s, s.report)
	if len(ps) > 0 {
		return nil
	}
	return src
}

// problemFor returns the messages of the problems about key, one a line.
func (s *session) problemFor(key string) string {
	var msgs []string
	for _, p := range s.problems.Key(key) {
		msgs = append(msgs, p.Msg)
	}
	return strings.Join(msgs, "\n")
}

// dropProblems forgets the problems about key: its value changed.
func (s *session) dropProblems(key string) {
	var keep agent.Problems
	for _, p := range s.problems {
		if !strings.EqualFold(p.Key, key) {
			keep = append(keep, p)
		}
	}
	s.problems = keep
}

// nav is what a page asks the wizard to do after a message.
type nav struct {
	kind navKind
	to   pageID
}

type navKind int

const (
	navNone navKind = iota
	navNext
	navTo
	navQuit
)

// page is one page of the wizard, a model of its own.
type page interface {
	// title is shown in the title bar.
	title() string
	// enter is called each time the page is shown.
	enter(s *session) tea.Cmd
	// update handles a message sent to the page.
	update(s *session, msg tea.Msg) (tea.Cmd, nav)
	// view renders the body in w×h cells; cursor is where the terminal
	// cursor goes (nil: hidden).
	view(s *session, st styles, w, h int) (lines []string, cursor *tea.Cursor)
	// keys lists the bindings the page handles now, for the footer.
	keys(s *session) []key.Binding
	// back reports whether Esc goes to the previous page (false: the page
	// handles Esc itself).
	back() bool
}

// Messages.
type scanMsg struct {
	rep *scan.Report
	err error
}

// app is the wizard: it routes messages to the page shown, moves between
// pages, asks before quitting, and draws the title bar and the footer.
type app struct {
	sess   *session
	pages  [numPages]page
	cur    pageID
	st     styles
	help   help.Model
	width  int
	height int

	askQuit bool
	quitErr error // what Run returns when the technician quits
}

// New returns the wizard as a bubbletea model (for tests); Run is the way
// to use it on a terminal.
func New(ctx context.Context, o Options) tea.Model { return newApp(ctx, o) }

func newApp(ctx context.Context, o Options) *app {
	loaded := o.Settings
	if loaded == nil {
		loaded = inf.Default()
	}
	answers := *loaded
	sess := &session{ctx: ctx, o: o, s: &answers, loaded: loaded, now: o.Now, firstPass: true,
		nameTyped: loaded.ImageName != ""}
	if sess.now == nil {
		sess.now = time.Now
	}
	st := newStyles()
	a := &app{sess: sess, st: st, help: newHelp(st), width: 80, height: 25}
	a.pages = [numPages]page{
		pageWelcome:  &welcomePage{},
		pageSource:   newSourcePage(sess),
		pageDest:     newDestPage(sess),
		pageUpload:   newUploadPage(sess),
		pageSummary:  &summaryPage{},
		pageProgress: &progressPage{},
		pageFinish:   newFinishPage(),
	}
	if o.Report != nil {
		a.setReport(o.Report, nil)
	} else {
		sess.scanning = true
	}
	return a
}

// Init starts the disk scan when no report was given.
func (a *app) Init() tea.Cmd {
	if a.sess.report != nil {
		return nil
	}
	ctx, ro := a.sess.ctx, a.sess.o.Run
	return func() tea.Msg {
		rep, err := agent.ScanDisks(ctx, ro)
		return scanMsg{rep, err}
	}
}

func (a *app) setReport(rep *scan.Report, err error) {
	s := a.sess
	s.scanning, s.report, s.scanErr = false, rep, err
	a.pages[pageSource].(*sourcePage).setReport(s)
}

// Update routes a message.
func (a *app) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		// A serial console often reports 0×0: keep 80×25 then.
		if msg.Width > 0 && msg.Height > 0 {
			a.width, a.height = max(msg.Width, 40), max(msg.Height, 12)
		}
		return a, nil
	case scanMsg:
		a.setReport(msg.rep, msg.err)
		return a, nil
	case tea.KeyPressMsg:
		if msg.String() == "ctrl+j" {
			// A Return typed before the terminal was made raw arrives as
			// a line feed (the line discipline's ICRNL): it is Enter.
			msg = tea.KeyPressMsg{Code: tea.KeyEnter}
		}
		return a.key(msg)
	}
	return a, a.route(msg)
}

// route gives a message to the page shown and carries out its navigation.
func (a *app) route(msg tea.Msg) tea.Cmd {
	cmd, n := a.pages[a.cur].update(a.sess, msg)
	return tea.Batch(cmd, a.navigate(n))
}

func (a *app) key(k tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	if a.askQuit {
		switch {
		case matches(k, keyYes):
			a.quitErr = ErrCanceled
			return a, tea.Quit
		case matches(k, keyNo, keyBack, keyNext):
			a.askQuit = false
		}
		return a, nil
	}
	p := a.pages[a.cur]
	if p.back() {
		switch {
		case matches(k, keyQuit):
			a.askQuit = true
			return a, nil
		case matches(k, keyBack) && a.cur == pageWelcome:
			a.askQuit = true
			return a, nil
		case matches(k, keyBack):
			a.sess.firstPass = false
			return a, a.show(a.cur - 1)
		}
	}
	return a, a.route(k)
}

// navigate carries out a page's request.
func (a *app) navigate(n nav) tea.Cmd {
	switch n.kind {
	case navNext:
		next := a.cur + 1
		for a.sess.firstPass && next < pageSummary && a.skippable(next) {
			next++
		}
		return a.show(next)
	case navTo:
		return a.show(n.to)
	case navQuit:
		return tea.Quit
	}
	return nil
}

// show makes p the page shown.
func (a *app) show(p pageID) tea.Cmd {
	if p == pageSummary {
		a.sess.firstPass = false
	}
	a.cur = p
	return a.pages[p].enter(a.sess)
}

// skippable says whether the INF, as it was loaded, already answers page
// p correctly: then the first pass does not show it.
func (a *app) skippable(p pageID) bool {
	s, loaded := a.sess, a.sess.loaded
	if loaded.Source == "" && s.o.INFPath == "" {
		return false // no INF: every page is shown
	}
	valid := func(keys ...string) bool {
		return len(agent.CheckKeys(loaded, keys...)) == 0
	}
	switch p {
	case pageSource:
		if loaded.ImageName == "" || !valid(inf.KeyVolumeToCapture, inf.KeySystemRoot, inf.KeyImageName, inf.KeyImageDescription) {
			return false
		}
		if s.scanning && !strings.HasPrefix(loaded.VolumeToCapture, "/") {
			return false
		}
		_, ps := agent.SourceFor(loaded, s.report)
		return len(ps) == 0
	case pageDest:
		if loaded.DestinationFile == "" {
			return false
		}
		_, ps := agent.CheckDestination(loaded, s.o.Run, s.source())
		return len(ps) == 0
	case pageUpload:
		return !loaded.Upload || len(agent.CheckKeys(loaded, inf.KeyWDSServerName, inf.KeyWDSImageGroup, inf.KeyUsername, inf.KeyPassword)) == 0
	}
	return false
}

// View draws the page: title bar, body, footer.
func (a *app) View() tea.View {
	content, cursor := a.render()
	v := tea.NewView(content)
	v.AltScreen = true
	v.Cursor = cursor
	// No window title: OSC sequences are text to a real VT100 on a serial
	// line.
	return v
}

// render returns the screen's text and the cursor.
func (a *app) render() (string, *tea.Cursor) {
	w, h := a.width, a.height
	p := a.pages[a.cur]
	title := " WDS Image Capture Wizard - " + p.title() + " "
	head := a.st.title.Render(padRight(clip(title, w), w))
	room := h - 3
	body, cursor := p.view(a.sess, a.st, w, room)
	if len(body) > room {
		body = body[:room]
		if cursor != nil && cursor.Y >= room {
			cursor = nil
		}
	}
	for len(body) < room {
		body = append(body, "")
	}
	var foot string
	if a.askQuit {
		foot = a.st.err.Render(clip("Quit without capturing? y = quit, n = stay", w))
		cursor = nil
	} else {
		a.help.SetWidth(w)
		foot = a.help.ShortHelpView(a.footer())
	}
	lines := append([]string{head, ""}, body...)
	lines = append(lines, foot)
	for i, l := range lines {
		lines[i] = clip(l, w)
	}
	if cursor != nil {
		cursor.Y += 2
	}
	return strings.Join(lines, "\n"), cursor
}

// footer lists the keys of the page shown, then Esc and Ctrl-C when the
// wizard handles them for the page.
func (a *app) footer() []key.Binding {
	p := a.pages[a.cur]
	bs := p.keys(a.sess)
	if p.back() {
		if a.cur == pageWelcome {
			bs = append(bs, withHelp(keyBack, "quit"))
		} else {
			bs = append(bs, keyBack, keyQuit)
		}
	}
	return bs
}

// result is how the run ended: the capture's result or error, or nil and
// nil when no capture ran.
func (a *app) result() (*agent.Result, error) {
	f := a.pages[pageFinish].(*finishPage)
	return f.result, f.runErr
}

// ErrCanceled is returned by Run when the technician quits before the
// capture starts.
var ErrCanceled = errors.New("the capture wizard was cancelled; nothing was captured")
