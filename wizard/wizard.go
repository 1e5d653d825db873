// Package wizard is the terminal Image Capture Wizard: when WDSCapture.inf
// is missing or incomplete (or the run is attended), it walks the technician
// through the capture as the WDS Image Capture Wizard does, page by page,
// and drives the agent pipeline. The wizard only collects answers and
// displays the agent's progress events; agent.Prepare and agent.Execute do
// the work.
//
// Pages, in order: Welcome; Capture source (the scanned volumes, the image
// name and description); Destination (the .wim file, compression,
// overwrite or append); Upload (optional; the upload itself is not
// available, agent.Prepare refuses it); Summary (agent.Prepare runs here);
// Capturing (progress); Finished (result, image metadata read back, saving
// the answers as an INF).
//
// Skip rules: a page whose settings are all present (and valid) in the INF
// is skipped. Source needs ImageName and a volume (VolumeToCapture, or
// exactly one generalized volume found); Destination needs
// DestinationFile; Upload is shown when there is no INF, or when
// UploadToWDSServer=Yes and a [WDS] value is missing. Welcome and Summary
// are always shown. Esc goes back through the pages shown; when
// agent.Prepare refuses the answers, Enter on the summary opens the page
// the error is about, skipped or not. The wizard's own checks of every
// page run before Prepare, so a bad value on a skipped page is caught too.
//
// Keys: Tab/Shift-Tab or ↓/↑ move between fields, ←/→ or Space change a
// choice, ↑/↓ choose a volume, Enter validates the field and moves on (on
// the last field: next page), Esc goes back, Ctrl-C quits (asks first).
// While capturing, Esc/Ctrl-C asks to cancel and PgUp/PgDn/End scroll the
// log. Colour follows the terminal and NO_COLOR; nothing depends on colour.
package wizard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/scan"
)

// Options configures a wizard run.
type Options struct {
	// Settings come from agent.LoadSettings (inf.Default() without a file);
	// the wizard works on a copy.
	Settings *inf.Settings
	// INFPath is the file the settings came from, "" if none was found.
	INFPath string
	// Run is passed to agent.Prepare and agent.Execute.
	Run agent.RunOptions
	// Report is a scan done beforehand; nil makes the wizard scan with
	// agent.Discover (Run.NoDevices and Run.DiskImages).
	Report *scan.Report
	// Now is the clock used for the default image name; nil is time.Now.
	Now func() time.Time
}

// ErrCanceled is returned by Run when the technician quits before the
// capture starts.
var ErrCanceled = errors.New("the capture wizard was cancelled; nothing was captured")

type pageID int

const (
	pageWelcome pageID = iota
	pageSource
	pageDest
	pageUpload
	pageSummary
	pageProgress
	pageFinish
)

var pageTitles = [...]string{"Welcome", "Capture source", "Destination", "Upload to a WDS server (optional)", "Summary", "Capturing", "Finished"}

// pageKeys are the INF keys each page sets, for skip rules and for
// routing an error of agent.Prepare to its page.
var pageKeys = map[pageID][]string{
	pageSource: {"VolumeToCapture", "SystemRoot", "ImageName", "ImageDescription"},
	pageDest:   {"DestinationFile", "Overwrite", "Compression", "CheckIntegrity"},
	pageUpload: {"UploadToWDSServer", "WDSServerName", "WDSImageGroup", "Username", "Password", "DeleteLocalWimOnSuccess"},
}

// Messages.
type (
	scanMsg struct {
		rep *scan.Report
		err error
	}
	prepMsg struct {
		plan *agent.Plan
		err  error
		gen  int
	}
	eventsMsg []runEvent
	doneMsg   struct {
		events []runEvent
		res    *agent.Result
		err    error
	}
)

