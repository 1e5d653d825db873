package wizard

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/lab"
	"github.com/wdscapture/wdscapture/internal/storetest"
	"github.com/wdscapture/wdscapture/internal/syncbuf"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

// wdsBinary is the wdscapture command built by TestMain for the tmux tests;
// buildErr says why it could not be built.
var (
	wdsBinary string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wizard-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wdsBinary = filepath.Join(dir, "wdscapture")
	if out, err := exec.Command("go", "build", "-o", wdsBinary, "../cmd/wdscapture").CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("go build ./cmd/wdscapture: %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	storetest.Cleanup()
	os.Exit(code)
}

// tmuxRun is the binary running in a detached 80×25 tmux session.
type tmuxRun struct {
	t       *testing.T
	session string
	dir     string
}

// startTmux runs wdscapture with args in tmux; stdout goes to a file (the
// wizard then draws on stderr, the terminal) and the exit code to "rc".
func startTmux(t *testing.T, dir string, args ...string) *tmuxRun {
	return startTmuxEnv(t, dir, []string{"NO_COLOR=1", "TERM=xterm"}, args...)
}

// startTmuxEnv is startTmux with the environment given.
func startTmuxEnv(t *testing.T, dir string, env []string, args ...string) *tmuxRun {
	t.Helper()
	tooltest.Require(t, "tmux")
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	r := &tmuxRun{t: t, session: fmt.Sprintf("wizard-e2e-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9), dir: dir}
	quoted := append([]string{"env"}, env...)
	quoted = append(quoted, shellQuote(wdsBinary))
	for _, a := range args {
		quoted = append(quoted, shellQuote(a))
	}
	script := fmt.Sprintf("cd %s && (%s) >stdout.txt; echo $? >rc; sleep 600", shellQuote(dir), strings.Join(quoted, " "))
	// A server of its own (-L): sessions of other tests and people are
	// not touched, and killing it cannot race with another test's start.
	tooltest.Run(t, "tmux", "-L", r.session, "new-session", "-d", "-s", r.session, "-x", "80", "-y", "25", "sh", "-c", script)
	t.Cleanup(func() { exec.Command("tmux", "-L", r.session, "kill-server").Run() })
	return r
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// screen returns the pane's text.
func (r *tmuxRun) screen() string {
	out, err := exec.Command("tmux", "-L", r.session, "capture-pane", "-p", "-t", r.session).Output()
	if err != nil {
		r.t.Fatalf("tmux capture-pane: %v", err)
	}
	return string(out)
}

// wait polls the pane until it shows want.
func (r *tmuxRun) wait(want string) string {
	r.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s := r.screen()
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the screen never showed %q; it shows:\n%s", want, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keys sends tmux key names (Enter, Tab, Right, C-u); text:... is typed
// literally. The wizard reads keys in order, so no pause is needed between
// them; the tests wait for a screen wherever the next key depends on it.
// Escape is sent alone by back, which waits for the page it leads to: an
// Esc followed at once by another key reads as Alt and that key.
func (r *tmuxRun) keys(keys ...string) {
	r.t.Helper()
	for _, k := range keys {
		if k == "Escape" {
			r.t.Fatal("use back() for Escape")
		}
		if text, ok := strings.CutPrefix(k, "text:"); ok {
			tooltest.Run(r.t, "tmux", "-L", r.session, "send-keys", "-t", r.session, "-l", text)
		} else {
			tooltest.Run(r.t, "tmux", "-L", r.session, "send-keys", "-t", r.session, k)
		}
	}
}

// back presses Escape and waits for the page it leads to.
func (r *tmuxRun) back(page string) string {
	r.t.Helper()
	tooltest.Run(r.t, "tmux", "-L", r.session, "send-keys", "-t", r.session, "Escape")
	return r.waitTitle(page)
}

// escape presses Escape (on the Finished page: exit).
func (r *tmuxRun) escape() {
	r.t.Helper()
	tooltest.Run(r.t, "tmux", "-L", r.session, "send-keys", "-t", r.session, "Escape")
}

// waitTitle waits until the title bar names page.
func (r *tmuxRun) waitTitle(page string) string {
	r.t.Helper()
	return r.waitFor("the "+page+" page", func(s string) bool { return title(s) == "WDS Image Capture Wizard - "+page })
}

// waitFor polls the pane until cond holds.
func (r *tmuxRun) waitFor(what string, cond func(string) bool) string {
	r.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s := r.screen()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the screen never showed %s; it shows:\n%s", what, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cursor returns the terminal cursor's column and whether it is shown.
func (r *tmuxRun) cursor() (int, bool) {
	out, err := exec.Command("tmux", "-L", r.session, "display", "-p", "-t", r.session, "#{cursor_x} #{cursor_flag}").Output()
	if err != nil {
		r.t.Fatalf("tmux display: %v", err)
	}
	var x, flag int
	fmt.Sscan(string(out), &x, &flag)
	return x, flag == 1
}

// exit waits for the command to end and returns its exit code and stdout.
func (r *tmuxRun) exit() (int, string) {
	r.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		b, err := os.ReadFile(filepath.Join(r.dir, "rc"))
		if err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			code, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				r.t.Fatal(err)
			}
			out, _ := os.ReadFile(filepath.Join(r.dir, "stdout.txt"))
			return code, string(out)
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("wdscapture did not exit; the screen shows:\n%s", r.screen())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// title is the first line of the screen.
func title(screen string) string { return strings.TrimSpace(strings.SplitN(screen, "\n", 2)[0]) }

// TestE2EWizard drives the real binary on an 80×25 terminal, as a
// technician would, twice on the same day: back to every page and forward
// again, the capture, saving the INF onto the WIM (refused) and to a D:\
// path; then a second capture into the same WIM, whose default name is made
// unique; then a long name.
func TestE2EWizard(t *testing.T) {
	tooltest.Require(t, "tmux", "wiminfo")
	tooltest.Require(t, "mkntfs", "wimapply")
	dir := t.TempDir()
	// The lab reference PC: ESP, MSR, a generalized Windows 11 (C:), a
	// Windows 10 that is not generalized, recovery.
	img := filepath.Join(dir, "disk.img")
	if err := lab.Generate(img, lab.Options{SecondWindows: true, Files: 40, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	dDrive := filepath.Join(dir, "d")
	os.MkdirAll(dDrive, 0o755)
	wim := filepath.Join(dDrive, "e2e.wim")
	args := []string{"--disk", img, "--no-devices", "--root", filepath.Join(dir, "no-root"), "--drive", "D=" + dDrive}
	today := time.Now().Format("2006-01-02")

	r := startTmux(t, dir, args...)
	r.wait("No WDSCapture.inf was found")
	r.wait("1 holds a generalized Windows")
	r.keys("Enter")
	s := r.waitTitle("Capture source")
	if !regexp.MustCompile(`\[\*\] C: +[0-9.]+ MiB +disk.img #3 +Windows 11 Enterprise 10.0.22631`).MatchString(s) {
		t.Errorf("the source page does not offer C:\n%s", s)
	}
	if !regexp.MustCompile(`x  D: .*Windows 10 Pro`).MatchString(s) || !strings.Contains(s, "not generalized") {
		t.Errorf("the source page does not show the refused Windows 10 with its reason:\n%s", s)
	}
	// Back to Welcome and forward: the Source page is shown again.
	r.back("Welcome")
	r.keys("Enter")
	r.waitTitle("Capture source")
	r.keys("Enter", "Enter", "text:made in tmux", "Enter")
	r.waitTitle("Destination")
	r.keys(`text:D:\e2e.wim`, "Enter")
	r.wait("local path " + wim)
	r.keys("Right", "Enter")
	r.waitTitle("Upload to a WDS server (optional)")
	r.keys("Enter")
	s = r.wait("Ready. Press Enter")
	for _, want := range []string{"Image name    Windows 11 Enterprise " + today, "Compression   LZX", `WIM file      D:\e2e.wim`} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	// Back to every page, then forward to the summary again.
	for _, p := range []string{"Upload to a WDS server (optional)", "Destination", "Capture source", "Welcome"} {
		r.back(p)
	}
	r.keys("Enter")
	r.waitTitle("Capture source")
	r.keys("Enter", "Enter", "Enter")
	r.waitTitle("Destination")
	r.keys("Enter", "Enter")
	r.waitTitle("Upload to a WDS server (optional)")
	r.keys("Enter")
	r.wait("Ready. Press Enter")
	r.keys("Enter")
	s = r.wait("The capture finished.")
	for _, want := range []string{"WIM file     " + wim, "(LZX)", "Verified     yes", "Image 1      Windows 11 Enterprise " + today, `Save INF to    D:\WDSCapture.inf`} {
		if !strings.Contains(s, want) {
			t.Errorf("finish page lacks %q:\n%s", want, s)
		}
	}
	for i, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if len([]rune(l)) > 80 || i >= 25 {
			t.Errorf("line %d does not fit 80×25: %q", i+1, l)
		}
	}
	// Saving the INF onto the WIM just written is refused.
	before, _ := os.ReadFile(wim)
	r.keys("C-u", `text:D:\e2e.wim`, "Enter")
	r.wait("choose another file name")
	if after, _ := os.ReadFile(wim); string(after) != string(before) {
		t.Fatal("the WIM was overwritten by the INF")
	}
	r.keys("C-u", `text:D:\WDSCapture.inf`, "Enter")
	r.wait("Saved " + filepath.Join(dDrive, "WDSCapture.inf"))
	r.escape() // Esc exits
	code, out := r.exit()
	if code != 0 || !strings.Contains(out, "captured and verified") {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	saved, _, err := inf.Load(filepath.Join(dDrive, "WDSCapture.inf"))
	if err != nil || saved.DestinationFile != `D:\e2e.wim` || !saved.Unattended {
		t.Fatalf("saved INF %+v, %v", saved, err)
	}

	// The second capture of the day into the same WIM: the default name
	// is made unique on the Destination page, where the names are listed.
	dir2 := t.TempDir()
	r = startTmux(t, dir2, args...)
	r.wait("1 holds a generalized Windows")
	r.keys("Enter")
	r.waitTitle("Capture source")
	r.keys("Enter", "Enter", "Enter")
	r.waitTitle("Destination")
	r.keys(`text:D:\e2e.wim`, "Enter")
	s = r.wait("the file exists:")
	for _, want := range []string{"1: Windows 11 Enterprise " + today, "(*) Append an image", `is named "Windows 11 Enterprise ` + today + ` (2)"`} {
		if !strings.Contains(s, want) {
			t.Errorf("destination page lacks %q:\n%s", want, s)
		}
	}
	r.keys("Enter", "Enter")
	r.waitTitle("Upload to a WDS server (optional)")
	r.keys("Enter")
	r.wait("Ready. Press Enter")
	r.keys("Enter")
	r.wait("The capture finished.")
	r.escape()
	if code, out := r.exit(); code != 0 {
		t.Fatalf("second capture: exit %d, stdout %q", code, out)
	}
	info := tooltest.Run(t, "wiminfo", wim)
	for _, want := range []string{"Compression:    LZX", "Image Count:    2", "Name:                   Windows 11 Enterprise " + today + " (2)", "Description:            made in tmux"} {
		if !strings.Contains(info, want) {
			t.Errorf("wiminfo lacks %q:\n%s", want, info)
		}
	}

	// A long name: the field scrolls and shows the cursor; the summary
	// cuts it with "...".
	r = startTmux(t, t.TempDir(), args...)
	r.wait("1 holds a generalized Windows")
	r.keys("Enter")
	r.waitTitle("Capture source")
	long := strings.Repeat("Long name ", 10) + "END"
	r.keys("Tab", "C-u", "text:"+long)
	s = r.wait("name END")
	if x, shown := r.cursor(); !shown || x < 70 {
		t.Errorf("cursor at column %d, shown %v; want it after the text", x, shown)
	}
	if !strings.Contains(s, "<") {
		t.Errorf("the hidden start of the name is not marked:\n%s", s)
	}
	r.keys("Home")
	r.waitFor("the cursor at the start of the name", func(string) bool { x, shown := r.cursor(); return shown && x == 17 })
	s = r.screen() // drawn with the cursor, in one frame
	if !regexp.MustCompile(`(?m)^> Image name +Long name Long name.*>\s*$`).MatchString(s) {
		t.Errorf("after Home: the start of the name is not shown with the hidden end marked:\n%s", s)
	}
	r.keys("Enter", "Enter")
	r.waitTitle("Destination")
	r.keys(`text:D:\long.wim`, "Enter", "Enter")
	r.waitTitle("Upload to a WDS server (optional)")
	r.keys("Enter")
	s = r.wait("Ready. Press Enter")
	if !strings.Contains(s, "Image name    Long name Long name") || !strings.Contains(s, "...") {
		t.Errorf("the summary does not show the long name cut with ...:\n%s", s)
	}
	r.keys("C-c")
	r.wait("Quit without capturing?")
	r.keys("y")
	if code, _ := r.exit(); code != 130 {
		t.Errorf("quit: exit %d", code)
	}
}

// TestE2EPartialINF: with ImageName, VolumeToCapture and Compression in
// the INF, only the Destination page is asked between Welcome and Summary
// on the first pass; Esc still reaches the skipped pages.
func TestE2EPartialINF(t *testing.T) {
	tooltest.Require(t, "tmux", "wiminfo")
	dir := t.TempDir()
	img := labDisk(t, dir, "disk.img", generalized)
	wim := filepath.Join(dir, "partial.wim")
	infPath := filepath.Join(dir, "WDSCapture.inf")
	os.WriteFile(infPath, []byte("[Capture]\r\nUnattended=No\r\nVolumeToCapture=C:\\\r\nImageName=Partial\r\nCompression=LZX\r\n"), 0o644)
	r := startTmux(t, dir, "--disk", img, "--no-devices", "--inf", infPath)
	s := r.wait("It does not set DestinationFile")
	if !strings.Contains(s, "Settings file: "+infPath) {
		t.Errorf("welcome does not name the INF:\n%s", s)
	}
	r.keys("Enter")
	s = r.waitTitle("Destination")
	if !strings.Contains(s, "(*) LZX") {
		t.Errorf("the INF's compression is not filled in:\n%s", s)
	}
	// The skipped Source page is one Esc away.
	s = r.back("Capture source")
	if !strings.Contains(s, "Image name     Partial") {
		t.Errorf("source page:\n%s", s)
	}
	r.keys("Enter", "Enter", "Enter")
	r.waitTitle("Destination")
	// Enter after the path, Enter on Compression (the last field): the
	// Upload page follows now (no more skipping after going back).
	r.keys("text:"+wim, "Enter", "Enter")
	r.waitTitle("Upload to a WDS server (optional)")
	r.keys("Enter")
	s = r.wait("Ready. Press Enter")
	if !strings.Contains(s, "Image name    Partial") {
		t.Fatalf("summary:\n%s", s)
	}
	r.keys("Enter")
	r.wait("The capture finished.")
	r.escape()
	if code, out := r.exit(); code != 0 {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	info := tooltest.Run(t, "wiminfo", wim)
	if !strings.Contains(info, "Name:                   Partial") || !strings.Contains(info, "Compression:    LZX") {
		t.Errorf("wiminfo:\n%s", info)
	}
}

// TestE2EQuit: quitting the wizard exits 130 and writes nothing.
func TestE2EQuit(t *testing.T) {
	dir := t.TempDir()
	r := startTmux(t, dir, "--no-devices", "--root", filepath.Join(dir, "no-root"))
	r.wait("Press Enter to continue")
	r.keys("C-c")
	r.wait("Quit without capturing?")
	r.keys("y")
	if code, out := r.exit(); code != 130 || out != "" {
		t.Fatalf("exit %d, stdout %q; want 130 and nothing", code, out)
	}
}

// TestE2ECompleteAttendedINF: Unattended=No with every setting still shows
// the wizard, straight from Welcome to the summary for confirmation.
func TestE2ECompleteAttendedINF(t *testing.T) {
	tooltest.Require(t, "tmux", "wiminfo")
	dir := t.TempDir()
	img := labDisk(t, dir, "disk.img", generalized)
	wim := filepath.Join(dir, "attended.wim")
	infPath := filepath.Join(dir, "WDSCapture.inf")
	os.WriteFile(infPath, []byte("[Capture]\r\nUnattended=No\r\nVolumeToCapture=C:\\\r\nImageName=Attended\r\nDestinationFile="+wim+"\r\n"), 0o644)
	r := startTmux(t, dir, "--disk", img, "--no-devices", "--inf", infPath)
	r.wait("It sets everything")
	r.keys("Enter")
	s := r.wait("Ready. Press Enter")
	if got := title(s); got != "WDS Image Capture Wizard - Summary" {
		t.Fatalf("after Welcome: %q", got)
	}
	r.keys("Enter")
	r.wait("The capture finished.")
	r.escape()
	if code, out := r.exit(); code != 0 || !strings.Contains(out, `image 1 "Attended" captured and verified`) {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if info := tooltest.Run(t, "wiminfo", wim); !strings.Contains(info, "Compression:    XPRESS") {
		t.Errorf("wiminfo:\n%s", info)
	}
}

// TestE2ESilentTerminal (issue 13 item 5): on a terminal that never
// answers a query (a serial console), the first screen appears at once and
// a key typed before it is not lost. The binary runs on a pty whose other
// end only reads; TERM=vt100 and NO_COLOR as on a serial line.
func TestE2ESilentTerminal(t *testing.T) {
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	dir := t.TempDir()
	cmd := exec.Command(wdsBinary, "--no-devices", "--root", filepath.Join(dir, "no-root"))
	cmd.Env = append(os.Environ(), "TERM=vt100", "NO_COLOR=1")
	cmd.Dir = dir
	start := time.Now()
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 25, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Enter, typed before anything is on the screen.
	if _, err := tty.Write([]byte("\r")); err != nil {
		t.Fatal(err)
	}
	out := &syncbuf.Buffer{}
	go io.Copy(out, tty)
	if !waitOutput(out, "Image Capture Wizard - ") {
		t.Fatal("no screen")
	}
	// A generous bound for a screen to appear: a terminal query waits 5 s.
	if took := time.Since(start); took > time.Second {
		t.Errorf("the first screen took %v", took)
	}
	if !waitOutput(out, "Volume to capture") {
		t.Fatalf("the Enter typed early was lost; the terminal shows:\n%q", out.String())
	}
	for _, q := range []string{"\x1b]11;?", "\x1b[6n", "\x1b]10;?", "\x1b]2;"} {
		if strings.Contains(out.String(), q) {
			t.Errorf("the wizard asked the terminal %q", q)
		}
	}
	tty.Write([]byte{3})
	waitOutput(out, "Quit without capturing?")
	tty.Write([]byte("y"))
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit: %v, want 130", err)
	}
}

// TestE2EUpload: the upload as a technician does it in the wizard on an
// 80×25 terminal: the INF asks for an upload and names the capture; on
// the Upload page the server and its fingerprint are typed, Connect asks
// for the credentials and lists the server's groups, one is picked; the
// capture runs, the upload shows as its own phase, the finish page says
// where the image landed, and the store lists it; the local WIM is
// deleted as asked.
func TestE2EUpload(t *testing.T) {
	tooltest.Require(t, "tmux", "wiminfo")
	srv := newTestStore(t)
	dir := t.TempDir()
	img := labDisk(t, dir, "disk.img", generalized)
	wim := filepath.Join(dir, "up.wim")
	infPath := filepath.Join(dir, "WDSCapture.inf")
	os.WriteFile(infPath, []byte("[Capture]\r\nUnattended=No\r\nVolumeToCapture=C:\\\r\nImageName=Uploaded in tmux\r\nDestinationFile="+wim+"\r\n[WDS]\r\nUploadToWDSServer=Yes\r\n"), 0o644)
	r := startTmux(t, dir, "--disk", img, "--no-devices", "--inf", infPath)
	r.wait("Press Enter")
	r.keys("Enter")
	r.waitTitle("Upload to a WDS server (optional)")
	r.wait("> Server")
	r.keys("text:"+srv.Addr, "Enter", "text:"+srv.Fingerprint, "Enter", "Enter")
	r.wait("enter the user name and password")
	r.keys(`text:LAB\jdoe`, "Enter", "text:"+techPassword, "Enter")
	s := r.wait("Connected as LAB\\jdoe")
	if !regexp.MustCompile(`> \( \) Lab +new: XPRESS`).MatchString(s) || !strings.Contains(s, "Lab LZX") {
		t.Fatalf("the group list:\n%s", s)
	}
	r.keys("Enter", "Right", "Enter") // Lab; delete the local WIM
	s = r.wait("Ready. Press Enter")
	if !strings.Contains(s, "Image group   Lab (new: this image sets its compression)") {
		t.Errorf("summary:\n%s", s)
	}
	r.keys("Enter")
	s = r.wait("The capture finished, and the image store verified")
	for _, want := range []string{"Uploaded to  " + srv.Addr + ": image group Lab, file Uploaded in tmux.wim", "(deleted)"} {
		if !strings.Contains(s, want) {
			t.Errorf("finish page lacks %q:\n%s", want, s)
		}
	}
	r.escape()
	if code, out := r.exit(); code != 0 {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if _, err := os.Stat(wim); !os.IsNotExist(err) {
		t.Errorf("the local WIM is still there (%v)", err)
	}
	list, err := srv.Imagestore("list", "--as", `LAB\jdoe`)
	if err != nil || !strings.Contains(list, "Uploaded in tmux") {
		t.Errorf("imagestore list --as LAB\\jdoe: %v\n%s", err, list)
	}
	if logs := srv.Logs(); strings.Contains(logs, techPassword) {
		t.Errorf("the password shows in the server's log")
	}
}
