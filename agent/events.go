// Package agent runs the capture pipeline: settings → source volume →
// pre-flight checks → capture through images → verification → (upload).
// It emits typed progress events; renderers only display them.
package agent

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Phase names a step of the pipeline.
type Phase string

// The phases, in order.
const (
	PhaseSettings  Phase = "settings"
	PhaseDiscover  Phase = "discover"
	PhasePreflight Phase = "preflight"
	PhaseScan      Phase = "scan"
	PhaseHash      Phase = "hash"
	PhaseWrite     Phase = "write"
	PhaseMetadata  Phase = "metadata"
	PhaseIntegrity Phase = "integrity"
	PhaseVerify    Phase = "verify"
	PhaseUpload    Phase = "upload"
	PhaseDone      Phase = "done"
)

// Event is one progress report.
type Event struct {
	Phase      Phase
	Message    string // a line for the log, "" for pure progress
	Warning    bool
	BytesDone  uint64
	BytesTotal uint64
	FilesDone  uint64
	FilesTotal uint64
	Path       string
	Rate       float64       // bytes per second over the phase so far
	ETA        time.Duration // estimated time left in the phase, 0 if unknown
}

// ConsoleRenderer prints events as plain lines: one when a phase starts,
// then a progress line at most every Interval. It suits serial consoles and
// log files.
type ConsoleRenderer struct {
	W        io.Writer
	Interval time.Duration
	mu       sync.Mutex
	phase    Phase
	last     time.Time
	finished bool // the current phase's 100% line is printed
}

// Handle prints e.
func (c *ConsoleRenderer) Handle(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Message != "" {
		prefix := ""
		if e.Warning {
			prefix = "warning: "
		}
		fmt.Fprintf(c.W, "[%s] %s%s\n", e.Phase, prefix, e.Message)
		return
	}
	interval := c.Interval
	if interval == 0 {
		interval = 2 * time.Second
	}
	finished := e.BytesTotal > 0 && e.BytesDone >= e.BytesTotal
	if e.Phase == c.phase && time.Since(c.last) < interval && !(finished && !c.finished) {
		return
	}
	if e.Phase != c.phase {
		c.finished = false
	}
	if finished {
		if c.finished && e.Phase == c.phase {
			return
		}
		c.finished = true
	}
	c.phase = e.Phase
	c.last = time.Now()
	if e.BytesTotal > 0 {
		pct := 100 * float64(e.BytesDone) / float64(e.BytesTotal)
		line := fmt.Sprintf("[%s] %5.1f%%  %s / %s", e.Phase, pct, HumanBytes(e.BytesDone), HumanBytes(e.BytesTotal))
		if e.Rate > 0 {
			line += fmt.Sprintf("  %s/s", HumanBytes(uint64(e.Rate)))
		}
		if e.ETA > 0 {
			line += fmt.Sprintf("  ETA %s", e.ETA.Round(time.Second))
		}
		fmt.Fprintln(c.W, line)
	} else if e.FilesTotal > 0 && e.Phase == PhaseScan {
		fmt.Fprintf(c.W, "[%s] %d files and directories\n", e.Phase, e.FilesTotal)
	}
}

// HumanBytes formats n with a binary unit.
func HumanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
