package scan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/wdscapture/wdscapture/internal/fileopen"
)

// Options configures Scan. The zero value scans nothing: set BlockDevices
// and/or Images.
type Options struct {
	// BlockDevices scans the local disks listed in SysRoot/block.
	BlockDevices bool
	// Images are disk image files to scan (lab use), after the block devices.
	Images []string
	// IncludeLoop also scans loop devices.
	IncludeLoop bool
	// IncludeDeviceMapper also scans device-mapper devices (dm-*).
	IncludeDeviceMapper bool
	// Exclude names block devices to leave out ("sdb" or "/dev/sdb").
	Exclude []string
	// AllowMounted lists mounted block devices ("major:minor") that do not
	// make their disk count as the running system: the destination
	// volumes the capture environment mounted itself. Their disks are
	// scanned and lettered like the others.
	AllowMounted []string

	// SysRoot is the sysfs mount point, "/sys" when empty.
	SysRoot string
	// DevRoot is the device directory, "/dev" when empty.
	DevRoot string
	// MountInfo is the mountinfo file used to find the disks holding the
	// running system or boot medium, "/proc/self/mountinfo" when empty. A
	// missing file means nothing is mounted from a disk.
	MountInfo string

	// OpenVolume opens an NTFS volume as a file system for inspection. Nil
	// leaves NTFS volumes in StateNotChecked.
	OpenVolume VolumeOpener
	// Inspect looks for Windows in an opened volume. Nil leaves opened
	// volumes in StateNotChecked (hibernation is still checked).
	Inspect InspectFunc
	// Logger receives progress and problems; nil discards them.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.SysRoot == "" {
		o.SysRoot = "/sys"
	}
	if o.DevRoot == "" {
		o.DevRoot = "/dev"
	}
	if o.MountInfo == "" {
		o.MountInfo = "/proc/self/mountinfo"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// BlockDevice is a disk found in sysfs.
type BlockDevice struct {
	Name       string // kernel name, "sda"
	Path       string // device node, DevRoot/Name
	Size       int64  // bytes
	SectorSize int    // logical block size (queue/logical_block_size)
	Removable  bool   // sysfs removable flag
	ReadOnly   bool   // sysfs ro flag
	Model      string // device/vendor and device/model, trimmed
}

// ListBlockDevices lists the disks under SysRoot/block in letter order,
// and the ones it skipped with the reason: RAM disks, zram, optical
// drives, floppies, loop and device-mapper devices (unless asked for),
// empty drives, excluded names, every disk that holds a mounted file
// system — the running system or the boot medium — and every disk that is
// an ISO 9660 image as a whole (a capture ISO written to a USB stick).
func ListBlockDevices(opts Options) ([]BlockDevice, []Skipped, error) {
	opts.defaults()
	dir := filepath.Join(opts.SysRoot, "block")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list block devices in %s: %w", dir, err)
	}
	mounted, err := mountedDevices(opts.MountInfo)
	if err != nil {
		return nil, nil, err
	}
	for _, dev := range opts.AllowMounted {
		delete(mounted, dev)
	}
	var devs []BlockDevice
	var skipped []Skipped
	skip := func(name, why string) { skipped = append(skipped, Skipped{Name: name, Reason: why}) }
	for _, e := range entries {
		name := e.Name()
		base := filepath.Join(dir, name)
		switch {
		case hasAnyPrefix(name, "ram", "zram"):
			skip(name, "RAM disk")
			continue
		case hasAnyPrefix(name, "sr"):
			skip(name, "optical drive (boot medium or CD/DVD)")
			continue
		case hasAnyPrefix(name, "fd"):
			skip(name, "floppy drive")
			continue
		case hasAnyPrefix(name, "loop") && !opts.IncludeLoop:
			skip(name, "loop device (not asked for)")
			continue
		case hasAnyPrefix(name, "dm-") && !opts.IncludeDeviceMapper:
			skip(name, "device-mapper device (not asked for)")
			continue
		case excluded(opts.Exclude, name):
			skip(name, "excluded")
			continue
		}
		sectors, err := readSysInt(filepath.Join(base, "size"))
		if err != nil {
			skip(name, fmt.Sprintf("size unreadable: %v", err))
			continue
		}
		if sectors <= 0 {
			skip(name, "no medium (size 0)")
			continue
		}
		if dev := inUse(base, name, mounted); dev != "" {
			skip(name, fmt.Sprintf("holds a mounted file system (%s): the running system or boot medium", dev))
			continue
		}
		if isISO9660(filepath.Join(opts.DevRoot, name)) {
			skip(name, "holds an ISO 9660 file system: the boot medium")
			continue
		}
		d := BlockDevice{
			Name:       name,
			Path:       filepath.Join(opts.DevRoot, name),
			Size:       sectors * 512, // sysfs size is always in 512-byte units
			SectorSize: 512,
		}
		if n, err := readSysInt(filepath.Join(base, "queue", "logical_block_size")); err == nil && validSectorSize(n) && n >= 512 {
			d.SectorSize = int(n)
		}
		if n, err := readSysInt(filepath.Join(base, "removable")); err == nil {
			d.Removable = n != 0
		}
		if n, err := readSysInt(filepath.Join(base, "ro")); err == nil {
			d.ReadOnly = n != 0
		}
		vendor := readSysString(filepath.Join(base, "device", "vendor"))
		model := readSysString(filepath.Join(base, "device", "model"))
		d.Model = strings.TrimSpace(vendor + " " + model)
		devs = append(devs, d)
	}
	sort.SliceStable(devs, func(i, j int) bool { return lessDeviceName(devs[i].Name, devs[j].Name) })
	return devs, skipped, nil
}

