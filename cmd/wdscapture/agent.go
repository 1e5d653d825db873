package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/internal/humanize"
	"github.com/wdscapture/wdscapture/wizard"
	"golang.org/x/term"
)

// multiFlag collects repeated flag values.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// runAgent is the default command: the capture wizard's job, driven by
// WDSCapture.inf.
func runAgent(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("", "[--inf PATH] [flags]",
		"With no command, wdscapture does what the WDS Image Capture Wizard does: it\nreads WDSCapture.inf (default: Windows/System32/WDSCapture.inf under --root,\nmatched case-insensitively), finds the generalized Windows volume, captures\nit to DestinationFile, verifies the WIM, writes a log beside it and, with\nUploadToWDSServer=Yes, uploads the image to an image store (checked before\nthe capture starts). With Unattended=Yes nothing is asked: a missing or bad\nsetting is an error naming the INF key, and the exit code says what failed\n(see README). Otherwise, on a\nterminal, the Image Capture Wizard asks for whatever the INF leaves out (pages\nwhose settings are all present are skipped) and shows the capture's progress.", stderr)
	infPath := fs.String("inf", "", "WDSCapture.inf to use instead of the default location")
	root := fs.String("root", "/", "the boot root holding Windows/System32 (X:\\ of the capture environment)")
	var disks, drives multiFlag
	fs.Var(&disks, "disk", "also scan this disk image file (repeatable; for lab runs)")
	fs.Var(&drives, "drive", "LETTER=DIR: drive LETTER of DestinationFile is mounted at DIR (repeatable)")
	noDevices := fs.Bool("no-devices", false, "do not scan /sys/block (only --disk images)")
	logPath := fs.String("log", "", "log file (default: DestinationFile + \".log\")")
	threads := fs.Int("threads", 0, threadsUsage)
	retries := fs.Int("upload-retries", 8, "failures in a row (dropped connections, server restarts) an upload survives (1 to 1000);\nthe count starts again whenever data moves")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unknown command %q (see wdscapture help)", pos[0])}
	}
	if err := checkThreads(*threads); err != nil {
		return err
	}
	if err := checkRetries("--upload-retries", *retries); err != nil {
		return err
	}
	driveMap := map[string]string{}
	for _, d := range drives {
		l, dir, ok := strings.Cut(d, "=")
		l = strings.TrimSuffix(strings.ToUpper(l), ":")
		if !ok || len(l) != 1 || l[0] < 'A' || l[0] > 'Z' || dir == "" {
			return usageError{fmt.Sprintf("--drive %q: want LETTER=DIR, e.g. D=/mnt/d", d)}
		}
		driveMap[l] = dir
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	render := &agent.ConsoleRenderer{W: stderr}
	runOpts := agent.RunOptions{
		INFPath: *infPath, Root: *root, DiskImages: disks, NoDevices: *noDevices,
		DriveMap: driveMap, LogPath: *logPath, Interactive: isTerminal(os.Stdin), Threads: *threads, UploadRetries: *retries,
	}
	res, err := agent.Run(ctx, runOpts, render.Observer())
	if err != nil {
		if errors.Is(err, agent.ErrNeedsWizard) {
			if !runOpts.Interactive {
				return exitError{exitUsage, fmt.Errorf("%w; standard input is not a terminal, so the wizard cannot run: complete WDSCapture.inf and set Unattended=Yes", err)}
			}
			res, err = runWizard(ctx, runOpts)
		}
		if err != nil {
			return captureExit(err)
		}
	}
	fmt.Fprintf(stdout, "%s: image %d %q captured and %s (%s, %d files)\n", res.Dest, res.Image.Index, res.Image.Name,
		map[bool]string{true: "verified", false: "not verified"}[res.Verified], humanize.Bytes(uint64(res.Size)), res.Image.FileCount)
	if res.Upload != nil {
		printUploaded(stdout, res.Upload)
	}
	if hint := unusedHint(res); hint != "" {
		fmt.Fprintln(stderr, hint)
	}
	return nil
}

// runWizard shows the terminal Image Capture Wizard: the settings are
// loaded again (quietly) and the wizard asks for what they lack.
func runWizard(ctx context.Context, o agent.RunOptions) (*agent.Result, error) {
	settings, err := agent.LoadSettings(o, agent.Observer{})
	if err != nil {
		return nil, err
	}
	out := os.Stdout
	if !isTerminal(out) {
		out = os.Stderr // stdout is redirected: draw on the terminal
	}
	res, err := wizard.Run(ctx, wizard.Options{Settings: settings, INFPath: settings.Source, Run: o}, os.Stdin, out)
	if errors.Is(err, wizard.ErrCanceled) {
		return nil, exitError{exitInterrupted, err}
	}
	return res, err
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
