package pid1

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/wdscapture/wdscapture/scan"
)

// mountPseudo mounts the kernel's file systems the environment needs.
// Errors are returned together; the environment goes on without what
// failed.
func mountPseudo() error {
	var errs []error
	for _, m := range []struct {
		fstype, dir, opts string
		flags             uintptr
	}{
		{"proc", "/proc", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"sysfs", "/sys", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"devtmpfs", "/dev", "mode=0755", unix.MS_NOSUID},
		{"devpts", "/dev/pts", "gid=5,mode=620,ptmxmode=666", unix.MS_NOSUID | unix.MS_NOEXEC},
		{"tmpfs", "/run", "mode=0755", unix.MS_NOSUID | unix.MS_NODEV},
		{"tmpfs", "/tmp", "mode=1777", unix.MS_NOSUID | unix.MS_NODEV},
		{"securityfs", "/sys/kernel/security", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := unix.Mount(m.fstype, m.dir, m.fstype, m.flags, m.opts); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err))
		}
	}
	return errors.Join(errs...)
}

// mountEFIVars mounts efivarfs when the machine booted through UEFI (the
// module must be loaded first).
func mountEFIVars() error {
	dir := "/sys/firmware/efi/efivars"
	if _, err := os.Stat("/sys/firmware/efi"); err != nil {
		return nil
	}
	if err := unix.Mount("efivarfs", dir, "efivarfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mount efivarfs: %w", err)
	}
	return nil
}

// partitionDevice returns the device node of a scanned partition: the
// whole disk for a superfloppy, otherwise the partition whose start
// sector sysfs reports equal to the table's.
func partitionDevice(d *scan.Disk, p *scan.Partition) (string, error) {
	if d.Source != "block" {
		return "", fmt.Errorf("%s is not a block device", d.Path)
	}
	if p.Index == 0 || d.Table == scan.TableSuperfloppy {
		return d.Path, nil
	}
	base := filepath.Join("/sys/block", d.Name)
	entries, err := os.ReadDir(base)
	if err != nil {
		return "", fmt.Errorf("partitions of %s: %w", d.Name, err)
	}
	for _, e := range entries {
		startB, err := os.ReadFile(filepath.Join(base, e.Name(), "start"))
		if err != nil {
			continue
		}
		start, err := strconv.ParseInt(strings.TrimSpace(string(startB)), 10, 64)
		if err == nil && start*512 == p.Start {
			return "/dev/" + e.Name(), nil
		}
	}
	return "", fmt.Errorf("the kernel shows no partition of %s starting at byte %d (partition %d)", d.Name, p.Start, p.Index)
}

// mountVolume mounts a planned destination read-write.
func mountVolume(m MountPlan) (string, error) {
	dev, err := partitionDevice(m.Ref.Disk, m.Ref.Partition)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(m.Dir, 0o755); err != nil {
		return dev, err
	}
	opts := ""
	switch m.FSType {
	case "vfat":
		opts = "utf8=1,shortname=mixed"
	case "exfat":
		opts = "iocharset=utf8"
	}
	if err := unix.Mount(dev, m.Dir, m.FSType, unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		hint := ""
		if m.FSType == "ntfs3" {
			hint = " (if Windows was hibernated or not shut down cleanly, start it, shut it down fully and try again)"
		}
		return dev, fmt.Errorf("mount %s (%s:) as %s read-write: %w%s", dev, m.Letter, m.FSType, err, hint)
	}
	return dev, nil
}

// mountReadOnly mounts a volume read-only (to read an INF from it).
func mountReadOnly(m MountPlan, dir string) error {
	dev, err := partitionDevice(m.Ref.Disk, m.Ref.Partition)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dev, dir, m.FSType, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount %s (%s:) read-only: %w", dev, m.Letter, err)
	}
	return nil
}

// unmount syncs and unmounts dir.
func unmount(dir string) error {
	unix.Sync()
	if err := unix.Unmount(dir, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}
