package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/wdscapture/wdscapture/agent"
)

func runScan(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("scan", "[--json] [DISK-IMAGE...]",
		"List the local disks (from /sys/block) and any disk image files given, their\npartitions, the drive letters Windows PE would assign, file systems, and the\noffline Windows each NTFS volume holds with its Sysprep state. Nothing is\nmounted or written. --json prints the stable JSON documented in scan/JSON.md.", stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	noDevices := fs.Bool("no-devices", false, "scan only the disk image files given, not /sys/block")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, err := agent.Discover(context.Background(), !*noDevices, pos, log)
	if err != nil {
		return err
	}
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}