// isISO9660 reports whether the device at path starts with an ISO 9660
// primary volume descriptor ("CD001" at byte 32769). A device that cannot
// be read is not skipped here; the scan reports the error.
func isISO9660(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 5)
	if _, err := f.ReadAt(b, 32769); err != nil {
		return false
	}
	return string(b) == "CD001"
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// excluded reports whether name is in list, given as "sdb" or "/dev/sdb".
func excluded(list []string, name string) bool {
	for _, x := range list {
		if x == name || filepath.Base(x) == name {
			return true
		}
	}
	return false
}

func readSysString(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 4096 {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readSysInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return n, nil
}

// mountedDevices returns the major:minor numbers of the block devices that
// mountinfo lists as mounted.
func mountedDevices(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open mount table %s: %w", path, err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		dev := fields[2]
		if strings.HasPrefix(dev, "0:") { // anonymous: tmpfs, proc, overlay...
			continue
		}
		out[dev] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mount table %s: %w", path, err)
	}
	return out, nil
}

// inUse returns the name of a mounted device among the disk at base, its
// partitions and their holders (device-mapper, md), or "".
func inUse(base, name string, mounted map[string]bool) string {
	check := func(dir, label string) string {
		if mounted[readSysString(filepath.Join(dir, "dev"))] {
			return label
		}
		holders, _ := os.ReadDir(filepath.Join(dir, "holders"))
		for _, h := range holders {
			hdev := readSysString(filepath.Join(dir, "holders", h.Name(), "dev"))
			if mounted[hdev] {
				return h.Name() + " on " + label
			}
		}
		return ""
	}
	if s := check(base, name); s != "" {
		return s
	}
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		sub := filepath.Join(base, e.Name())
		if _, err := os.Stat(filepath.Join(sub, "partition")); err != nil {
			continue
		}
		if s := check(sub, e.Name()); s != "" {
			return s
		}
	}
	return ""
}

// lessDeviceName orders kernel disk names the way the kernel numbers them:
// sda < sdb < sdz < sdaa, nvme0n1 < nvme1n1 < nvme10n1, vda < vdb. Names
// of different families sort by family name.
func lessDeviceName(a, b string) bool {
	ka, kb := deviceKey(a), deviceKey(b)
	for i := range min(len(ka), len(kb)) {
		x, y := ka[i], kb[i]
		switch {
		case x.isNum && y.isNum:
			if x.num != y.num {
				return x.num < y.num
			}
		case x.isNum != y.isNum:
			return x.isNum
		case x.letters && y.letters && len(x.text) != len(y.text):
			return len(x.text) < len(y.text)
		case x.text != y.text:
			return x.text < y.text
		}
	}
	if len(ka) != len(kb) {
		return len(ka) < len(kb)
	}
	return a < b
}

