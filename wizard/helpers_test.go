package wizard

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/scan"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC) }

const gib = 1 << 30

// waitLimit bounds every wait for a screen or an exit. The waits end as soon
// as the state is reached; the limit only stops a test that would hang, and
// is long because a loaded 2-core machine under -race is slow.
const waitLimit = 5 * time.Minute

// reasons are fixed here (not scan's texts) so that the goldens do not
// change when scan rewords them.
var reasons = map[scan.State]string{
	scan.StateReady:          "ready",
	scan.StateNotGeneralized: "Windows is not generalized: run sysprep /generalize",
	scan.StateHibernated:     "Windows is hibernated: shut it down fully",
	scan.StateBitLocker:      "BitLocker-encrypted: turn BitLocker off",
	scan.StateNoWindows:      "no Windows installation found on this volume",
}

func winVol(letter, product, version string, langs []string, state scan.State, detail string, size int64) *scan.Volume {
	return &scan.Volume{Letter: letter, FS: scan.FSNTFS, Size: size, State: state, Reason: reasons[state], Detail: detail,
		Windows: &scan.WindowsInfo{SystemRoot: "WINDOWS", ProductName: product, Version: version, Arch: "x86_64", Languages: langs}}
}

// fixedReport is a scan of three disks: two generalized Windows volumes,
// three that cannot be captured, and two without Windows.
func fixedReport() *scan.Report {
	return &scan.Report{Version: scan.ReportVersion, Disks: []*scan.Disk{
		{Name: "sda", Path: "/dev/sda", Source: "block", Size: 256 * gib, Table: scan.TableGPT, Partitions: []*scan.Partition{
			{Index: 1, Start: 1 << 20, Size: 100 << 20, Role: scan.RoleESP, Volume: &scan.Volume{FS: scan.FSFAT32, Size: 100 << 20, NoLetter: "EFI system partition"}},
			{Index: 2, Start: 101 << 20, Size: 16 << 20, Role: scan.RoleMSR},
			{Index: 3, Start: 117 << 20, Size: 120 * gib, Role: scan.RoleBasicData,
				Volume: winVol("C", "Windows 11 Enterprise", "10.0.22631.2861", []string{"en-US", "de-DE"}, scan.StateReady, "", 120*gib)},
			{Index: 4, Start: 121 * gib, Size: 600 << 20, Role: scan.RoleRecovery,
				Volume: &scan.Volume{FS: scan.FSNTFS, Size: 600 << 20, NoLetter: "recovery partition", State: scan.StateNoWindows, Reason: reasons[scan.StateNoWindows]}},
		}},
		{Name: "sdb", Path: "/dev/sdb", Source: "block", Size: 500 * gib, Table: scan.TableMBR, Partitions: []*scan.Partition{
			{Index: 1, Start: 1 << 20, Size: 200 * gib, Role: scan.RoleBasicData,
				Volume: winVol("D", "Windows 10 Pro", "10.0.19045.3803", []string{"en-US"}, scan.StateNotGeneralized, "image state IMAGE_STATE_COMPLETE", 200*gib)},
			{Index: 2, Start: 201 * gib, Size: 100 * gib, Role: scan.RoleBasicData,
				Volume: winVol("E", "Windows 11 Pro", "10.0.22631.2861", []string{"fr-FR"}, scan.StateHibernated, "hiberfil.sys starts with HIBR", 100*gib)},
			{Index: 5, Start: 301 * gib, Size: 50 * gib, Role: scan.RoleBasicData,
				Volume: &scan.Volume{Letter: "F", FS: scan.FSBitLocker, Size: 50 * gib, State: scan.StateBitLocker, Reason: reasons[scan.StateBitLocker]}},
		}},
		{Name: "sdc", Path: "/dev/sdc", Source: "block", Size: 64 * gib, Table: scan.TableGPT, Partitions: []*scan.Partition{
			{Index: 1, Start: 1 << 20, Size: 60 * gib, Role: scan.RoleBasicData,
				Volume: winVol("G", "Windows Server 2022 Standard", "10.0.20348.2113", []string{"en-GB"}, scan.StateReady, "", 60*gib)},
		}},
	}}
}