type model struct {
	ctx    context.Context
	o      Options
	s      *inf.Settings
	st     styles
	now    func() time.Time
	width  int
	height int

	page    pageID
	history []pageID
	focus   int
	fields  map[pageID][]*field

	scanning  bool
	report    *scan.Report
	scanErr   error
	vols      []volRow
	volSel    int
	nameTyped bool // the image name was typed, not the default
	// pathSource is the INF's VolumeToCapture when it is a path rather
	// than a drive letter; it is the source while volSel is -1.
	pathSource string

	dest destInfo

	preparing bool
	prepGen   int
	plan      *agent.Plan
	prepErr   error
	errPage   pageID

	run        *runner
	bar        progress.Model
	last       agent.Progress
	phase      agent.Phase
	log        []string
	logBack    int // lines the log view is scrolled back from the newest
	askCancel  bool
	cancelling bool

	result  *agent.Result
	runErr  error
	image   *images.ImageInfo
	wimComp images.Compression
	readErr string
	saveMsg string

	askQuit bool
	err     error // what Run returns
}

// New returns the wizard as a bubbletea model (for teatest); Run is the
// way to use it on a terminal.
func New(ctx context.Context, o Options) tea.Model {
	return newModel(ctx, o, lipgloss.DefaultRenderer())
}

func newModel(ctx context.Context, o Options, r *lipgloss.Renderer) *model {
	s := o.Settings
	if s == nil {
		s = inf.Default()
	}
	c := *s
	m := &model{ctx: ctx, o: o, s: &c, st: newStyles(r), now: o.Now, width: 80, height: 25, errPage: -1}
	if m.now == nil {
		m.now = time.Now
	}
	m.bar = progress.New(progress.WithFillCharacters('#', '.'), progress.WithoutPercentage(),
		progress.WithColorProfile(r.ColorProfile()), progress.WithSolidFill("4"))
	m.fields = map[pageID][]*field{
		pageSource: {
			{key: "Volume", label: "Volume", kind: kindVolumes},
			newText("ImageName", "Image name", c.ImageName, false),
			newText("ImageDescription", "Description", c.ImageDescription, false),
		},
		pageDest: {
			newText("DestinationFile", "WIM file", c.DestinationFile, false),
			newChoice("Compression", "Compression", []string{"XPRESS", "LZX", "None"}, compSel(c.Compression)),
			newChoice("Overwrite", "File exists", []string{"Append an image", "Overwrite it"}, overwriteSel(c.Overwrite)),
		},
		pageUpload: {
			newChoice("UploadToWDSServer", "Upload", []string{"No", "Yes"}, boolSel(c.Upload)),
			newText("WDSServerName", "Server", c.ServerName, false),
			newText("WDSImageGroup", "Image group", c.ImageGroup, false),
			newText("Username", "User name", c.Username, false),
			newText("Password", "Password", c.Password.Reveal(), true),
		},
		pageFinish: {
			newText("SavePath", "Save INF to", "", false),
			newChoice("SavePassword", "With password", []string{"No", "Yes"}, 0),
		},
	}
	m.nameTyped = c.ImageName != ""
	if o.Report != nil {
		m.setReport(o.Report, nil)
	}
	return m
}

func overwriteSel(o inf.Overwrite) int {
	if o == inf.OverwriteYes {
		return 1
	}
	return 0
}

