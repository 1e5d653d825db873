package vmlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/internal/lab"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

// waitedQuery matches the terminal queries whose answer a program waits
// for before it draws (the stall of issue 13 item 5: termenv and lipgloss
// wait for them): cursor position and device status (CSI 6n), device
// attributes (CSI c, >c, =c), colour queries (OSC 4/10/11/12 with "?"),
// XTVERSION (CSI > q), XTGETTCAP and DECRQSS (DCS + q, DCS $ q) and the
// window reports (CSI 14/16/18 t). A serial console never answers.
var waitedQuery = regexp.MustCompile(`\x1b\[\??[56]n|\x1b\[[>=]?0?c|\x1b\][0-9]+;([0-9]+;)?\?|\x1b\[>0?q|\x1bP[+$]q|\x1b\[1[468]t`)

// probeQuery matches the capability probes bubbletea v2 sends and never
// waits for (mode reports, DECRQM CSI ? n $p, and the kitty keyboard
// query CSI ? u): a terminal that does not answer them just lacks the
// feature. They are logged, not refused.
var probeQuery = regexp.MustCompile(`\x1b\[\??[0-9]+\$p|\x1b\[\?u`)

// serialTerminal shows the guest's serial console in a real terminal
// emulator, a detached tmux pane of 80×24 (the size the environment gives
// a serial line) that displays the bytes as they come and answers
// nothing: its answers go to the input of the cat that feeds it, which
// nobody reads. The test types into QEMU's standard input, the other end
// of the line.
type serialTerminal struct {
	t       *testing.T
	session string
	fifo    *os.File

	mu    sync.Mutex
	seen  map[string]time.Time // when a marker first arrived on the line
	marks []string
	raw   strings.Builder
}

func newSerialTerminal(t *testing.T, dir string, marks ...string) *serialTerminal {
	t.Helper()
	tooltest.Require(t, "tmux")
	path := filepath.Join(dir, "console.fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// Read-write: opening never waits for the reader.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := &serialTerminal{t: t, session: fmt.Sprintf("vmlab-serial-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9),
		fifo: f, seen: map[string]time.Time{}, marks: marks}
	// stty raw: the line's bytes reach the emulator unchanged (no \n to
	// \r\n), as a terminal on a real serial line gets them. A tmux server
	// of its own (-L), which the cleanup ends.
	tooltest.Run(t, "tmux", "-L", s.session, "new-session", "-d", "-s", s.session, "-x", "80", "-y", "24",
		"sh", "-c", "stty raw -echo; exec cat "+path)
	t.Cleanup(func() {
		exec.Command("tmux", "-L", s.session, "kill-server").Run()
		f.Close()
	})
	return s
}

// Write receives the serial console's output (VM.Console).
func (s *serialTerminal) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.raw.Write(p)
	for _, m := range s.marks {
		if _, ok := s.seen[m]; !ok && strings.Contains(s.raw.String(), m) {
			s.seen[m] = time.Now()
		}
	}
	s.mu.Unlock()
	return s.fifo.Write(p)
}

// rawOutput is everything the line carried.
func (s *serialTerminal) rawOutput() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raw.String()
}

// arrived is when marker m first came over the line (zero: not yet).
func (s *serialTerminal) arrived(m string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[m]
}

// screen is what the terminal shows.
func (s *serialTerminal) screen() string {
	out, err := exec.Command("tmux", "-L", s.session, "capture-pane", "-p", "-t", s.session).Output()
	if err != nil {
		s.t.Fatalf("tmux capture-pane: %v", err)
	}
	return string(out)
}

