package wizard

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/wdscapture/wdscapture/agent"
)

// maxLog is how many log lines the progress page keeps.
const maxLog = 200

// runner runs agent.Execute in a goroutine and hands what it reports to
// the model.
type runner struct {
	cancel context.CancelFunc
	events chan runEvent
	done   chan doneMsg
	stop   chan struct{} // closed when nobody reads events any more
	exited chan struct{} // closed when Execute has returned
	// res and err are Execute's results, set before exited is closed.
	res *agent.Result
	err error
}

// runEvent is a note or a progress snapshot of the running capture.
type runEvent struct {
	note     *agent.Note
	progress *agent.Progress
}

type (
	eventsMsg []runEvent
	doneMsg   struct {
		events []runEvent
		res    *agent.Result
		err    error
	}
)

// startRun runs the plan; the Observer's interval is the one throttle of
// the progress shown.
func startRun(ctx context.Context, plan *agent.Plan, ro agent.RunOptions) *runner {
	ctx, cancel := context.WithCancel(ctx)
	r := &runner{cancel: cancel, events: make(chan runEvent, 64), done: make(chan doneMsg, 1),
		stop: make(chan struct{}), exited: make(chan struct{})}
	send := func(e runEvent) {
		select {
		case r.events <- e:
		case <-r.stop:
		}
	}
	obs := agent.Observer{
		Note:     func(n agent.Note) { send(runEvent{note: &n}) },
		Progress: func(p agent.Progress) { send(runEvent{progress: &p}) },
		Interval: 100 * time.Millisecond,
	}
	go func() {
		defer close(r.exited)
		res, err := agent.Execute(ctx, plan, ro, obs)
		r.res, r.err = res, err
		r.done <- doneMsg{res: res, err: err}
	}()
	return r
}

// wait returns the next batch of events, or the end of the run.
func (r *runner) wait() tea.Msg {
	var batch []runEvent
	select {
	case e := <-r.events:
		batch = append(batch, e)
	case d := <-r.done:
		for {
			select {
			case e := <-r.events:
				d.events = append(d.events, e)
			default:
				return d
			}
		}
	}
	for len(batch) < 256 {
		select {
		case e := <-r.events:
			batch = append(batch, e)
		default:
			return eventsMsg(batch)
		}
	}
	return eventsMsg(batch)
}

// stopAndWait cancels a run still going and waits for Execute to return.
func (r *runner) stopAndWait() {
	r.cancel()
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.exited
}

// progressPage shows the running capture: the phase, a bar, the one text
// of the progress snapshot, the file being read and the log.
type progressPage struct {
	run        *runner
	last       agent.Progress
	phase      agent.Phase
	log        []string
	logBack    int // lines the log view is scrolled back from the newest
	askCancel  bool
	cancelling bool
}

func (*progressPage) title() string { return "Capturing" }
func (*progressPage) back() bool    { return false }

func (p *progressPage) enter(s *session) tea.Cmd {
	*p = progressPage{}
	p.run = startRun(s.ctx, s.plan, s.o.Run)
	s.run = p.run
	return p.run.wait
}

func (p *progressPage) keys(*session) []key.Binding {
	switch {
	case p.cancelling:
		return nil
	case p.askCancel:
		return []key.Binding{withHelp(keyYes, "cancel the capture"), withHelp(keyNo, "go on")}
	}
	bs := []key.Binding{keyCancel}
	if len(p.log) > 0 {
		bs = append(bs, keyLogPage)
	}
	if p.logBack > 0 {
		bs = append(bs, keyLogEnd)
	}
	return bs
}

func (p *progressPage) handle(es []runEvent) {
	for _, e := range es {
		if e.note != nil {
			p.phase = e.note.Phase
			p.log = append(p.log, e.note.String())
			if len(p.log) > maxLog {
				p.log = p.log[len(p.log)-maxLog:]
			}
			continue
		}
		p.phase = e.progress.Phase
		p.last = *e.progress
	}
}

func (p *progressPage) update(s *session, msg tea.Msg) (tea.Cmd, nav) {
	switch msg := msg.(type) {
	case eventsMsg:
		p.handle(msg)
		return p.run.wait, nav{}
	case doneMsg:
		p.handle(msg.events)
		s.runResult, s.runErr = msg.res, msg.err
		return nil, nav{kind: navTo, to: pageFinish}
	case tea.KeyPressMsg:
		switch {
		case p.cancelling:
		case p.askCancel && matches(msg, keyYes):
			p.askCancel, p.cancelling = false, true
			p.run.cancel()
		case p.askCancel && matches(msg, keyNo):
			p.askCancel = false
		case p.askCancel:
		case matches(msg, keyCancel):
			p.askCancel = true
		case matches(msg, keyLogPage):
			if msg.String() == "pgup" || msg.String() == "up" {
				p.logBack = min(p.logBack+5, max(0, len(p.log)-1))
			} else {
				p.logBack = max(p.logBack-5, 0)
			}
		case matches(msg, keyLogEnd):
			p.logBack = 0
		}
	}
	return nil, nav{}
}

func (p *progressPage) view(s *session, st styles, w, h int) ([]string, *tea.Cursor) {
	e := p.last
	phase := "starting"
	if p.phase.Name != "" {
		phase = p.phase.Title
	}
	if p.cancelling {
		phase += " - cancelling, waiting for the capture to stop..."
	}
	lines := []string{clip("Now: "+phase, w), ""}
	if f := e.Fraction(); f >= 0 && e.Phase == p.phase {
		lines = append(lines, fmt.Sprintf("%s %5.1f%%", bar(st, f, max(10, w-8)), 100*f))
		lines = append(lines, packParts(e.String(), w)...)
	} else if e.Phase == p.phase && p.phase.Name != "" {
		lines = append(lines, "", clip(e.String(), w))
	} else {
		lines = append(lines, "", "")
	}
	lines = append(lines, clipPath(e.Path, w), "")
	if p.askCancel {
		lines = append(lines, st.err.Render(clip("Cancel the capture? The destination stays as it was. y = cancel, n = go on", w)), "")
	}
	head := "Log:"
	if p.logBack > 0 {
		head = fmt.Sprintf("Log (%d newer lines below; End shows them):", p.logBack)
	}
	lines = append(lines, head)
	room := max(1, h-len(lines))
	end := max(0, len(p.log)-p.logBack)
	start := max(0, end-room)
	for _, l := range p.log[start:end] {
		lines = append(lines, "  "+clip(l, w-2))
	}
	return lines, nil
}

// packParts lays out the parts of a progress text (separated by three
// spaces) on as many lines of width w as they need, a part never split.
func packParts(text string, w int) []string {
	var lines []string
	cur := ""
	for _, part := range strings.Split(text, "   ") {
		switch {
		case cur == "":
			cur = part
		case width(cur)+3+width(part) <= w:
			cur += "   " + part
		default:
			lines = append(lines, clip(cur, w))
			cur = part
		}
	}
	return append(lines, clip(cur, w))
}

// bar draws a progress bar of w cells, filled to fraction f: "#" done,
// "." to do, so that it shows without colour.
func bar(st styles, f float64, w int) string {
	n := int(f*float64(w) + 0.5)
	n = max(0, min(w, n))
	return lipgloss.NewStyle().Foreground(lipgloss.Blue).Render(strings.Repeat("#", n)) + st.dim.Render(strings.Repeat(".", w-n))
}