// oneReady is fixedReport without G:, so C: is the only generalized volume.
func oneReady() *scan.Report {
	rep := fixedReport()
	rep.Disks = rep.Disks[:2]
	return rep
}

// parseINF builds settings from INF text as agent.LoadSettings would.
func parseINF(t *testing.T, text string) *inf.Settings {
	t.Helper()
	if text == "" {
		return inf.Default()
	}
	s, _, err := inf.Parse([]byte(strings.ReplaceAll(text, "\n", "\r\n")), "/lab/WDSCapture.inf")
	if err != nil {
		t.Fatal(err)
	}
	s.Source = "/lab/WDSCapture.inf"
	return s
}

// driver runs the wizard's model in the test's goroutine: each key is
// handled and the commands it returns (the scan, agent.Prepare, the
// capture's events) are run to the end before the next key, so that no
// test waits for time to pass.
type driver struct {
	t    *testing.T
	a    *app
	quit bool
	// mask, when set, hides what changes from run to run in goldens.
	mask func(string) string
}

// newDriver returns the wizard for INF text ("" for none) and options.
func newDriver(t *testing.T, infText string, o Options) *driver {
	t.Helper()
	if o.Settings == nil {
		o.Settings = parseINF(t, infText)
		if infText != "" && o.INFPath == "" {
			o.INFPath = o.Settings.Source
		}
	}
	if o.Now == nil {
		o.Now = fixedNow
	}
	if o.Report == nil && o.Run.DiskImages == nil {
		o.Report = fixedReport()
	}
	if o.Report != nil {
		o.Run.NoDevices = true
	}
	d := &driver{t: t, a: newApp(t.Context(), o)}
	d.run(d.a.Init())
	return d
}

// run carries out a command and every command that follows from it.
func (d *driver) run(cmd tea.Cmd) {
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		switch m := c().(type) {
		case nil:
		case tea.BatchMsg:
			queue = append(queue, m...)
		case tea.QuitMsg:
			d.quit = true
		default:
			_, next := d.a.Update(m)
			queue = append(queue, next)
		}
	}
}

// namedKeys are the keys press understands by name.
var namedKeys = map[string]tea.KeyPressMsg{
	"enter": {Code: tea.KeyEnter}, "tab": {Code: tea.KeyTab}, "shift+tab": {Code: tea.KeyTab, Mod: tea.ModShift},
	"esc": {Code: tea.KeyEscape}, "up": {Code: tea.KeyUp}, "down": {Code: tea.KeyDown},
	"left": {Code: tea.KeyLeft}, "right": {Code: tea.KeyRight}, "space": {Code: tea.KeySpace, Text: " "},
	"home": {Code: tea.KeyHome}, "end": {Code: tea.KeyEnd}, "pgup": {Code: tea.KeyPgUp}, "pgdown": {Code: tea.KeyPgDown},
	"backspace": {Code: tea.KeyBackspace}, "ctrl+c": {Code: 'c', Mod: tea.ModCtrl}, "ctrl+u": {Code: 'u', Mod: tea.ModCtrl},
}

// press sends named keys ("enter", "ctrl+u", ...); anything else is typed
// as text.
func (d *driver) press(keys ...string) *driver {
	d.t.Helper()
	for _, k := range keys {
		if msg, ok := namedKeys[k]; ok {
			if msg.String() != k {
				d.t.Fatalf("key %q is sent as %q", k, msg.String())
			}
			_, cmd := d.a.Update(msg)
			d.run(cmd)
			continue
		}
		for _, r := range k {
			_, cmd := d.a.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
			d.run(cmd)
		}
	}
	return d
}