// wait polls the screen until cond holds, and returns it with the time it
// was seen.
func (s *serialTerminal) wait(ctx context.Context, run *Run, what string, cond func(screen string) bool) (string, time.Time) {
	s.t.Helper()
	for {
		scr := s.screen()
		if cond(scr) {
			return scr, time.Now()
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("the console never showed %s; it shows:\n%s\nconsole log:\n%s", what, scr, tail(stripControls(s.rawOutput()), 3000))
		case <-run.Done():
			time.Sleep(200 * time.Millisecond) // the last bytes reach tmux
			if scr = s.screen(); cond(scr) {
				return scr, time.Now()
			}
			s.t.Fatalf("QEMU exited before the console showed %s; it shows:\n%s\nconsole log:\n%s", what, scr, tail(stripControls(s.rawOutput()), 3000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// page waits for the wizard's page title and the text want on it.
func (s *serialTerminal) page(ctx context.Context, run *Run, title, want string) (string, time.Time) {
	s.t.Helper()
	return s.wait(ctx, run, fmt.Sprintf("the %s page with %q", title, want), func(scr string) bool {
		first := strings.TrimSpace(strings.SplitN(scr, "\n", 2)[0])
		return first == "WDS Image Capture Wizard - "+title && strings.Contains(scr, want)
	})
}

var controls = regexp.MustCompile("\x1b(\\[[0-9;?<=>]*[ -/]*[@-~]|\\][^\x07\x1b]*(\x07|\x1b\\\\)|[()][0-9A-Za-z]|[=>78DEHMNOZc])|\r")

// stripControls makes a console log readable in a failure message.
func stripControls(s string) string { return controls.ReplaceAllString(s, "") }

// TestLabSerialWizard runs an attended capture over the serial console,
// as -nographic gives it, on a terminal that never answers a query: the
// INF is read from the destination disk (wds.inf=D:\attended.inf), the
// wizard comes up, the test walks it through Welcome, Summary, the
// capture and Finished by typing on the line as a technician would, and
// the environment's own menu powers the machine off. Nothing on the line
// asks the terminal anything and waits for the answer; the WIM equals
// wimlib's capture of the partition.
func TestLabSerialWizard(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	f := media(t)
	t.Parallel()
	dir := t.TempDir()
	src, win := labDisk(t, dir, lab.Options{})
	dest := filepath.Join(dir, "dest.img")
	attended := "[Capture]\r\nUnattended=No\r\nVolumeToCapture=C:\\\r\nImageName=Serial\r\nDestinationFile=D:\\Images\\serial.wim\r\n"
	if err := NewDataDisk(dest, 128, "Images", DiskFile{Name: "/attended.inf", Data: []byte(attended)}); err != nil {
		t.Fatal(err)
	}
	srv, err := StartServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const started = "starting wdscapture"
	term := newSerialTerminal(t, dir, started)
	vm := &VM{Kernel: f.media.Kernel, Initrd: f.media.Initrd, Server: srv, Console: term,
		Append: f.append + ` wds.inf=D:\attended.inf`, Disks: []Disk{{Path: src, Snapshot: true}, {Path: dest}}}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	run, err := vm.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Kill()

	// The wizard draws its first page without waiting for anything: the
	// scan's result comes in after (the page says so meanwhile).
	_, first := term.page(ctx, run, "Welcome", "Press Enter to continue.")
	welcome, _ := term.page(ctx, run, "Welcome", "It sets everything the capture needs")
	if !strings.Contains(welcome, "hold a generalized Windows") && !strings.Contains(welcome, "holds a generalized Windows") {
		t.Errorf("the Welcome page does not report the scan:\n%s", welcome)
	}
	if err := run.Type("\r"); err != nil {
		t.Fatal(err)
	}
	summary, _ := term.page(ctx, run, "Summary", "Ready. Press Enter to capture")
	for _, want := range []string{"Image name    Serial", `D:\Images\serial.wim`} {
		if !strings.Contains(summary, want) {
			t.Errorf("the Summary page lacks %q:\n%s", want, summary)
		}
	}
	if err := run.Type("\r"); err != nil {
		t.Fatal(err)
	}
	finished, _ := term.page(ctx, run, "Finished", "The capture finished.")
	if !strings.Contains(finished, "Verified     yes") {
		t.Errorf("the Finished page:\n%s", finished)
	}
	// Esc alone, then nothing: Esc and a key at once read as Alt-key.
	if err := run.Type("\x1b"); err != nil {
		t.Fatal(err)
	}
	rep := waitReport(ctx, t, srv, run)
	if rep.Result != "ok" || rep.Unattended || rep.ExitCode != 0 {
		t.Fatalf("result %s (unattended %v), stage %s, exit %d: %s", rep.Result, rep.Unattended, rep.Stage, rep.ExitCode, rep.Error)
	}
	term.wait(ctx, run, "the environment's menu", func(scr string) bool {
		return strings.Contains(scr, `Capture complete: D:\Images\serial.wim`) && strings.Contains(scr, "[p] power off")
	})
	if err := run.Type("p"); err != nil {
		t.Fatal(err)
	}
	if err := run.Wait(ctx); err != nil {
		t.Fatalf("no power-off: %v", err)
	}
	raw := term.rawOutput()
	if q := waitedQuery.FindAllString(raw, -1); len(q) > 0 {
		t.Errorf("the serial console got terminal queries, which it never answers: %q", q)
	}
	if q := probeQuery.FindAllString(raw, -1); len(q) > 0 {
		t.Logf("capability probes on the line (nothing waits for them): %q", q)
	}
	if s := term.arrived(started); !s.IsZero() {
		t.Logf("attended serial run: %v; the wizard's first page %v after the environment started wdscapture",
			run.Elapsed().Round(100*time.Millisecond), first.Sub(s).Round(10*time.Millisecond))
	}

	vol := filepath.Join(dir, "dest-part.img")
	if err := ExtractRange(dest, PartitionStart, 127<<20-PartitionStart, vol); err != nil {
		t.Fatal(err)
	}
	wim := filepath.Join(dir, "serial.wim")
	if err := NTFSFile(vol, "/Images/serial.wim", wim); err != nil {
		t.Fatal(err)
	}
	tooltest.Run(t, "wimverify", wim)
	compareWimdir(t, wim, wimlibCapture(t, dir, src, win, "Serial"))
}
