// Package boot builds the capture boot media: a Debian kernel, an
// initramfs holding the environment's init (package pid1), wdscapture,
// busybox and the drivers a reference PC needs, and from these an ISO
// that boots with BIOS and UEFI (Secure Boot too, through Debian's signed
// shim, GRUB and kernel) and a PXE tree.
//
// Everything comes from Debian packages (fetched with apt-get download and
// unpacked, never installed; see package debpkg) and Go.
package boot

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wdscapture/wdscapture/boot/debpkg"
	"github.com/wdscapture/wdscapture/boot/initramfs"
	"github.com/wdscapture/wdscapture/boot/iso"
	"github.com/wdscapture/wdscapture/boot/kmod"
	"github.com/wdscapture/wdscapture/boot/pid1"
	"github.com/wdscapture/wdscapture/boot/pxe"
	"github.com/wdscapture/wdscapture/inf"
)

// Kernel packages.
const (
	// DefaultKernel is the kernel of the shipped image: the generic 6.12
	// flavour, with the drivers of real hardware (and ntfs3, which the
	// 6.1 kernels lack).
	DefaultKernel = "linux-image-6.12-amd64"
	// CloudKernel is the small virtual-machine flavour the lab and CI
	// use: faster to fetch and boot, with the virtio drivers and ntfs3.
	CloudKernel = "linux-image-6.12-cloud-amd64"
)

// DefaultSelection is the driver set of the image: storage (SATA/AHCI,
// NVMe, SCSI and SAS, virtio, USB mass storage, SD/eMMC, Hyper-V), wired
// network (Ethernet, USB Ethernet, virtio, Hyper-V, VMware), keyboards
// (HID, USB), entropy sources, and the file systems a destination may
// have. Modules a kernel lacks are left out (the cloud kernel has no
// e1000 or USB); ntfs3 is required.
var DefaultSelection = kmod.Selection{
	Dirs: []string{
		"kernel/drivers/ata",
		"kernel/drivers/nvme/host",
		"kernel/drivers/scsi",
		"kernel/drivers/block",
		"kernel/drivers/usb/host",
		"kernel/drivers/usb/storage",
		"kernel/drivers/mmc",
		"kernel/drivers/virtio",
		"kernel/drivers/hv",
		"kernel/drivers/net/ethernet",
		"kernel/drivers/net/usb",
		"kernel/drivers/net/hyperv",
		"kernel/drivers/net/vmxnet3",
		"kernel/drivers/char/hw_random",
		"kernel/drivers/hid",
	},
	Names: []string{
		"virtio_net", "net_failover", "failover", "e1000", "e1000e",
		"exfat", "vfat", "fat", "ext4", "nls_utf8", "nls_cp437", "nls_iso8859_1", "efivarfs", "isofs",
	},
	Required: []string{"ntfs3"},
	Load:     []string{"ntfs3", "exfat", "vfat", "ext4", "nls_utf8", "nls_cp437", "nls_iso8859_1", "efivarfs"},
}

