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
	"strings"
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
	level := fs.Int("level", 0, "codec level: 1 fast, 2 default, 3 smallest (0 = the default)")
	threads := fs.Int("threads", 0, threadsUsage)
	check := fs.Bool("check", false, "write the SHA-1 integrity table")
	appendFlag := fs.Bool("append", false, "add the image to an existing WIM")
	overwrite := fs.Bool("overwrite", false, "replace DEST.wim if it exists (only once the new one is complete)")
	boot := fs.Bool("boot", false, "mark the new image as the bootable one")
	verify := fs.Bool("verify", true, "verify while writing: decompress every chunk and compare it with the source,\nread every written byte back from the disk (see README, \"What verified means\")")
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
	if err := checkThreads(*threads); err != nil {
		return err
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
	if err := checkLevel(*level, comp); err != nil {
		return err
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
	fmt.Fprintf(stdout, "%s: image %d %q captured (%s)\n", res.Dest, res.Image.Index, res.Image.Name, summary(res))
	if hint := unusedHint(res); hint != "" {
		fmt.Fprintln(stderr, hint)
	}
	return nil
}

// summary describes a finished capture: counts, sizes and a ratio that
// means something. A new WIM's size is compared with the image's data; an
// appended image is described by how much it added to the file (what it
// did not share with the images already there), never by the whole
// file's size over its own data.
func summary(res *agent.Result) string {
	parts := []string{
		fmt.Sprintf("%d files, %d directories, %s of data", res.Image.FileCount, res.Image.DirCount, humanize.Bytes(res.Image.TotalBytes)),
	}
	switch {
	case res.Appended:
		parts = append(parts, fmt.Sprintf("WIM %s, %s added", humanize.Bytes(uint64(res.Size)), humanize.Bytes(uint64(res.Added))))
	case res.Image.TotalBytes >= 1<<20:
		parts = append(parts, fmt.Sprintf("WIM %s = %.1f%% of the data", humanize.Bytes(uint64(res.Size)), float64(res.Size)/float64(res.Image.TotalBytes)*100))
	default: // tiny data: the WIM's own structures dominate, a ratio misleads
		parts = append(parts, "WIM "+humanize.Bytes(uint64(res.Size)))
	}
	parts = append(parts, map[bool]string{true: "verified", false: "not verified"}[res.Verified])
	return strings.Join(parts, ", ")
}

// unusedHint suggests optimize when a WIM carries much dead space.
func unusedHint(res *agent.Result) string {
	if res.Unused < 16<<20 || res.Unused < res.Size/10 {
		return ""
	}
	return fmt.Sprintf("note: %s of %s is unused (left by earlier appends or interrupted writes); 'wdscapture optimize %s' removes it", humanize.Bytes(uint64(res.Unused)), res.Dest, res.Dest)
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
