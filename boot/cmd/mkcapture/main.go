// Command mkcapture builds the capture boot media (see package boot):
//
//	mkcapture -out build/capture -init bin/wdsinit -agent bin/wdscapture-static [-inf WDSCapture.inf] [-fingerprint SHA256]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/wdscapture/wdscapture/boot"
	"github.com/wdscapture/wdscapture/boot/debpkg"
	"github.com/wdscapture/wdscapture/boot/initramfs"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkcapture:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkcapture", flag.ContinueOnError)
	var o boot.Options
	fs.StringVar(&o.Out, "out", "build/capture", "output `directory`")
	fs.StringVar(&o.Kernel, "kernel", boot.DefaultKernel, "Debian kernel `package` (a meta-package is resolved to its current version)")
	fs.StringVar(&o.Init, "init", "", "statically linked wdsinit `binary` (required)")
	fs.StringVar(&o.Agent, "agent", "", "statically linked wdscapture `binary` (required)")
	fs.StringVar(&o.INF, "inf", "", "WDSCapture.inf to bake in at X:\\Windows\\System32")
	fs.StringVar(&o.Fingerprint, "fingerprint", "", "the image store's certificate SHA-256 (hex) to bake in")
	fs.StringVar(&o.Version, "version", "dev", "build name shown at boot")
	fs.BoolVar(&o.ISO, "iso", true, "write capture.iso (BIOS and UEFI, Secure Boot)")
	fs.BoolVar(&o.NoHybrid, "no-hybrid", false, "leave the ISO without isohybrid's MBR (CD only)")
	fs.BoolVar(&o.PXE, "pxe", true, "write the PXE tree (pxe/)")
	fs.StringVar(&o.Cmdline, "append", "", "kernel command line `options` for every boot entry (wds.* options: see README)")
	fs.BoolVar(&o.SerialFirst, "serial", false, "make the serial console (ttyS0) the default boot entry")
	fs.IntVar(&o.MenuTimeout, "timeout", 5, "boot menu timeout in `seconds` (0: boot at once)")
	cache := fs.String("cache", "", "Debian package cache `directory` (default ~/.cache/wdscapture-boot)")
	comp := fs.String("compress", "zstd", "initramfs compression: zstd, gzip or none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Init == "" || o.Agent == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-init and -agent are required, and no arguments are taken")
	}
	o.Compression = initramfs.Compression(*comp)
	if o.MenuTimeout == 0 {
		o.MenuTimeout = -1
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	dir := *cache
	if dir == "" {
		d, err := debpkg.DefaultDir()
		if err != nil {
			return err
		}
		dir = d
	}
	o.Cache = &debpkg.Cache{Dir: dir, Log: log}
	o.Log = os.Stdout
	out, err := boot.Build(context.Background(), o)
	if err != nil {
		return err
	}
	fmt.Printf("kernel    %s  %.1f MiB  (%s)\n", out.Kernel, float64(out.KernelSize)/(1<<20), out.KernelPackage)
	fmt.Printf("initramfs %s  %.1f MiB  (%d modules)\n", out.Initrd, float64(out.Initramfs.Size)/(1<<20), out.Initramfs.Modules)
	if out.ISO != "" {
		fmt.Printf("ISO       %s  %.1f MiB\n", out.ISO, float64(out.ISOSize)/(1<<20))
	}
	if out.PXE != "" {
		fmt.Printf("PXE tree  %s/\n", out.PXE)
	}
	return nil
}
