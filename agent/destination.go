package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/fileopen"
	"github.com/wdscapture/wdscapture/internal/humanize"
)

// minFree is the free space a destination needs before the data size is
// known: room for the metadata, the XML and the log. Capture checks the
// estimate for the data once the source has been scanned.
const minFree = 64 << 20

// Destination is what CheckDestination found at DestinationFile.
type Destination struct {
	// Path is the local path of the WIM.
	Path string
	// Free is the space left on its file system; FreeKnown is false when
	// it could not be read.
	Free      uint64
	FreeKnown bool
	// Exists says a file is there.
	Exists bool
	// Images are the images of the existing WIM, Compression its
	// compression; Unreadable says why it cannot be read as a WIM.
	Images      []images.ImageInfo
	Compression images.Compression
	Unreadable  error
}

// ImageNamed returns the existing image with that name (compared as the
// WIM writer compares them, ignoring case), nil when there is none.
func (d *Destination) ImageNamed(name string) *images.ImageInfo {
	for i := range d.Images {
		if strings.EqualFold(d.Images[i].Name, name) {
			return &d.Images[i]
		}
	}
	return nil
}

// unusableFS names the file systems that cannot hold a WIM: kernel
// interfaces that look like directories.
var unusableFS = map[int64]string{
	unix.PROC_SUPER_MAGIC:    "proc",
	unix.SYSFS_MAGIC:         "sysfs",
	unix.DEVPTS_SUPER_MAGIC:  "devpts",
	unix.CGROUP_SUPER_MAGIC:  "cgroup",
	unix.CGROUP2_SUPER_MAGIC: "cgroup2",
	unix.DEBUGFS_MAGIC:       "debugfs",
	unix.TRACEFS_MAGIC:       "tracefs",
	unix.SECURITYFS_MAGIC:    "securityfs",
	unix.BPF_FS_MAGIC:        "bpf",
	unix.EFIVARFS_MAGIC:      "efivarfs",
	unix.PSTOREFS_MAGIC:      "pstore",
	0x62656570:               "configfs",
	0x19800202:               "mqueue",
	unix.HUGETLBFS_MAGIC:     "hugetlbfs",
	unix.NSFS_MAGIC:          "nsfs",
	unix.SELINUX_MAGIC:       "selinuxfs",
	unix.BINFMTFS_MAGIC:      "binfmt_misc",
	0x65735543:               "fusectl",
}

