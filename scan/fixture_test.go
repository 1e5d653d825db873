package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// requireTools skips the test when a tool is missing, except under CI,
// where a missing tool fails it (CI installs them: gdisk, fdisk,
// dosfstools, exfatprogs, e2fsprogs, ntfs-3g, util-linux).
func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed; CI must install it", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
}

// run runs a tool and fails the test when it exits non-zero.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var b bytes.Buffer
	cmd.Stdout = &b
	cmd.Stderr = &b
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b.String())
	}
	return b.String()
}

// newImage makes an empty sparse file of size bytes.
func newImage(t testing.TB, dir, name string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// fsKind is a file system the fixtures can make with a real mkfs tool.
type fsKind string

const (
	mkNTFS  fsKind = "ntfs"
	mkFAT32 fsKind = "fat32"
	mkFAT16 fsKind = "fat16"
	mkExFAT fsKind = "exfat"
	mkExt4  fsKind = "ext4"
	mkExt2  fsKind = "ext2"
	mkExt3  fsKind = "ext3"
)

// mkfsTool is the tool each kind needs.
func mkfsTool(k fsKind) string {
	switch k {
	case mkNTFS:
		return "mkntfs"
	case mkFAT32, mkFAT16:
		return "mkfs.vfat"
	case mkExFAT:
		return "mkfs.exfat"
	default:
		return "mkfs.ext4"
	}
}

// mkfs formats a new file of size bytes with kind and label. startSector is
// the partition start that NTFS records as "hidden sectors".
func mkfs(t testing.TB, dir string, kind fsKind, label string, size, startSector int64) string {
	t.Helper()
	requireTools(t, mkfsTool(kind))
	p := newImage(t, dir, fmt.Sprintf("part-%s-%d.img", kind, startSector), size)
	switch kind {
	case mkNTFS:
		run(t, "mkntfs", "-F", "-Q", "-q", "-L", label, "-p", strconv.FormatInt(startSector, 10), "-H", "255", "-S", "63", p)
	case mkFAT32:
		run(t, "mkfs.vfat", "-F", "32", "-n", label, p)
	case mkFAT16:
		run(t, "mkfs.vfat", "-F", "16", "-n", label, p)
	case mkExFAT:
		run(t, "mkfs.exfat", "-L", label, p)
	case mkExt4:
		run(t, "mkfs.ext4", "-q", "-F", "-L", label, p)
	case mkExt2:
		run(t, "mkfs.ext4", "-q", "-F", "-t", "ext2", "-L", label, p)
	case mkExt3:
		run(t, "mkfs.ext4", "-q", "-F", "-t", "ext3", "-L", label, p)
	}
	return p
}

// placeAt copies the file part into img at byte offset off, skipping
// all-zero blocks so that the image stays sparse.
func placeAt(t testing.TB, img string, off int64, part string) {
	t.Helper()
	src, err := os.Open(part)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	buf := make([]byte, 64<<10)
	zero := make([]byte, len(buf))
	pos := int64(0)
	for {
		n, err := io.ReadFull(src, buf)
		if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
			if _, werr := dst.WriteAt(buf[:n], off+pos); werr != nil {
				t.Fatal(werr)
			}
		}
		pos += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// formatPartition formats partition (start, size in bytes) of img with a
// real mkfs tool.
func formatPartition(t testing.TB, img string, kind fsKind, label string, start, size int64) {
	t.Helper()
	part := mkfs(t, filepath.Dir(img), kind, label, size, start/512)
	placeAt(t, img, start, part)
	if err := os.Remove(part); err != nil {
		t.Fatal(err)
	}
}

// sfdiskTable is what `sfdisk --json` prints.
type sfdiskTable struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		SectorSize int64  `json:"sectorsize"`
		Partitions []struct {
			Node  string `json:"node"`
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
			Attrs string `json:"attrs"`
			Boot  bool   `json:"bootable"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func sfdiskJSON(t testing.TB, img string) sfdiskTable {
	t.Helper()
	requireTools(t, "sfdisk")
	out := run(t, "sfdisk", "--json", img)
	var tb sfdiskTable
	if err := json.Unmarshal([]byte(out), &tb); err != nil {
		t.Fatalf("parse sfdisk --json: %v\n%s", err, out)
	}
	return tb
}

// partIndex extracts the partition number from an sfdisk node name.
func partIndex(t testing.TB, img, node string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimPrefix(node, img))
	if err != nil {
		t.Fatalf("node %q: %v", node, err)
	}
	return n
}

// blkidProbe runs blkid's low-level probe on the byte range of img and
// returns its KEY=VALUE pairs (empty when nothing was found).
func blkidProbe(t testing.TB, img string, off, size int64) map[string]string {
	t.Helper()
	requireTools(t, "blkid")
	cmd := exec.Command("blkid", "-p", "-o", "export", "-O", strconv.FormatInt(off, 10),
		"-S", strconv.FormatInt(size, 10), img)
	out, err := cmd.Output()
	res := map[string]string{}
	if err != nil {
		// blkid exits 2 when it finds nothing.
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
			return res
		}
		t.Fatalf("blkid on %s at %d: %v", img, off, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			res[k] = v
		}
	}
	if _, ok := res["LABEL"]; ok {
		// export escapes non-ASCII bytes; "-o value" prints them raw.
		raw, err := exec.Command("blkid", "-p", "-o", "value", "-s", "LABEL", "-O", strconv.FormatInt(off, 10),
			"-S", strconv.FormatInt(size, 10), img).Output()
		if err != nil {
			t.Fatalf("blkid LABEL on %s at %d: %v", img, off, err)
		}
		res["LABEL"] = strings.TrimSuffix(string(raw), "\n")
	}
	return res
}

// blkidType maps blkid's TYPE (and VERSION for FAT) to ours.
func blkidType(p map[string]string) FSType {
	switch p["TYPE"] {
	case "ntfs":
		return FSNTFS
	case "vfat":
		switch p["VERSION"] {
		case "FAT32":
			return FSFAT32
		case "FAT16":
			return FSFAT16
		case "FAT12":
			return FSFAT12
		}
	case "exfat":
		return FSExFAT
	case "ext4":
		return FSExt4
	case "ext3":
		return FSExt3
	case "ext2":
		return FSExt2
	case "BitLocker":
		return FSBitLocker
	case "ReFS", "refs":
		return FSReFS
	case "":
		return FSUnknown
	}
	return FSType("blkid:" + p["TYPE"])
}

// scanImages scans image files with no NTFS opener.
func scanImages(t testing.TB, opts Options, imgs ...string) *Report {
	t.Helper()
	opts.Images = imgs
	rep, err := Scan(t.Context(), opts)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return rep
}
