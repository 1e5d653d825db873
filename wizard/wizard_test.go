package wizard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/storetest"
	"github.com/wdscapture/wdscapture/scan"
)

// toDest are the keys from Welcome to the Destination page without an INF:
// Enter on the volume list, the name and the description.
var toDest = []string{"enter", "enter", "enter", "enter"}

func keys(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// TestPages walks the pages with key sequences and compares each screen
// (80×25, no styles, the cursor's place) with its golden file.
func TestPages(t *testing.T) {
	tmp := goldenDir(t)
	os.MkdirAll(filepath.Join(tmp, "adir.wim"), 0o755)
	os.MkdirAll(filepath.Join(tmp, "d"), 0o755)
	complete := "[Capture]\nVolumeToCapture=C:\nImageName=Reference\nImageDescription=sysprepped\nDestinationFile=" + tmp + "/ref.wim\nCompression=LZX\n"
	long := strings.Repeat("Long image name ", 8) + "end"
	upload := keys(toDest, []string{tmp + "/new.wim", "enter", "enter", "right", "enter"})
	run := agent.RunOptions{DriveMap: map[string]string{"C": tmp, "D": filepath.Join(tmp, "d")}}
	cases := []struct {
		name, inf string
		keys      []string
		page      pageID
	}{
		{"welcome_no_inf", "", nil, pageWelcome},
		// Issue 13 item 8: "It lacks DestinationFile: the pages for them follow".
		{"welcome_partial_inf", "[Capture]\nImageName=Reference\n", nil, pageWelcome},
		// Issue 13 item 8: "It has every setting" for a volume that is not generalized.
		{"welcome_refused_volume", "[Capture]\nVolumeToCapture=D:\nImageName=Reference\nDestinationFile=" + tmp + "/x.wim\n", nil, pageWelcome},
		{"welcome_complete", complete, nil, pageWelcome},
		{"source", "", []string{"enter"}, pageSource},
		{"source_second_volume", "", []string{"enter", "down"}, pageSource},
		// Issue 13 item 8: the cursor goes over refused volumes too, so
		// that rows below the generalized ones can be scrolled into view.
		{"source_refused_in_view", "", []string{"enter", "down", "down", "down", "down"}, pageSource},
		{"source_inf_path", "[Capture]\nVolumeToCapture=/srv/reference\n", []string{"enter"}, pageSource},
		{"source_inf_refused_letter", "[Capture]\nVolumeToCapture=D:\n", []string{"enter"}, pageSource},
		{"source_name_required", "", []string{"enter", "tab", "ctrl+u", "enter"}, pageSource},
		// Issue 13 item 3: a long name scrolls in its field, with the cursor.
		{"source_long_name", "", []string{"enter", "tab", "ctrl+u", long}, pageSource},
		{"source_long_name_start", "", []string{"enter", "tab", "ctrl+u", long, "home"}, pageSource},
		{"dest_empty", "", toDest, pageDest},
		{"dest_required", "", keys(toDest, []string{"enter"}), pageDest},
		{"dest_extension", "", keys(toDest, []string{tmp + "/ref.img", "enter"}), pageDest},
		{"dest_unmapped_drive", "", keys(toDest, []string{`E:\Images\ref.wim`, "enter"}), pageDest},
		{"dest_on_source_drive", "", keys(toDest, []string{`C:\ref.wim`, "enter"}), pageDest},
		// Issue 13 item 7: /proc is refused where it is typed.
		{"dest_proc", "", keys(toDest, []string{"/proc/ref.wim", "enter"}), pageDest},
		{"dest_directory", "", keys(toDest, []string{tmp + "/adir.wim", "enter"}), pageDest},
		// Issue 14 item 4: ".." stops at the drive's root.
		{"dest_drive_confined", "", keys(toDest, []string{`D:\..\..\escaped.wim`, "enter"}), pageDest},
		{"dest_ok_lzx", "", keys(toDest, []string{tmp + "/new.wim", "enter", "right"}), pageDest},
		{"upload_off", "", keys(toDest, []string{tmp + "/new.wim", "enter", "enter"}), pageUpload},
		{"upload_fields", "", upload, pageUpload},
		{"upload_bad_server", "", keys(upload, []string{"bad server!", "enter"}), pageUpload},
		{"upload_bad_certificate", "", keys(upload, []string{"127.0.0.1:1", "enter", "3F:A2", "enter"}), pageUpload},
		// Connect asks for the credentials first.
		{"upload_connect_asks_credentials", "", keys(upload, []string{"127.0.0.1:1", "enter", "enter", "enter"}), pageUpload},
		{"upload_password_masked", "", keys(upload, []string{"127.0.0.1:1", "enter", "enter", "enter", `CORP\capture`, "enter", "s3cr3t!!"}), pageUpload},
		// Enter on the password connects: a server that does not answer is
		// said under its name.
		{"upload_connect_refused", "", keys(upload, []string{"127.0.0.1:1", "enter", "enter", "enter", `CORP\capture`, "enter", "s3cr3t!!", "enter"}), pageUpload},
		{"summary_upload_refused", complete + "[WDS]\nUploadToWDSServer=Yes\nWDSServerName=127.0.0.1:1\nWDSImageGroup=Reference\nUsername=CORP\\capture\nPassword=s3cr3t!!\n", []string{"enter"}, pageSummary},
		{"summary_ready", "", keys(toDest, []string{tmp + "/new.wim", "enter", "enter", "enter"}), pageSummary},
		{"complete_inf_summary", complete, []string{"enter"}, pageSummary},
		{"quit_asks", "", []string{"ctrl+c"}, pageWelcome},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t, tc.inf, Options{Run: run})
			d.press(tc.keys...).onPage(tc.page).golden(tmp)
		})
	}
}

