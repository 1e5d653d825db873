package main

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wdscapture/wdscapture/store"
)

// progress draws the progress of a long operation on stderr: one line
// redrawn in place on a terminal, a line per phase and at most one every
// ten seconds otherwise (a log or a CI transcript).
type progress struct {
	c     *cli
	quiet bool
	label string

	mu       sync.Mutex
	phase    string
	start    time.Time // of the phase
	last     time.Time // last line drawn
	drawn    bool      // a line is on screen without its newline
	lastText string
}

var phaseNames = map[string]string{
	"check":  "checking the integrity table",
	"copy":   "copying",
	"verify": "verifying",
	"write":  "writing tables",
}

func newProgress(c *cli, label string, quiet bool) *progress {
	return &progress{c: c, label: label, quiet: quiet}
}

// update is the store.Progress callback.
func (p *progress) update(pr store.Progress) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	changed := pr.Phase != p.phase
	if changed {
		p.phase, p.start = pr.Phase, now
	}
	every := 200 * time.Millisecond
	if !p.c.interactive {
		every = 10 * time.Second
	}
	finished := pr.Total > 0 && pr.Done == pr.Total
	if !changed && !finished && now.Sub(p.last) < every {
		return
	}
	p.last = now
	name := phaseNames[pr.Phase]
	if name == "" {
		name = pr.Phase
	}
	text := fmt.Sprintf("%s: %s", p.label, name)
	if pr.Total > 0 {
		pct := float64(pr.Done) / float64(pr.Total) * 100
		text += fmt.Sprintf(" %5.1f%%  %s of %s", pct, humanBytes(pr.Done), humanBytes(pr.Total))
		if el := now.Sub(p.start).Seconds(); el > 0.5 && pr.Done > 0 {
			text += fmt.Sprintf("  %s/s", humanBytes(uint64(float64(pr.Done)/el)))
		}
	}
	if text == p.lastText {
		return
	}
	p.lastText = text
	if p.c.interactive {
		fmt.Fprintf(p.c.stderr, "\r\x1b[K%s", text)
		p.drawn = true
	} else {
		fmt.Fprintln(p.c.stderr, text)
	}
}

// groupUpdate is update for callbacks that also name the group.
func (p *progress) groupUpdate(group string, pr store.Progress) {
	p.mu.Lock()
	if !strings.HasSuffix(p.label, " "+group) {
		p.label = "verify " + group
		p.phase = ""
	}
	p.mu.Unlock()
	p.update(pr)
}

// done ends the progress line, so what follows starts on a line of its own.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.c.stderr)
		p.drawn = false
	}
}
