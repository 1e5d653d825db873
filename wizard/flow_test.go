package wizard

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/syncbuf"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

// TestCaptureFlow drives the whole wizard on a real lab disk: the scan,
// choosing the volume, naming the image, LZX, the capture, the finish
// page, saving the INF; wiminfo checks the WIM. The driver runs each
// command to its end, so no step waits for time.
func TestCaptureFlow(t *testing.T) {
	tooltest.Require(t, "wiminfo")
	tmp := t.TempDir()
	img := labDisk(t, tmp, "disk.img", generalized)
	wim := filepath.Join(tmp, "images", "lab.wim")
	d := newDriver(t, "", Options{Run: agent.RunOptions{DiskImages: []string{img}, NoDevices: true, Threads: 1}})
	d.want("it holds a generalized Windows").press("enter").onPage(pageSource)
	d.press("enter", "ctrl+u", "Lab image", "enter", "lab description", "enter").onPage(pageDest)
	d.press(wim, "enter", "right", "enter").onPage(pageUpload).press("enter").onPage(pageSummary).want("Ready.")
	d.press("enter").onPage(pageFinish).want("The capture finished.")
	d.press("enter").want("Saved " + filepath.Join(tmp, "images", "WDSCapture.inf"))
	v := d.screen()
	fits(t, v, 80, 25)
	for _, want := range []string{"WIM file     " + wim, "(LZX)", "Verified     yes", "Image 1      Lab image",
		"Windows      Windows 11 Enterprise x86_64 10.0.22631 en-US"} {
		if !strings.Contains(v, want) {
			t.Errorf("finish screen lacks %q:\n%s", want, v)
		}
	}
	res, err := d.a.result()
	if err != nil || res == nil || !res.Verified || res.Image.Name != "Lab image" {
		t.Fatalf("result %+v, %v", res, err)
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

// probeMsg runs fn on the model inside the program's loop (see waitState).
type probeMsg struct{ fn func(*app) }

// probe is the program filter that answers probeMsg.
func probe(m tea.Model, msg tea.Msg) tea.Msg {
	if p, ok := msg.(probeMsg); ok {
		p.fn(m.(*app))
		return nil
	}
	return msg
}

// waitState asks the running program until cond holds for its model.
func waitState(t *testing.T, tm *teatest.TestModel, what string, cond func(*app) bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		ok := make(chan bool, 1)
		tm.Send(probeMsg{func(a *app) { ok <- cond(a) }})
		select {
		case v := <-ok:
			if v {
				return
			}
		case <-time.After(waitLimit):
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the wizard never reached: %s", what)
}

func bigSource(t *testing.T, tmp string) string {
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
	return src
}

// TestCancelDuringCapture cancels a running capture in the real program
// loop: the wizard asks, the agent's context is cancelled, Execute
// returns and no WIM is left.
func TestCancelDuringCapture(t *testing.T) {
	tmp := t.TempDir()
	src := bigSource(t, tmp)
	wim := filepath.Join(tmp, "out.wim")
	s := parseINF(t, "[Capture]\nVolumeToCapture="+src+"\nImageName=Big\nDestinationFile="+wim+"\n")
	o := Options{Settings: s, INFPath: s.Source, Now: fixedNow, Report: fixedReport(), Run: agent.RunOptions{NoDevices: true, Threads: 1}}
	tm := teatest.NewTestModel(t, New(t.Context(), o), teatest.WithInitialTermSize(80, 25), teatest.WithProgramOptions(tea.WithFilter(probe)))
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	waitState(t, tm, "the summary is ready", func(a *app) bool {
		return a.cur == pageSummary && a.pages[pageSummary].(*summaryPage).plan != nil
	})
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	waitState(t, tm, "the capture runs", func(a *app) bool {
		p := a.pages[pageProgress].(*progressPage)
		return a.cur == pageProgress && p.phase.Name != ""
	})
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEscape})
	waitState(t, tm, "cancel is asked", func(a *app) bool { return a.pages[pageProgress].(*progressPage).askCancel })
	tm.Send(tea.KeyPressMsg{Code: 'y', Text: "y"})
	waitState(t, tm, "the finish page", func(a *app) bool { return a.cur == pageFinish })
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	a := tm.FinalModel(t, teatest.WithFinalTimeout(waitLimit)).(*app)
	_, err := a.result()
	var ce *agent.CaptureError
	if !errors.As(err, &ce) || ce.Kind != agent.KindInterrupted {
		t.Fatalf("run error %v, want an interrupted capture", err)
	}
	if v, _ := a.render(); !strings.Contains(v, "The capture was cancelled.") || strings.Contains(v, "context canceled") {
		t.Errorf("finish page:\n%s", v)
	}
	if _, err := os.Stat(wim); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("destination after cancel: %v, want absent", err)
	}
}

