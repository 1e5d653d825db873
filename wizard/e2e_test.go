package wizard

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/internal/lab"
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
	t.Helper()
	tooltest.Require(t, "tmux")
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	r := &tmuxRun{t: t, session: fmt.Sprintf("wizard-e2e-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9), dir: dir}
	quoted := []string{"env", "NO_COLOR=1", "TERM=xterm", shellQuote(wdsBinary)}
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

// keys sends tmux key names (Enter, Tab, Right, C-u, Escape); text:... is
// typed literally.
func (r *tmuxRun) keys(keys ...string) {
	r.t.Helper()
	for _, k := range keys {
		if text, ok := strings.CutPrefix(k, "text:"); ok {
			tooltest.Run(r.t, "tmux", "-L", r.session, "send-keys", "-t", r.session, "-l", text)
		} else {
			tooltest.Run(r.t, "tmux", "-L", r.session, "send-keys", "-t", r.session, k)
		}
		time.Sleep(80 * time.Millisecond)
	}
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
		time.Sleep(100 * time.Millisecond)
	}
}

// title is the first line of the screen.
func title(screen string) string { return strings.TrimSpace(strings.SplitN(screen, "\n", 2)[0]) }

// TestE2EWizard drives the real binary on an 80×25 terminal: pick the
// volume, type the name, choose LZX, capture; wiminfo checks the WIM.
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
	wim := filepath.Join(dir, "images", "e2e.wim")
	r := startTmux(t, dir, "--disk", img, "--no-devices", "--root", filepath.Join(dir, "no-root"))
	r.wait("No WDSCapture.inf was found")
	r.wait("1 holds a generalized Windows")
	r.keys("Enter")
	s := r.wait("Volume to capture")
	t.Logf("source page:\n%s", s)
	if !regexp.MustCompile(`\[\*\] C: +[0-9.]+ MiB +disk.img #3 +Windows 11 Enterprise 10.0.22631`).MatchString(s) {
		t.Errorf("the source page does not offer C:\n%s", s)
	}
	if !regexp.MustCompile(`x  D: .*Windows 10 Pro`).MatchString(s) || !strings.Contains(s, "not generalized") {
		t.Errorf("the source page does not show the refused Windows 10 with its reason:\n%s", s)
	}
	r.keys("Enter", "C-u", "text:E2E image", "Enter", "text:made in tmux", "Enter")
	r.wait("WIM file")
	r.keys("text:"+wim, "Enter", "Right", "Enter")
	r.wait("Upload to a WDS server")
	r.keys("Enter")
	s = r.wait("Ready. Press Enter")
	for _, want := range []string{"Image name    E2E image", "Compression   LZX", "WIM file      " + wim} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	r.keys("Enter")
	s = r.wait("The capture finished.")
	for _, want := range []string{"WIM file     " + wim, "(LZX)", "Verified     yes", "Image 1      E2E image", "Windows 11 Enterprise"} {
		if !strings.Contains(s, want) {
			t.Errorf("finish page lacks %q:\n%s", want, s)
		}
	}
	for i, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if len([]rune(l)) > 80 || i >= 25 {
			t.Errorf("line %d does not fit 80×25: %q", i+1, l)
		}
	}
	r.keys("Escape")
	code, out := r.exit()
	if code != 0 || !strings.Contains(out, "captured and verified") {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	info := tooltest.Run(t, "wiminfo", wim)
	for _, want := range []string{"Compression:    LZX", "Name:                   E2E image", "Description:            made in tmux", "Image Count:    1"} {
		if !strings.Contains(info, want) {
			t.Errorf("wiminfo lacks %q:\n%s", want, info)
		}
	}
}

// TestE2EPartialINF: with ImageName, VolumeToCapture and Compression in
// the INF, only the Destination page is asked between Welcome and Summary.
func TestE2EPartialINF(t *testing.T) {
	tooltest.Require(t, "tmux", "wiminfo")
	dir := t.TempDir()
	img := labDisk(t, dir, "disk.img", generalized)
	wim := filepath.Join(dir, "partial.wim")
	infPath := filepath.Join(dir, "WDSCapture.inf")
	os.WriteFile(infPath, []byte("[Capture]\r\nUnattended=No\r\nVolumeToCapture=C:\\\r\nImageName=Partial\r\nCompression=LZX\r\n"), 0o644)
	r := startTmux(t, dir, "--disk", img, "--no-devices", "--inf", infPath)
	s := r.wait("It lacks DestinationFile")
	if !strings.Contains(s, "Settings file: "+infPath) {
		t.Errorf("welcome does not name the INF:\n%s", s)
	}
	r.keys("Enter")
	s = r.wait("WIM file")
	if got := title(s); got != "WDS Image Capture Wizard - Destination" {
		t.Fatalf("after Welcome the page is %q, want Destination", got)
	}
	if !strings.Contains(s, "(*) LZX") {
		t.Errorf("the INF's compression is not filled in:\n%s", s)
	}
	// Enter after the path, Enter on Compression (the last field): the
	// Upload page is skipped (the INF has no [WDS]), the summary follows.
	r.keys("text:"+wim, "Enter", "Enter")
	s = r.wait("Ready. Press Enter")
	if got := title(s); got != "WDS Image Capture Wizard - Summary" || !strings.Contains(s, "Image name    Partial") {
		t.Fatalf("after Destination: %q\n%s", got, s)
	}
	r.keys("Enter")
	r.wait("The capture finished.")
	r.keys("Escape")
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
	r.wait("It has every setting")
	r.keys("Enter")
	s := r.wait("Ready. Press Enter")
	if got := title(s); got != "WDS Image Capture Wizard - Summary" {
		t.Fatalf("after Welcome: %q", got)
	}
	r.keys("Enter")
	r.wait("The capture finished.")
	r.keys("Escape")
	if code, out := r.exit(); code != 0 || !strings.Contains(out, `image 1 "Attended" captured and verified`) {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if info := tooltest.Run(t, "wiminfo", wim); !strings.Contains(info, "Compression:    XPRESS") {
		t.Errorf("wiminfo:\n%s", info)
	}
}