func boolSel(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Init starts the disk scan when no report was given.
func (m *model) Init() tea.Cmd {
	if m.report != nil {
		return nil
	}
	m.scanning = true
	ctx, ro := m.ctx, m.o.Run
	return func() tea.Msg {
		rep, err := agent.Discover(ctx, !ro.NoDevices, ro.DiskImages, slog.New(slog.DiscardHandler))
		return scanMsg{rep, err}
	}
}

func (m *model) setReport(rep *scan.Report, err error) {
	m.scanning = false
	m.report, m.scanErr = rep, err
	if rep == nil {
		return
	}
	m.vols = volumeRows(rep)
	m.volSel = -1
	v := m.s.VolumeToCapture
	letter, rest, isLetter := inf.DriveLetter(v)
	if v != "" && (!isLetter || strings.Trim(rest, `\/`) != "") {
		// A directory, partition image or device path from the INF: kept
		// unless the technician picks a scanned volume instead.
		m.pathSource = v
	}
	want := ""
	if isLetter && m.pathSource == "" {
		want = strings.ToUpper(string(letter))
	}
	found := false
	for i, r := range m.vols {
		if want != "" && r.ref.Volume.Letter == want {
			found = true
			if !r.selectable {
				m.field(pageSource, "Volume").err = fmt.Sprintf("VolumeToCapture=%s in the INF cannot be captured: %s; choose another volume", v, r.why)
			}
		}
		if r.selectable && m.pathSource == "" && (m.volSel < 0 || r.ref.Volume.Letter == want) {
			m.volSel = i
		}
	}
	if want != "" && !found {
		m.field(pageSource, "Volume").err = fmt.Sprintf("VolumeToCapture=%s in the INF: the scan found no volume with that letter; choose one", v)
	}
	m.defaultName()
}

// selected is the chosen volume, nil when none can be chosen.
func (m *model) selected() *scan.VolumeRef {
	if m.volSel < 0 || m.volSel >= len(m.vols) {
		return nil
	}
	return &m.vols[m.volSel].ref
}

// defaultName fills the image name from the product name and the date
// until the technician types one.
func (m *model) defaultName() {
	if m.nameTyped {
		return
	}
	f := m.field(pageSource, "ImageName")
	name := "Windows image"
	if ref := m.selected(); ref != nil && ref.Volume.Windows != nil && ref.Volume.Windows.ProductName != "" {
		name = ref.Volume.Windows.ProductName
	}
	f.in.SetValue(name + " " + m.now().Format("2006-01-02"))
}

func (m *model) field(p pageID, key string) *field {
	for _, f := range m.fields[p] {
		if f.key == key {
			return f
		}
	}
	panic("wizard: no field " + key)
}

// visible lists the fields of the page shown now.
func (m *model) visible(p pageID) []*field {
	var out []*field
	for _, f := range m.fields[p] {
		switch f.key {
		case "Overwrite":
			if !m.dest.exists {
				continue
			}
		case "WDSServerName", "WDSImageGroup", "Username", "Password":
			if m.field(pageUpload, "UploadToWDSServer").sel == 0 {
				continue
			}
		case "SavePassword":
			if m.s.Password.IsZero() || m.result == nil {
				continue
			}
		case "SavePath":
			if m.result == nil {
				continue
			}
		}
		out = append(out, f)
	}
	return out
}

// complete says whether a page's settings are all present and valid, so
// that the page is skipped.
func (m *model) complete(p pageID) bool {
	s := m.s
	for _, k := range pageKeys[p] {
		if checkKey(s, k, func(*inf.Settings) {}) != "" {
			return false
		}
	}
	switch p {
	case pageSource:
		return s.ImageName != "" && (s.VolumeToCapture != "" || (m.report != nil && len(m.report.Ready()) == 1))
	case pageDest:
		return s.DestinationFile != ""
	case pageUpload:
		if s.Source == "" && m.o.INFPath == "" {
			return false
		}
		return !s.Upload || (s.ServerName != "" && s.ImageGroup != "" && s.Username != "" && !s.Password.IsZero())
	}
	return true
}

// Update handles a message.
func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		// A serial console often reports 0×0: keep 80×25 then.
		if msg.Width > 0 && msg.Height > 0 {
			m.width, m.height = max(msg.Width, 40), max(msg.Height, 12)
		}
		return m, nil
	case scanMsg:
		m.setReport(msg.rep, msg.err)
		return m, nil
	case prepMsg:
		if msg.gen != m.prepGen {
			return m, nil
		}
		m.preparing = false
		m.plan, m.prepErr = msg.plan, msg.err
		m.errPage = -1
		if msg.err != nil {
			m.errPage = errorPage(msg.err)
		}
		return m, nil
	case eventsMsg:
		m.handleEvents(msg)
		return m, m.run.wait
	case doneMsg:
		m.handleEvents(msg.events)
		m.finish(msg.res, msg.err)
		return m, nil
	case tea.KeyMsg:
		return m.key(msg)
	}
	return m, nil
}

