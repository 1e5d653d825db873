package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/wdscapture/wdscapture/images"
)

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("info", "FILE.wim [INDEX]", "Show the WIM's header facts and its images' XML information.", stderr)
	xml := fs.Bool("xml", false, "print each image's <WINDOWS> XML element too")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError{"info takes FILE.wim and an optional INDEX"}
	}
	r, err := images.Open(pos[0])
	if err != nil {
		return err
	}
	defer r.Close()
	imgs := r.Images()
	if len(pos) == 1 {
		g := r.GUID()
		fmt.Fprintf(stdout, "Path:        %s\nGUID:        %x\nImages:      %d\nCompression: %v\nChunk size:  %d\nBoot index:  %d\nIntegrity:   %v\n",
			pos[0], g, len(imgs), r.Compression(), images.ChunkSize, r.BootIndex(), yesNo(r.HasIntegrity()))
	}
	for _, im := range imgs {
		if len(pos) == 2 {
			idx, err := strconv.Atoi(pos[1])
			if err != nil {
				return usageError{fmt.Sprintf("INDEX %q is not a number", pos[1])}
			}
			if idx < 1 || idx > len(imgs) {
				return fmt.Errorf("%s has no image %d (it has %d)", pos[0], idx, len(imgs))
			}
			if im.Index != idx {
				continue
			}
		}
		fmt.Fprintf(stdout, "\nIndex:            %d\nName:             %s\nDescription:      %s\nDirectories:      %d\nFiles:            %d\nTotal bytes:      %d\nHard link bytes:  %d\n",
			im.Index, im.Name, im.Description, im.DirCount, im.FileCount, im.TotalBytes, im.HardLinkBytes)
		if im.Flags != "" {
			fmt.Fprintf(stdout, "Flags:            %s\n", im.Flags)
		}
		if im.DisplayName != "" {
			fmt.Fprintf(stdout, "Display name:     %s\n", im.DisplayName)
		}
		if *xml && im.WindowsXML != "" {
			fmt.Fprintf(stdout, "Windows:          %s\n", im.WindowsXML)
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func runDir(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dir", "FILE.wim INDEX", "List every path of an image, one a line, like wimdir.", stderr)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{"dir takes FILE.wim and INDEX"}
	}
	idx, err := strconv.Atoi(pos[1])
	if err != nil {
		return usageError{fmt.Sprintf("INDEX %q is not a number", pos[1])}
	}
	r, err := images.Open(pos[0])
	if err != nil {
		return err
	}
	defer r.Close()
	img, err := r.Image(idx)
	if err != nil {
		return err
	}
	return images.Walk(img.Root, func(d *images.Dentry) error {
		p := d.Path()
		if d.Parent != nil {
			p = p[1:]
		} else {
			p = "/"
		}
		if d.Parent != nil {
			p = "/" + toSlash(p)
		}
		_, err := fmt.Fprintln(stdout, p)
		return err
	})
}

func toSlash(p string) string {
	b := []byte(p)
	for i, c := range b {
		if c == '\\' {
			b[i] = '/'
		}
	}
	return string(b)
}

func runVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", "FILE.wim", "Check the integrity table, every image's metadata and every stream's SHA-1.", stderr)
	threads := fs.Int("threads", 0, "goroutines checking streams (0 = one per core, at most 64)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"verify takes FILE.wim"}
	}
	if err := checkThreads(*threads); err != nil {
		return err
	}
	err = images.Verify(pos[0], images.VerifyOptions{Threads: *threads})
	if err != nil {
		var ve *images.VerifyError
		if errors.As(err, &ve) || errors.Is(err, images.ErrFormat) {
			return exitError{exitVerifyFailed, err}
		}
		return err
	}
	fmt.Fprintf(stdout, "%s: OK\n", pos[0])
	return nil
}
