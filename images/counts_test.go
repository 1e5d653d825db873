package images_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/internal/lab"
	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
	"github.com/wdscapture/wdscapture/volume"
	"github.com/wdscapture/wdscapture/volume/ntfs"
)

// imageCounts are the per-image statistics of the XML data.
type imageCounts struct {
	Dirs, Files, TotalBytes, HardLinkBytes uint64
}

// wiminfoCounts reads an image's counts as wimlib's wiminfo prints them.
func wiminfoCounts(t *testing.T, wim string) imageCounts {
	t.Helper()
	out := tooltest.Run(t, "wiminfo", wim, "1")
	field := func(name string) uint64 {
		m := regexp.MustCompile(`(?m)^` + name + `:\s+(\d+)\s*$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("wiminfo %s: no %q line:\n%s", wim, name, out)
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		return n
	}
	return imageCounts{field("Directory Count"), field("File Count"), field("Total Bytes"), field("Hard Link Bytes")}
}

// ourCapture writes src into a new WIM with our writer and returns the
// counts it reported.
func ourCapture(t *testing.T, wim string, src volume.Source) imageCounts {
	t.Helper()
	w, err := images.Create(wim, images.Options{Compression: images.CompressXPRESS})
	if err != nil {
		t.Fatal(err)
	}
	info, err := w.AddImage(context.Background(), src, images.ImageOptions{Name: "counts"})
	if err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return imageCounts{info.DirCount, info.FileCount, info.TotalBytes, info.HardLinkBytes}
}

// TestImageCountsMatchWimlib compares DIRCOUNT, FILECOUNT, TOTALBYTES and
// HARDLINKBYTES with wimlib's capture of the same source: wiminfo only
// echoes the XML, so the independent figures are those wimlib computes
// itself from the same directory or NTFS volume. Directory symlinks and
// junctions (reparse points with the directory attribute) are files to
// wimlib, like hard links, named streams, empty files and reparse data.
func TestImageCountsMatchWimlib(t *testing.T) {
	tooltest.Require(t, "wimcapture", "wiminfo", "mkntfs", "wimapply")
	dir := t.TempDir()

	// A Linux tree: directory and file symlinks, a dangling one, hard
	// links, empty files and directories.
	tree := filepath.Join(dir, "tree")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(rel, data string) {
		p := filepath.Join(tree, rel)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, []byte(data), 0o644))
	}
	write("a/one.txt", "one\n")
	write("a/b/two.txt", "two two\n")
	write("c/three.bin", string(make([]byte, 70000)))
	write("empty", "")
	must(os.MkdirAll(filepath.Join(tree, "emptydir"), 0o755))
	must(os.Link(filepath.Join(tree, "a/one.txt"), filepath.Join(tree, "c/hard.txt")))
	must(os.Link(filepath.Join(tree, "c/three.bin"), filepath.Join(tree, "hard.bin")))
	must(os.Symlink("a", filepath.Join(tree, "dir-link")))
	must(os.Symlink("b", filepath.Join(tree, "a/dir-link-2")))
	must(os.Symlink("../a/one.txt", filepath.Join(tree, "c/file-link")))
	must(os.Symlink("nowhere", filepath.Join(tree, "dangling")))

	// The minimal case of the report: a four-entry tree with one directory
	// symlink.
	small := filepath.Join(dir, "small")
	must(os.MkdirAll(filepath.Join(small, "d"), 0o755))
	must(os.WriteFile(filepath.Join(small, "d", "f"), []byte("f\n"), 0o644))
	must(os.WriteFile(filepath.Join(small, "g"), []byte("g\n"), 0o644))
	must(os.Symlink("d", filepath.Join(small, "link")))

	// An NTFS volume with a junction, symlinks, hard links, named streams
	// (one on a directory) and reparse points with data.
	img := filepath.Join(dir, "ntfs.img")
	if err := lab.NTFSImage(context.Background(), img, memsource.Rich(memsource.RichOptions{ManyFiles: 20, Depth: 3}), "Counts", 32<<20); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		path string
		open func(string) (volume.Source, error)
	}{
		{"dir", tree, func(p string) (volume.Source, error) { return volume.OpenDir(p, nil) }},
		{"small", small, func(p string) (volume.Source, error) { return volume.OpenDir(p, nil) }},
		{"ntfs", img, func(p string) (volume.Source, error) { return ntfs.OpenFile(p, ntfs.Options{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := filepath.Join(t.TempDir(), "wimlib.wim")
			tooltest.Run(t, "wimcapture", tc.path, ref, "--config=/dev/null", "--compress=none")
			want := wiminfoCounts(t, ref)

			src, err := tc.open(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			ours := filepath.Join(t.TempDir(), "ours.wim")
			reported := ourCapture(t, ours, src)
			written := wiminfoCounts(t, ours)
			if written != want {
				t.Errorf("wiminfo of our WIM: %+v; wimlib's capture of the same source: %+v", written, want)
			}
			if reported != written {
				t.Errorf("AddImage reported %+v, the XML holds %+v", reported, written)
			}
			t.Logf("wimlib: %+v", want)
		})
	}
}
