// Package wizard is the terminal Image Capture Wizard: when WDSCapture.inf
// is missing or incomplete (or the run is attended), it walks the technician
// through the capture as the WDS Image Capture Wizard does, page by page,
// and drives the agent pipeline. The wizard collects answers and displays;
// every check is the agent's (agent.CheckKeys, agent.SourceFor,
// agent.CheckDestination, agent.Prepare, agent.SaveINF), whose problems
// name the INF key they concern, so each is shown next to its setting.
//
// Pages, in order: Welcome; Capture source (the scanned volumes, the image
// name and description); Destination (the .wim file, compression,
// overwrite or append); Upload (optional: the server and its
// certificate, Connect, which asks for the credentials and lists the image
// groups the server has, the group, deleting the local WIM after the
// server verified the image); Summary (agent.Prepare runs here, the image
// store's checks included, and shows every problem at once); Capturing
// (progress, the upload as its own phase); Finished (the result, the image
// read back, where it landed in the store, saving the answers as an INF). Each
// page is a model of its own with its keys; the footer lists exactly the
// keys the page handles.
//
// Skip rule: on the first pass, a page that the INF, as it was loaded,
// answers completely and correctly is skipped. Once the summary is reached
// or Esc is used, every page is shown: Esc always goes to the previous
// page, so every page can be reached. When the summary or a failed capture
// finds problems, Enter goes to the page that fixes the first one, with
// every answer kept and the problems shown under their fields.
//
// Keys: Tab/Shift-Tab move between fields (and wrap around), ↑/↓ move too
// (and choose a volume in the list, whose last row leads down to the name),
// ←/→ or Space change a choice, Enter checks the field and moves on (on the
// last field: the next page), Esc goes back, Ctrl-C quits (asks first).
// Text fields show the terminal's own cursor and scroll sideways, with "<"
// and ">" where text is hidden. While capturing, Esc/Ctrl-C asks to cancel
// and PgUp/PgDn/End scroll the log.
//
// Serial consoles: nothing asks the terminal anything and waits for the
// answer (the colour profile comes from TERM and NO_COLOR), so the first
// screen appears at once and no key typed meanwhile is lost. Without
// colour (NO_COLOR, vt100) bold and reverse video remain, and every cue is
// also a character.
package wizard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/scan"
)

// Options configures a wizard run.
type Options struct {
	// Settings come from agent.LoadSettings (inf.Default() without a file);
	// the wizard works on a copy.
	Settings *inf.Settings
	// INFPath is the file the settings came from, "" if none was found.
	INFPath string
	// Run is passed to the agent (drive letters, disk images, threads).
	Run agent.RunOptions
	// Report is a scan done beforehand; nil makes the wizard scan with
	// agent.Discover (Run.NoDevices and Run.DiskImages).
	Report *scan.Report
	// Now is the clock used for the default image name; nil is time.Now.
	Now func() time.Time
}

// Run shows the wizard on a terminal (in, out) and returns the capture's
// result. Quitting before a capture gives ErrCanceled; a capture error is
// the agent's *agent.CaptureError (KindInterrupted after a cancel). A
// capture whose upload failed gives its result and a *agent.CaptureError
// of KindUpload.
func Run(ctx context.Context, o Options, in io.Reader, out io.Writer) (*agent.Result, error) {
	a := newApp(ctx, o)
	p := tea.NewProgram(a, tea.WithInput(in), tea.WithOutput(out), tea.WithContext(ctx),
		tea.WithColorProfile(colorProfile(os.Getenv)), tea.WithoutSignalHandler(),
		// The size when out is no terminal; a terminal's own size (or
		// COLUMNS and LINES, or 80×24 when it reports 0×0) wins.
		tea.WithWindowSize(80, 25))
	final, err := p.Run()
	if fa, ok := final.(*app); ok {
		a = fa
	}
	res, runErr := a.result()
	if r := a.sess.run; r != nil {
		// Killed (SIGTERM) during the capture: cancel it, wait for it to
		// return, and report how it ended.
		r.stopAndWait()
		if res == nil && runErr == nil {
			res, runErr = r.res, r.err
		}
	}
	if err != nil {
		if !errors.Is(err, tea.ErrProgramPanic) && (errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, context.Canceled)) {
			if runErr != nil {
				return nil, runErr
			}
			return nil, ErrCanceled
		}
		return nil, fmt.Errorf("capture wizard: %w", err)
	}
	switch {
	case a.quitErr != nil:
		return nil, a.quitErr
	case res != nil:
		// A capture whose upload failed: the result and the
		// upload's error (exit code 5, the retry command).
		return res, runErr
	case runErr != nil:
		return nil, runErr
	}
	return nil, ErrCanceled
}
