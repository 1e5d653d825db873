package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/internal/memsource"
)

const mib = 1 << 20

// Partition names written into the GPT (the lab's scan tests look for them).
const (
	NameESP      = "EFI system partition"
	NameMSR      = "Microsoft reserved partition"
	NameWindows  = "Windows"
	NameWindows2 = "Windows 2"
	NameData     = "Data"
	NameRecovery = "Recovery"
)

// partPlan is one partition of the disk being generated.
type partPlan struct {
	gptPart
	label string            // NTFS or FAT label
	kind  string            // "esp", "msr", "ntfs", "bitlocker"
	tree  *memsource.Source // NTFS content, nil for an empty volume
}

func (p *partPlan) offset() int64 { return int64(p.First) * sectorSize }
func (p *partPlan) size() int64   { return int64(p.Last-p.First+1) * sectorSize }

// Partition describes one partition of a generated disk.
type Partition struct {
	// Name is the GPT partition name (NameESP, NameWindows, ...).
	Name string
	// Type is the GPT type GUID (TypeESP, TypeMSR, TypeBasic, TypeRecovery).
	Type string
	// FirstLBA and LastLBA are the 512-byte sectors it spans (inclusive).
	FirstLBA, LastLBA uint64
	// Attributes are the GPT attribute bits.
	Attributes uint64
	// Label is the file system label ("" for the MSR).
	Label string
	// Kind is "esp" (FAT32), "msr" (no file system), "ntfs" or
	// "bitlocker" (an encrypted-looking Windows volume).
	Kind string
}

// Offset returns the partition's byte offset in the disk image.
func (p Partition) Offset() int64 { return int64(p.FirstLBA) * sectorSize }

// Size returns the partition's size in bytes.
func (p Partition) Size() int64 { return int64(p.LastLBA-p.FirstLBA+1) * sectorSize }

// Layout returns the partitions Generate writes for o, in table order.
func Layout(o Options) ([]Partition, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	parts, _, err := plan(o)
	if err != nil {
		return nil, err
	}
	out := make([]Partition, len(parts))
	for i, p := range parts {
		out[i] = Partition{Name: p.Name, Type: p.Type, FirstLBA: p.First, LastLBA: p.Last, Attributes: p.Attributes, Label: p.label, Kind: p.kind}
	}
	return out, nil
}

// minSizeMiB is the smallest disk the options fit on.
func minSizeMiB(o Options) int {
	n := 1 + 36 + 16 + 48 + 16 + 1
	if o.SecondWindows {
		n += 48
	}
	if o.DataVolume {
		n += 32
	}
	return n
}

// plan lays out the partitions, 1 MiB aligned: ESP, MSR, Windows,
// [Windows 2], [Data], Recovery (at the end, as Windows 11 does).
func plan(o Options) ([]*partPlan, uint64, error) {
	total := uint64(o.SizeMiB) * mib / sectorSize
	big := o.SizeMiB >= 400
	espMiB, recMiB, win2MiB, dataMiB := 36, 16, 48, 32
	if big {
		espMiB, recMiB, win2MiB, dataMiB = 100, 64, 96, 64
	}
	const align = mib / sectorSize
	var parts []*partPlan
	next := uint64(align)
	add := func(typ, name, label, kind string, miB int, attrs uint64) *partPlan {
		p := &partPlan{gptPart: gptPart{Type: typ, GUID: randomGUID(), Name: name, First: next, Attributes: attrs}, label: label, kind: kind}
		p.Last = next + uint64(miB)*align - 1
		next = p.Last + 1
		parts = append(parts, p)
		return p
	}
	add(TypeESP, NameESP, "SYSTEM", "esp", espMiB, 0)
	add(TypeMSR, NameMSR, "", "msr", 16, 0)
	// Windows gets what the others leave, minus the last MiB (backup GPT).
	winMiB := o.SizeMiB - 2 - espMiB - 16 - recMiB
	if o.SecondWindows {
		winMiB -= win2MiB
	}
	if o.DataVolume {
		winMiB -= dataMiB
	}
	if winMiB < 48 {
		return nil, 0, fmt.Errorf("lab: a %d MiB disk leaves %d MiB for Windows (need 48)", o.SizeMiB, winMiB)
	}
	kind := "ntfs"
	if o.BitLocker {
		kind = "bitlocker"
	}
	add(TypeBasic, NameWindows, "Windows", kind, winMiB, 0)
	if o.SecondWindows {
		add(TypeBasic, NameWindows2, "Windows2", "ntfs", win2MiB, 0)
	}
	if o.DataVolume {
		add(TypeBasic, NameData, "Data", "ntfs", dataMiB, 0)
	}
	add(TypeRecovery, NameRecovery, "Recovery", "ntfs", recMiB, recoveryAttributes)
	return parts, total, nil
}

