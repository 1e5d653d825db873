package wizard

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/tooltest"
	"github.com/wdscapture/wdscapture/scan"
)

func init() { lipgloss.SetColorProfile(termenv.Ascii) }

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

// press sends named keys ("enter", "tab", "ctrl+u", ...), waits for text
// on the screen ("wait:text"), or, for anything else, types the text.
func press(t *testing.T, tm *teatest.TestModel, keys ...string) {
	t.Helper()
	named := map[string]tea.KeyType{
		"enter": tea.KeyEnter, "tab": tea.KeyTab, "shift+tab": tea.KeyShiftTab, "esc": tea.KeyEsc,
		"up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight,
		"ctrl+c": tea.KeyCtrlC, "ctrl+u": tea.KeyCtrlU, "space": tea.KeySpace,
	}
	for _, k := range keys {
		if want, ok := strings.CutPrefix(k, "wait:"); ok {
			waitFor(t, tm, want)
		} else if typ, ok := named[k]; ok {
			tm.Send(tea.KeyMsg{Type: typ})
		} else {
			tm.Type(k)
		}
	}
}

// screen runs the wizard, presses keys, waits until the screen shows want
// and returns the final model.
func screen(t *testing.T, o Options, want string, keys ...string) *model {
	t.Helper()
	if o.Now == nil {
		o.Now = fixedNow
	}
	if o.Run.DiskImages == nil && o.Report != nil {
		o.Run.NoDevices = true
	}
	tm := teatest.NewTestModel(t, New(t.Context(), o), teatest.WithInitialTermSize(80, 25))
	press(t, tm, keys...)
	waitFor(t, tm, want)
	// The output stream may show want before the last key is handled; the
	// Quit message is handled after every key sent before it.
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	m := tm.FinalModel(t, teatest.WithFinalTimeout(waitLimit)).(*model)
	if v := m.View(); !strings.Contains(v, want) {
		t.Fatalf("the final screen lacks %q:\n%s", want, v)
	}
	return m
}

// waitFor waits until the output shows want.
func waitFor(t *testing.T, tm *teatest.TestModel, want string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(want)) },
		teatest.WithDuration(waitLimit), teatest.WithCheckInterval(20*time.Millisecond))
}

var freeRE = regexp.MustCompile(`[0-9.]+ [KMGTPE]?i?B free`)

// golden compares the screen with testdata/<test>.golden (go test -update
// writes it), with the temporary directory and free space masked, and
// checks that it fits 80×25.
func golden(t *testing.T, m *model, tmp string) {
	t.Helper()
	v := m.View()
	fits(t, v, 80, 25)
	if tmp != "" {
		v = strings.ReplaceAll(v, tmp, "$TMP")
	}
	v = freeRE.ReplaceAllString(v, "N free")
	// Text fields pad to their width; the padding depends on the length
	// of the temporary directory's name.
	v = regexp.MustCompile(` +\n`).ReplaceAllString(v, "\n")
	teatest.RequireEqualOutput(t, []byte(v+"\n"))
}

func fits(t *testing.T, v string, w, h int) {
	t.Helper()
	lines := strings.Split(v, "\n")
	if len(lines) != h {
		t.Errorf("screen has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := lipgloss.Width(l); n > w {
			t.Errorf("line %d is %d columns wide (> %d): %q", i+1, n, w, l)
		}
	}
}

