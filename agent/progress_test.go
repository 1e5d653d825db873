package agent

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is the Tracker's clock in tests: time moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func trackerWithClock(obs Observer) (*Tracker, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
	tr := NewTracker(obs)
	tr.now = c.now
	return tr, c
}

// TestTrackerThrottle: one snapshot per interval, plus each phase's first
// and last; the last is complete.
func TestTrackerThrottle(t *testing.T) {
	var got []Progress
	tr, clock := trackerWithClock(Observer{Progress: func(p Progress) { got = append(got, p) }, Interval: 200 * time.Millisecond})
	tr.Begin(PhaseWrite, 1000)
	for i := 1; i <= 100; i++ {
		clock.advance(10 * time.Millisecond)
		tr.Update(uint64(i*9), 0, uint64(i), 100, fmt.Sprintf(`\f%d`, i))
	}
	tr.Begin(PhaseMetadata, 0) // ends the write phase
	tr.End()
	// 1 s of updates at 200 ms: the first, 5 throttled, the final; then
	// the metadata phase's first and last.
	if len(got) != 9 {
		t.Fatalf("%d snapshots, want 9: %+v", len(got), got)
	}
	if got[0].Done != 0 || got[0].Phase != PhaseWrite || got[0].Final {
		t.Errorf("first snapshot %+v", got[0])
	}
	last := got[6]
	if !last.Final || last.Done != 1000 || last.FilesDone != 100 || last.Path != "" {
		t.Errorf("the write phase's last snapshot is not complete: %+v", last)
	}
	if got[7].Phase != PhaseMetadata || got[8].Phase != PhaseMetadata || !got[8].Final {
		t.Errorf("metadata snapshots %+v %+v", got[7], got[8])
	}
	for _, p := range got[7:] {
		if s := p.String(); strings.Contains(s, "0 B of 0 B") || !strings.Contains(s, "writing the image metadata") || p.Fraction() != -1 {
			t.Errorf("a phase that counts nothing shows %q (fraction %v)", s, p.Fraction())
		}
	}
}

// TestTrackerWindowedRate: after a fast start the rate follows the slow
// part (a running average since the phase began would say 5.5 MB/s), and
// the ETA follows the rate.
func TestTrackerWindowedRate(t *testing.T) {
	var last Progress
	tr, clock := trackerWithClock(Observer{Progress: func(p Progress) { last = p }, Interval: time.Millisecond})
	const mb = 1000 * 1000
	tr.Begin(PhaseWrite, 1000*mb)
	done := uint64(0)
	for i := 0; i < 400; i++ { // 20 s at 10 MB/s, then 20 s at 1 MB/s
		clock.advance(100 * time.Millisecond)
		if i < 200 {
			done += mb
		} else {
			done += mb / 10
		}
		tr.Update(done, 0, 0, 0, "")
	}
	if math.Abs(last.Rate-1*mb) > 0.05*mb {
		t.Errorf("rate %.0f B/s, want about 1 MB/s (the last %v)", last.Rate, RateWindow)
	}
	wantETA := time.Duration(float64(1000*mb-done) / last.Rate * float64(time.Second))
	if d := last.ETA - wantETA; d < -time.Second || d > time.Second || last.ETA < 700*time.Second {
		t.Errorf("ETA %v, want about %v", last.ETA, wantETA)
	}
	if last.Elapsed != 40*time.Second {
		t.Errorf("elapsed %v", last.Elapsed)
	}
}

// TestTrackerVerifyTotalLater: a phase whose total arrives with the first
// update shows "starting", never "0 B of 0 B".
func TestTrackerVerifyTotalLater(t *testing.T) {
	var got []Progress
	tr, clock := trackerWithClock(Observer{Progress: func(p Progress) { got = append(got, p) }, Interval: time.Millisecond})
	tr.Begin(PhaseVerify, 0)
	clock.advance(time.Second)
	tr.Update(512, 2048, 0, 0, "")
	tr.End()
	if s := got[0].String(); s != "starting" || got[0].Fraction() != -1 {
		t.Errorf("before the total: %q", s)
	}
	if s := got[1].String(); !strings.HasPrefix(s, "512 B of 2.0 KiB (25.0%)") {
		t.Errorf("with the total: %q", s)
	}
	if s := got[2].String(); !strings.HasPrefix(s, "2.0 KiB of 2.0 KiB (100.0%)") || strings.Contains(s, "ETA") {
		t.Errorf("the end: %q", s)
	}
}