func (m *model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.askQuit {
		switch k.String() {
		case "y", "Y":
			m.err = ErrCanceled
			return m, tea.Quit
		case "n", "N", "esc", "enter":
			m.askQuit = false
		}
		return m, nil
	}
	switch m.page {
	case pageProgress:
		return m.progressKey(k)
	case pageFinish:
		if k.String() == "ctrl+c" || k.String() == "esc" || k.String() == "enter" && len(m.visible(pageFinish)) == 0 {
			return m, tea.Quit
		}
		return m.fieldKey(k)
	}
	switch k.String() {
	case "ctrl+c":
		m.askQuit = true
		return m, nil
	case "esc":
		if m.page == pageWelcome {
			m.askQuit = true
			return m, nil
		}
		m.back()
		return m, nil
	}
	switch m.page {
	case pageWelcome:
		if k.String() == "enter" {
			return m, m.forward()
		}
		return m, nil
	case pageSummary:
		if k.String() == "enter" {
			switch {
			case m.preparing:
			case m.prepErr != nil && m.errPage >= 0:
				m.goTo(m.errPage)
			case m.prepErr != nil:
				return m, m.prepare()
			case m.plan != nil:
				return m, m.start()
			}
		}
		return m, nil
	}
	return m.fieldKey(k)
}

// fieldKey handles a key on a page with fields.
func (m *model) fieldKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	fs := m.visible(m.page)
	if len(fs) == 0 {
		if k.String() == "enter" {
			return m, m.forward()
		}
		return m, nil
	}
	m.focus = min(m.focus, len(fs)-1)
	f := fs[m.focus]
	switch k.String() {
	case "tab":
		m.leave(f)
		m.move(+1)
		return m, nil
	case "shift+tab":
		m.leave(f)
		m.move(-1)
		return m, nil
	case "down", "up":
		if f.kind == kindVolumes {
			m.moveVolume(k.String() == "down")
			return m, nil
		}
		m.leave(f)
		m.move(map[string]int{"down": 1, "up": -1}[k.String()])
		return m, nil
	case "enter":
		if !m.leave(f) {
			return m, nil
		}
		if m.page == pageFinish {
			if f.key == "SavePath" && len(fs) > 1 {
				m.move(+1)
				return m, nil
			}
			m.save()
			return m, nil
		}
		if m.focus < len(fs)-1 {
			m.move(+1)
			return m, nil
		}
		return m, m.forward()
	}
	switch f.kind {
	case kindChoice:
		switch k.String() {
		case "left", "right", " ":
			d := 1
			if k.String() == "left" {
				d = len(f.opts) - 1
			}
			f.sel = (f.sel + d) % len(f.opts)
			m.leave(f)
		}
		return m, nil
	case kindText:
		if m.page == pageSource && f.key == "ImageName" {
			m.nameTyped = true
		}
		var cmd tea.Cmd
		f.in, cmd = f.in.Update(k)
		return m, cmd
	}
	return m, nil
}

func (m *model) moveVolume(down bool) {
	for i := m.volSel; ; {
		if down {
			i++
		} else {
			i--
		}
		if i < 0 && m.pathSource != "" && m.volSel >= 0 {
			m.volSel = -1 // back to the INF's path
			m.defaultName()
			return
		}
		if i < 0 || i >= len(m.vols) {
			return
		}
		if m.vols[i].selectable {
			m.volSel = i
			m.field(pageSource, "Volume").err = ""
			m.defaultName()
			return
		}
	}
}

// move focuses the next or previous visible field.
func (m *model) move(d int) {
	fs := m.visible(m.page)
	m.focus = max(0, min(len(fs)-1, m.focus+d))
	m.syncFocus()
}

func (m *model) syncFocus() {
	fs := m.visible(m.page)
	for i, f := range fs {
		if f.kind == kindText {
			if i == m.focus {
				f.in.Focus()
			} else {
				f.in.Blur()
			}
		}
	}
}

// leave validates a field and stores its value in the settings; it
// reports whether the value is valid.
func (m *model) leave(f *field) bool {
	f.err = m.check(f)
	if f.err == "" {
		m.apply(f)
	}
	return f.err == ""
}