// TestPages walks the pages with key sequences and compares each screen
// with its golden file.
func TestPages(t *testing.T) {
	tmp := t.TempDir()
	complete := "[Capture]\nVolumeToCapture=C:\nImageName=Reference\nImageDescription=sysprepped\nDestinationFile=" + tmp + "/ref.wim\nCompression=LZX\n"
	cases := []struct {
		name string
		inf  string
		want string
		keys []string
	}{
		{"welcome_no_inf", "", "Press Enter", nil},
		{"welcome_partial_inf", "[Capture]\nImageName=Reference\n", "It lacks DestinationFile", nil},
		// The source page: ready volumes first, refused ones with the reason.
		{"source", "", "Volume to capture", []string{"enter"}},
		// Choosing the other generalized volume renames the default image name.
		{"source_second_volume", "", "Windows Server 2022 Standard 2026-11-24", []string{"enter", "down"}},
		// ↓ stops at the last volume that can be selected (refused ones are skipped).
		{"source_cannot_select_refused", "", "Windows Server 2022 Standard 2026-11-24", []string{"enter", "down", "down", "down"}},
		// The INF names a path: it is the source until a volume is chosen.
		{"source_inf_path", "[Capture]\nVolumeToCapture=/srv/reference\n", "VolumeToCapture in the INF", []string{"enter"}},
		{"source_inf_path_then_volume", "[Capture]\nVolumeToCapture=/srv/reference\n", "[*] C:   120 GiB", []string{"enter", "down"}},
		// The INF names a volume that cannot be captured: said next to the list.
		{"source_inf_refused_letter", "[Capture]\nVolumeToCapture=D:\n", "in the INF cannot be captured", []string{"enter"}},
		{"source_name_required", "", "enter a name for the image", []string{"enter", "tab", "ctrl+u", "enter"}},
		{"dest_empty", "", "WIM file", []string{"enter", "enter", "enter", "enter"}},
		{"dest_required", "", "enter the path of the .wim file", []string{"enter", "enter", "enter", "enter", "enter"}},
		{"dest_extension", "", "must end in .wim", []string{"enter", "enter", "enter", "enter", tmp + "/ref.img", "enter"}},
		{"dest_unmapped_drive", "", "not mounted in the capture environment", []string{"enter", "enter", "enter", "enter", `D:\Images\ref.wim`, "enter"}},
		{"dest_on_source", "", "captured", []string{"enter", "enter", "enter", "enter", `C:\ref.wim`, "enter"}},
		{"dest_ok_lzx", "", "(*) LZX", []string{"enter", "enter", "enter", "enter", tmp + "/new.wim", "enter", "right"}},
		{"upload_off", "", "Upload to a WDS server", []string{"enter", "enter", "enter", "enter", tmp + "/new.wim", "enter", "enter"}},
		{"upload_fields", "", "required for an upload", []string{"enter", "enter", "enter", "enter", tmp + "/new.wim", "enter", "enter", "right", "enter", "enter"}},
		{"upload_bad_server", "", "not a valid host name", []string{"enter", "enter", "enter", "enter", tmp + "/new.wim", "enter", "enter", "right", "enter", "bad server!", "enter"}},
		{"upload_password_masked", "", "********", []string{"enter", "enter", "enter", "enter", tmp + "/new.wim", "enter", "enter", "right", "enter",
			"wds01.corp.example", "enter", "Reference", "enter", `CORP\capture`, "enter", "s3cr3t!!"}},
		// Upload=Yes: Prepare refuses; the error is shown next to the Upload section.
		{"summary_upload_refused", "", "set UploadToWDSServer=No", []string{"enter", "enter", "enter", "enter", tmp + "/new.wim", "enter", "enter", "right", "enter",
			"wds01.corp.example", "enter", "Reference", "enter", `CORP\capture`, "enter", "s3cr3t!!", "enter"}},
		// Enter on that summary goes back to the Upload page.
		{"summary_error_goes_to_page", "", "(*) Yes", []string{"enter", "enter", "enter", "enter", tmp + "/new.wim", "enter", "enter", "right", "enter",
			"wds01.corp.example", "enter", "Reference", "enter", `CORP\capture`, "enter", "s3cr3t!!", "enter", "wait:Enter go to", "enter"}},
		// A partial INF (image name and volume set): only Destination is asked.
		{"partial_inf_skips_source", "[Capture]\nVolumeToCapture=C:\nImageName=Reference\n", "WIM file", []string{"enter"}},
		{"partial_inf_then_summary", "[Capture]\nVolumeToCapture=C:\nImageName=Reference\n", "no volume has that drive letter",
			[]string{"enter", tmp + "/p.wim", "enter", "enter"}},
		// An INF with everything: Welcome, then the summary (Prepare's scan
		// here has no disks, so it names the problem at the source).
		{"complete_inf_summary", complete, "no volume has that drive letter", []string{"enter"}},
		// Esc from that summary goes back to Welcome: the skipped pages are not in the way.
		{"complete_inf_back", complete, "It has every setting", []string{"enter", "esc"}},
		// A drive letter the capture environment has not mounted: the
		// summary names the Destination page, and Enter goes there with the
		// message next to the field.
		{"complete_inf_unmapped_drive", "[Capture]\nVolumeToCapture=C:\nImageName=Reference\nDestinationFile=D:\\x.wim\n", "not mounted",
			[]string{"enter", "wait:Enter go to", "enter"}},
		{"quit_asks", "", "Quit without capturing?", []string{"ctrl+c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := parseINF(t, tc.inf)
			path := ""
			if tc.inf != "" {
				path = s.Source
			}
			m := screen(t, Options{Settings: s, INFPath: path, Report: fixedReport()}, tc.want, tc.keys...)
			golden(t, m, tmp)
		})
	}
}

