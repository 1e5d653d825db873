package images

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
	"github.com/wdscapture/wdscapture/volume"
)

// writeWIM captures src into a new WIM at path.
func writeWIM(t testing.TB, path string, src volume.Source, opts Options, img ImageOptions) *ImageInfo {
	t.Helper()
	w, err := Create(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := w.AddImage(context.Background(), src, img)
	if err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return info
}

type flatEntry struct {
	path string
	file *memsource.File
}

func flatten(src *memsource.Source) []flatEntry {
	var out []flatEntry
	var walk func(prefix string, f *memsource.File)
	walk = func(prefix string, f *memsource.File) {
		for _, c := range f.Children {
			p := prefix + "/" + c.Name
			out = append(out, flatEntry{p, c})
			walk(p, c)
		}
	}
	out = append(out, flatEntry{"/", src.Root_})
	walk("", src.Root_)
	return out
}

func contentHash(c memsource.Content) string {
	h := sha1.New()
	io.Copy(h, c.Open())
	if c.Size() == 0 {
		return "0x" + strings.Repeat("0", 40)
	}
	return "0x" + hex.EncodeToString(h.Sum(nil))
}

func wimdirTime(ft uint64) string {
	sec := int64(ft/10000000) - 11644473600
	return time.Unix(sec, 0).UTC().Format("Mon Jan _2 15:04:05 2006 UTC")
}

// checkAgainstWimdir compares every path of src with what wimlib's
// `wimdir --detailed` reports for the image.
func checkAgainstWimdir(t *testing.T, wim string, index int, src *memsource.Source) {
	t.Helper()
	got := tooltest.ParseWimdirDetailed(tooltest.Run(t, "wimdir", "--detailed", wim, fmt.Sprint(index)))
	want := flatten(src)
	if len(got) != len(want) {
		t.Errorf("wimdir lists %d paths, the source has %d", len(got), len(want))
	}
	groups := map[string][]string{}
	for _, fe := range want {
		g, ok := got[fe.path]
		if !ok {
			t.Errorf("%s: missing from wimdir", fe.path)
			continue
		}
		f := fe.file
		attrs := f.Attributes
		if attrs == 0 {
			attrs = volume.AttrNormal
		}
		check := func(what, got, want string) {
			if got != want {
				t.Errorf("%s: %s = %q, want %q", fe.path, what, got, want)
			}
		}
		check("short name", g.ShortName, f.ShortName)
		check("attributes", g.Attributes, fmt.Sprintf("0x%08x", attrs))
		check("security descriptor", strings.ReplaceAll(g.Security, " ", ""), hexOrEmpty(f.Security))
		check("creation time", g.Creation, wimdirTime(f.CreationTime))
		check("last write time", g.LastWrite, wimdirTime(f.LastWriteTime))
		check("last access time", g.LastAccess, wimdirTime(f.LastAccessTime))
		if attrs&volume.AttrReparsePoint != 0 {
			check("reparse tag", g.ReparseTag, fmt.Sprintf("0x%08x", f.ReparseTag))
			rs := g.Streams["<reparse>"]
			check("reparse stream hash", rs.Hash, contentHash(memsource.Bytes(f.ReparseData)))
		}
		for i, st := range f.Streams {
			// wimdir shows a reparse point's reparse stream in place of its
			// unnamed data stream; our reader checks that one.
			if st.Name == "" && (f.IsDir() || attrs&volume.AttrReparsePoint != 0) {
				continue
			}
			gs, ok := g.Streams[st.Name]
			if !ok {
				t.Errorf("%s: stream %q missing in wimdir", fe.path, st.Name)
				continue
			}
			check("stream "+st.Name+" size", gs.Size, fmt.Sprint(f.Data[i].Size()))
			check("stream "+st.Name+" hash", gs.Hash, contentHash(f.Data[i]))
		}
		if f.LinkID != 0 {
			groups[fmt.Sprint(f.LinkID)] = append(groups[fmt.Sprint(f.LinkID)], g.LinkGroup)
		}
	}
	for id, gs := range groups {
		for _, g := range gs {
			if g != gs[0] || g == "0x0000000000000000" {
				t.Errorf("hard link group %s: wimdir link group IDs %v are not one non-zero ID", id, gs)
			}
		}
	}
}

func hexOrEmpty(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return hex.EncodeToString(b)
}

// checkWithOurReader reads the image back and compares every field,
// times at full 100 ns precision and every stream's bytes.
func checkWithOurReader(t *testing.T, wim string, index int, src *memsource.Source) {
	t.Helper()
	r, err := Open(wim)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	img, err := r.Image(index)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]*Dentry{}
	Walk(img.Root, func(d *Dentry) error {
		byPath[strings.ReplaceAll(d.Path(), `\`, "/")] = d
		return nil
	})
	for _, fe := range flatten(src) {
		d := byPath[fe.path]
		if d == nil {
			t.Errorf("%s: not in the image", fe.path)
			continue
		}
		f := fe.file
		if d.CreationTime != f.CreationTime || d.LastWriteTime != f.LastWriteTime || d.LastAccessTime != f.LastAccessTime {
			t.Errorf("%s: times %d/%d/%d, want %d/%d/%d", fe.path, d.CreationTime, d.LastWriteTime, d.LastAccessTime, f.CreationTime, f.LastWriteTime, f.LastAccessTime)
		}
		var sd []byte
		if d.SecurityID >= 0 {
			sd = img.Security[d.SecurityID]
		}
		if !bytes.Equal(sd, f.Security) {
			t.Errorf("%s: security descriptor differs", fe.path)
		}
		if d.ShortName != f.ShortName {
			t.Errorf("%s: short name %q, want %q", fe.path, d.ShortName, f.ShortName)
		}
		for i, st := range f.Streams {
			if st.Name == "" && f.IsDir() {
				continue
			}
			var ref *StreamRef
			for k := range d.Streams {
				if d.Streams[k].Name == st.Name && !d.Streams[k].Reparse {
					ref = &d.Streams[k]
				}
			}
			if ref == nil {
				t.Errorf("%s: stream %q missing", fe.path, st.Name)
				continue
			}
			rd, size, err := r.OpenBlob(ref.Hash)
			if err != nil {
				t.Errorf("%s: stream %q: %v", fe.path, st.Name, err)
				continue
			}
			if size != f.Data[i].Size() {
				t.Errorf("%s: stream %q size %d, want %d", fe.path, st.Name, size, f.Data[i].Size())
			}
			if size < 1<<20 {
				got, err := io.ReadAll(rd)
				want, _ := io.ReadAll(f.Data[i].Open())
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: stream %q content differs (err %v)", fe.path, st.Name, err)
				}
			}
		}
		if f.Attributes&volume.AttrReparsePoint != 0 {
			rd, _, err := r.OpenBlob(d.ReparseHash())
			if err != nil {
				t.Errorf("%s: reparse data: %v", fe.path, err)
			} else if got, _ := io.ReadAll(rd); !bytes.Equal(got, f.ReparseData) {
				t.Errorf("%s: reparse data differs", fe.path)
			}
		}
	}
}

var testCompressions = []Compression{CompressNone, CompressXPRESS, CompressLZX}

func TestRichTreeRoundTrip(t *testing.T) {
	tooltest.Require(t, "wimverify", "wimdir", "wiminfo", "7z")
	for _, comp := range testCompressions {
		t.Run(comp.String(), func(t *testing.T) {
			src := memsource.Rich(memsource.RichOptions{ManyFiles: 3000, Depth: 120})
			wim := filepath.Join(t.TempDir(), "rich.wim")
			info := writeWIM(t, wim, src, Options{Compression: comp, Integrity: true}, ImageOptions{Name: "Rich", Description: "every case", Boot: true})
			tooltest.Run(t, "wimverify", wim)
			checkAgainstWimdir(t, wim, 1, src)
			checkWithOurReader(t, wim, 1, src)
			if err := Verify(wim, VerifyOptions{}); err != nil {
				t.Fatal(err)
			}
			out := tooltest.Run(t, "wiminfo", wim, "1")
			for _, want := range []string{
				fmt.Sprintf("Directory Count:        %d", info.DirCount),
				fmt.Sprintf("File Count:             %d", info.FileCount),
				fmt.Sprintf("Total Bytes:            %d", info.TotalBytes),
				"Name:                   Rich",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("wiminfo lacks %q:\n%s", want, out)
				}
			}
			if out := tooltest.Run(t, "wiminfo", wim); !strings.Contains(out, "Boot Index:     1") || !strings.Contains(out, "Integrity info") {
				t.Errorf("wiminfo header:\n%s", out)
			}
			tooltest.Run(t, "7z", "t", wim)
		})
	}
}

// TestDirRoundTrip captures a Linux tree, applies it with wimapply and
// compares the applied tree with the source.
func TestDirRoundTrip(t *testing.T) {
	tooltest.Require(t, "wimapply", "wimverify")
	for _, comp := range testCompressions {
		t.Run(comp.String(), func(t *testing.T) {
			dir := t.TempDir()
			srcDir := filepath.Join(dir, "src")
			makeLinuxTree(t, srcDir)
			d, err := volume.OpenDir(srcDir, nil)
			if err != nil {
				t.Fatal(err)
			}
			wim := filepath.Join(dir, "x.wim")
			writeWIM(t, wim, d, Options{Compression: comp}, ImageOptions{Name: "linux"})
			tooltest.Run(t, "wimverify", wim)
			out := filepath.Join(dir, "out")
			tooltest.Run(t, "wimapply", wim, "1", out)
			compareTrees(t, srcDir, out)
			// Our dir listing equals wimdir's.
			r, err := Open(wim)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			img, err := r.Image(1)
			if err != nil {
				t.Fatal(err)
			}
			var ours []string
			Walk(img.Root, func(d *Dentry) error {
				p := strings.ReplaceAll(d.Path(), `\`, "/")
				ours = append(ours, p)
				return nil
			})
			theirs := strings.Split(strings.TrimSpace(tooltest.Run(t, "wimdir", wim, "1")), "\n")
			sort.Strings(ours)
			sort.Strings(theirs)
			if strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
				t.Errorf("our listing differs from wimdir's:\nours   %q\ntheirs %q", ours, theirs)
			}
		})
	}
}

func makeLinuxTree(t *testing.T, root string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(rel string, data []byte) {
		p := filepath.Join(root, rel)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, data, 0o644))
	}
	write("a.txt", []byte("hello\n"))
	write("sub/b.txt", []byte("hello\n"))
	write("sub/empty", nil)
	write("日本語/ファイル.txt", []byte("unicode"))
	write("emoji 😀/x", []byte("surrogate pair"))
	write(strings.Repeat("L", 255), []byte("long name"))
	rnd := make([]byte, 300000)
	for i := range rnd {
		rnd[i] = byte(i*7919 ^ i>>3)
	}
	write("bin/random.bin", rnd)
	write("bin/copy.bin", rnd)
	deep := "deep"
	for i := 0; i < 60; i++ {
		deep = filepath.Join(deep, fmt.Sprintf("d%02d", i))
	}
	write(filepath.Join(deep, "leaf"), []byte("deep"))
	must(os.Link(filepath.Join(root, "a.txt"), filepath.Join(root, "sub/hard.txt")))
	must(os.Symlink("a.txt", filepath.Join(root, "rel-link")))
	must(os.Symlink("sub", filepath.Join(root, "dir-link")))
	must(os.MkdirAll(filepath.Join(root, "emptydir"), 0o755))
	mt := time.Date(2021, 3, 4, 5, 6, 7, 123456700, time.UTC)
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode()&os.ModeSymlink == 0 {
			os.Chtimes(p, mt, mt)
		}
		return nil
	})
	// A file larger than its blocks (sparse).
	f, err := os.Create(filepath.Join(root, "sparse.img"))
	must(err)
	must(f.Truncate(50 << 20))
	f.WriteAt([]byte("tail"), 50<<20-4)
	f.Close()
}

func compareTrees(t *testing.T, a, b string) {
	t.Helper()
	type rec struct {
		mode  os.FileMode
		size  int64
		sum   [20]byte
		link  string
		mtime int64
		ino   string
	}
	scan := func(root string) map[string]rec {
		m := map[string]rec{}
		inodes := map[uint64]string{}
		filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(root, p)
			r := rec{mode: info.Mode().Type(), mtime: info.ModTime().UnixNano() / 100}
			if info.Mode().IsRegular() {
				data, _ := os.ReadFile(p)
				r.size, r.sum = int64(len(data)), sha1.Sum(data)
				ino := fileIno(info)
				if first, ok := inodes[ino]; ok {
					r.ino = first
				} else {
					inodes[ino] = rel
				}
			}
			if info.Mode()&os.ModeSymlink != 0 {
				r.link, _ = os.Readlink(p)
				r.mtime = 0
			}
			if info.IsDir() {
				r.mtime = 0 // wimapply sets directory times; our writes change them
			}
			m[rel] = r
			return nil
		})
		return m
	}
	ma, mb := scan(a), scan(b)
	if len(ma) != len(mb) {
		t.Errorf("source has %d paths, applied tree %d", len(ma), len(mb))
	}
	for p, ra := range ma {
		rb, ok := mb[p]
		if !ok {
			t.Errorf("%s missing after wimapply", p)
			continue
		}
		if ra.ino != "" || rb.ino != "" {
			// Hard links: the same group, whichever name is first.
			ra.ino, rb.ino = "", ""
		}
		if ra != rb {
			t.Errorf("%s: source %+v, applied %+v", p, ra, rb)
		}
	}
	// Hard link groups must be preserved.
	if fileInoPath(t, filepath.Join(b, "a.txt")) != fileInoPath(t, filepath.Join(b, "sub/hard.txt")) {
		t.Errorf("a.txt and sub/hard.txt are no longer hard links")
	}
}
