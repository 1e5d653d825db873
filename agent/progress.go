package agent

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/wdscapture/wdscapture/internal/humanize"
)

// Unit says what a phase's progress counts.
type Unit int

// The units.
const (
	// Steps: the phase reports no amount, only that it runs.
	Steps Unit = iota
	// Items: a count of files and directories found, total unknown.
	Items
	// Bytes: bytes done of a known total.
	Bytes
)

// Phase is one step of the pipeline: its name in log lines, its title for
// people and what its progress counts. A new step (the upload) declares a
// Phase and reports through the Tracker; the renderers need no change.
type Phase struct {
	Name  string // short, for log and console lines: "write"
	Title string // what it does: "compressing and writing the files"
	Unit  Unit
}

// String returns the name.
func (p Phase) String() string { return p.Name }

// The phases of a capture, in order.
var (
	PhaseSettings  = Phase{"settings", "reading the settings", Steps}
	PhaseDiscover  = Phase{"discover", "looking for the volume to capture", Steps}
	PhasePreflight = Phase{"preflight", "checking the destination", Steps}
	PhaseScan      = Phase{"scan", "scanning the source tree", Items}
	PhaseHash      = Phase{"hash", "hashing files that may be duplicates", Bytes}
	PhaseWrite     = Phase{"write", "compressing and writing the files", Bytes}
	PhaseMetadata  = Phase{"metadata", "writing the image metadata", Steps}
	PhaseIntegrity = Phase{"integrity", "writing the integrity table", Steps}
	PhaseVerify    = Phase{"verify", "verifying the WIM written", Bytes}
	PhaseDone      = Phase{"done", "finished", Steps}
)

// imagesPhases maps the phase names of images.Progress to phases.
var imagesPhases = map[string]Phase{
	"scan": PhaseScan, "hash": PhaseHash, "write": PhaseWrite,
	"metadata": PhaseMetadata, "integrity": PhaseIntegrity, "verify": PhaseVerify,
}

// Note is a line for the log: what the pipeline did or found. Notes are
// never throttled and come in order.
type Note struct {
	Phase Phase
	Level slog.Level // slog.LevelInfo or slog.LevelWarn
	Text  string
}

// String returns "[phase] text", with "warning: " before a warning.
func (n Note) String() string {
	if n.Level >= slog.LevelWarn {
		return fmt.Sprintf("[%s] warning: %s", n.Phase, n.Text)
	}
	return fmt.Sprintf("[%s] %s", n.Phase, n.Text)
}

// Progress is a snapshot of the running phase.
type Progress struct {
	Phase Phase
	// Done and Total count the phase's unit (Total 0: not known yet).
	Done, Total uint64
	// FilesDone of FilesTotal files have been written (the write phase).
	FilesDone, FilesTotal uint64
	// Path is the file being worked on, "" when none.
	Path string
	// Rate is Done per second over the last RateWindow, 0 until known.
	Rate float64
	// ETA is the time left at Rate, 0 when unknown.
	ETA time.Duration
	// Elapsed is the time since the phase began.
	Elapsed time.Duration
	// OnServer is, for the upload, the bytes of the image's data the
	// image store has already and that are not sent (not part of Total).
	OnServer uint64
	// Final marks the phase's last snapshot.
	Final bool
}

// Fraction is Done/Total from 0 to 1, or -1 when the phase has no total.
func (p Progress) Fraction() float64 {
	if p.Phase.Unit != Bytes || p.Total == 0 {
		return -1
	}
	return min(1, float64(p.Done)/float64(p.Total))
}

// String is the one text of a snapshot, for the console and the wizard:
// "3.0 GiB of 12.0 GiB (25.0%)   files 2500 of 10000   52.0 MiB/s   ETA 2m57s".
func (p Progress) String() string {
	var parts []string
	switch p.Phase.Unit {
	case Bytes:
		if p.Total > 0 {
			parts = append(parts, fmt.Sprintf("%s of %s (%.1f%%)", humanize.Bytes(p.Done), humanize.Bytes(p.Total), 100*p.Fraction()))
		} else {
			parts = append(parts, "starting")
		}
		if p.FilesTotal > 0 {
			parts = append(parts, fmt.Sprintf("files %d of %d", p.FilesDone, p.FilesTotal))
		}
		if p.OnServer > 0 {
			parts = append(parts, humanize.Bytes(p.OnServer)+" on the server already")
		}
		if p.Rate > 0 {
			parts = append(parts, humanize.Bytes(uint64(p.Rate))+"/s")
		}
		if p.ETA > 0 && !p.Final {
			parts = append(parts, "ETA "+roundDuration(p.ETA).String())
		}
	case Items:
		parts = append(parts, fmt.Sprintf("%d files and directories", p.Done))
	default:
		parts = append(parts, p.Phase.Title)
		if p.Elapsed >= time.Second {
			parts = append(parts, roundDuration(p.Elapsed).String())
		}
	}
	return strings.Join(parts, "   ")
}

