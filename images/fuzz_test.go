package images

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/memsource"
)

func seedWIM(f *testing.F, comp Compression) []byte { return seedWIMT(f, comp) }

func seedWIMT(f testing.TB, comp Compression) []byte {
	p := filepath.Join(f.TempDir(), "seed.wim")
	w, err := Create(p, Options{Compression: comp, Integrity: true})
	if err != nil {
		f.Fatal(err)
	}
	src := memsource.New(
		memsource.Text("a.txt", "hello hello hello hello"),
		memsource.Dir("d", memsource.Text("b.txt", strings.Repeat("compressible text ", 3000))).WithStream("s", memsource.Bytes("named")),
	)
	src.Root_.Security = memsource.SecurityDescriptor(1)
	if _, err := w.AddImage(context.Background(), src, ImageOptions{Name: "seed"}); err != nil {
		f.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func FuzzHeader(f *testing.F) {
	f.Add(seedWIM(f, CompressNone)[:headerSize], int64(1<<20))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		h, err := parseHeader(b, size)
		if err == nil && h.ImageCount < h.BootIndex {
			t.Fatal("accepted a boot index beyond the image count")
		}
	})
}

func FuzzBlobTable(f *testing.F) {
	b := seedWIM(f, CompressXPRESS)
	h, _ := parseHeader(b, int64(len(b)))
	f.Add(b[h.BlobTable.Offset:h.BlobTable.Offset+h.BlobTable.StoredSize], int64(len(b)))
	f.Fuzz(func(t *testing.T, tbl []byte, size int64) {
		blobs, err := parseBlobTable(tbl, size)
		if err != nil {
			return
		}
		for _, bl := range blobs {
			if int64(bl.res.Offset+bl.res.StoredSize) > size {
				t.Fatal("accepted a blob past the end of the file")
			}
		}
	})
}

// FuzzMetadata parses arbitrary metadata resources: security data and the
// dentry tree.
func FuzzMetadata(f *testing.F) {
	sec := newSecurityTable()
	sec.add(memsource.SecurityDescriptor(1))
	root := &Dentry{Attributes: attrDirectory, SecurityID: 0}
	a := &Dentry{Name: "a", ShortName: "A~1", Attributes: 0x20, SecurityID: 0, Streams: []StreamRef{{Hash: [20]byte{1}}, {Name: "s", Hash: [20]byte{2}}}, Parent: root}
	d := &Dentry{Name: "d", Attributes: attrDirectory, SecurityID: -1, Parent: root}
	d.Children = []*Dentry{{Name: "r", Attributes: attrReparsePoint, ReparseTag: 0xA000000C, SecurityID: -1, Parent: d}}
	root.Children = []*Dentry{a, d}
	f.Add(marshalMetadata(sec, root))
	f.Fuzz(func(t *testing.T, buf []byte) {
		_, off, err := parseSecurity(buf)
		if err != nil {
			return
		}
		parseDentryTree(buf, off)
	})
}

func FuzzXML(f *testing.F) {
	f.Add(marshalXML([]ImageInfo{{Index: 1, Name: "a & b", WindowsXML: "<WINDOWS><ARCH>9</ARCH></WINDOWS>"}}, 1234))
	f.Add([]byte{0xFF, 0xFE, '<', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		imgs, err := parseXML(b)
		if err != nil {
			return
		}
		// What parses must render and parse again to the same images.
		again, err := parseXML(marshalXML(imgs, 0))
		if err != nil || len(again) != len(imgs) {
			t.Fatalf("re-parse of rendered XML: %v (%d vs %d images)", err, len(again), len(imgs))
		}
	})
}

// FuzzReader opens whole damaged WIM files and reads everything in them.
func FuzzReader(f *testing.F) {
	for _, c := range []Compression{CompressNone, CompressXPRESS, CompressLZX} {
		f.Add(seedWIM(f, c))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.wim")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		Verify(p, VerifyOptions{Threads: 1})
	})
}
