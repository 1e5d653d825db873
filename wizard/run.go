package wizard

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/images"
)

// maxLog is how many log lines the progress page keeps.
const maxLog = 200

// runner runs agent.Execute in a goroutine and hands its events to the
// model.
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

// start runs the prepared plan.
func (m *model) start() tea.Cmd {
	ctx, cancel := context.WithCancel(m.ctx)
	r := &runner{cancel: cancel, events: make(chan runEvent, 512), done: make(chan doneMsg, 1),
		stop: make(chan struct{}), exited: make(chan struct{})}
	m.run = r
	m.history = append(m.history, m.page)
	m.page = pageProgress
	plan, ro := m.plan, m.o.Run
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
	return r.wait
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

// runEvent is a note or a progress snapshot of the running capture.
type runEvent struct {
	note     *agent.Note
	progress *agent.Progress
}

func (m *model) handleEvents(es []runEvent) {
	for _, e := range es {
		if e.note != nil {
			m.phase = e.note.Phase
			m.log = append(m.log, e.note.String())
			if len(m.log) > maxLog {
				m.log = m.log[len(m.log)-maxLog:]
			}
			continue
		}
		m.phase = e.progress.Phase
		m.last = *e.progress
	}
}

func (m *model) progressKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.cancelling {
		return m, nil
	}
	if m.askCancel {
		switch k.String() {
		case "y", "Y":
			m.askCancel = false
			m.cancelling = true
			m.run.cancel()
		case "n", "N", "esc", "enter":
			m.askCancel = false
		}
		return m, nil
	}
	switch k.String() {
	case "esc", "ctrl+c":
		m.askCancel = true
	case "pgup", "up":
		m.logBack = min(m.logBack+5, max(0, len(m.log)-1))
	case "pgdown", "down":
		m.logBack = max(m.logBack-5, 0)
	case "end":
		m.logBack = 0
	}
	return m, nil
}

// finish records the end of the capture and reads the image back.
func (m *model) finish(res *agent.Result, err error) {
	m.result, m.runErr = res, err
	m.page = pageFinish
	m.focus = 0
	m.cancelling = false
	m.askCancel = false
	if res != nil {
		r, err := images.Open(res.Dest)
		if err != nil {
			m.readErr = err.Error()
		} else {
			m.wimComp = r.Compression()
			for _, im := range r.Images() {
				if im.Index == res.Image.Index {
					im := im
					m.image = &im
				}
			}
			if m.image == nil {
				m.readErr = fmt.Sprintf("image %d is not in the WIM's XML", res.Image.Index)
			}
			r.Close()
		}
		m.field(pageFinish, "SavePath").in.SetValue(filepath.Join(filepath.Dir(res.Dest), "WDSCapture.inf"))
	}
	m.syncFocus()
}

// save writes the answers as a WDSCapture.inf for unattended runs.
func (m *model) save() {
	f := m.field(pageFinish, "SavePath")
	path := f.value()
	if path == "" {
		f.err = "enter a path, or press Esc to exit without saving"
		return
	}
	c := *m.s
	c.Unattended = true
	withPassword := m.field(pageFinish, "SavePassword").sel == 1
	var b bytes.Buffer
	if err := c.Write(&b, withPassword); err != nil {
		f.err = err.Error()
		return
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		f.err = fmt.Sprintf("cannot save: %v", err)
		return
	}
	f.err = ""
	m.saveMsg = "saved " + path + " (Unattended=Yes"
	if withPassword {
		m.saveMsg += ", with the password)"
	} else {
		m.saveMsg += ", without the password)"
	}
}

// windowsSummary extracts the product, edition, architecture, version and
// languages from an image's <WINDOWS> element.
func windowsSummary(raw string) string {
	if raw == "" {
		return ""
	}
	var w struct {
		Arch        string `xml:"ARCH"`
		ProductName string `xml:"PRODUCTNAME"`
		EditionID   string `xml:"EDITIONID"`
		Languages   struct {
			Language []string `xml:"LANGUAGE"`
		} `xml:"LANGUAGES"`
		Version struct {
			Major string `xml:"MAJOR"`
			Minor string `xml:"MINOR"`
			Build string `xml:"BUILD"`
		} `xml:"VERSION"`
	}
	if err := xml.Unmarshal([]byte(raw), &w); err != nil {
		return "unreadable: " + err.Error()
	}
	arch := map[string]string{"0": "x86", "5": "arm", "6": "ia64", "9": "x86_64", "12": "arm64"}[w.Arch]
	parts := []string{w.ProductName, w.EditionID, arch}
	if w.Version.Major != "" {
		parts = append(parts, w.Version.Major+"."+w.Version.Minor+"."+w.Version.Build)
	}
	parts = append(parts, strings.Join(w.Languages.Language, ","))
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}
