package agent

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The WIM must never be written into what is being captured: the image
// would hold its own partial copy, and a raw NTFS read of a volume that is
// being written is not consistent. Two checks see through symbolic links,
// bind mounts and FUSE mounts, unlike a comparison of path strings:
//
//   - a directory source: no directory from the destination up to / is
//     the source directory (same device and inode);
//   - a volume source: no block device backing the destination's file
//     system is the captured partition (found in sysfs by its start on the
//     disk, and for a disk image file through the loop devices backed by
//     it).

// insideDir reports whether the path p (which need not exist yet) lies in
// the directory dir, after following symbolic links.
func insideDir(p, dir string) bool {
	var ds unix.Stat_t
	if unix.Stat(dir, &ds) != nil {
		return false
	}
	existing, err := nearestExisting(p)
	if err != nil {
		return false
	}
	real, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return false
	}
	for cur := real; ; cur = filepath.Dir(cur) {
		var st unix.Stat_t
		if unix.Stat(cur, &st) == nil && st.Dev == ds.Dev && st.Ino == ds.Ino {
			return true
		}
		if filepath.Dir(cur) == cur {
			return false
		}
	}
}

// onSourceVolume reports whether the file system holding the path p (or its
// nearest existing ancestor) lives on a block device that the source spec
// captures.
func onSourceVolume(p string, spec SourceSpec) bool {
	src := sourceDevices(spec)
	if len(src) == 0 {
		return false
	}
	existing, err := nearestExisting(p)
	if err != nil {
		return false
	}
	for _, d := range fsDevices(existing) {
		for _, s := range src {
			if d == s {
				return true
			}
		}
	}
	return false
}

// fsDevices returns the device numbers of the file system holding path:
// the one stat reports and, for a FUSE or other mount whose device number
// is anonymous, the block device named as the mount's source.
func fsDevices(path string) []uint64 {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return nil
	}
	devs := []uint64{st.Dev}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return devs
	}
	defer f.Close()
	want := strconv.FormatUint(uint64(unix.Major(st.Dev)), 10) + ":" + strconv.FormatUint(uint64(unix.Minor(st.Dev)), 10)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != want {
			continue
		}
		for i, fld := range fields {
			if fld == "-" && i+2 < len(fields) {
				var bs unix.Stat_t
				if unix.Stat(unescapeMount(fields[i+2]), &bs) == nil && bs.Mode&unix.S_IFMT == unix.S_IFBLK {
					devs = append(devs, bs.Rdev)
				}
				break
			}
		}
	}
	return devs
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// sourceDevices returns the block devices that hold the captured volume: a
// partition device given as the source, the partition of a disk device at
// the source's offset, or the same through the loop devices backed by a
// disk or partition image file.
func sourceDevices(spec SourceSpec) []uint64 {
	var st unix.Stat_t
	if unix.Stat(spec.Path, &st) != nil {
		return nil
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		if spec.Size == 0 && spec.Offset == 0 {
			return []uint64{st.Rdev}
		}
		return partitionAt(st.Rdev, spec.Offset, spec.Size)
	case unix.S_IFREG:
		var out []uint64
		for _, l := range loopsBackedBy(st.Dev, st.Ino) {
			switch {
			case spec.Size == 0 && l.offset == spec.Offset:
				out = append(out, l.dev) // a partition image attached whole
			case l.offset == spec.Offset && spec.Size > 0:
				out = append(out, l.dev) // losetup -o at the partition
			case l.offset == 0 && spec.Size > 0:
				out = append(out, partitionAt(l.dev, spec.Offset, spec.Size)...)
			}
		}
		return out
	}
	return nil
}

// partitionAt returns the partition device of the disk with device number
// disk that starts at offset bytes, and the disk itself when its file
// system covers the region (a superfloppy: offset 0, no partitions).
func partitionAt(disk uint64, offset, size int64) []uint64 {
	dir := "/sys/dev/block/" + devName(disk)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []uint64
	parts := 0
	for _, e := range entries {
		start, err := readSysInt(filepath.Join(dir, e.Name(), "start"))
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "partition")); err != nil {
			continue
		}
		parts++
		if start*512 == offset {
			if d, ok := readSysDev(filepath.Join(dir, e.Name(), "dev")); ok {
				out = append(out, d)
			}
		}
	}
	if parts == 0 && offset == 0 {
		out = append(out, disk)
	}
	return out
}

type loopDev struct {
	dev    uint64
	offset int64
}

// loopsBackedBy lists the loop devices whose backing file is the file with
// the given device and inode.
func loopsBackedBy(dev, ino uint64) []loopDev {
	entries, err := os.ReadDir("/sys/block")
	if err != nil {
		return nil
	}
	var out []loopDev
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "loop") {
			continue
		}
		base := filepath.Join("/sys/block", e.Name())
		b, err := os.ReadFile(filepath.Join(base, "loop", "backing_file"))
		if err != nil {
			continue
		}
		var bs unix.Stat_t
		if unix.Stat(strings.TrimSpace(string(b)), &bs) != nil || bs.Dev != dev || bs.Ino != ino {
			continue
		}
		off, err := readSysInt(filepath.Join(base, "loop", "offset"))
		if err != nil {
			off = 0
		}
		if d, ok := readSysDev(filepath.Join(base, "dev")); ok {
			out = append(out, loopDev{dev: d, offset: off})
		}
	}
	return out
}

func devName(d uint64) string {
	return strconv.FormatUint(uint64(unix.Major(d)), 10) + ":" + strconv.FormatUint(uint64(unix.Minor(d)), 10)
}

func readSysInt(p string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// readSysDev reads a sysfs "dev" file ("8:3").
func readSysDev(p string) (uint64, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, false
	}
	maj, min, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok {
		return 0, false
	}
	a, err1 := strconv.ParseUint(maj, 10, 32)
	c, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return unix.Mkdev(uint32(a), uint32(c)), true
}