// TestSkipRules checks which pages a run visits for INFs with different
// settings present.
func TestSkipRules(t *testing.T) {
	tmp := t.TempDir()
	cases := []struct {
		name string
		inf  string
		path string
		want []pageID // the pages Enter visits from Welcome to Summary
	}{
		{"no inf", "", "", []pageID{pageWelcome, pageSource, pageDest, pageUpload, pageSummary}},
		{"name only", "[Capture]\nImageName=X\n", "/lab/WDSCapture.inf", []pageID{pageWelcome, pageSource, pageDest, pageSummary}},
		{"name and volume", "[Capture]\nImageName=X\nVolumeToCapture=G:\n", "/lab/WDSCapture.inf", []pageID{pageWelcome, pageDest, pageSummary}},
		{"destination only", "[Capture]\nDestinationFile=" + tmp + "/a.wim\n", "/lab/WDSCapture.inf", []pageID{pageWelcome, pageSource, pageSummary}},
		{"upload without server", "[Capture]\nImageName=X\nVolumeToCapture=C:\nDestinationFile=" + tmp + "/a.wim\n[WDS]\nUploadToWDSServer=Yes\n",
			"/lab/WDSCapture.inf", []pageID{pageWelcome, pageUpload, pageSummary}},
		{"complete", "[Capture]\nImageName=X\nVolumeToCapture=C:\nDestinationFile=" + tmp + "/a.wim\n", "/lab/WDSCapture.inf", []pageID{pageWelcome, pageSummary}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := parseINF(t, tc.inf)
			m := newModel(t.Context(), Options{Settings: s, INFPath: tc.path, Report: fixedReport(), Now: fixedNow}, lipgloss.DefaultRenderer())
			var got []pageID
			for i := 0; i < 10 && m.page != pageSummary; i++ {
				got = append(got, m.page)
				if m.page == pageUpload && len(m.visible(pageUpload)) > 1 {
					// Fill the upload fields the INF lacks.
					for _, kv := range [][2]string{{"WDSServerName", "wds01"}, {"WDSImageGroup", "G"}, {"Username", `CORP\u`}, {"Password", "p"}} {
						m.field(pageUpload, kv[0]).in.SetValue(kv[1])
					}
				}
				if m.page == pageDest && m.field(pageDest, "DestinationFile").value() == "" {
					m.field(pageDest, "DestinationFile").in.SetValue(tmp + "/typed.wim")
				}
				m.forward()
			}
			got = append(got, m.page)
			if !slicesEqual(got, tc.want) {
				t.Errorf("pages %v, want %v", got, tc.want)
			}
		})
	}
}

