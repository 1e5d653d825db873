// Command mklab writes a lab disk image: a raw GPT disk holding a
// synthetic, generalized Windows installation (see package lab).
//
//	mklab -o disk.img [-arch amd64] [-files 300] [-size 512] [-hibernated] ...
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/wdscapture/wdscapture/internal/lab"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mklab:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mklab", flag.ContinueOnError)
	var o lab.Options
	out := fs.String("o", "", "output disk image `path` (required)")
	langs := fs.String("languages", "en-US", "comma-separated UI `languages`; the first is the install language")
	fs.StringVar(&o.Arch, "arch", "amd64", "kernel32.dll architecture: amd64, 386 or arm64")
	fs.StringVar(&o.ProductName, "product", "Windows 11 Enterprise", "ProductName")
	fs.StringVar(&o.EditionID, "edition", "Enterprise", "EditionID")
	fs.StringVar(&o.InstallationType, "installation-type", "Client", "InstallationType: Client or Server")
	fs.StringVar(&o.ProductType, "product-type", "", "ProductType (default WinNT, ServerNT for a server)")
	fs.IntVar(&o.Major, "major", 0, "major version (with -minor and -build; all 0 = 10.0.22631; 0 with a build = Windows 7 style)")
	fs.IntVar(&o.Minor, "minor", 0, "minor version")
	fs.IntVar(&o.Build, "build", 0, "build number")
	fs.StringVar(&o.ImageState, "state", lab.StateGeneralizeOOBE, "ImageState in the SOFTWARE hive and State.ini")
	fs.StringVar(&o.StateINIState, "state-ini", "", "ImageState for State.ini only (sources that disagree)")
	fs.BoolVar(&o.Hibernated, "hibernated", false, "add a hiberfil.sys starting with HIBR")
	fs.BoolVar(&o.BitLocker, "bitlocker", false, "make the Windows partition BitLocker-encrypted (unreadable)")
	fs.BoolVar(&o.SecondWindows, "second-windows", false, "add a second, not generalized Windows partition")
	fs.BoolVar(&o.DataVolume, "data-volume", false, "add an empty NTFS partition labelled Data")
	fs.IntVar(&o.Files, "files", 300, "number of generated payload files")
	fs.IntVar(&o.SizeMiB, "size", 512, "disk size in MiB")
	fs.StringVar(&o.CacheDir, "cache", "", "directory for the cross-built kernel32.dll (default: user cache dir)")
	verbose := fs.Bool("v", false, "log progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("-o is required and no arguments are taken")
	}
	for _, l := range strings.Split(*langs, ",") {
		if l = strings.TrimSpace(l); l != "" {
			o.Languages = append(o.Languages, l)
		}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	return lab.Generate(*out, o)
}