// Options configure Build.
type Options struct {
	// Out is the output directory.
	Out string
	// Kernel is the kernel package (a meta-package is resolved to its
	// current ABI package); DefaultKernel when empty.
	Kernel string
	// Cache holds the Debian packages.
	Cache *debpkg.Cache
	// Init and Agent are the statically linked wdsinit and wdscapture.
	Init, Agent string
	// INF is a WDSCapture.inf to bake in, "" for none.
	INF string
	// Fingerprint is the image store's certificate SHA-256, hex (colons
	// allowed), "" for none.
	Fingerprint string
	// Selection overrides DefaultSelection when non-nil.
	Selection *kmod.Selection
	// Compression of the initramfs, zstd by default.
	Compression initramfs.Compression
	// Version names the build (shown at boot).
	Version string
	// ISO also writes capture.iso (BIOS and UEFI with Secure Boot),
	// made bootable from a USB stick by isohybrid unless NoHybrid.
	ISO      bool
	NoHybrid bool
	// PXE also writes the network boot tree into Out/pxe.
	PXE bool
	// Cmdline is added to the kernel command line of every menu entry.
	Cmdline string
	// SerialFirst makes the serial-console entry the default one.
	SerialFirst bool
	// MenuTimeout is how long the boot menus wait, in seconds (default 5;
	// negative boots the default entry at once).
	MenuTimeout int
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Output is what Build made.
type Output struct {
	Kernel        string // path of vmlinuz
	Initrd        string // path of initrd.img
	KernelRelease string
	KernelPackage string
	KernelSize    int64
	Initramfs     *initramfs.Result
	Packages      map[string]string // package → version
	ISO           string            // path of capture.iso, "" if not made
	ISOSize       int64
	PXE           string // the PXE tree, "" if not made
}

// ErrBadInput says an option is unusable.
var ErrBadInput = errors.New("bad build input")

// NormalizeFingerprint checks a SHA-256 fingerprint (64 hex digits,
// colons and blanks allowed) and returns it in lower-case hex.
func NormalizeFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s)))
	if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
		return "", fmt.Errorf("%w: fingerprint %q is not a SHA-256 (64 hex digits)", ErrBadInput, s)
	}
	return h, nil
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Build fetches the kernel and busybox and writes vmlinuz and initrd.img
// into o.Out.
func Build(ctx context.Context, o Options) (*Output, error) {
	if o.Kernel == "" {
		o.Kernel = DefaultKernel
	}
	if o.Cache == nil {
		dir, err := debpkg.DefaultDir()
		if err != nil {
			return nil, err
		}
		o.Cache = &debpkg.Cache{Dir: dir}
	}
	var infData []byte
	if o.INF != "" {
		b, err := os.ReadFile(o.INF)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		_, warns, err := inf.Parse(b, o.INF)
		for _, w := range warns {
			o.logf("warning: %s", w)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: the INF to bake in does not parse: %v", ErrBadInput, err)
		}
		infData = b
	}
	fp := ""
	if o.Fingerprint != "" {
		var err error
		if fp, err = NormalizeFingerprint(o.Fingerprint); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	k, err := o.Cache.Kernel(ctx, o.Kernel)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	o.logf("kernel: %s %s (release %s)", k.Name, k.Version, k.Release)
	bb, err := o.Cache.Fetch(ctx, "busybox-static")
	if err != nil {
		return nil, fmt.Errorf("busybox: %w", err)
	}
	busybox, err := bb.File("bin/busybox")
	if err != nil {
		return nil, err
	}
	tree, err := kmod.OpenTree(k.Modules)
	if err != nil {
		return nil, err
	}
	sel := DefaultSelection
	if o.Selection != nil {
		sel = *o.Selection
	}
	out := &Output{KernelRelease: k.Release, KernelPackage: k.Name,
		Packages: map[string]string{k.Name: k.Version, bb.Name: bb.Version}}
	info := pid1.BuildInfo{Version: o.Version, Built: time.Now().UTC().Format(time.RFC3339), Kernel: k.Release, Packages: out.Packages}
	infoJSON, _ := json.MarshalIndent(info, "", " ")

	out.Kernel = filepath.Join(o.Out, "vmlinuz")
	if err := copyPath(k.Vmlinuz, out.Kernel); err != nil {
		return nil, err
	}
	st, _ := os.Stat(out.Kernel)
	out.KernelSize = st.Size()

	out.Initrd = filepath.Join(o.Out, "initrd.img")
	tmp := out.Initrd + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	res, err := initramfs.Write(f, initramfs.Spec{
		Init: o.Init, Agent: o.Agent, Busybox: busybox, Modules: tree, Selection: sel,
		INF: infData, Fingerprint: fp, BuildInfo: infoJSON, Compression: o.Compression,
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, out.Initrd); err != nil {
		return nil, err
	}
	out.Initramfs = res
	if len(res.Missing) > 0 {
		o.logf("modules this kernel lacks (left out): %s", strings.Join(res.Missing, " "))
	}
	o.logf("initramfs: %d modules (%s), %s unpacked, %s compressed", res.Modules, human(res.ModuleBytes), human(res.Uncompressed), human(res.Size))
	if o.ISO || o.PXE {
		if err := buildMedia(ctx, &o, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loaderFiles are the boot loaders, by the package and path they come from.
var loaderFiles = []struct{ key, pkg, path string }{
	{"isolinux", "isolinux", "usr/lib/ISOLINUX/isolinux.bin"},
	{"ldlinux", "syslinux-common", "usr/lib/syslinux/modules/bios/ldlinux.c32"},
	{"pxelinux", "pxelinux", "usr/lib/PXELINUX/pxelinux.0"},
	{"shim", "shim-signed", "usr/lib/shim/shimx64.efi.signed"},
	{"grubcd", "grub-efi-amd64-signed", "usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed"},
	{"grubnet", "grub-efi-amd64-signed", "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"},
}

func buildMedia(ctx context.Context, o *Options, out *Output) error {
	files := map[string]string{}
	for _, lf := range loaderFiles {
		p, err := o.Cache.Fetch(ctx, lf.pkg)
		if err != nil {
			return fmt.Errorf("boot loader: %w", err)
		}
		out.Packages[p.Name] = p.Version
		f, err := p.File(lf.path)
		if err != nil {
			return err
		}
		files[lf.key] = f
	}
	timeout := o.MenuTimeout
	switch {
	case timeout == 0:
		timeout = 5
	case timeout < 0:
		timeout = 0
	}
	menu := iso.Spec{
		Kernel: out.Kernel, Initrd: out.Initrd, Isolinux: files["isolinux"], Ldlinux: files["ldlinux"],
		Shim: files["shim"], Grub: files["grubcd"], Cmdline: o.Cmdline, SerialFirst: o.SerialFirst, Timeout: timeout,
		Info: fmt.Sprintf("wdscapture capture environment %s (kernel %s)", o.Version, out.KernelRelease),
	}
	if o.ISO {
		work, err := os.MkdirTemp(o.Out, ".iso-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(work)
		out.ISO = filepath.Join(o.Out, "capture.iso")
		n, err := iso.Write(out.ISO, menu, work)
		if err != nil {
			return err
		}
		if !o.NoHybrid {
			if err := iso.Hybrid(out.ISO, true); err != nil {
				return err
			}
		}
		if st, err := os.Stat(out.ISO); err == nil {
			n = st.Size()
		}
		out.ISOSize = n
		o.logf("ISO: %s, %s (BIOS and UEFI with Secure Boot%s)", out.ISO, human(n), map[bool]string{false: "; isohybrid: also a USB stick image", true: ""}[o.NoHybrid])
	}
	if o.PXE {
		out.PXE = filepath.Join(o.Out, "pxe")
		if err := pxe.Write(out.PXE, pxe.Spec{Menu: menu, Pxelinux: files["pxelinux"], Ldlinux: files["ldlinux"], Shim: files["shim"], GrubNet: files["grubnet"]}); err != nil {
			return err
		}
		o.logf("PXE tree: %s (BIOS: %s, UEFI: %s)", out.PXE, pxe.BIOSLoader, pxe.UEFILoader)
	}
	return nil
}

func copyPath(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

func human(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
