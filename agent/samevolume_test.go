package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

// attachedDisk is a partitioned disk image whose two partitions are
// attached to loop devices of their own (losetup --offset), partition 1
// mounted as ext4 by the kernel and partition 2 as NTFS through ntfs-3g
// (FUSE, whose device number is anonymous). The whole image is attached
// too; where the kernel scans loop partitions, sysfs lists them under it.
type attachedDisk struct {
	img, loop1, loop2, disk string
	start1, size1           int64
	start2, size2           int64
	ext4Mnt, ntfsMnt        string
}

func losetup(t *testing.T, args ...string) string {
	t.Helper()
	out, err := tooltest.Try("losetup", append([]string{"--find", "--show"}, args...)...)
	if err != nil {
		t.Skipf("no loop device can be attached here: %v %s", err, out)
	}
	dev := strings.TrimSpace(out)
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

// attachDisk needs root and loop devices; without them the test is skipped
// with the reason.
func attachDisk(t *testing.T) *attachedDisk {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to attach loop devices and mount file systems")
	}
	tooltest.Require(t, "losetup", "sfdisk", "mkfs.ext4", "mkntfs", "ntfs-3g", "mount", "umount")
	dir := t.TempDir()
	d := &attachedDisk{img: filepath.Join(dir, "disk.img"), start1: 1 << 20, size1: 100 << 20, start2: 101 << 20, size2: 100 << 20}
	f, err := os.Create(d.img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(202 << 20)
	f.Close()
	table := "label: gpt\nstart=2048, size=204800, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\nstart=206848, size=204800, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n"
	cmd := exec.Command("sfdisk", "--quiet", d.img)
	cmd.Stdin = strings.NewReader(table)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v %s", err, out)
	}
	d.loop1 = losetup(t, "--offset", strconv.FormatInt(d.start1, 10), "--sizelimit", strconv.FormatInt(d.size1, 10), d.img)
	d.loop2 = losetup(t, "--offset", strconv.FormatInt(d.start2, 10), "--sizelimit", strconv.FormatInt(d.size2, 10), d.img)
	d.disk = losetup(t, "--partscan", d.img)
	tooltest.Run(t, "mkfs.ext4", "-q", "-F", d.loop1)
	tooltest.Run(t, "mkntfs", "-q", "-F", "-f", d.loop2)
	d.ext4Mnt, d.ntfsMnt = filepath.Join(dir, "ext4"), filepath.Join(dir, "ntfs")
	os.Mkdir(d.ext4Mnt, 0o755)
	os.Mkdir(d.ntfsMnt, 0o755)
	tooltest.Run(t, "mount", d.loop1, d.ext4Mnt)
	t.Cleanup(func() { exec.Command("umount", d.ext4Mnt).Run() })
	if out, err := tooltest.Try("ntfs-3g", d.loop2, d.ntfsMnt); err != nil {
		t.Skipf("ntfs-3g cannot mount here (no FUSE?): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", d.ntfsMnt).Run() })
	return d
}

// TestOnSourceVolume: the destination's file system is compared with the
// captured partition by device, however the source is named and however
// the destination is mounted (issue 13: the old check compared the whole
// disk's device number with the destination's, which never matches a
// partition).
func TestOnSourceVolume(t *testing.T) {
	d := attachDisk(t)
	other := t.TempDir()
	cases := []struct {
		name string
		spec SourceSpec
		dest string
		want bool
	}{
		{"disk image, partition 1, ext4", SourceSpec{Path: d.img, Offset: d.start1, Size: d.size1}, d.ext4Mnt + "/images/ref.wim", true},
		{"partition device", SourceSpec{Path: d.loop1}, d.ext4Mnt + "/ref.wim", true},
		{"disk image, partition 2, ntfs-3g", SourceSpec{Path: d.img, Offset: d.start2, Size: d.size2}, d.ntfsMnt + "/x/y/ref.wim", true},
		{"partition device, ntfs-3g", SourceSpec{Path: d.loop2}, d.ntfsMnt + "/ref.wim", true},
		{"other partition", SourceSpec{Path: d.img, Offset: d.start2, Size: d.size2}, d.ext4Mnt + "/ref.wim", false},
		{"not on the disk", SourceSpec{Path: d.img, Offset: d.start1, Size: d.size1}, other + "/ref.wim", false},
	}
	name := filepath.Base(d.disk)
	if _, err := os.Stat(filepath.Join("/sys/block", name, name+"p1", "start")); err == nil {
		// The kernel scanned the whole-disk loop device's partitions:
		// a disk device as the source is resolved to its partition. (The
		// file systems are mounted from the other loop devices, so the
		// partition's device is not the mounted one: not on it.)
		cases = append(cases, struct {
			name string
			spec SourceSpec
			dest string
			want bool
		}{"disk device, partition 1 (a different device)", SourceSpec{Path: d.disk, Offset: d.start1, Size: d.size1}, d.ext4Mnt + "/ref.wim", false})
		if got := partitionAt(mustRdev(t, d.disk), d.start1, d.size1); len(got) != 1 {
			t.Errorf("partitionAt(%s, %d) = %v, want partition 1", d.disk, d.start1, got)
		}
	} else {
		t.Logf("this kernel does not scan loop partitions: the sysfs partition lookup is not exercised here")
	}
	for _, tc := range cases {
		if got := onSourceVolume(tc.dest, tc.spec); got != tc.want {
			t.Errorf("%s: onSourceVolume(%s, %+v) = %v, want %v", tc.name, tc.dest, tc.spec, got, tc.want)
		}
	}
	// Through CheckDestination, with a drive letter mapped onto the mount.
	s := inf.Default()
	s.Set(inf.KeyDestinationFile, `E:\images\ref.wim`)
	src := &Source{Spec: SourceSpec{Path: d.img, Offset: d.start1, Size: d.size1}, Letter: "C"}
	_, ps := CheckDestination(s, RunOptions{DriveMap: map[string]string{"E": d.ext4Mnt}}, src)
	if len(ps) != 1 || ps[0].Key != inf.KeyDestinationFile || !strings.Contains(ps[0].Msg, "the volume being captured") {
		t.Errorf("CheckDestination: %v", ps)
	}
}

func mustRdev(t *testing.T, p string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Rdev
}

// TestInsideDirBindMount: a bind mount of the source directory is the
// source directory.
func TestInsideDirBindMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a bind mount")
	}
	tooltest.Require(t, "mount", "umount")
	dir := t.TempDir()
	src, bind := filepath.Join(dir, "src"), filepath.Join(dir, "bind")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.Mkdir(bind, 0o755)
	if out, err := tooltest.Try("mount", "--bind", src, bind); err != nil {
		t.Skipf("bind mounts are not allowed here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", bind).Run() })
	if !insideDir(filepath.Join(bind, "sub", "new", "x.wim"), src) {
		t.Error("a destination in a bind mount of the source is not inside it")
	}
	if insideDir(filepath.Join(dir, "x.wim"), src) {
		t.Error("the source's parent is inside the source")
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/mnt/with\040space\134x`); got != `/mnt/with space\x` {
		t.Errorf("unescapeMount = %q", got)
	}
}
