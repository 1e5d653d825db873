package images

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

// storeTree is a small tree with duplicates, empty files and a file of
// several chunks; variant changes about one file in twenty.
func storeTree(variant uint32) *memsource.Source {
	var files []*memsource.File
	for i := range 40 {
		seed := uint32(i + 1)
		if variant != 0 && i%20 == 7 {
			seed += 1000 * variant
		}
		files = append(files, memsource.Regular(fmt.Sprintf("f%02d.bin", i), memsource.Pattern{N: int64(3000 + 997*i), Seed: seed}))
	}
	return memsource.New(
		memsource.Text("readme.txt", strings.Repeat("the same text in two files\n", 300)),
		memsource.Text("copy.txt", strings.Repeat("the same text in two files\n", 300)),
		memsource.Regular("empty", memsource.Bytes(nil)),
		memsource.Dir("Windows", memsource.Dir("System32", files...),
			memsource.Regular("big.dat", memsource.Pattern{N: 5*ChunkSize + 123, Seed: 77})),
		memsource.Dir("emptydir"),
	)
}

// treeDigest walks an applied tree and returns path -> kind/size/SHA-1.
func treeDigest(t *testing.T, root string) map[string]string {
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
		m[rel] = fmt.Sprintf("file %d %x", len(data), sha1.Sum(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameTrees(t *testing.T, a, b string) {
	t.Helper()
	da, db := treeDigest(t, a), treeDigest(t, b)
	if len(da) < 10 {
		t.Fatalf("only %d entries in %s", len(da), a)
	}
	if fmt.Sprint(da) != fmt.Sprint(db) {
		t.Errorf("applied trees differ:\n%v\n%v", da, db)
	}
}

// splitWIM writes image index of src as a resource-only WIM (every stream)
// and a metadata-only WIM, both with RawWriter.
func splitWIM(t *testing.T, src *Reader, index int, res, meta string, info ImageInfo) {
	t.Helper()
	ctx := context.Background()
	img, err := src.Image(index)
	if err != nil {
		t.Fatal(err)
	}
	var list []BlobCopy
	for h, u := range ImageStreams(img) {
		list = append(list, BlobCopy{Hash: h, Refs: u.Refs})
	}
	f, err := os.Create(res)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewRawWriter(f, src.Compression(), RawOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CopyBlobs(ctx, src, list); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	mf, err := os.Create(meta)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	mw, err := NewRawWriter(mf, src.Compression(), RawOptions{Integrity: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := mw.CopyImage(ctx, src, index, info); err != nil {
		t.Fatal(err)
	}
	if err := mw.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestRawSplitAppliesWithWimlib splits a WIM into a resource WIM and a
// metadata WIM (the image store's res.rwm and <image>.wim), and checks
// with wimlib that the pair restores the tree the original restores, that
// wiminfo shows the XML (renamed, WINDOWS block kept) and that wimverify
// accepts the resource WIM.
func TestRawSplitAppliesWithWimlib(t *testing.T) {
	tooltest.Require(t, "wimapply", "wiminfo", "wimverify")
	for _, comp := range testCompressions {
		t.Run(comp.String(), func(t *testing.T) {
			dir := t.TempDir()
			orig := filepath.Join(dir, "orig.wim")
			windows := "<WINDOWS><ARCH>9</ARCH><PRODUCTNAME>Windows 11 Enterprise</PRODUCTNAME></WINDOWS>"
			writeWIM(t, orig, storeTree(0), Options{Compression: comp, Integrity: true},
				ImageOptions{Name: "Original", Description: "first", WindowsXML: windows})
			src, err := Open(orig)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			info := src.Images()[0]
			info.SetName("Renamed & <new>")
			info.SetDescription("")
			res, meta := filepath.Join(dir, "res.rwm"), filepath.Join(dir, "img.wim")
			splitWIM(t, src, 1, res, meta, info)

			tooltest.Run(t, "wimapply", orig, "1", filepath.Join(dir, "a"))
			tooltest.Run(t, "wimapply", meta, "1", filepath.Join(dir, "b"), "--ref="+res)
			sameTrees(t, filepath.Join(dir, "a"), filepath.Join(dir, "b"))

			out := tooltest.Run(t, "wiminfo", meta, "1")
			if !strings.Contains(out, "Name:                   Renamed & <new>") || strings.Contains(out, "first") ||
				!strings.Contains(out, "Windows 11 Enterprise") {
				t.Errorf("wiminfo of the metadata WIM:\n%s", out)
			}
			tooltest.Run(t, "wimverify", meta, "--ref="+res)
			tooltest.Run(t, "wimverify", res)
			if err := Verify(res, VerifyOptions{}); err != nil {
				t.Errorf("our Verify of the resource WIM: %v", err)
			}
			// Without its reference, the metadata WIM cannot be applied.
			if out, err := tooltest.Try("wimapply", meta, "1", filepath.Join(dir, "c")); err == nil {
				t.Errorf("wimapply without --ref succeeded:\n%s", out)
			}
		})
	}
}

// TestRawAppendGrowsByNewData appends a second, mostly identical image's
// streams to a resource WIM and checks that it grows by the new streams'
// stored bytes and the new tables only, that both images apply, and that
// an interrupted (aborted) append leaves the file byte for byte as it was.
func TestRawAppendGrowsByNewData(t *testing.T) {
	tooltest.Require(t, "wimapply", "wimverify")
	ctx := context.Background()
	dir := t.TempDir()
	comp := CompressXPRESS
	one, two := filepath.Join(dir, "one.wim"), filepath.Join(dir, "two.wim")
	writeWIM(t, one, storeTree(0), Options{Compression: comp}, ImageOptions{Name: "one"})
	writeWIM(t, two, storeTree(1), Options{Compression: comp}, ImageOptions{Name: "two"})
	r1, err := Open(one)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := Open(two)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	res := filepath.Join(dir, "res.rwm")
	splitWIM(t, r1, 1, res, filepath.Join(dir, "one-meta.wim"), r1.Images()[0])
	before, err := os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}

	img2, err := r2.Image(1)
	if err != nil {
		t.Fatal(err)
	}
	var list []BlobCopy
	var newStored uint64
	newCount := 0
	for h, u := range ImageStreams(img2) {
		list = append(list, BlobCopy{Hash: h, Refs: u.Refs})
		if _, ok := r1.Blob(h); !ok {
			b, _ := r2.Blob(h)
			newStored += b.StoredSize
			newCount++
		}
	}
	if newCount == 0 || newCount > 4 {
		t.Fatalf("%d new streams; the variant should change a few", newCount)
	}

	appendOnce := func(commit bool) {
		f, err := os.OpenFile(res, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		w, err := AppendRaw(f, st.Size(), RawOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.CopyBlobs(ctx, r2, list); err != nil {
			t.Fatal(err)
		}
		if !commit {
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			return
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	appendOnce(false)
	if after, _ := os.ReadFile(res); !bytes.Equal(after, before) {
		t.Fatalf("an aborted append changed the resource WIM (%d -> %d bytes)", len(before), len(after))
	}
	appendOnce(true)
	st, _ := os.Stat(res)
	// The new blob table replaces the old one (which stays, unreferenced,
	// until the file is rewritten); the XML data is the same size.
	rr, err := Open(res)
	if err != nil {
		t.Fatal(err)
	}
	tables := uint64(rr.hdr.BlobTable.StoredSize + rr.hdr.XML.StoredSize)
	rr.Close()
	growth := uint64(st.Size()) - uint64(len(before))
	if want := newStored + tables; growth != want {
		t.Errorf("resource WIM grew by %d bytes; new streams %d + new tables %d = %d", growth, newStored, tables, want)
	}
	meta2 := filepath.Join(dir, "two-meta.wim")
	mf, _ := os.Create(meta2)
	mw, _ := NewRawWriter(mf, comp, RawOptions{})
	if err := mw.CopyImage(ctx, r2, 1, r2.Images()[0]); err != nil {
		t.Fatal(err)
	}
	if err := mw.Commit(); err != nil {
		t.Fatal(err)
	}
	mf.Close()
	tooltest.Run(t, "wimverify", res)
	for _, c := range []struct{ orig, meta string }{{one, filepath.Join(dir, "one-meta.wim")}, {two, meta2}} {
		a, b := filepath.Join(dir, "a-"+filepath.Base(c.meta)), filepath.Join(dir, "b-"+filepath.Base(c.meta))
		tooltest.Run(t, "wimapply", c.orig, "1", a)
		tooltest.Run(t, "wimapply", c.meta, "1", b, "--ref="+res)
		sameTrees(t, a, b)
	}
}

// TestRawCopyRefusesDamage flips one bit in a stream and in the metadata
// resource of a source WIM: the copy fails with a BlobError naming the
// stream, whatever the compression.
func TestRawCopyRefusesDamage(t *testing.T) {
	ctx := context.Background()
	for _, comp := range testCompressions {
		t.Run(comp.String(), func(t *testing.T) {
			dir := t.TempDir()
			orig := filepath.Join(dir, "orig.wim")
			writeWIM(t, orig, storeTree(0), Options{Compression: comp}, ImageOptions{Name: "x"})
			r, err := Open(orig)
			if err != nil {
				t.Fatal(err)
			}
			blobs := r.Blobs()
			victim := blobs[len(blobs)/2]
			meta, _ := r.MetadataBlob(1)
			r.Close()
			data, _ := os.ReadFile(orig)
			for _, tc := range []struct {
				name string
				off  uint64
				meta bool
			}{{"stream", victim.Offset + victim.StoredSize/2, false}, {"metadata", meta.Offset + meta.StoredSize/2, true}} {
				bad := bytes.Clone(data)
				bad[tc.off] ^= 0x04
				src, err := NewReader(bytes.NewReader(bad), int64(len(bad)))
				if err != nil {
					t.Fatal(err)
				}
				f, _ := os.Create(filepath.Join(dir, tc.name+".wim"))
				w, _ := NewRawWriter(f, comp, RawOptions{})
				if tc.meta {
					err = w.CopyImage(ctx, src, 1, src.Images()[0])
				} else {
					var list []BlobCopy
					for _, b := range src.Blobs() {
						list = append(list, BlobCopy{Hash: b.Hash, Refs: 1})
					}
					err = w.CopyBlobs(ctx, src, list)
				}
				f.Close()
				var be *BlobError
				if !errors.As(err, &be) || be.Metadata != tc.meta || (!tc.meta && be.Hash != victim.Hash) {
					t.Errorf("%s damaged: err = %v, want a BlobError for %x (metadata %v)", tc.name, err, victim.Hash, tc.meta)
				}
			}
		})
	}
}

// TestRawCopyNeedsSameCompression refuses to copy compressed resources into
// a WIM of another compression type, and copies uncompressed ones anywhere.
func TestRawCopyNeedsSameCompression(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	x := filepath.Join(dir, "x.wim")
	writeWIM(t, x, storeTree(0), Options{Compression: CompressXPRESS}, ImageOptions{Name: "x"})
	r, err := Open(x)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, _ := os.Create(filepath.Join(dir, "lzx.wim"))
	defer f.Close()
	w, _ := NewRawWriter(f, CompressLZX, RawOptions{})
	var list []BlobCopy
	for _, b := range r.Blobs() {
		list = append(list, BlobCopy{Hash: b.Hash, Refs: 1})
	}
	var be *BlobError
	if err := w.CopyBlobs(ctx, r, list); !errors.As(err, &be) || !strings.Contains(err.Error(), "compression") {
		t.Errorf("copy of XPRESS resources into an LZX WIM: %v", err)
	}
	if err := w.CopyBlobs(ctx, r, []BlobCopy{{Hash: [20]byte{1}, Refs: 1}}); !errors.Is(err, ErrBlobMissing) {
		t.Errorf("copy of a stream the source lacks: %v, want ErrBlobMissing", err)
	}
}

func TestSetElement(t *testing.T) {
	for _, tc := range []struct{ raw, tag, text, want string }{
		{"<NAME>a</NAME><X>1</X>", "NAME", "b", "<NAME>b</NAME><X>1</X>"},
		{"<X><NAME>inner</NAME></X>", "NAME", "b", "<X><NAME>inner</NAME></X><NAME>b</NAME>"},
		{"<X>1</X><DESCRIPTION>d</DESCRIPTION>", "DESCRIPTION", "", "<X>1</X>"},
		{"<X>1</X>", "NAME", "a&b", "<X>1</X><NAME>a&amp;b</NAME>"},
		{"", "NAME", "a", ""},
	} {
		if got := setElement(tc.raw, tc.tag, tc.text); got != tc.want {
			t.Errorf("setElement(%q, %s, %q) = %q, want %q", tc.raw, tc.tag, tc.text, got, tc.want)
		}
	}
}