func roundDuration(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// Observer receives what a run reports: every note, and progress
// snapshots at most every Interval per phase (plus each phase's first and
// last). The zero Observer discards everything.
type Observer struct {
	Note     func(Note)
	Progress func(Progress)
	// Interval between progress snapshots; 0 means DefaultInterval.
	Interval time.Duration
}

// DefaultInterval is the pace of progress snapshots when the Observer does
// not set one.
const DefaultInterval = 200 * time.Millisecond

// RateWindow is how far back the rate (and so the ETA) looks: long enough
// to smooth the bursts of a compressor, short enough to follow a disk that
// slows down.
const RateWindow = 10 * time.Second

func (o Observer) note(p Phase, level slog.Level, format string, args ...any) {
	if o.Note != nil {
		o.Note(Note{Phase: p, Level: level, Text: fmt.Sprintf(format, args...)})
	}
}

// Tracker turns the pipeline's counters into progress snapshots: the one
// throttle, the windowed rate and ETA, the phase boundaries. It is safe for
// concurrent use (the verifier reports from several goroutines).
type Tracker struct {
	obs Observer
	now func() time.Time

	mu       sync.Mutex
	cur      Progress
	running  bool
	start    time.Time
	lastSent time.Time
	samples  []sample // (time, done) a little apart, within RateWindow
}

type sample struct {
	t    time.Time
	done uint64
}

// NewTracker returns a Tracker reporting to obs.
func NewTracker(obs Observer) *Tracker {
	return &Tracker{obs: obs, now: time.Now}
}

func (t *Tracker) interval() time.Duration {
	if t.obs.Interval > 0 {
		return t.obs.Interval
	}
	return DefaultInterval
}

// Begin starts phase p (ending the running one) with total units to do
// (0 when unknown).
func (t *Tracker) Begin(p Phase, total uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.endLocked()
	now := t.now()
	t.cur = Progress{Phase: p, Total: total}
	t.running, t.start = true, now
	t.samples = append(t.samples[:0], sample{now, 0})
	t.sendLocked(now)
}

// Update reports the running phase's counters; the snapshot goes out when
// the interval has passed since the last one. A total of 0 keeps the one
// known.
func (t *Tracker) Update(done, total, filesDone, filesTotal uint64, path string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.running {
		return
	}
	now := t.now()
	c := &t.cur
	c.Done, c.FilesDone, c.FilesTotal, c.Path = done, filesDone, filesTotal, path
	if total > 0 {
		c.Total = total
	}
	if last := t.samples[len(t.samples)-1]; now.Sub(last.t) >= RateWindow/20 {
		t.samples = append(t.samples, sample{now, done})
		cut := 0
		for cut < len(t.samples)-2 && now.Sub(t.samples[cut+1].t) >= RateWindow {
			cut++
		}
		t.samples = t.samples[cut:]
	}
	if now.Sub(t.lastSent) >= t.interval() {
		t.sendLocked(now)
	}
}

// SetOnServer records, for the running upload, the bytes the server has
// already (shown with every following snapshot).
func (t *Tracker) SetOnServer(n uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running {
		t.cur.OnServer = n
	}
}

// End sends the running phase's last snapshot.
func (t *Tracker) End() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.endLocked()
}

func (t *Tracker) endLocked() {
	if !t.running {
		return
	}
	t.cur.Final = true
	if t.cur.Phase.Unit == Bytes && t.cur.Total > 0 {
		t.cur.Done = t.cur.Total
		if t.cur.FilesTotal > 0 {
			t.cur.FilesDone = t.cur.FilesTotal
		}
	}
	t.cur.Path = ""
	t.sendLocked(t.now())
	t.running = false
}

// sendLocked computes the rate, ETA and elapsed time and sends a snapshot.
func (t *Tracker) sendLocked(now time.Time) {
	c := &t.cur
	c.Elapsed = now.Sub(t.start)
	c.Rate, c.ETA = 0, 0
	first, last := t.samples[0], sample{now, c.Done}
	if span := last.t.Sub(first.t); span >= time.Second && last.done >= first.done {
		c.Rate = float64(last.done-first.done) / span.Seconds()
	}
	if c.Rate > 0 && c.Total > c.Done {
		c.ETA = time.Duration(float64(c.Total-c.Done) / c.Rate * float64(time.Second))
	}
	t.lastSent = now
	if t.obs.Progress != nil {
		t.obs.Progress(*c)
	}
}
