package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/internal/humanize"
)

func runOptimize(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("optimize", "FILE.wim",
		"Rewrite FILE.wim without dead space: the blob tables, XML data and integrity\ntables that earlier appends replaced, and whatever interrupted writes left at\nthe end. Resources are copied as stored (nothing is recompressed); the new\nfile is written beside the old one, verified in full and only then renamed\nover it, so an interruption or a crash leaves the old WIM as it was. The\nGUID, images and boot index are kept; an integrity table is kept when there\nis one.", stderr)
	check := fs.Bool("check", false, "add an integrity table when the WIM has none")
	threads := fs.Int("threads", 0, fmt.Sprintf("goroutines verifying the new file (0 = all cores, at most %d)", images.MaxThreads))
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"optimize takes FILE.wim"}
	}
	if err := checkThreads(*threads); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	before, after, err := images.Optimize(ctx, pos[0], images.OptimizeOptions{Integrity: *check, Threads: *threads})
	if err != nil {
		var ie *images.IntegrityError
		var ve *images.VerifyError
		switch {
		case ctx.Err() != nil:
			return exitError{exitInterrupted, fmt.Errorf("%s: interrupted; the WIM is unchanged", pos[0])}
		case errors.Is(err, images.ErrFormat) || errors.As(err, &ie) || errors.As(err, &ve):
			return exitError{exitVerifyFailed, err}
		}
		return err
	}
	fmt.Fprintf(stdout, "%s: %s -> %s (%s of dead space removed), verified\n", pos[0],
		humanize.Bytes(uint64(before.Size)), humanize.Bytes(uint64(after.Size)), humanize.Bytes(uint64(max(0, before.Size-after.Size))))
	return nil
}