// CheckDestination runs every check of DestinationFile (and of Overwrite,
// Compression and ImageName as far as they depend on the file there)
// against the resolved source src (nil when it is not known yet). It
// returns what it found, nil when the path could not be resolved, and
// every problem at once. Nothing is created or written.
func CheckDestination(s *inf.Settings, o RunOptions, src *Source) (*Destination, Problems) {
	key, value := inf.KeyDestinationFile, s.DestinationFile
	if value == "" {
		return nil, Problems{missing(key)}
	}
	if ps := fromINF(s.Validate()).Key(key); len(ps) > 0 {
		return nil, ps
	}
	local, err := ResolvePath(value, o.DriveMap, o.Root)
	if err != nil {
		return nil, Problems{problem(KindSettings, key, value, err, "%v", err)}
	}
	d := &Destination{Path: local}
	var ps Problems
	bad := func(k, format string, args ...any) {
		v := value
		if k != key {
			v = s.Value(k)
		}
		ps = append(ps, problem(KindSettings, k, v, nil, format, args...))
	}
	if !strings.EqualFold(filepath.Ext(local), ".wim") {
		bad(key, "the file name must end in .wim")
	}
	dir, err := nearestExisting(filepath.Dir(local))
	if err == nil {
		if st, serr := os.Stat(dir); serr == nil && !st.IsDir() {
			err = fmt.Errorf("%s is a file, not a directory", dir)
		}
	}
	if err != nil {
		bad(key, "%v", err)
		return d, ps
	}
	if st, err := os.Stat(local); err == nil {
		switch {
		case st.IsDir():
			bad(key, "is a directory; give a file name ending in .wim")
			return d, ps
		case !st.Mode().IsRegular():
			bad(key, "is not a regular file (%s); give the path of a .wim file", st.Mode().Type())
			return d, ps
		}
		d.Exists = true
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err == nil {
		if name, ok := unusableFS[int64(fs.Type)]; ok {
			bad(key, "%s is on a %s file system, which cannot hold files; choose a directory on a disk", dir, name)
			return d, ps
		}
		d.Free, d.FreeKnown = fs.Bavail*uint64(fs.Bsize), true
		if fs.Flags&unix.ST_RDONLY != 0 {
			bad(key, "%s is on a read-only file system; choose a disk that can be written", dir)
			return d, ps
		}
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		bad(key, "cannot write in %s: %v", dir, err)
		return d, ps
	}
	if d.FreeKnown && d.Free < minFree {
		bad(key, "only %s free on its file system; at least %s are needed, and room for the image", humanize.Bytes(d.Free), humanize.Bytes(minFree))
	}
	if src != nil {
		if p := sourceOverlap(s, local, src); p != nil {
			ps = append(ps, p)
		}
	}
	if !d.Exists {
		return d, ps
	}
	switch s.Overwrite {
	case inf.OverwriteNo:
		ps = append(ps, problem(KindSettings, inf.KeyOverwrite, "No", nil,
			"%s exists: set Overwrite=Yes to replace it or Overwrite=Append to add an image", value))
	case inf.OverwriteAppend:
		r, err := images.Open(local)
		if err != nil {
			d.Unreadable = err
			bad(key, "exists but is not a readable WIM, so no image can be appended (%v); choose another file or Overwrite=Yes", err)
			return d, ps
		}
		d.Images, d.Compression = r.Images(), r.Compression()
		r.Close()
		if s.Has(inf.KeyCompression) && s.Compression != d.Compression {
			bad(inf.KeyCompression, "%s uses %v compression; images in one WIM share a compression type (remove the Compression key to use the WIM's)", value, d.Compression)
		}
		if im := d.ImageNamed(s.ImageName); im != nil && s.ImageName != "" {
			bad(inf.KeyImageName, "%s already has an image named %q (image %d); choose another name, or Overwrite=Yes to replace the file", value, im.Name, im.Index)
		}
	}
	return d, ps
}

// sourceOverlap refuses a destination on the volume being captured: on its
// drive letter, inside a captured directory, or on its partition.
func sourceOverlap(s *inf.Settings, local string, src *Source) *SettingError {
	key, value := inf.KeyDestinationFile, s.DestinationFile
	if l, _, ok := inf.DriveLetter(value); ok && src.Letter != "" && strings.EqualFold(string(l), src.Letter) {
		return problem(KindSettings, key, value, nil, "is on drive %s:, the volume being captured; write the image to another volume", src.Letter)
	}
	if st, err := os.Stat(src.Spec.Path); err == nil && st.IsDir() {
		if insideDir(local, src.Spec.Path) {
			return problem(KindSettings, key, value, nil, "lies inside %s, the directory being captured; write the image elsewhere", src.Spec.Path)
		}
		return nil
	}
	if onSourceVolume(local, src.Spec) {
		return problem(KindSettings, key, value, nil, "lies on %s, the volume being captured; write the image to another volume", src)
	}
	return nil
}

// errSourceFIFO and friends say why a source path cannot be captured.
var errNotCapturable = errors.New("not a directory, a partition image or a block device")

// checkSourcePath refuses source paths that are neither a directory, a
// regular file nor a block device before anything opens them (a FIFO
// would block forever in open).
func checkSourcePath(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	m := st.Mode()
	if m.IsDir() || m.IsRegular() || (m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0) {
		return nil
	}
	return fmt.Errorf("it is %s, %w", fileopen.Kind(m), errNotCapturable)
}