// size resizes the terminal.
func (d *driver) size(w, h int) *driver {
	d.a.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return d
}

// screen is the text on the screen, without styles.
func (d *driver) screen() string {
	v, _ := d.a.render()
	return ansi.Strip(v)
}

// page is the page shown.
func (d *driver) page() pageID { return d.a.cur }

// want fails the test unless the screen shows every text.
func (d *driver) want(texts ...string) *driver {
	d.t.Helper()
	s := d.screen()
	for _, w := range texts {
		if !strings.Contains(s, w) {
			d.t.Errorf("the screen lacks %q:\n%s", w, s)
		}
	}
	return d
}

// wantNot fails the test if the screen shows any of the texts.
func (d *driver) wantNot(texts ...string) *driver {
	d.t.Helper()
	s := d.screen()
	for _, w := range texts {
		if strings.Contains(s, w) {
			d.t.Errorf("the screen shows %q:\n%s", w, s)
		}
	}
	return d
}

// onPage fails the test unless page p is shown.
func (d *driver) onPage(p pageID) *driver {
	d.t.Helper()
	if d.a.cur != p {
		d.t.Fatalf("page %q is shown, want %q:\n%s", d.a.pages[d.a.cur].title(), d.a.pages[p].title(), d.screen())
	}
	return d
}

var (
	freeRE = regexp.MustCompile(`[0-9.]+ [KMGTPE]?i?B free`)
	tmpRE  = regexp.MustCompile(`wz[0-9a-f]{8}`)
)

// goldenDir returns a new temporary directory whose path has the same
// length in every run (/tmp/wzXXXXXXXX), so that screens that cut a path
// to fit are the same every time; golden masks its name.
func goldenDir(t *testing.T) string {
	t.Helper()
	for {
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("wz%08x", rand.Uint32()))
		if err := os.Mkdir(dir, 0o755); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		} else if !os.IsExist(err) {
			t.Fatal(err)
		}
	}
}

// golden compares the screen (without styles; the cursor's place on a line
// of its own) with testdata/<test>.golden (go test -update writes it), the
// temporary directory and free space masked, and checks it fits.
func (d *driver) golden(tmp string) { d.goldenAs("", tmp) }

// goldenAs is golden for one of several screens of a test: its file is
// testdata/<test>/<name>.golden.
func (d *driver) goldenAs(name, tmp string) {
	d.t.Helper()
	v, cursor := d.a.render()
	plain := ansi.Strip(v)
	fits(d.t, plain, d.a.width, d.a.height)
	if tmp != "" {
		plain = strings.ReplaceAll(plain, tmp, "$TMP")
	}
	plain = tmpRE.ReplaceAllString(plain, "wzXXXXXXXX")
	plain = freeRE.ReplaceAllString(plain, "N free")
	if d.mask != nil {
		plain = d.mask(plain)
	}
	plain = regexp.MustCompile(` +\n`).ReplaceAllString(plain, "\n")
	c := "cursor: hidden"
	if cursor != nil {
		c = "cursor: column " + strconv.Itoa(cursor.X) + ", line " + strconv.Itoa(cursor.Y)
	}
	out := []byte(plain + "\n-- " + c + "\n")
	if name == "" {
		teatest.RequireEqualOutput(d.t, out)
		return
	}
	d.t.Run(name, func(t *testing.T) { teatest.RequireEqualOutput(t, out) })
}

func fits(t *testing.T, v string, w, h int) {
	t.Helper()
	lines := strings.Split(v, "\n")
	if len(lines) != h {
		t.Errorf("screen has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("line %d is %d columns wide (> %d): %q", i+1, n, w, l)
		}
	}
}

// problems builds an agent refusal for tests.
func problems(ps ...*agent.SettingError) error {
	return &agent.CaptureError{Kind: agent.Problems(ps).Kind(), Err: agent.Problems(ps)}
}