// TestTrackerConcurrent: the verifier reports from several goroutines.
func TestTrackerConcurrent(t *testing.T) {
	var mu sync.Mutex
	n := 0
	tr := NewTracker(Observer{Progress: func(Progress) { mu.Lock(); n++; mu.Unlock() }, Interval: time.Nanosecond})
	tr.Begin(PhaseVerify, 4000)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				tr.Update(uint64(i), 0, 0, 0, "")
			}
		}()
	}
	wg.Wait()
	tr.End()
	if n < 2 {
		t.Errorf("%d snapshots", n)
	}
}

// TestDeclaredPhase: a phase declared outside this file (the upload, one
// day) goes through the tracker and the console with no other change.
func TestDeclaredPhase(t *testing.T) {
	upload := Phase{Name: "upload", Title: "sending the image to the store", Unit: Bytes}
	var b bytes.Buffer
	c := &ConsoleRenderer{W: &b}
	obs := c.Observer()
	obs.Interval = time.Nanosecond
	tr, clock := trackerWithClock(obs)
	obs.note(upload, slog.LevelInfo, "connecting to %s", "store01")
	tr.Begin(upload, 100<<20)
	clock.advance(2 * time.Second)
	tr.Update(50<<20, 0, 0, 0, "")
	tr.End()
	want := "[upload] connecting to store01\n" +
		"[upload] 0 B of 100 MiB (0.0%)\n" +
		"[upload] 50.0 MiB of 100 MiB (50.0%)   25.0 MiB/s   ETA 2s\n" +
		"[upload] 100 MiB of 100 MiB (100.0%)   50.0 MiB/s\n"
	if b.String() != want {
		t.Errorf("console:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestConsoleRenderer: notes always, progress only for phases that count.
func TestConsoleRenderer(t *testing.T) {
	var b bytes.Buffer
	obs := (&ConsoleRenderer{W: &b}).Observer()
	if obs.Interval != 2*time.Second {
		t.Errorf("console interval %v", obs.Interval)
	}
	obs.Note(Note{Phase: PhaseWrite, Text: "writing"})
	obs.Progress(Progress{Phase: PhaseWrite, Done: 10, Total: 100, FilesDone: 1, FilesTotal: 3})
	obs.Progress(Progress{Phase: PhaseMetadata})
	obs.Progress(Progress{Phase: PhaseScan, Done: 42})
	obs.Note(Note{Phase: PhaseVerify, Level: slog.LevelWarn, Text: "odd"})
	want := "[write] writing\n[write] 10 B of 100 B (10.0%)   files 1 of 3\n[scan] 42 files and directories\n[verify] warning: odd\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

// BenchmarkTrackerUpdate is the cost per reported chunk (images reports
// each 32 KiB chunk; compressing one takes tens of microseconds).
func BenchmarkTrackerUpdate(b *testing.B) {
	tr := NewTracker(Observer{Progress: func(Progress) {}})
	tr.Begin(PhaseWrite, 1<<40)
	for i := 0; b.Loop(); i++ {
		tr.Update(uint64(i)<<15, 0, uint64(i), 1<<20, `\Windows\x.dll`)
	}
}

// TestTrackerOnServer: the upload's snapshots say how much of the image
// the server has already, next to the bytes to send, until the last one.
func TestTrackerOnServer(t *testing.T) {
	var got []Progress
	tr, clock := trackerWithClock(Observer{Progress: func(p Progress) { got = append(got, p) }, Interval: time.Millisecond})
	tr.Begin(PhaseUpload, 1<<20)
	tr.SetOnServer(3 << 20)
	clock.advance(2 * time.Second)
	tr.Update(1<<19, 0, 0, 0, "")
	tr.End()
	for _, p := range got[1:] {
		if s := p.String(); !strings.Contains(s, " of 1.0 MiB (") || !strings.Contains(s, "3.0 MiB on the server already") {
			t.Errorf("upload snapshot %q", s)
		}
	}
	tr.Begin(PhaseVerify, 10)
	if s := got[len(got)-1].String(); strings.Contains(s, "on the server") {
		t.Errorf("the next phase still says %q", s)
	}
}
