package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/internal/humanize"
)

func runCapture(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("capture", "SRC DEST.wim --name NAME [flags]",
		"Capture SRC (a directory, or an NTFS volume: a partition image or block\ndevice, read raw and never mounted or written) into DEST.wim. The file appears under its name\nonly when it is complete; with --append the existing images stay valid\neven if the capture fails or is interrupted.", stderr)
	name := fs.String("name", "", "image name (required; unique within the WIM)")
	desc := fs.String("description", "", "image description")
	compress := fs.String("compress", "xpress", "compression: none, xpress or lzx (with --append: the WIM's own)")
	level := fs.Int("level", 0, "codec level (0 = default)")
	threads := fs.Int("threads", 0, "compression threads (0 = all cores)")
	check := fs.Bool("check", false, "write the SHA-1 integrity table")
	appendFlag := fs.Bool("append", false, "add the image to an existing WIM")
	overwrite := fs.Bool("overwrite", false, "replace DEST.wim if it exists (only once the new one is complete)")
	boot := fs.Bool("boot", false, "mark the new image as the bootable one")
	verify := fs.Bool("verify", true, "re-read the written WIM and check every stream")
	flagsXML := fs.String("flags", "", "the image's FLAGS element (e.g. the edition)")
	quiet := fs.Bool("quiet", false, "print only errors and the final line")
	allowDirty := fs.Bool("allow-dirty", false, "capture an NTFS volume whose dirty flag is set (chkdsk is the better fix)")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the capture to this file (for performance work)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{"capture takes SRC and DEST.wim"}
	}
	if *name == "" {
		return usageError{"capture needs --name"}
	}
	comp, err := images.ParseCompression(*compress)
	if err != nil {
		return usageError{"--compress: " + err.Error()}
	}
	compressSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "compress" {
			compressSet = true
		}
	})
	if *appendFlag && !compressSet {
		r, err := images.Open(pos[1])
		if err != nil {
			return err
		}
		comp = r.Compression()
		r.Close()
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	render := &agent.ConsoleRenderer{W: stderr}
	obs := render.Observer()
	if *quiet {
		obs = agent.Observer{}
	}
	res, err := agent.Capture(ctx, agent.CaptureRequest{
		Source: agent.SourceSpec{Path: pos[0]}, Dest: pos[1],
		Image:       images.ImageOptions{Name: *name, Description: *desc, Boot: *boot, Flags: *flagsXML},
		Compression: comp, Level: *level, Threads: *threads, Integrity: *check,
		Append: *appendFlag, Overwrite: *overwrite, Verify: *verify, AllowDirty: *allowDirty,
	}, log, obs)
	if err != nil {
		return captureExit(err)
	}
	ratio := 0.0
	if res.Image.TotalBytes > 0 {
		ratio = float64(res.Size) / float64(res.Image.TotalBytes) * 100
	}
	fmt.Fprintf(stdout, "%s: image %d %q captured (%d files, %d directories, %s of data, WIM %s = %.1f%%, %s)\n",
		res.Dest, res.Image.Index, res.Image.Name, res.Image.FileCount, res.Image.DirCount,
		humanize.Bytes(res.Image.TotalBytes), humanize.Bytes(uint64(res.Size)), ratio,
		map[bool]string{true: "verified", false: "not verified"}[res.Verified])
	return nil
}

func captureExit(err error) error {
	var ce *agent.CaptureError
	if errors.As(err, &ce) {
		code := map[agent.ErrorKind]int{
			agent.KindCapture: exitFailure, agent.KindSettings: exitUsage, agent.KindNothing: exitNothing,
			agent.KindVerify: exitVerifyFailed, agent.KindUpload: exitUpload, agent.KindInterrupted: exitInterrupted,
		}[ce.Kind]
		if code == 0 {
			code = exitFailure
		}
		return exitError{code, err}
	}
	return err
}