type keyPart struct {
	text    string
	num     int
	isNum   bool
	letters bool // drive letters after a family prefix (sd"aa")
}

func deviceKey(name string) []keyPart {
	var out []keyPart
	family := ""
	for _, f := range []string{"xvd", "sd", "vd", "hd"} {
		if strings.HasPrefix(name, f) {
			family = f
			break
		}
	}
	rest := name
	if family != "" {
		out = append(out, keyPart{text: family})
		rest = name[len(family):]
		i := 0
		for i < len(rest) && rest[i] >= 'a' && rest[i] <= 'z' {
			i++
		}
		out = append(out, keyPart{text: rest[:i], letters: true})
		rest = rest[i:]
	}
	for len(rest) > 0 {
		i := 0
		if rest[0] >= '0' && rest[0] <= '9' {
			for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
				i++
			}
			n, err := strconv.Atoi(rest[:i])
			if err != nil || i > 9 {
				out = append(out, keyPart{text: rest[:i]})
			} else {
				out = append(out, keyPart{num: n, isNum: true})
			}
		} else {
			for i < len(rest) && !(rest[i] >= '0' && rest[i] <= '9') {
				i++
			}
			out = append(out, keyPart{text: rest[:i]})
		}
		rest = rest[i:]
	}
	return out
}

// Scan reads the disks that opts names, detects their partitions and file
// systems, inspects NTFS volumes for an offline Windows and assigns drive
// letters. A disk that cannot be read is reported with its Error set; Scan
// itself fails only when the device list cannot be read or ctx ends.
func Scan(ctx context.Context, opts Options) (*Report, error) {
	opts.defaults()
	log := opts.Logger
	rep := &Report{Version: ReportVersion, Disks: []*Disk{}}
	if opts.BlockDevices {
		devs, skipped, err := ListBlockDevices(opts)
		if err != nil {
			return nil, err
		}
		rep.Skipped = skipped
		for _, s := range skipped {
			log.Debug("skip block device", "name", s.Name, "reason", s.Reason)
		}
		for _, bd := range devs {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("scan interrupted: %w", err)
			}
			d := &Disk{
				Name: bd.Name, Path: bd.Path, Source: "block", Model: bd.Model,
				Size: bd.Size, SectorSize: bd.SectorSize, Removable: bd.Removable, ReadOnly: bd.ReadOnly,
			}
			scanPath(ctx, d, opts)
			rep.Disks = append(rep.Disks, d)
		}
	}
	for _, img := range opts.Images {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("scan interrupted: %w", err)
		}
		d := &Disk{Name: filepath.Base(img), Path: img, Source: "image", SectorSize: 512}
		scanPath(ctx, d, opts)
		rep.Disks = append(rep.Disks, d)
	}
	AssignLetters(rep.Disks)
	return rep, nil
}

// scanPath opens d.Path read-only and fills d.
func scanPath(ctx context.Context, d *Disk, opts Options) {
	log := opts.Logger.With("disk", d.Path)
	d.Partitions = []*Partition{}
	// O_RDONLY: the scan never writes. A directory, FIFO or character
	// device is no disk: opened as one it reads as 8 EiB or blocks.
	f, _, err := fileopen.Open(d.Path, "a disk image or block device", true)
	if err != nil {
		d.Error = err.Error() // names the path: an *fs.PathError or a *fileopen.TypeError
		log.Warn("cannot open disk", "err", err)
		return
	}
	defer f.Close()
	if d.Size == 0 {
		size, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			d.Error = fmt.Sprintf("size of %s: %v", d.Path, err)
			return
		}
		d.Size = size
	}
	ScanDisk(ctx, f, d, opts)
	log.Info("scanned disk", "table", d.Table, "partitions", len(d.Partitions), "error", d.Error)
}