// apply stores a valid field value in the settings.
func (m *model) apply(f *field) {
	if f.key == "Volume" {
		if ref := m.selected(); ref != nil {
			m.s.VolumeToCapture = ref.Volume.Letter + `:\`
			m.s.SystemRoot = ""
		} else if m.pathSource != "" {
			m.s.VolumeToCapture = m.pathSource
		}
		return
	}
	setField(m.s, f)
}

// setField stores the value of a field other than Volume in s.
func setField(s *inf.Settings, f *field) {
	v := f.value()
	switch f.key {
	case "ImageName":
		s.ImageName = v
	case "ImageDescription":
		s.ImageDescription = v
	case "DestinationFile":
		s.DestinationFile = v
	case "Compression":
		s.Compression = selComp(f.sel)
	case "Overwrite":
		s.Overwrite = []inf.Overwrite{inf.OverwriteAppend, inf.OverwriteYes}[f.sel]
	case "UploadToWDSServer":
		s.Upload = f.sel == 1
	case "WDSServerName":
		s.ServerName = v
	case "WDSImageGroup":
		s.ImageGroup = v
	case "Username":
		s.Username = v
	case "Password":
		s.Password = inf.NewSecret(f.in.Value())
	}
}

// check returns the message for a field's value, "" when it is valid.
func (m *model) check(f *field) string {
	v := f.value()
	switch f.key {
	case "Volume":
		if m.scanning {
			return "the disks are still being scanned"
		}
		if m.selected() == nil && m.pathSource == "" {
			return "no generalized Windows volume to capture: fix a volume listed above, then restart"
		}
		return ""
	case "ImageName":
		if v == "" {
			return "enter a name for the image"
		}
		return checkKey(m.s, f.key, func(s *inf.Settings) { s.ImageName = v })
	case "ImageDescription":
		return checkKey(m.s, f.key, func(s *inf.Settings) { s.ImageDescription = v })
	case "DestinationFile":
		return m.checkDest(v)
	case "Compression":
		if m.dest.exists && m.overwriteAppend() && m.dest.openErr == "" && selComp(f.sel) != m.dest.comp {
			f.sel = compSel(m.dest.comp)
			return "appending: the WIM's compression is used"
		}
	case "Overwrite":
		if m.overwriteAppend() && m.dest.openErr != "" {
			return "cannot append: " + m.dest.openErr
		}
		if m.overwriteAppend() {
			m.field(pageDest, "Compression").sel = compSel(m.dest.comp)
			m.s.Compression = m.dest.comp
		}
	case "WDSServerName", "WDSImageGroup", "Username", "Password":
		if v == "" && f.key != "Password" || f.key == "Password" && f.in.Value() == "" {
			return "required for an upload"
		}
		return checkKey(m.s, f.key, func(s *inf.Settings) { setField(s, f) })
	}
	return ""
}

func (m *model) overwriteAppend() bool { return m.field(pageDest, "Overwrite").sel == 0 }

// checkDest validates the destination file and refreshes what the page
// shows about it.
func (m *model) checkDest(v string) string {
	m.dest = destInfo{}
	if v == "" {
		return "enter the path of the .wim file to write"
	}
	if msg := checkKey(m.s, "DestinationFile", func(s *inf.Settings) { s.DestinationFile = v }); msg != "" {
		return msg
	}
	path, err := localDest(v, m.o.Run.DriveMap)
	if err != nil {
		return err.Error()
	}
	if !strings.EqualFold(filepath.Ext(path), ".wim") {
		return "the file name must end in .wim"
	}
	m.dest = inspectDest(path)
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return "is a directory; give a file name ending in .wim"
	}
	if onSourceVolume(filepath.Dir(path), m.selected()) {
		return "lies on the volume being captured; choose another disk"
	}
	if m.dest.exists && m.overwriteAppend() && m.dest.openErr == "" {
		m.field(pageDest, "Compression").sel = compSel(m.dest.comp)
		m.s.Compression = m.dest.comp
	}
	return ""
}

// forward validates the page and goes to the next page that is not
// skipped.
func (m *model) forward() tea.Cmd {
	fs := m.visible(m.page)
	for i, f := range fs {
		if !m.leave(f) {
			m.focus = i
			m.syncFocus()
			return nil
		}
	}
	if m.page == pageSource && m.scanning {
		return nil
	}
	next := m.page + 1
	for next < pageSummary && m.complete(next) {
		if next == pageSource && m.s.VolumeToCapture == "" && m.selected() != nil {
			// Skipped for its only generalized volume: name it, so that
			// the destination checks know the source.
			m.apply(m.field(pageSource, "Volume"))
		}
		next++
	}
	m.history = append(m.history, m.page)
	m.show(next)
	if next == pageSummary {
		return m.prepare()
	}
	return nil
}

func (m *model) back() {
	if len(m.history) == 0 {
		return
	}
	p := m.history[len(m.history)-1]
	m.history = m.history[:len(m.history)-1]
	m.show(p)
}

// goTo shows page p, dropping the history after its last visit.
func (m *model) goTo(p pageID) {
	for i, h := range m.history {
		if h == p {
			m.history = m.history[:i]
			break
		}
	}
	if len(m.history) == 0 || m.history[len(m.history)-1] >= p {
		m.history = []pageID{}
		for q := pageWelcome; q < p; q++ {
			if q == pageWelcome || !m.complete(q) {
				m.history = append(m.history, q)
			}
		}
	}
	m.show(p)
}

func (m *model) show(p pageID) {
	m.page = p
	m.focus = 0
	m.prepGen++
	m.preparing = false
	if p == pageDest {
		// Refresh what exists at the destination.
		if f := m.field(pageDest, "DestinationFile"); f.value() != "" {
			f.err = m.checkDest(f.value())
		}
	}
	m.syncFocus()
}

// prepare runs agent.Prepare on a copy of the answers.
func (m *model) prepare() tea.Cmd {
	m.preparing, m.plan, m.prepErr, m.errPage = true, nil, nil, -1
	// The wizard's own checks first, also for the pages the INF skipped
	// (a drive letter that is not mounted, say). The volume is left to
	// Prepare: VolumeToCapture may name a path the scan does not list.
	for _, p := range []pageID{pageSource, pageDest, pageUpload} {
		for _, f := range m.visible(p) {
			if f.key == "Volume" {
				continue
			}
			if !m.leave(f) {
				m.preparing = false
				m.prepErr, m.errPage = fmt.Errorf("%s: %s", f.label, f.err), p
				return nil
			}
		}
	}
	c := *m.s
	ctx, ro, gen := m.ctx, m.o.Run, m.prepGen
	return func() tea.Msg {
		plan, err := agent.Prepare(ctx, &c, ro, agent.Observer{})
		return prepMsg{plan, err, gen}
	}
}

// errorPage picks the page whose settings an error of agent.Prepare is
// about, -1 when none is.
func errorPage(err error) pageID {
	var ps agent.Problems
	if errors.As(err, &ps) && len(ps) > 0 {
		switch ps[0].Topic() {
		case agent.TopicSource:
			return pageSource
		case agent.TopicDestination:
			return pageDest
		case agent.TopicUpload:
			return pageUpload
		}
		return -1
	}
	var ce *agent.CaptureError
	if errors.As(err, &ce) && ce.Kind == agent.KindNothing {
		return pageSource
	}
	return -1
}

// Run shows the wizard on a terminal (in, out) and returns the capture's
// result. Quitting before the capture gives ErrCanceled; a capture error
// is the agent's *agent.CaptureError (KindInterrupted after a cancel).
func Run(ctx context.Context, o Options, in io.Reader, out io.Writer) (*agent.Result, error) {
	r := lipgloss.NewRenderer(out)
	if os.Getenv("NO_COLOR") != "" {
		r.SetColorProfile(termenv.Ascii)
	}
	m := newModel(ctx, o, r)
	p := tea.NewProgram(m, tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen(), tea.WithContext(ctx))
	final, err := p.Run()
	if fm, ok := final.(*model); ok {
		m = fm
	}
	if m.run != nil {
		// Killed (SIGTERM) during the capture: cancel it, wait for it to
		// return, and report how it ended.
		m.run.stopAndWait()
		if m.result == nil && m.runErr == nil {
			m.result, m.runErr = m.run.res, m.run.err
		}
	}
	if err != nil {
		if !errors.Is(err, tea.ErrProgramPanic) && (errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, context.Canceled)) {
			if m.runErr != nil {
				return nil, m.runErr
			}
			return nil, ErrCanceled
		}
		return nil, fmt.Errorf("capture wizard: %w", err)
	}
	if m.result != nil {
		return m.result, nil
	}
	if m.runErr != nil {
		return nil, m.runErr
	}
	if m.err != nil {
		return nil, m.err
	}
	return nil, ErrCanceled
}