func slicesEqual(a, b []pageID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestResize checks that every page fits the terminal after a resize.
func TestResize(t *testing.T) {
	// A serial console reports 0×0: the wizard keeps 80×25.
	m := newModel(t.Context(), Options{Settings: inf.Default(), Report: fixedReport(), Now: fixedNow}, lipgloss.DefaultRenderer())
	m.Update(tea.WindowSizeMsg{Width: 0, Height: 0})
	fits(t, m.View(), 80, 25)
	for _, size := range [][2]int{{80, 25}, {100, 30}, {60, 20}} {
		m := newModel(t.Context(), Options{Settings: inf.Default(), Report: fixedReport(), Now: fixedNow}, lipgloss.DefaultRenderer())
		m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		for _, p := range []pageID{pageWelcome, pageSource, pageDest, pageUpload, pageSummary, pageProgress} {
			m.page = p
			fits(t, m.View(), size[0], size[1])
		}
	}
}

// TestAppendShowsImages: an existing WIM offers append, lists its images
// and forces its compression.
func TestAppendShowsImages(t *testing.T) {
	tooltest.Require(t, "wimcapture", "wimappend")
	tmp := t.TempDir()
	tree := filepath.Join(tmp, "tree")
	os.MkdirAll(filepath.Join(tree, "a"), 0o755)
	os.WriteFile(filepath.Join(tree, "a", "f.txt"), []byte("data"), 0o644)
	wim := filepath.Join(tmp, "old.wim")
	tooltest.Run(t, "wimcapture", tree, wim, "First image", "--compress=LZX")
	tooltest.Run(t, "wimappend", tree, wim, "Second image")
	m := screen(t, Options{Settings: inf.Default(), Report: fixedReport()}, "appending keeps it",
		"enter", "enter", "enter", "enter", wim, "enter")
	golden(t, m, tmp)
	if m.s.Compression != images.CompressLZX {
		t.Errorf("compression %v, want the WIM's LZX", m.s.Compression)
	}
	// Changing the compression while appending is refused.
	m2 := screen(t, Options{Settings: inf.Default(), Report: fixedReport()}, "the WIM's compression is used",
		"enter", "enter", "enter", "enter", wim, "enter", "left")
	if m2.field(pageDest, "Compression").value() != "LZX" {
		t.Errorf("compression field %q after ←, want LZX kept", m2.field(pageDest, "Compression").value())
	}
	// Overwrite frees the choice.
	m3 := screen(t, Options{Settings: inf.Default(), Report: fixedReport()}, "(*) Overwrite it",
		"enter", "enter", "enter", "enter", wim, "enter", "tab", "right", "shift+tab", "left")
	if m3.s.Overwrite != inf.OverwriteYes || m3.s.Compression != images.CompressXPRESS {
		t.Errorf("overwrite %v compression %v, want Yes and XPRESS", m3.s.Overwrite, m3.s.Compression)
	}
}

// TestErrorPage routes Prepare's errors to the page of the setting named.
func TestErrorPage(t *testing.T) {
	problems := func(key string) error {
		return &agent.CaptureError{Kind: agent.KindSettings, Err: agent.Problems{{Key: key, Kind: agent.KindSettings, Msg: "x", Err: errorString(key + "=x: x")}}}
	}
	cases := []struct {
		err  error
		want pageID
	}{
		{problems("DestinationFile"), pageDest},
		{problems("WDSServerName"), pageUpload},
		{problems("Overwrite"), pageDest},
		{problems("UploadToWDSServer"), pageUpload},
		{problems("VolumeToCapture"), pageSource},
		{&agent.CaptureError{Kind: agent.KindCapture, Err: errorString("disk full")}, -1},
	}
	for _, tc := range cases {
		if got := errorPage(tc.err); got != tc.want {
			t.Errorf("errorPage(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

var _ = context.Background

// TestProgressPage feeds agent events to the progress page: phase, bar,
// bytes, files, rate, ETA, the current path and the newest log lines.
func TestProgressPage(t *testing.T) {
	m := newModel(t.Context(), Options{Settings: inf.Default(), Report: fixedReport(), Now: fixedNow}, lipgloss.DefaultRenderer())
	m.page = pageProgress
	var es []runEvent
	for i := 1; i <= 30; i++ {
		level := slog.LevelInfo
		if i == 30 {
			level = slog.LevelWarn
		}
		es = append(es, runEvent{note: &agent.Note{Phase: agent.PhaseScan, Text: fmt.Sprintf("message %d", i), Level: level}})
	}
	es = append(es, runEvent{progress: &agent.Progress{Phase: agent.PhaseWrite, Done: 3 << 30, Total: 12 << 30, FilesDone: 2500, FilesTotal: 10000,
		Path: `\Windows\System32\DriverStore\FileRepository\` + strings.Repeat("long", 30) + `\driver.sys`, Rate: 52 << 20, ETA: 177*time.Second + 300*time.Millisecond}})
	m.handleEvents(es)
	v := m.View()
	fits(t, v, 80, 25)
	for _, want := range []string{"Phase: write", " 25.0%", "3.0 GiB of 12.0 GiB", "files 2500 of 10000", "52.0 MiB/s", "ETA 2m57s", `\driver.sys`, "[scan] warning: message 30"} {
		if !strings.Contains(v, want) {
			t.Errorf("progress page lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "message 1\n") || strings.Contains(v, "message 10\n") {
		t.Errorf("the log does not scroll:\n%s", v)
	}
	golden(t, m, "")
	// PgUp scrolls the log back, End returns to the newest lines.
	m.Update(tea.KeyMsg{Type: tea.KeyPgUp})
	if v := m.View(); !strings.Contains(v, "5 newer lines below") || !strings.Contains(v, "message 11\n") || strings.Contains(v, "message 30") {
		t.Errorf("PgUp did not scroll the log back 5 lines:\n%s", v)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyEnd})
	if v := m.View(); !strings.Contains(v, "message 30") {
		t.Errorf("End did not return to the newest lines:\n%s", v)
	}
	// Esc asks before cancelling.
	m.Update(tea.KeyMsg{Type: tea.KeyEsc})
	if !strings.Contains(m.View(), "Cancel the capture?") {
		t.Errorf("Esc did not ask:\n%s", m.View())
	}
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("n")})
	if m.askCancel || m.cancelling {
		t.Error("n did not keep the capture going")
	}
}

// TestSaveINF saves the answers from the finish page, with and without
// the password, and reads the file back.
func TestSaveINF(t *testing.T) {
	for _, withPassword := range []bool{false, true} {
		tmp := t.TempDir()
		s := parseINF(t, "[Capture]\nVolumeToCapture=C:\nImageName=Saved\nDestinationFile="+tmp+"/a.wim\nCompression=None\n[WDS]\nUsername=CORP\\u\nPassword=pa;ss#word\n")
		m := newModel(t.Context(), Options{Settings: s, INFPath: s.Source, Report: fixedReport(), Now: fixedNow}, lipgloss.DefaultRenderer())
		m.finish(&agent.Result{Dest: tmp + "/a.wim"}, nil)
		if len(m.visible(pageFinish)) != 2 {
			t.Fatalf("finish fields %d, want the path and the password choice", len(m.visible(pageFinish)))
		}
		path := filepath.Join(tmp, "answers.inf")
		m.Update(tea.KeyMsg{Type: tea.KeyCtrlU})
		for _, r := range path {
			m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		}
		m.Update(tea.KeyMsg{Type: tea.KeyEnter})
		if withPassword {
			m.Update(tea.KeyMsg{Type: tea.KeyRight})
		}
		m.Update(tea.KeyMsg{Type: tea.KeyEnter})
		if !strings.Contains(m.View(), "saved "+path) {
			t.Fatalf("not saved:\n%s", m.View())
		}
		got, _, err := inf.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Unattended || got.ImageName != "Saved" || got.Compression != images.CompressNone || got.Username != `CORP\u` {
			t.Errorf("saved settings %+v", got)
		}
		if want := map[bool]string{true: "pa;ss#word", false: ""}[withPassword]; got.Password.Reveal() != want {
			t.Errorf("withPassword=%v: saved password %q, want %q", withPassword, got.Password.Reveal(), want)
		}
	}
}

// TestSkipSingleReadyVolume: an INF with the image name but no volume
// skips the source page when the scan finds exactly one generalized
// volume, and names that volume for the checks that follow.
func TestSkipSingleReadyVolume(t *testing.T) {
	rep := fixedReport()
	rep.Disks = rep.Disks[:2] // without G:, C: is the only generalized volume
	s := parseINF(t, "[Capture]\nImageName=X\n")
	m := newModel(t.Context(), Options{Settings: s, INFPath: s.Source, Report: rep, Now: fixedNow}, lipgloss.DefaultRenderer())
	m.forward()
	if m.page != pageDest {
		t.Fatalf("page %v after Welcome, want Destination", pageTitles[m.page])
	}
	if m.s.VolumeToCapture != `C:\` {
		t.Errorf("VolumeToCapture %q, want C:\\", m.s.VolumeToCapture)
	}
	// So a destination on C: is refused where it is typed.
	f := m.field(pageDest, "DestinationFile")
	f.in.SetValue(`C:\images\x.wim`)
	if m.leave(f) || !strings.Contains(f.err, "volume being captured") {
		t.Errorf("destination on the source accepted; message %q", f.err)
	}
}
