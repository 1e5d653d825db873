package vmlab

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// PartitionStart is where NewDataDisk puts its partition (1 MiB).
const PartitionStart = 1 << 20

// NewDataDisk writes a GPT disk of sizeMiB with one basic data partition
// formatted as NTFS (mkntfs, no mounting), labelled label: a technician's
// destination drive. files are copied onto it (ntfscp; names with '/').
func NewDataDisk(path string, sizeMiB int, label string, files ...DiskFile) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		return err
	}
	if err := os.Truncate(path, int64(sizeMiB)<<20); err != nil {
		return err
	}
	if out, err := exec.Command("sgdisk", "-o", "-n1:2048:0", "-t1:0700", "-c1:"+label, path).CombinedOutput(); err != nil {
		return fmt.Errorf("sgdisk: %v: %s", err, out)
	}
	// The partition ends 34 sectors before the disk's end (backup GPT);
	// sgdisk aligns its end down to 2048 sectors.
	out, err := exec.Command("sgdisk", "-i1", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sgdisk -i1: %v: %s", err, out)
	}
	var first, last int64
	for _, line := range strings.Split(string(out), "\n") {
		if _, err := fmt.Sscanf(line, "First sector: %d", &first); err == nil {
			continue
		}
		fmt.Sscanf(line, "Last sector: %d", &last)
	}
	if first != 2048 || last <= first {
		return fmt.Errorf("sgdisk made partition %d-%d", first, last)
	}
	part := path + ".part"
	defer os.Remove(part)
	if err := os.WriteFile(part, nil, 0o644); err != nil {
		return err
	}
	if err := os.Truncate(part, (last-first+1)*512); err != nil {
		return err
	}
	if out, err := exec.Command("mkntfs", "-F", "-Q", "-q", "-L", label, "-p", "2048", "-H", "255", "-S", "63", "-s", "512", part).CombinedOutput(); err != nil {
		return fmt.Errorf("mkntfs: %v: %s", err, out)
	}
	for _, f := range files {
		src := part + ".src"
		if err := os.WriteFile(src, f.Data, 0o644); err != nil {
			return err
		}
		out, err := exec.Command("ntfscp", "-f", part, src, f.Name).CombinedOutput()
		os.Remove(src)
		if err != nil {
			return fmt.Errorf("ntfscp %s: %v: %s", f.Name, err, out)
		}
	}
	return copyAt(path, part, PartitionStart)
}

// DiskFile is a file put on a disk NewDataDisk makes.
type DiskFile struct {
	Name string // in the volume, "/capture/WDSCapture.inf"; its directory must exist (the root)
	Data []byte
}

// copyAt writes the contents of src into dst at offset, leaving holes
// where src has zeros.
func copyAt(dst, src string, offset int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	off := offset
	for {
		n, err := io.ReadFull(in, buf)
		if n > 0 && !allZero(buf[:n]) {
			if _, werr := out.WriteAt(buf[:n], off); werr != nil {
				out.Close()
				return werr
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			out.Close()
			return err
		}
	}
	return out.Close()
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// ExtractRange copies size bytes at offset of a disk image into a new file
// (a partition, for tools that read a volume image).
func ExtractRange(disk string, offset, size int64, dst string) error {
	in, err := os.Open(disk)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.NewSectionReader(in, offset, size)); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// NTFSFile reads a file from the NTFS volume image vol with ntfscat
// (ntfs-3g), an implementation independent of the guest's ntfs3.
func NTFSFile(vol, name, dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	cmd := exec.Command("ntfscat", vol, name)
	cmd.Stdout = f
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ntfscat %s %s: %v: %s", filepath.Base(vol), name, err, stderr.String())
	}
	return nil
}

// NTFSList lists a directory of the NTFS volume image vol (ntfsls).
func NTFSList(vol, dir string) ([]string, error) {
	out, err := exec.Command("ntfsls", "-p", dir, vol).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ntfsls %s: %v: %s", dir, err, out)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" && l != "." && l != ".." {
			names = append(names, l)
		}
	}
	return names, nil
}