// TestSkipRules: which pages Enter visits from Welcome to the summary on
// the first pass, for INFs with different settings present.
func TestSkipRules(t *testing.T) {
	tmp := t.TempDir()
	cases := []struct {
		name, inf string
		rep       *scan.Report
		want      []pageID
	}{
		{"no inf", "", nil, []pageID{pageWelcome, pageSource, pageDest, pageUpload, pageSummary}},
		{"name only", "[Capture]\nImageName=X\n", nil, []pageID{pageWelcome, pageSource, pageDest, pageSummary}},
		{"name only, one generalized volume", "[Capture]\nImageName=X\n", oneReady(), []pageID{pageWelcome, pageDest, pageSummary}},
		{"name and volume", "[Capture]\nImageName=X\nVolumeToCapture=G:\n", nil, []pageID{pageWelcome, pageDest, pageSummary}},
		{"volume not generalized", "[Capture]\nImageName=X\nVolumeToCapture=D:\nDestinationFile=" + tmp + "/a.wim\n", nil, []pageID{pageWelcome, pageSource, pageSummary}},
		{"destination only", "[Capture]\nDestinationFile=" + tmp + "/a.wim\n", nil, []pageID{pageWelcome, pageSource, pageSummary}},
		{"destination on /proc", "[Capture]\nImageName=X\nVolumeToCapture=C:\nDestinationFile=/proc/a.wim\n", nil, []pageID{pageWelcome, pageDest, pageSummary}},
		{"upload without password", "[Capture]\nImageName=X\nVolumeToCapture=C:\nDestinationFile=" + tmp + "/a.wim\n[WDS]\nUploadToWDSServer=Yes\nWDSServerName=127.0.0.1:1\nWDSImageGroup=G\nUsername=CORP\\u\n",
			nil, []pageID{pageWelcome, pageUpload, pageSummary}},
		{"complete", "[Capture]\nImageName=X\nVolumeToCapture=C:\nDestinationFile=" + tmp + "/a.wim\n", nil, []pageID{pageWelcome, pageSummary}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t, tc.inf, Options{Report: tc.rep})
			var got []pageID
			for i := 0; i < 10 && d.page() != pageSummary; i++ {
				got = append(got, d.page())
				switch d.page() {
				case pageDest:
					if d.a.sess.s.DestinationFile == "" || strings.HasPrefix(d.a.sess.s.DestinationFile, "/proc") {
						d.press("ctrl+u", tmp+"/typed.wim")
					}
					d.press("enter") // to Compression, the last field
				case pageUpload:
					if d.a.sess.s.Upload {
						// Upload, Server, Certificate, User name: on to
						// the password; then the INF's group, Delete local.
						d.press("enter", "enter", "enter", "enter", "p", "enter", "enter")
					}
				case pageSource:
					d.press("enter", "enter")
				}
				d.press("enter")
			}
			got = append(got, d.page())
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("pages %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBackReachesEveryPage (issue 13 item 2): the skip rule is for the
// first pass; Esc always goes to the previous page.
func TestBackReachesEveryPage(t *testing.T) {
	tmp := t.TempDir()
	t.Run("no INF: back to Welcome and forward again", func(t *testing.T) {
		d := newDriver(t, "", Options{})
		d.press(toDest...).onPage(pageDest)
		d.press("esc").onPage(pageSource).press("esc").onPage(pageWelcome)
		// Before: the Source page was skipped now, and Esc jumped to Welcome.
		d.press("enter").onPage(pageSource).press("esc").onPage(pageWelcome)
	})
	t.Run("partial INF: a skipped page is reached with Esc", func(t *testing.T) {
		d := newDriver(t, "[Capture]\nImageName=Partial\n", Options{Report: oneReady()})
		d.press("enter").onPage(pageDest)
		d.press("esc").onPage(pageSource).want("Description")
		d.press("tab", "tab", "typed later").press("enter").onPage(pageDest)
		if got := d.a.sess.s.ImageDescription; got != "typed later" {
			t.Errorf("description %q, want the one typed", got)
		}
		d.press(tmp+"/p.wim", "enter", "enter").onPage(pageUpload).press("enter").onPage(pageSummary)
		// After the summary every page can be reached again, backwards and
		// forwards: none is skipped any more.
		for _, p := range []pageID{pageUpload, pageDest, pageSource, pageWelcome} {
			d.press("esc").onPage(p)
		}
		d.press("enter").onPage(pageSource).press("enter", "enter", "enter").onPage(pageDest)
		d.press("enter", "enter").onPage(pageUpload).press("enter").onPage(pageSummary)
	})
	t.Run("complete INF: Esc from the summary walks back through every page", func(t *testing.T) {
		d := newDriver(t, "[Capture]\nVolumeToCapture=C:\nImageName=Reference\nDestinationFile="+tmp+"/ref.wim\n", Options{})
		d.press("enter").onPage(pageSummary)
		for _, p := range []pageID{pageUpload, pageDest, pageSource, pageWelcome} {
			d.press("esc").onPage(p)
		}
	})
}

// TestFieldKeys (issue 13 item 8): Tab wraps, Down leaves the volume list,
// a message goes when its value is retyped.
func TestFieldKeys(t *testing.T) {
	d := newDriver(t, "", Options{})
	d.press("enter")
	p := d.a.pages[pageSource].(*sourcePage)
	if p.focus != 0 {
		t.Fatalf("focus %d, want the list", p.focus)
	}
	d.press("shift+tab")
	if p.focus != 2 {
		t.Errorf("Shift-Tab from the first field: focus %d, want the last (wrap)", p.focus)
	}
	d.press("tab")
	if p.focus != 0 {
		t.Errorf("Tab from the last field: focus %d, want the first (wrap)", p.focus)
	}
	// Down walks the list to its end, then to the name.
	for i := 0; i < 20 && p.focus == 0; i++ {
		d.press("down")
	}
	if p.focus != 1 {
		t.Errorf("Down never left the volume list (focus %d)", p.focus)
	}
	d.press("up")
	if p.focus != 0 {
		t.Errorf("Up from the name: focus %d, want the list", p.focus)
	}
	// A stale message goes as soon as the value changes.
	d.press("tab", "ctrl+u", "enter").want("is not set: give the image a name")
	d.press("tab", "shift+tab", "N").wantNot("is not set")
	// Retyping a destination clears its message before it is checked again.
	d.press("enter", "enter").onPage(pageDest).press("/proc/x.wim", "enter").want("proc file system")
	d.press("up", "backspace").wantNot("proc file system")
}

// TestVolumeListSize (issue 13 item 8): the list uses the screen's height;
// at 80×25 the rows that do not fit scroll into view.
func TestVolumeListSize(t *testing.T) {
	rep := fixedReport()
	for i := 0; i < 4; i++ {
		rep.Disks = append(rep.Disks, &scan.Disk{Name: fmt.Sprintf("sd%c", 'd'+i), Path: "/dev/x", Source: "block", Partitions: []*scan.Partition{
			{Index: 1, Start: 1 << 20, Size: 8 * gib, Volume: &scan.Volume{Letter: string(rune('H' + i)), FS: scan.FSExFAT, Size: 8 * gib, Label: fmt.Sprintf("DATA%d", i)}}}})
	}
	big := newDriver(t, "", Options{Report: rep}).size(132, 43).press("enter")
	big.want("G:", "F:", "K:", "DATA3").wantNot("more below")
	fits(t, big.screen(), 132, 43)
	small := newDriver(t, "", Options{Report: rep}).press("enter")
	small.want("more below").wantNot("DATA3")
	for i := 0; i < 9; i++ {
		small.press("down")
	}
	small.want("DATA3", "more above").golden("")
}

// TestSummaryProblems (issue 13 item 6): every problem of agent.Prepare at
// once, each under its setting, the page Enter goes to marked; Enter opens
// it with the problem under the field.
func TestSummaryProblems(t *testing.T) {
	d := newDriver(t, "", Options{})
	d.press(keys(toDest, []string{goldenDir(t) + "/x.wim", "enter", "enter", "enter"})...).onPage(pageSummary)
	sum := d.a.pages[pageSummary].(*summaryPage)
	d.a.Update(prepMsg{gen: sum.gen, err: problems(
		&agent.SettingError{Key: inf.KeyVolumeToCapture, Kind: agent.KindNothing, Msg: "volume C: is not ready to capture: Windows is hibernated", Err: errors.New("x")},
		&agent.SettingError{Key: inf.KeyDestinationFile, Kind: agent.KindSettings, Msg: "only 12 MiB free on its file system", Err: errors.New("x")},
		&agent.SettingError{Key: inf.KeyWDSServerName, Kind: agent.KindSettings, Msg: "not a valid host name", Err: errors.New("x")},
		&agent.SettingError{Key: inf.SectionExclusionList, Kind: agent.KindSettings, Msg: "bad pattern", Err: errors.New("WDSCapture.inf:9: [ExclusionList] bad pattern")},
	)})
	d.want("Windows is hibernated", "only 12 MiB free", "not a valid host name", "[ExclusionList] bad pattern", "(Enter goes there)", "Enter go to Capture source")
	s := d.screen()
	if i, j := strings.Index(s, "Image name"), strings.Index(s, "hibernated"); j > i || j < strings.Index(s, "Volume ") {
		t.Errorf("the volume's problem is not under Volume:\n%s", s)
	}
	if i, j := strings.Index(s, "WIM file"), strings.Index(s, "12 MiB free"); j < i || j > strings.Index(s, "Compression") {
		t.Errorf("the destination's problem is not under WIM file:\n%s", s)
	}
	d.goldenAs("summary", "")
	d.press("enter").onPage(pageSource).want("! volume C: is not ready to capture").goldenAs("source_page_marked", "")
}

// TestLateFailure (issue 13 item 7): a capture refused late (no room for
// the data) leads back to the page that fixes it, answers kept; the
// failure page does what its footer says.
func TestLateFailure(t *testing.T) {
	tmp := goldenDir(t)
	d := newDriver(t, "", Options{})
	d.press(keys(toDest, []string{tmp + "/x.wim", "enter", "enter", "enter"})...).onPage(pageSummary)
	d.a.sess.runErr = &agent.CaptureError{Kind: agent.KindCapture, Err: &agent.SettingError{Key: inf.KeyDestinationFile,
		Msg: "not enough free space: about 40 GiB needed (90 GiB of data, XPRESS), 10 GiB free; choose another disk", Err: errors.New("x")}}
	d.run(d.a.show(pageFinish))
	d.want("The capture failed.", "not enough free space", "Enter go to Destination").goldenAs("failure_page", tmp)
	d.press("enter").onPage(pageDest).want("! not enough free space", tmp+"/x.wim").goldenAs("back_on_destination", tmp)
	if d.a.sess.s.ImageName != "Windows 11 Enterprise 2026-11-24" {
		t.Errorf("answers lost: %+v", d.a.sess.s)
	}
	// A failure no page fixes goes back to the summary.
	d.a.sess.runErr = &agent.CaptureError{Kind: agent.KindCapture, Err: errors.New("read /dev/sda: input/output error")}
	d.run(d.a.show(pageFinish))
	d.want("Enter back to the summary").press("enter").onPage(pageSummary)
	// A cancelled run says so, without the raw "context canceled".
	d.a.sess.runErr = &agent.CaptureError{Kind: agent.KindInterrupted, Err: fmt.Errorf("write: %w", context.Canceled)}
	d.run(d.a.show(pageFinish))
	d.want("The capture was cancelled.").wantNot("context canceled").goldenAs("cancelled", tmp)
	if d.press("esc"); !d.quit {
		t.Error("Esc on the failure page does not exit")
	}
}

// smallWIM writes a WIM of one small image named name.
func smallWIM(t *testing.T, path, name string) {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "tree")
	os.MkdirAll(filepath.Join(tree, "a"), 0o755)
	os.WriteFile(filepath.Join(tree, "a", "f.txt"), []byte("data"), 0o644)
	w, err := images.Create(path, images.Options{Compression: images.CompressLZX})
	if err != nil {
		t.Fatal(err)
	}
	src, err := agent.OpenSource(agent.SourceSpec{Path: tree}, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := w.AddImage(t.Context(), src, images.ImageOptions{Name: name, Flags: "Enterprise",
		WindowsXML: "<WINDOWS><ARCH>9</ARCH><PRODUCTNAME>Windows 11 Enterprise</PRODUCTNAME><EDITIONID>Enterprise</EDITIONID><LANGUAGES><LANGUAGE>en-US</LANGUAGE></LANGUAGES><VERSION><MAJOR>10</MAJOR><MINOR>0</MINOR><BUILD>22631</BUILD></VERSION></WINDOWS>"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestAppend: an existing WIM is listed, its compression kept; the default
// image name of a second capture the same day is made unique, a typed one
// that clashes is refused where the names are listed (issue 13 item 7).
func TestAppend(t *testing.T) {
	tmp := goldenDir(t)
	wim := filepath.Join(tmp, "old.wim")
	smallWIM(t, wim, "Windows 11 Enterprise 2026-11-24")
	d := newDriver(t, "", Options{})
	d.press(keys(toDest, []string{wim, "enter"})...).want("1: Windows 11 Enterprise 2026-11-24", "compression LZX; appending keeps it",
		`The image is named "Windows 11 Enterprise 2026-11-24 (2)"`).goldenAs("default_name_made_unique", tmp)
	if d.a.sess.s.Compression != images.CompressLZX || d.a.sess.s.ImageName != "Windows 11 Enterprise 2026-11-24 (2)" {
		t.Errorf("compression %v, name %q", d.a.sess.s.Compression, d.a.sess.s.ImageName)
	}
	d.press("left").want("appending: the WIM's compression (LZX) is used")
	// Overwrite frees the choice.
	d.press("tab", "right", "shift+tab", "left").want("(*) XPRESS")
	if d.a.sess.s.Overwrite != inf.OverwriteYes || d.a.sess.s.Compression != images.CompressXPRESS {
		t.Errorf("overwrite %v compression %v, want Yes and XPRESS", d.a.sess.s.Overwrite, d.a.sess.s.Compression)
	}

	// A name typed by the technician is not changed: the clash is shown.
	d = newDriver(t, "", Options{})
	d.press("enter", "tab", "ctrl+u", "windows 11 enterprise 2026-11-24", "enter", "enter")
	d.press(wim, "enter", "enter", "enter").onPage(pageDest).want("already has an image named", "(image 1)", "Esc goes back to the name").goldenAs("typed_name_clash", tmp)
	d.press("esc").onPage(pageSource).press("tab", "end", " v2", "enter", "enter").onPage(pageDest).press("enter", "enter", "enter").onPage(pageUpload)
}

// TestSaveINF (issue 13 item 1): saving never overwrites silently: the
// captured WIM is refused, another file is replaced only after y; drive
// letters are mapped as the agent maps them; relative paths are refused.
func TestSaveINF(t *testing.T) {
	tmp := goldenDir(t)
	root := filepath.Join(tmp, "root")
	os.MkdirAll(filepath.Join(root, "Windows", "System32"), 0o755)
	images := filepath.Join(tmp, "images")
	os.MkdirAll(images, 0o755)
	wim := filepath.Join(images, "ref.wim")
	smallWIM(t, wim, "Saved")
	before, _ := os.ReadFile(wim)
	notes := filepath.Join(images, "notes.txt")
	os.WriteFile(notes, []byte("keep me"), 0o644)
	s := parseINF(t, "[Capture]\nVolumeToCapture=C:\nImageName=Saved\nDestinationFile=D:\\ref.wim\nCompression=None\n[WDS]\nUsername=CORP\\u\nPassword=pa;ss#word\n")
	d := newDriver(t, "", Options{Settings: s, INFPath: s.Source, Run: agent.RunOptions{Root: root, DriveMap: map[string]string{"D": images}}})
	d.a.sess.runResult = &agent.Result{Dest: wim, Image: images2Info(t, wim)}
	d.run(d.a.show(pageFinish))
	d.want(`Save INF to    D:\WDSCapture.inf`, "With password")

	save := func(path string, more ...string) {
		d.press("ctrl+u", path, "enter")
		d.press(more...)
	}
	// The WIM just captured, by its drive letter or its local path.
	for _, p := range []string{`D:\ref.wim`, wim} {
		save(p)
		d.want("just written").wantNot("Saved ")
	}
	d.goldenAs("onto_the_wim", tmp)
	if after, _ := os.ReadFile(wim); string(after) != string(before) {
		t.Fatal("the WIM was overwritten")
	}
	// Another existing file: asked, kept on n, replaced on y.
	save(`D:\notes.txt`)
	d.want("notes.txt exists. Replace it?", "y replace it", "n keep it").goldenAs("replace_asked", tmp)
	d.press("n").want("not saved: the file was kept")
	if b, _ := os.ReadFile(notes); string(b) != "keep me" {
		t.Fatal("n replaced the file")
	}
	save(`D:\notes.txt`, "y")
	d.want("Saved " + notes)
	// Relative paths and unmapped drives are refused.
	save("WDSCapture.inf")
	d.want("not a full path")
	save(`E:\WDSCapture.inf`)
	d.want("drive E: is not mounted")
	// X: is the boot root; the password only on request.
	d.press("tab", "right", "shift+tab")
	save(`X:\Windows\System32\WDSCapture.inf`)
	d.want("Saved "+filepath.Join(root, "Windows", "System32", "WDSCapture.inf"), "with the password")
	for path, pw := range map[string]string{filepath.Join(root, "Windows", "System32", "WDSCapture.inf"): "pa;ss#word", notes: ""} {
		got, _, err := inf.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Unattended || got.ImageName != "Saved" || got.DestinationFile != `D:\ref.wim` || got.Password.Reveal() != pw {
			t.Errorf("%s reads back as %+v", path, got)
		}
	}
}

func images2Info(t *testing.T, wim string) images.ImageInfo {
	r, err := images.Open(wim)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return r.Images()[0]
}

// TestFinishLongNames (issue 13 item 3): long paths and names end in an
// ellipsis that keeps the file name; the edition is named once.
func TestFinishLongNames(t *testing.T) {
	dir := filepath.Join(goldenDir(t), strings.Repeat("a-very-long-directory-name/", 4))
	os.MkdirAll(dir, 0o755)
	wim := filepath.Join(dir, "reference-image.wim")
	smallWIM(t, wim, strings.Repeat("A long image name ", 6))
	d := newDriver(t, "", Options{})
	d.a.sess.runResult = &agent.Result{Dest: wim, Image: images2Info(t, wim), Verified: true, Duration: 83 * time.Second}
	d.run(d.a.show(pageFinish))
	d.want("...", "/reference-image.wim", "Windows 11 Enterprise x86_64 10.0.22631 en-US").wantNot("Enterprise Enterprise", "flags")
	d.golden(filepath.Dir(filepath.Dir(dir)))
}

// TestProgressPage feeds notes and progress to the progress page: the
// phase, bar, snapshot text, path and the newest log lines; a phase that
// counts nothing shows its title, not "0 B of 0 B" (issue 13 item 8).
func TestProgressPage(t *testing.T) {
	d := newDriver(t, "", Options{})
	p := &progressPage{}
	d.a.pages[pageProgress], d.a.cur = p, pageProgress
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
	p.handle(es)
	d.want("Now: compressing and writing the files", " 25.0%", "3.0 GiB of 12.0 GiB", "files 2500 of 10000", "52.0 MiB/s", "ETA 2m57s", `\driver.sys`, "[scan] warning: message 30")
	d.wantNot("message 10\n")
	d.golden("")
	d.press("pgup").want("5 newer lines below", "message 11").wantNot("message 30")
	d.press("end").want("message 30")
	d.press("esc").want("Cancel the capture?", "y cancel the capture")
	d.press("n")
	if p.askCancel || p.cancelling {
		t.Error("n did not keep the capture going")
	}
	p.handle([]runEvent{{note: &agent.Note{Phase: agent.PhaseMetadata, Text: "writing the image metadata"}},
		{progress: &agent.Progress{Phase: agent.PhaseMetadata, Elapsed: 2 * time.Second}}})
	d.want("Now: writing the image metadata").wantNot("0 B of 0 B", "%")
	// The upload is a phase of its own: the bytes to send, those the
	// server has already, the rate and the ETA.
	p.handle([]runEvent{{note: &agent.Note{Phase: agent.PhaseUpload, Text: "sending 40.0 MiB (12 of 300 streams)"}},
		{progress: &agent.Progress{Phase: agent.PhaseUpload, Done: 10 << 20, Total: 40 << 20, OnServer: 2 << 30, Rate: 5 << 20, ETA: 6 * time.Second}}})
	d.want("Now: sending the image to the image store", " 25.0%", "10.0 MiB of 40.0 MiB", "2.0 GiB on the server already", "5.0 MiB/s", "ETA 6s")
}

// TestFooterKeysHandled (issue 13 item 8): every key the footer offers does
// something on its page.
func TestFooterKeysHandled(t *testing.T) {
	tmp := t.TempDir()
	var srv *storetest.Server
	states := map[string]func() *driver{
		"welcome":     func() *driver { return newDriver(t, "", Options{}) },
		"source list": func() *driver { return newDriver(t, "", Options{}).press("enter") },
		"source name": func() *driver { return newDriver(t, "", Options{}).press("enter", "tab") },
		"dest file":   func() *driver { return newDriver(t, "", Options{}).press(toDest...) },
		"dest choice": func() *driver { return newDriver(t, "", Options{}).press(toDest...).press(tmp+"/x.wim", "enter") },
		"upload": func() *driver {
			return newDriver(t, "", Options{}).press(toDest...).press(tmp+"/x.wim", "enter", "enter")
		},
		"summary ready": func() *driver {
			return newDriver(t, "", Options{}).press(toDest...).press(tmp+"/x.wim", "enter", "enter", "enter")
		},
		"upload connect": func() *driver {
			return newDriver(t, "", Options{}).press(toDest...).press(tmp+"/x.wim", "enter", "enter", "right", "enter", "127.0.0.1:1", "enter", "enter")
		},
		"upload credentials": func() *driver {
			return newDriver(t, "", Options{}).press(toDest...).press(tmp+"/x.wim", "enter", "enter", "right", "enter", "127.0.0.1:1", "enter", "enter", "enter", `D\u`)
		},
		// The image groups a real image store lists.
		"upload groups": func() *driver {
			if srv == nil {
				srv = newTestStore(t)
			}
			return newDriver(t, "", Options{}).press(toDest...).press(tmp+"/x.wim", "enter", "enter", "right", "enter",
				srv.Addr, "enter", srv.Fingerprint, "enter", "enter", `LAB\jdoe`, "enter", techPassword, "enter")
		},
		"summary upload": func() *driver {
			return newDriver(t, "[Capture]\nImageName=X\nVolumeToCapture=C:\nDestinationFile="+tmp+"/x.wim\n[WDS]\nUploadToWDSServer=Yes\nWDSServerName=127.0.0.1:1\nWDSImageGroup=G\nUsername=D\\u\nPassword=p\n", Options{}).press("enter")
		},
	}
	for name, setup := range states {
		for _, b := range setup().a.footer() {
			k := b.Keys()[0]
			t.Run(name+"/"+b.Help().Key, func(t *testing.T) {
				d := setup()
				before, page := d.screen(), d.page()
				d.press(k)
				if d.screen() == before && d.page() == page && !d.quit {
					t.Errorf("the footer offers %s (%s) but it changes nothing:\n%s", b.Help().Key, b.Help().Desc, before)
				}
			})
		}
	}
}

// TestResize: every page fits the terminal; a serial console's 0×0 keeps
// 80×25.
func TestResize(t *testing.T) {
	d := newDriver(t, "", Options{}).size(0, 0)
	fits(t, d.screen(), 80, 25)
	for _, size := range [][2]int{{80, 25}, {100, 30}, {60, 20}, {132, 43}} {
		d := newDriver(t, "", Options{}).size(size[0], size[1])
		for _, p := range []pageID{pageWelcome, pageSource, pageDest, pageUpload, pageSummary, pageProgress, pageFinish} {
			d.a.cur = p
			fits(t, d.screen(), size[0], size[1])
		}
	}
}

// TestColorProfile: the profile comes from the environment; no colour for
// NO_COLOR and vt100 (bold and reverse stay).
func TestColorProfile(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TERM": "xterm"}, "ANSI"},
		{map[string]string{"TERM": "xterm", "NO_COLOR": "1"}, "Ascii"},
		{map[string]string{"TERM": "vt100"}, "Ascii"},
		{map[string]string{"TERM": "vt220"}, "Ascii"},
		{map[string]string{"TERM": "linux"}, "ANSI"},
		{map[string]string{"TERM": "xterm-256color"}, "ANSI256"},
		{map[string]string{"TERM": "xterm-256color", "COLORTERM": "truecolor"}, "TrueColor"},
		{map[string]string{}, "Ascii"},
	} {
		if got := colorProfile(func(k string) string { return tc.env[k] }).String(); !strings.EqualFold(got, tc.want) {
			t.Errorf("%v: %s, want %s", tc.env, got, tc.want)
		}
	}
}

func TestClipPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		w    int
		want string
	}{
		{"/srv/images/ref.wim", 40, "/srv/images/ref.wim"},
		{"/srv/images/very/long/directory/names/ref.wim", 30, "/srv/images/very/lo.../ref.wim"},
		{`D:\Images\Lab\Windows 11\reference.wim`, 24, `D:\Imag...\reference.wim`},
		{"/a/" + strings.Repeat("x", 50) + ".wim", 20, "..." + strings.Repeat("x", 13) + ".wim"},
	} {
		got := clipPath(tc.in, tc.w)
		if got != tc.want || width(got) > tc.w {
			t.Errorf("clipPath(%q, %d) = %q, want %q", tc.in, tc.w, got, tc.want)
		}
	}
}
