// Package iso writes the capture image as one ISO 9660 file that boots
// with BIOS (isolinux, El Torito no-emulation) and UEFI (an El Torito EFI
// system partition image holding Debian's signed shim and GRUB, so that
// Secure Boot need not be switched off), built with
// github.com/diskfs/go-diskfs. Written to a USB stick after Hybrid (which
// runs syslinux's isohybrid), the same file boots as a disk.
//
// The EFI partition image is a small FAT made with mkfs.fat and mcopy:
// go-diskfs formats only FAT32, whose minimum size (about 33 MiB) would
// more than double the ISO.
package iso

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// VolumeID is the ISO's volume label.
const VolumeID = "WDSCAPTURE"

// Spec is what goes on the ISO.
type Spec struct {
	Kernel, Initrd string
	// Isolinux and Ldlinux are isolinux.bin (package isolinux) and
	// ldlinux.c32 (syslinux-common).
	Isolinux, Ldlinux string
	// Shim and Grub are shimx64.efi.signed (shim-signed) and
	// gcdx64.efi.signed (grub-efi-amd64-signed); both empty leaves UEFI
	// out.
	Shim, Grub string
	// Cmdline is added to every entry's kernel command line.
	Cmdline string
	// SerialFirst makes the serial-console entry the default (labs,
	// servers without a screen).
	SerialFirst bool
	// Timeout is how long the boot menus wait, in seconds; 0 boots the
	// default entry at once.
	Timeout int
	// Info is the text of /.disk/info (GRUB finds the ISO by that file).
	Info string
	// Extra maps ISO paths to files put on the ISO as they are.
	Extra map[string]string
}

// Entry is one boot menu entry.
type Entry struct {
	Label, Title, Console string
}

// Entries returns the menu entries, default first.
func (s *Spec) Entries() []Entry {
	screen := Entry{"screen", "wdscapture capture environment", "console=ttyS0,115200n8 console=tty0"}
	serial := Entry{"serial", "wdscapture capture environment, serial console (ttyS0, 115200 baud)", "console=tty0 console=ttyS0,115200n8"}
	if s.SerialFirst {
		return []Entry{serial, screen}
	}
	return []Entry{screen, serial}
}

// IsolinuxCfg returns isolinux.cfg (or pxelinux.cfg/default); dir is
// where vmlinuz and initrd.img are ("/boot/" on the ISO, "" beside
// pxelinux.0).
func (s *Spec) IsolinuxCfg(dir string) string {
	var b strings.Builder
	es := s.Entries()
	fmt.Fprintf(&b, "DEFAULT %s\n", es[0].Label)
	if s.Timeout > 0 {
		fmt.Fprintf(&b, "PROMPT 1\nTIMEOUT %d\n", s.Timeout*10)
		for _, e := range es {
			fmt.Fprintf(&b, "SAY %-8s %s\n", e.Label, e.Title)
		}
		fmt.Fprintf(&b, "SAY Press Enter for %q or type a name; starting %s in %d s.\n", es[0].Label, es[0].Label, s.Timeout)
	} else {
		b.WriteString("PROMPT 0\nTIMEOUT 0\n")
	}
	b.WriteString("SERIAL 0 115200\n")
	for _, e := range es {
		fmt.Fprintf(&b, "LABEL %s\n  KERNEL %svmlinuz\n  INITRD %sinitrd.img\n  APPEND %s\n", e.Label, dir, dir, strings.TrimSpace(e.Console+" "+s.Cmdline))
	}
	return b.String()
}

// GrubCfg returns grub.cfg (UEFI); dir is where vmlinuz and initrd.img
// are ("/boot/" on the ISO, "/" on a TFTP server).
func (s *Spec) GrubCfg(dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "set default=0\nset timeout=%d\n", s.Timeout)
	b.WriteString("if serial --unit=0 --speed=115200; then\n  terminal_input --append serial\n  terminal_output --append serial\nfi\n")
	for _, e := range s.Entries() {
		fmt.Fprintf(&b, "menuentry %q {\n  linux %svmlinuz %s\n  initrd %sinitrd.img\n}\n", e.Title, dir, strings.TrimSpace(e.Console+" "+s.Cmdline), dir)
	}
	return b.String()
}