// Generate writes a raw GPT disk image of the machine o describes at path.
// The file appears only when complete (temporary file + rename) and is
// sparse. It needs mkntfs (ntfs-3g) and wimapply (wimlib) in PATH.
func Generate(path string, o Options) error {
	return GenerateContext(context.Background(), path, o)
}

// GenerateContext is Generate with a context that cancels the WIM writing.
func GenerateContext(ctx context.Context, path string, o Options) (err error) {
	o, err = o.withDefaults()
	if err != nil {
		return err
	}
	start := time.Now()
	for _, tool := range []string{"mkntfs", "wimapply"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("lab: %s is needed to fill NTFS volumes without mounting (install ntfs-3g and wimtools): %w", tool, err)
		}
	}
	parts, total, err := plan(o)
	if err != nil {
		return err
	}
	for _, p := range parts {
		switch {
		case p.Name == NameWindows && !o.BitLocker:
			if p.tree, err = tree(o); err != nil {
				return err
			}
		case p.Name == NameWindows2:
			if p.tree, err = tree(o.secondOptions()); err != nil {
				return err
			}
		}
		if p.tree != nil {
			if need := treeSize(p.tree); need+need/4+16*mib > p.size() {
				return fmt.Errorf("lab: partition %q of %d MiB is too small for %d MiB of files; use a bigger SizeMiB or fewer Files", p.Name, p.size()/mib, need/mib)
			}
		}
	}

	dir := filepath.Dir(path)
	work, err := os.MkdirTemp(dir, ".mklab-")
	if err != nil {
		return fmt.Errorf("lab: work directory: %w", err)
	}
	defer os.RemoveAll(work)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := tmp.Truncate(int64(total) * sectorSize); err != nil {
		return fmt.Errorf("lab: sizing %s: %w", tmp.Name(), err)
	}
	gparts := make([]gptPart, len(parts))
	for i, p := range parts {
		gparts[i] = p.gptPart
	}
	if err := writeGPT(tmp, total, gparts); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	pe := kernel32(o)
	for i, p := range parts {
		switch p.kind {
		case "esp":
			err = writeESP(tmp, p, o.Arch, pe)
		case "bitlocker":
			err = writeBitLocker(tmp, p)
		case "ntfs":
			err = writeNTFS(ctx, tmp, p, filepath.Join(work, fmt.Sprintf("part%d", i+1)), o)
		}
		if err != nil {
			return fmt.Errorf("lab: partition %d (%s): %w", i+1, p.Name, err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	tmp = nil
	o.Logger.Info("lab disk written", "path", path, "size_mib", o.SizeMiB, "partitions", len(parts), "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// treeSize is the sum of the stream sizes of a tree.
func treeSize(s *memsource.Source) int64 {
	var n int64
	var walk func(f *memsource.File)
	walk = func(f *memsource.File) {
		for _, c := range f.Data {
			n += c.Size()
		}
		for _, k := range f.Children {
			walk(k)
		}
	}
	walk(s.Root_)
	return n
}

// writeESP formats the ESP as FAT32 in place and puts the boot files on it.
func writeESP(disk *os.File, p *partPlan, arch string, pe []byte) error {
	fs, err := fat32.Create(file.New(disk, false), p.size(), p.offset(), sectorSize, p.label, true)
	if err != nil {
		return fmt.Errorf("FAT32: %w", err)
	}
	app := efiApp(pe)
	files := map[string][]byte{
		"/EFI/Boot/" + efiBootName(arch):     app,
		"/EFI/Microsoft/Boot/bootmgfw.efi":   app,
		"/EFI/Microsoft/Boot/BCD":            bytes.Repeat([]byte("regf"), 1024),
		"/EFI/Microsoft/Recovery/README.TXT": []byte("wdscapture lab disk\r\n"),
	}
	for name, data := range files {
		if err := fs.Mkdir(filepath.ToSlash(filepath.Dir(name))); err != nil {
			return fmt.Errorf("FAT32 mkdir %s: %w", filepath.Dir(name), err)
		}
		f, err := fs.OpenFile(name, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return fmt.Errorf("FAT32 create %s: %w", name, err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return fmt.Errorf("FAT32 write %s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("FAT32 close %s: %w", name, err)
		}
	}
	return fixFAT32(disk, disk, p.offset(), p.size(), p.First)
}

// fveGUID is the BitLocker (Windows 7+) volume identifier at offset 0xA0 of
// the boot sector of an encrypted volume.
const fveGUID = "4967D63B-2E29-4AD8-8399-F6A339E3D001"

// writeBitLocker writes what a BitLocker-encrypted volume shows without its
// key: a boot sector with OEM ID "-FVE-FS-" and the FVE GUID, then random
// (ciphertext-like) data at the start of the volume.
func writeBitLocker(disk *os.File, p *partPlan) error {
	bs := make([]byte, sectorSize)
	copy(bs, []byte{0xEB, 0x58, 0x90})
	copy(bs[3:], "-FVE-FS-")
	binary.LittleEndian.PutUint16(bs[0x0B:], sectorSize)
	bs[0x0D] = 8    // sectors per cluster
	bs[0x15] = 0xF8 // fixed disk
	binary.LittleEndian.PutUint16(bs[0x18:], 63)
	binary.LittleEndian.PutUint16(bs[0x1A:], 255)
	binary.LittleEndian.PutUint32(bs[0x1C:], uint32(p.First))
	g, err := guidBytes(fveGUID)
	if err != nil {
		return err
	}
	copy(bs[0xA0:], g[:])
	bs[510], bs[511] = 0x55, 0xAA
	noise := make([]byte, 4*mib)
	_, _ = rand.Read(noise)
	if _, err := disk.WriteAt(noise, p.offset()+sectorSize); err != nil {
		return fmt.Errorf("writing ciphertext: %w", err)
	}
	if _, err := disk.WriteAt(bs, p.offset()); err != nil {
		return fmt.Errorf("writing boot sector: %w", err)
	}
	return nil
}

// writeNTFS formats a partition-sized file as NTFS (boot sector geometry
// and hidden sectors as for a partition starting at p.First), applies the
// tree (if any) onto it with wimapply, and copies it into the disk.
func writeNTFS(ctx context.Context, disk *os.File, p *partPlan, img string, o Options) error {
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	err = f.Truncate(p.size())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sizing %s: %w", img, err)
	}
	if err := run("mkntfs", "-F", "-q", "-f", "-L", p.label, "-s", "512", "-p", fmt.Sprint(p.First), "-H", "255", "-S", "63", img); err != nil {
		return err
	}
	if p.tree != nil {
		wim := img + ".wim"
		if err := writeWIM(ctx, wim, p.tree, p.label, o); err != nil {
			return err
		}
		if err := run("wimapply", wim, "1", img); err != nil {
			return err
		}
		os.Remove(wim)
	}
	return copySparse(disk, p.offset(), img)
}

// NTFSImage writes a bare NTFS volume image (a "superfloppy", no partition
// table) of size bytes at path, labelled label and holding tree, without
// mounting: the tree goes through our WIM writer and wimapply. Tests use it
// for volumes that need no disk around them.
func NTFSImage(ctx context.Context, path string, tree *memsource.Source, label string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sizing %s: %w", path, err)
	}
	if err := run("mkntfs", "-F", "-q", "-f", "-L", label, path); err != nil {
		return err
	}
	wim := path + ".wim"
	defer os.Remove(wim)
	if err := writeWIM(ctx, wim, tree, label, Options{}); err != nil {
		return err
	}
	return run("wimapply", wim, "1", path)
}

// writeWIM captures tree into an uncompressed WIM with package images.
func writeWIM(ctx context.Context, path string, tree *memsource.Source, name string, o Options) error {
	w, err := images.Create(path, images.Options{Compression: images.CompressNone, Overwrite: true, Logger: o.Logger})
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := w.AddImage(ctx, tree, images.ImageOptions{Name: name}); err != nil {
		return errors.Join(fmt.Errorf("capturing the lab tree: %w", err), w.Abort())
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// run runs a tool and reports its output on failure.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// copySparse copies the file src into dst at off, skipping all-zero blocks
// so that holes stay holes (dst is a fresh sparse file).
func copySparse(dst *os.File, off int64, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	const block = 64 << 10
	buf := make([]byte, mib)
	var pos int64
	for {
		n, err := io.ReadFull(f, buf)
		for i := 0; i < n; i += block {
			b := buf[i:min(i+block, n)]
			if isZero(b) {
				continue
			}
			if _, werr := dst.WriteAt(b, off+pos+int64(i)); werr != nil {
				return fmt.Errorf("copying %s into the disk: %w", src, werr)
			}
		}
		pos += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", src, err)
		}
	}
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
