package wizard

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

// TestCaptureFlow drives the whole wizard on a real lab disk: the scan,
// choosing the volume, naming the image, LZX, the capture, the finish
// page, saving the INF; wiminfo checks the WIM.
func TestCaptureFlow(t *testing.T) {
	tooltest.Require(t, "wiminfo")
	tmp := t.TempDir()
	img := labDisk(t, tmp, "disk.img", generalized)
	wim := filepath.Join(tmp, "images", "lab.wim")
	o := Options{Settings: inf.Default(), Now: fixedNow, Run: agent.RunOptions{DiskImages: []string{img}, NoDevices: true, Threads: 1}}
	tm := teatest.NewTestModel(t, New(t.Context(), o), teatest.WithInitialTermSize(80, 25))
	press(t, tm, "wait:it holds a generalized", "enter",
		"wait:Volume to capture", "enter", "ctrl+u", "Lab image", "enter", "lab description", "enter",
		"wait:WIM file", wim, "enter", "right", "enter",
		"wait:Upload to a WDS server", "enter",
		"wait:Ready.", "enter",
		"wait:The capture finished.", "enter",
		"wait:saved")
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	m := tm.FinalModel(t, teatest.WithFinalTimeout(waitLimit)).(*model)
	v := m.View()
	fits(t, v, 80, 25)
	for _, want := range []string{"WIM file     " + wim, "(LZX)", "Verified     yes", "Image 1      Lab image",
		"Windows      Windows 11 Enterprise Enterprise x86_64 10.0.22631 en-US", "saved " + filepath.Join(tmp, "images", "WDSCapture.inf")} {
		if !strings.Contains(v, want) {
			t.Errorf("finish screen lacks %q:\n%s", want, v)
		}
	}
	if m.result == nil || !m.result.Verified || m.result.Image.Name != "Lab image" {
		t.Fatalf("result %+v", m.result)
	}
	info := tooltest.Run(t, "wiminfo", wim)
	for _, want := range []string{"Compression:    LZX", "Name:                   Lab image", "Description:            lab description", "Image Count:    1"} {
		if !strings.Contains(info, want) {
			t.Errorf("wiminfo lacks %q:\n%s", want, info)
		}
	}
	saved, _, err := inf.Load(filepath.Join(tmp, "images", "WDSCapture.inf"))
	if err != nil {
		t.Fatal(err)
	}
	if !saved.Unattended || saved.ImageName != "Lab image" || saved.Compression != images.CompressLZX ||
		saved.DestinationFile != wim || saved.VolumeToCapture != `C:\` || !saved.Password.IsZero() {
		t.Errorf("saved INF %+v", saved)
	}
}

// TestCancelDuringCapture cancels a running capture: the wizard asks, the
// agent's context is cancelled, Execute returns and no WIM is left.
func TestCancelDuringCapture(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	os.MkdirAll(src, 0o755)
	f, err := os.Create(filepath.Join(src, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: 2 GiB to read and hash costs seconds, no disk space.
	if err := f.Truncate(2 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wim := filepath.Join(tmp, "out.wim")
	s := parseINF(t, "[Capture]\nVolumeToCapture="+src+"\nImageName=Big\nDestinationFile="+wim+"\n")
	o := Options{Settings: s, INFPath: s.Source, Now: fixedNow, Report: fixedReport(), Run: agent.RunOptions{NoDevices: true, Threads: 1}}
	tm := teatest.NewTestModel(t, New(t.Context(), o), teatest.WithInitialTermSize(80, 25))
	press(t, tm, "wait:It has every setting", "enter", "wait:Ready.", "enter")
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return regexp.MustCompile(`Phase: (scan|hash|write)`).Match(b) },
		teatest.WithDuration(waitLimit), teatest.WithCheckInterval(10*time.Millisecond))
	press(t, tm, "esc", "wait:Cancel the capture?", "y", "wait:The capture was cancelled.")
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	m := tm.FinalModel(t, teatest.WithFinalTimeout(waitLimit)).(*model)
	var ce *agent.CaptureError
	if !errors.As(m.runErr, &ce) || ce.Kind != agent.KindInterrupted {
		t.Fatalf("run error %v, want an interrupted capture", m.runErr)
	}
	select {
	case <-m.run.exited:
	default:
		t.Fatal("the finish page shows before Execute returned")
	}
	if _, err := os.Stat(wim); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("destination after cancel: %v, want absent", err)
	}
}

var sgrRE = regexp.MustCompile(`\x1b\[[0-9;]*[1-9][0-9;]*m`)

// TestRunNoColor runs the wizard through Run with colour forced on, and
// with NO_COLOR: the second output has no colour or attribute codes; a
// quit gives ErrCanceled.
func TestRunNoColor(t *testing.T) {
	for _, noColor := range []bool{false, true} {
		t.Setenv("CLICOLOR_FORCE", "1")
		if noColor {
			t.Setenv("NO_COLOR", "1")
		} else {
			os.Unsetenv("NO_COLOR")
		}
		in, keys := io.Pipe()
		var out bytes.Buffer
		go func() {
			keys.Write([]byte("\x03")) // Ctrl-C asks
			time.Sleep(200 * time.Millisecond)
			keys.Write([]byte("y")) // and y quits
		}()
		_, err := Run(t.Context(), Options{Settings: inf.Default(), Report: fixedReport(), Now: fixedNow}, in, &out)
		keys.Close()
		if !errors.Is(err, ErrCanceled) {
			t.Fatalf("NO_COLOR=%v: Run: %v, want ErrCanceled", noColor, err)
		}
		if !strings.Contains(out.String(), "Quit without capturing?") {
			t.Errorf("NO_COLOR=%v: the quit question was not shown", noColor)
		}
		if got := sgrRE.FindString(out.String()); (got != "") == noColor {
			t.Errorf("NO_COLOR=%v: first SGR code %q", noColor, got)
		}
	}
}

// TestRunContextCancel: a cancelled context (SIGTERM in the binary) ends
// the wizard before any capture.
func TestRunContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	in, keys := io.Pipe()
	defer keys.Close()
	time.AfterFunc(300*time.Millisecond, cancel)
	_, err := Run(ctx, Options{Settings: inf.Default(), Report: fixedReport(), Now: fixedNow}, in, io.Discard)
	if !errors.Is(err, ErrCanceled) {
		t.Fatalf("Run: %v, want ErrCanceled", err)
	}
}

// lockedBuffer is a bytes.Buffer safe for the program's writes and the
// test's reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunKilledDuringCapture: the context ends (SIGTERM) while the capture
// runs: Run cancels it, waits for it and returns the interrupted capture's
// error; no WIM is left.
func TestRunKilledDuringCapture(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	os.MkdirAll(src, 0o755)
	f, err := os.Create(filepath.Join(src, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(2 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wim := filepath.Join(tmp, "out.wim")
	s := parseINF(t, "[Capture]\nVolumeToCapture="+src+"\nImageName=Big\nDestinationFile="+wim+"\n")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	in, keys := io.Pipe()
	defer keys.Close()
	out := &lockedBuffer{}
	go func() {
		waitText := func(want string) bool {
			for range 400 {
				if strings.Contains(out.String(), want) {
					return true
				}
				time.Sleep(25 * time.Millisecond)
			}
			return false
		}
		if waitText("It has every setting") {
			keys.Write([]byte("\r"))
		}
		if waitText("Ready.") {
			keys.Write([]byte("\r"))
		}
		waitText("Phase: ")
		cancel()
	}()
	_, err = Run(ctx, Options{Settings: s, INFPath: s.Source, Report: fixedReport(), Now: fixedNow, Run: agent.RunOptions{NoDevices: true, Threads: 1}}, in, out)
	var ce *agent.CaptureError
	if !errors.As(err, &ce) || ce.Kind != agent.KindInterrupted {
		t.Fatalf("Run: %v, want an interrupted capture; the screen:\n%s", err, out.String())
	}
	if _, err := os.Stat(wim); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("destination after the kill: %v, want absent", err)
	}
}
