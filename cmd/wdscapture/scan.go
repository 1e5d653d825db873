package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/wdscapture/wdscapture/agent"
)

func runScan(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("scan", "[--json] [DISK-IMAGE...]",
		"List the local disks (from /sys/block) and any disk image files given, their\npartitions, the drive letters Windows PE would assign, file systems, and the\noffline Windows each NTFS volume holds with its Sysprep state. Nothing is\nmounted or written. --json prints the stable JSON documented in scan/JSON.md.\nThe exit code is 1 when a disk image given could not be read (missing, a\ndirectory, a FIFO...); the report still lists it with the error.", stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	noDevices := fs.Bool("no-devices", false, "scan only the disk image files given, not /sys/block")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *noDevices && len(pos) == 0 {
		return usageError{"scan --no-devices needs at least one DISK-IMAGE"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, err := agent.Discover(ctx, !*noDevices, pos, log)
	if err != nil {
		if ctx.Err() != nil {
			return exitError{exitInterrupted, fmt.Errorf("scan interrupted")}
		}
		return err
	}
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	// An image file that could not even be opened has no table.
	var unread []string
	for _, d := range rep.Disks {
		if d.Source == "image" && d.Table == "" && d.Error != "" {
			unread = append(unread, d.Error)
		}
	}
	if len(unread) > 0 {
		return fmt.Errorf("%d of %d disk images could not be read: %s", len(unread), len(pos), strings.Join(unread, "; "))
	}
	return nil
}
