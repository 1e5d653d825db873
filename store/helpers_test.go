package store

import (
	"context"
	"crypto/sha1"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

const testWindowsXML = `<WINDOWS><ARCH>9</ARCH><PRODUCTNAME>Windows 11 Enterprise</PRODUCTNAME><EDITIONID>Enterprise</EDITIONID>` +
	`<INSTALLATIONTYPE>Client</INSTALLATIONTYPE><HAL>acpiapic</HAL><PRODUCTTYPE>WinNT</PRODUCTTYPE>` +
	`<VERSION><MAJOR>10</MAJOR><MINOR>0</MINOR><BUILD>22631</BUILD><SPBUILD>2861</SPBUILD><SPLEVEL>0</SPLEVEL></VERSION>` +
	`<SYSTEMROOT>WINDOWS</SYSTEMROOT><LANGUAGES><LANGUAGE>en-US</LANGUAGE><LANGUAGE>de-DE</LANGUAGE><DEFAULT>en-US</DEFAULT></LANGUAGES></WINDOWS>`

// testTree is a small Windows-like tree. Trees of different variants
// share all files but about one in twenty; files holds the number of
// generated files (more files, more streams).
func testTree(variant uint32, files int) *memsource.Source {
	var sys []*memsource.File
	for i := range files {
		seed := uint32(i + 1)
		if variant != 0 && i%20 == int(variant%20) {
			seed += 7919 * variant
		}
		sys = append(sys, memsource.Regular(fmt.Sprintf("file%03d.dll", i), memsource.Pattern{N: int64(2000 + 1531*i), Seed: seed}))
	}
	return memsource.New(
		memsource.Text("readme.txt", strings.Repeat("identical text, stored once\n", 200)),
		memsource.Text("copy of readme.txt", strings.Repeat("identical text, stored once\n", 200)),
		memsource.Regular("empty.txt", memsource.Bytes(nil)),
		memsource.Dir("Windows",
			memsource.Dir("System32", sys...),
			memsource.Text(fmt.Sprintf("variant-%d.txt", variant), fmt.Sprintf("variant %d\n", variant)),
			memsource.Regular("big.bin", memsource.Pattern{N: 300000, Seed: 42})),
		memsource.Dir("Program Files", memsource.Dir("Empty Dir")),
	)
}

// makeWIM captures src into dir/name with package images.
func makeWIM(t testing.TB, path string, src *memsource.Source, comp images.Compression, integrity bool, name string) string {
	t.Helper()
	w, err := images.Create(path, images.Options{Compression: comp, Integrity: integrity})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage(context.Background(), src, images.ImageOptions{Name: name, Description: "test image " + name, WindowsXML: testWindowsXML}); err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

func openWIM(t testing.TB, path string) *images.Reader {
	t.Helper()
	r, err := images.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// digest walks an applied tree: path -> type, size and SHA-1.
func digest(t testing.TB, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			m[rel] = "dir"
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		m[rel] = fmt.Sprintf("%d %x", len(data), sha1.Sum(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// applyEqual applies image 1 of want (a standalone WIM) and the image of a
// group (its metadata WIM with res.rwm as reference) with wimapply and
// compares the trees.
func applyEqual(t testing.TB, want, groupDir, file string) {
	t.Helper()
	tmp := t.TempDir()
	a, b := filepath.Join(tmp, "want"), filepath.Join(tmp, "got")
	tooltest.Run(t, "wimapply", want, "1", a)
	tooltest.Run(t, "wimapply", filepath.Join(groupDir, file), "1", b, "--ref="+filepath.Join(groupDir, ResourceFile))
	da, db := digest(t, a), digest(t, b)
	if len(da) < 5 || fmt.Sprint(da) != fmt.Sprint(db) {
		t.Errorf("%s applied with --ref differs from %s:\n%v\n%v", file, want, db, da)
	}
}

func newStore(t testing.TB) (*Store, string) {
	t.Helper()
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

func groupDir(root, g string) string { return filepath.Join(root, "Images", g) }

func fileSize(t testing.TB, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// groupState is what a group looks like from outside: its files and
// their contents' hashes.
func groupState(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == lockFile {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = fmt.Sprintf("%x", sha1.Sum(data))
	}
	return m
}
