// Package agent runs the capture pipeline: settings → source volume →
// pre-flight checks → capture through images → verification → (upload).
// It reports through an Observer: notes for the log, and progress
// snapshots from one Tracker; renderers only display them.
package agent

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// ConsoleRenderer prints a run as plain lines: every note, and a progress
// line at most every Interval (2 s by default) for the phases that count
// something. It suits serial consoles and log files.
type ConsoleRenderer struct {
	W        io.Writer
	Interval time.Duration
	mu       sync.Mutex
}

// Observer returns the Observer that prints to W.
func (c *ConsoleRenderer) Observer() Observer {
	interval := c.Interval
	if interval == 0 {
		interval = 2 * time.Second
	}
	return Observer{Note: c.note, Progress: c.progress, Interval: interval}
}

func (c *ConsoleRenderer) note(n Note) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.W, n.String())
}

func (c *ConsoleRenderer) progress(p Progress) {
	if p.Phase.Unit == Steps || (p.Phase.Unit == Bytes && p.Total == 0) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.W, "[%s] %s\n", p.Phase, p)
}