func fileSize(p string) (int64, error) {
	st, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Write writes the ISO to out (replacing it) and returns its size.
func Write(out string, s Spec, work string) (int64, error) {
	files := map[string]string{ // ISO path → source file
		"/boot/vmlinuz":          s.Kernel,
		"/boot/initrd.img":       s.Initrd,
		"/isolinux/isolinux.bin": s.Isolinux,
		"/isolinux/ldlinux.c32":  s.Ldlinux,
	}
	texts := map[string]string{
		"/isolinux/isolinux.cfg": s.IsolinuxCfg("/boot/"),
		"/.disk/info":            s.Info + "\n",
	}
	uefi := s.Shim != "" || s.Grub != ""
	if uefi {
		if s.Shim == "" || s.Grub == "" {
			return 0, fmt.Errorf("UEFI needs both shim and GRUB")
		}
		esp := filepath.Join(work, "efi.img")
		if err := makeESP(esp, s.Shim, s.Grub); err != nil {
			return 0, err
		}
		files["/boot/efi.img"] = esp
		// The same loaders in the ISO tree, for sticks made by copying files.
		files["/EFI/BOOT/BOOTX64.EFI"] = s.Shim
		files["/EFI/BOOT/grubx64.efi"] = s.Grub
		texts["/boot/grub/grub.cfg"] = s.GrubCfg("/boot/")
	}
	for p, src := range s.Extra {
		files[p] = src
	}
	var total int64
	for p, src := range files {
		n, err := fileSize(src)
		if err != nil {
			return 0, fmt.Errorf("ISO file %s: %w", p, err)
		}
		total += n
	}
	// go-diskfs needs the size up front; the file is cut to the image's
	// real size afterwards.
	size := (total + int64(len(files)+len(texts))*4096 + 4<<20 + 2047) / 2048 * 2048
	tmp := out + ".tmp"
	os.Remove(tmp)
	d, err := diskfs.Create(tmp, size, diskfs.SectorSizeDefault)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", tmp, err)
	}
	defer os.Remove(tmp)
	d.LogicalBlocksize = 2048
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 0, FSType: filesystem.TypeISO9660, VolumeLabel: VolumeID, WorkDir: work})
	if err != nil {
		return 0, fmt.Errorf("ISO file system: %w", err)
	}
	put := func(p string, data []byte) error {
		if err := fs.Mkdir(path.Dir(p)); err != nil {
			return fmt.Errorf("ISO mkdir %s: %w", path.Dir(p), err)
		}
		f, err := fs.OpenFile(p, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return fmt.Errorf("ISO file %s: %w", p, err)
		}
		if _, err := f.Write(data); err != nil {
			return fmt.Errorf("ISO file %s: %w", p, err)
		}
		return f.Close()
	}
	for p, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			return 0, err
		}
		if err := put(p, b); err != nil {
			return 0, err
		}
	}
	for p, text := range texts {
		if err := put(p, []byte(text)); err != nil {
			return 0, err
		}
	}
	bios := &iso9660.ElToritoEntry{Platform: iso9660.BIOS, Emulation: iso9660.NoEmulation, BootFile: "/isolinux/isolinux.bin", BootTable: true}
	bios.SetLoadSize(4)
	et := &iso9660.ElTorito{BootCatalog: "/isolinux/boot.cat", Entries: []*iso9660.ElToritoEntry{bios}}
	if uefi {
		et.Entries = append(et.Entries, &iso9660.ElToritoEntry{Platform: iso9660.EFI, Emulation: iso9660.NoEmulation, BootFile: "/boot/efi.img"})
	}
	isofs, ok := fs.(*iso9660.FileSystem)
	if !ok {
		return 0, fmt.Errorf("go-diskfs returned a %T, not an ISO 9660 file system", fs)
	}
	if err := isofs.Finalize(iso9660.FinalizeOptions{RockRidge: true, ElTorito: et, VolumeIdentifier: VolumeID}); err != nil {
		return 0, fmt.Errorf("ISO finalize: %w", err)
	}
	used, err := volumeSpace(tmp)
	if err != nil {
		return 0, err
	}
	if err := os.Truncate(tmp, used); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, err
	}
	return used, nil
}

// volumeSpace reads the size the primary volume descriptor records.
func volumeSpace(p string) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	pvd := make([]byte, 2048)
	if _, err := f.ReadAt(pvd, 16*2048); err != nil {
		return 0, fmt.Errorf("read the ISO's volume descriptor: %w", err)
	}
	if pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return 0, fmt.Errorf("the ISO has no primary volume descriptor")
	}
	blocks := int64(pvd[80]) | int64(pvd[81])<<8 | int64(pvd[82])<<16 | int64(pvd[83])<<24
	bs := int64(pvd[128]) | int64(pvd[129])<<8
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if used := blocks * bs; used > 0 && used <= st.Size() {
		return used, nil
	}
	return st.Size(), nil
}

// makeESP writes a FAT image holding \EFI\BOOT\BOOTX64.EFI (shim) and
// \EFI\BOOT\grubx64.efi, sized to fit.
func makeESP(out, shim, grub string) error {
	a, err := fileSize(shim)
	if err != nil {
		return err
	}
	b, err := fileSize(grub)
	if err != nil {
		return err
	}
	kib := (a+b)/1024 + 512 // FAT and directories
	os.Remove(out)
	if o, err := exec.Command("mkfs.fat", "-C", "-n", "WDSCAPTURE", out, fmt.Sprint(kib)).CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.fat (dosfstools): %v: %s", err, o)
	}
	for _, c := range [][]string{
		{"mmd", "-i", out, "::/EFI", "::/EFI/BOOT"},
		{"mcopy", "-i", out, shim, "::/EFI/BOOT/BOOTX64.EFI"},
		{"mcopy", "-i", out, grub, "::/EFI/BOOT/grubx64.efi"},
	} {
		if o, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s (mtools): %v: %s", c[0], err, o)
		}
	}
	return nil
}

// Hybrid makes an ISO bootable from a USB stick as well (BIOS and UEFI):
// syslinux's isohybrid writes an MBR with the isolinux boot code and a
// partition for the EFI image.
func Hybrid(isoPath string, uefi bool) error {
	args := []string{}
	if uefi {
		args = append(args, "--uefi")
	}
	args = append(args, isoPath)
	var stderr bytes.Buffer
	cmd := exec.Command("isohybrid", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("isohybrid (syslinux-utils): %v: %s", err, stderr.String())
	}
	return nil
}