// ScanDisk reads the partition table of the disk behind r (d.Size bytes,
// d.SectorSize-byte sectors, 0 meaning 512) and fills d's table, partitions
// and volumes, inspecting NTFS volumes with opts.OpenVolume and
// opts.Inspect. Drive letters are not assigned: call AssignLetters on all
// disks afterwards. Problems are recorded in d.Error and d.Warnings.
func ScanDisk(ctx context.Context, r io.ReaderAt, d *Disk, opts Options) {
	opts.defaults()
	if d.Partitions == nil {
		d.Partitions = []*Partition{}
	}
	l, err := readLayout(r, d.Size, d.SectorSize)
	if l != nil {
		d.Table = l.table
		d.DiskID = l.id
		d.SectorSize = l.sectorSize
		d.Warnings = append(d.Warnings, l.warnings...)
		d.Partitions = append(d.Partitions, l.parts...)
	}
	if err != nil {
		d.Error = err.Error()
		if l == nil {
			d.Table = TableNone
			return
		}
	}
	sort.SliceStable(d.Partitions, func(i, j int) bool { return d.Partitions[i].Index < d.Partitions[j].Index })
	markOverlaps(d.Partitions)
	for _, p := range d.Partitions {
		if p.Role == RoleLDMData || p.Role == RoleLDMMetadata || p.Role == RoleStorageSpaces {
			d.Warnings = append(d.Warnings, "dynamic disk or Storage Spaces member: the volumes on it cannot be read; convert it to a basic disk in Windows to capture from it")
			break
		}
	}
	for _, p := range d.Partitions {
		if ctx.Err() != nil {
			return
		}
		if p.Role == RoleExtended || p.Size <= 0 || (p.Problem != "" && p.Size == 0) {
			continue
		}
		p.Volume = probeVolume(r, d, p, opts)
		if len(p.Overlaps) > 0 {
			// Whatever it holds, it is no capture candidate.
			v := p.Volume
			if v.Detail == "" && v.State != StateNone {
				v.Detail = "otherwise: " + v.State.Reason()
			}
			v.State, v.Reason = StateOverlap, StateOverlap.Reason()
		}
	}
}

// probeVolume detects the file system of p and, for NTFS, inspects it.
func probeVolume(r io.ReaderAt, d *Disk, p *Partition, opts Options) *Volume {
	log := opts.Logger.With("disk", d.Path, "partition", p.Index)
	info, err := DetectFS(r, p.Start, p.Size)
	v := &Volume{FS: info.Type, Label: info.Label, Size: info.Size, Serial: info.Serial, Dirty: info.Dirty, Note: info.Note}
	if v.Size == 0 {
		v.Size = p.Size
	}
	if err != nil {
		v.State, v.Detail = StateError, err.Error()
		v.Reason = v.State.Reason()
		log.Warn("cannot probe volume", "err", err)
		return v
	}
	switch v.FS {
	case FSBitLocker:
		v.State = StateBitLocker
	case FSNTFS:
		v.State, v.Detail, v.Windows = openAndInspect(r, p, info.Dirty, opts)
		log.Debug("inspected NTFS volume", "state", v.State, "detail", v.Detail)
	}
	v.Reason = v.State.Reason()
	return v
}

func openAndInspect(r io.ReaderAt, p *Partition, dirty bool, opts Options) (State, string, *WindowsInfo) {
	if opts.OpenVolume == nil {
		if dirty {
			return StateDirty, "the $Volume dirty flag is set", nil
		}
		return StateNotChecked, "no NTFS reader configured", nil
	}
	fsys, closeFn, err := opts.OpenVolume(r, p.Start, p.Size)
	if closeFn != nil {
		defer func() {
			if cerr := closeFn(); cerr != nil {
				opts.Logger.Warn("close volume", "start", p.Start, "err", cerr)
			}
		}()
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrBitLocker):
		return StateBitLocker, err.Error(), nil
	case errors.Is(err, ErrDirty):
		if fsys == nil {
			return StateDirty, err.Error(), nil
		}
		dirty = true
	case errors.Is(err, ErrNotNTFS):
		return StateError, fmt.Sprintf("not readable as NTFS: %v", err), nil
	default:
		return StateError, fmt.Sprintf("open NTFS volume: %v", err), nil
	}
	if fsys == nil {
		return StateError, "volume opener returned no file system", nil
	}
	return inspectVolume(fsys, dirty, opts.Inspect)
}