// waitOutput waits until the program has written want.
func waitOutput(out *syncbuf.Buffer, want string) bool {
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		if strings.Contains(out.String(), want) {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// colorRE matches SGR sequences that set a colour (30-38, 40-48, 90-97,
// 100-107), not those of bold or reverse video.
var colorRE = regexp.MustCompile(`\x1b\[(?:[0-9]*;)*(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9]*)*m`)

// TestRunNoColor runs the wizard through Run with TERM=xterm, then with
// NO_COLOR and with TERM=vt100: colour only in the first; the terminal
// cursor is shown in a text field in every case (issue 13 item 4); a quit
// gives ErrCanceled.
func TestRunNoColor(t *testing.T) {
	for _, env := range [][2]string{{"xterm", ""}, {"xterm", "1"}, {"vt100", ""}} {
		t.Run(env[0]+" NO_COLOR="+env[1], func(t *testing.T) {
			t.Setenv("TERM", env[0])
			t.Setenv("NO_COLOR", env[1])
			in, keys := io.Pipe()
			out := &syncbuf.Buffer{}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			go func() {
				// The screen is drawn by differences: wait for whole new
				// lines, or for the cursor being shown.
				done := false
				defer func() {
					if !done {
						cancel() // ends Run: a step never came
					}
				}()
				if !waitOutput(out, "Press Enter") {
					return
				}
				keys.Write([]byte("\r")) // to the Source page
				if !waitOutput(out, "Volume to capture") {
					return
				}
				keys.Write([]byte("\t")) // the name field: the cursor shows
				if !waitOutput(out, "\x1b[?25h") {
					return
				}
				keys.Write([]byte("\x15\r")) // Ctrl-U, Enter: a message (red with colour)
				if !waitOutput(out, "give the image a name") {
					return
				}
				keys.Write([]byte("\x03")) // Ctrl-C asks
				if waitOutput(out, "Quit without capturing?") {
					keys.Write([]byte("y")) // and y quits
					done = true
				}
			}()
			_, err := Run(ctx, Options{Settings: inf.Default(), Report: fixedReport(), Now: fixedNow}, in, out)
			keys.Close()
			if !errors.Is(err, ErrCanceled) {
				t.Fatalf("Run: %v, want ErrCanceled\n%q", err, out.String())
			}
			o := out.String()
			if got := colorRE.FindString(o); (got != "") != (env[0] == "xterm" && env[1] == "") {
				t.Errorf("colour codes: first %q", got)
			}
			if !strings.Contains(o, "\x1b[?25h") {
				t.Errorf("the terminal cursor was never shown:\n%q", o)
			}
			if !strings.Contains(o, "\x1b[1;7m") && !strings.Contains(o, "\x1b[7;1m") {
				t.Errorf("no reverse-video title: bold and reverse must stay without colour:\n%q", o)
			}
		})
	}
}

// TestRunContextCancel: a cancelled context (SIGTERM in the binary) ends
// the wizard before any capture.
func TestRunContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	in, keys := io.Pipe()
	defer keys.Close()
	out := &syncbuf.Buffer{}
	go func() {
		waitOutput(out, "Press Enter")
		cancel()
	}()
	_, err := Run(ctx, Options{Settings: inf.Default(), Report: fixedReport(), Now: fixedNow}, in, out)
	if !errors.Is(err, ErrCanceled) {
		t.Fatalf("Run: %v, want ErrCanceled", err)
	}
}

// TestRunKilledDuringCapture: the context ends (SIGTERM) while the capture
// runs: Run cancels it, waits for it and returns the interrupted capture's
// error; no WIM is left.
func TestRunKilledDuringCapture(t *testing.T) {
	tmp := t.TempDir()
	src := bigSource(t, tmp)
	wim := filepath.Join(tmp, "out.wim")
	s := parseINF(t, "[Capture]\nVolumeToCapture="+src+"\nImageName=Big\nDestinationFile="+wim+"\n")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	in, keys := io.Pipe()
	defer keys.Close()
	out := &syncbuf.Buffer{}
	go func() {
		if waitOutput(out, "It sets everything") {
			keys.Write([]byte("\r"))
		}
		if waitOutput(out, "Ready.") {
			keys.Write([]byte("\r"))
		}
		waitOutput(out, "Now: ")
		cancel()
	}()
	_, err := Run(ctx, Options{Settings: s, INFPath: s.Source, Report: fixedReport(), Now: fixedNow, Run: agent.RunOptions{NoDevices: true, Threads: 1}}, in, out)
	var ce *agent.CaptureError
	if !errors.As(err, &ce) || ce.Kind != agent.KindInterrupted {
		t.Fatalf("Run: %v, want an interrupted capture; the screen:\n%s", err, out.String())
	}
	if _, err := os.Stat(wim); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("destination after the kill: %v, want absent", err)
	}
}
