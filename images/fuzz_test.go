package images

import (
	"bytes"
	"context"
	"crypto/sha1"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
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

// dentryTreeString renders every field of a dentry tree that the metadata
// resource carries (not offsets or parent pointers), one dentry a line.
func dentryTreeString(root *Dentry) string {
	var b strings.Builder
	var walk func(d *Dentry, depth int)
	walk = func(d *Dentry, depth int) {
		fmt.Fprintf(&b, "%d %q %q %#x sd%d %d/%d/%d tag%#x rp%d/%d link%d %d children, streams",
			depth, d.Name, d.ShortName, d.Attributes, d.SecurityID, d.CreationTime, d.LastAccessTime, d.LastWriteTime,
			d.ReparseTag, d.rpReserved, d.rpFlags, d.HardLinkID, len(d.Children))
		// An empty unnamed data stream and none are the same file: the
		// writer gives every non-directory one, a parsed dentry may lack it.
		for _, s := range d.Streams {
			if s.Name == "" && !s.Reparse && s.Hash == zeroHash {
				continue
			}
			fmt.Fprintf(&b, " [%q %v %x]", s.Name, s.Reparse, s.Hash)
		}
		b.WriteByte('\n')
		for _, c := range d.Children {
			walk(c, depth+1)
		}
	}
	walk(root, 0)
	return b.String()
}

// FuzzMetadata parses arbitrary metadata resources: security data and the
// dentry tree. Whatever parses must be written back by marshalMetadata to a
// resource that parses to the same descriptors and the same tree, every
// field equal.
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
		descs, off, err := parseSecurity(buf)
		if err != nil {
			return
		}
		root, err := parseDentryTree(buf, off)
		if err != nil {
			return
		}
		// The writer gives a directory no unnamed data stream (a capture
		// never has one); a parsed one is dropped, nothing else. It also
		// writes the streams in DISM's order (reparse data, the unnamed
		// data stream, then named streams as they were), which a parsed
		// entry need not follow.
		Walk(root, func(d *Dentry) error {
			for i, s := range d.Streams {
				if d.Attributes&attrDirectory != 0 && s.Name == "" && !s.Reparse {
					d.Streams[i].Hash = zeroHash
				}
			}
			slices.SortStableFunc(d.Streams, func(a, b StreamRef) int { return streamRank(a) - streamRank(b) })
			return nil
		})
		sec := &securityTable{descs: descs}
		again := marshalMetadata(sec, root)
		descs2, off2, err := parseSecurity(again)
		if err != nil {
			t.Fatalf("our metadata resource's security data does not parse: %v", err)
		}
		if len(descs2) != len(descs) {
			t.Fatalf("%d security descriptors parse back as %d", len(descs), len(descs2))
		}
		for i := range descs {
			if !bytes.Equal(descs[i], descs2[i]) {
				t.Fatalf("security descriptor %d differs after the round trip", i)
			}
		}
		root2, err := parseDentryTree(again, off2)
		if err != nil {
			t.Fatalf("our metadata resource's dentry tree does not parse: %v", err)
		}
		if a, b := dentryTreeString(root), dentryTreeString(root2); a != b {
			t.Fatalf("the dentry tree differs after the round trip:\nparsed:\n%s\nwritten and parsed again:\n%s", a, b)
		}
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
		// What parses must render and parse again to the same images,
		// every field equal: as read (an append rewrites an image's XML
		// as it found it) ...
		again, err := parseXML(marshalXML(imgs, 0))
		if err != nil {
			t.Fatalf("re-parse of rendered XML: %v", err)
		}
		if !reflect.DeepEqual(again, imgs) {
			t.Fatalf("images differ after the round trip:\n got %+v\nwant %+v", again, imgs)
		}
		// ... and rendered from the fields alone, as a new image is.
		fresh := make([]ImageInfo, len(imgs))
		for i, im := range imgs {
			im.raw = ""
			fresh[i] = im
		}
		again, err = parseXML(marshalXML(fresh, 0))
		if err != nil {
			t.Fatalf("re-parse of the XML rendered from the fields: %v", err)
		}
		for i := range again {
			again[i].raw = ""
		}
		if len(again) != len(fresh) || len(fresh) > 0 && !reflect.DeepEqual(again, fresh) {
			t.Fatalf("images rendered from their fields differ after the round trip:\n got %+v\nwant %+v", again, fresh)
		}
	})
}

// FuzzReader opens whole damaged WIM files and reads everything in them.
// A WIM that Verify accepts must also read through the Reader: every image
// lists, and every stream it names opens with its size and SHA-1.
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
		if Verify(p, VerifyOptions{Threads: 1}) != nil {
			return
		}
		r, err := Open(p)
		if err != nil {
			t.Fatalf("Verify accepts a WIM that Open refuses: %v", err)
		}
		defer r.Close()
		for _, im := range r.Images() {
			img, err := r.Image(im.Index)
			if err != nil {
				t.Fatalf("Verify accepts a WIM whose image %d does not read: %v", im.Index, err)
			}
			Walk(img.Root, func(d *Dentry) error {
				for _, s := range d.Streams {
					if s.Hash == zeroHash {
						continue
					}
					rd, size, err := r.OpenBlob(s.Hash)
					if err != nil {
						t.Fatalf("%s: stream %q: %v", d.Path(), s.Name, err)
					}
					h := sha1.New()
					n, err := io.Copy(h, rd)
					if err != nil || n != size || [20]byte(h.Sum(nil)) != s.Hash {
						t.Fatalf("%s: stream %q read %d of %d bytes (%v), SHA-1 %x, want %x", d.Path(), s.Name, n, size, err, h.Sum(nil), s.Hash)
					}
				}
				return nil
			})
		}
	})
}

// FuzzVerifyAgainstWimverify is a differential fuzz of Verify against
// wimlib's wimverify on mutated WIMs: whatever wimverify refuses, Verify
// must refuse too, since the image store trusts Verify for every upload.
// wimverify runs only on inputs Verify accepts, which keeps the target fast.
// The seeds are WIMs of two small files (a few hundred bytes of metadata),
// so that most mutations land in the header, tables and XML. Without
// wimverify a fuzzing run fails (it would test nothing); the seed run
// skips, except under CI.
func FuzzVerifyAgainstWimverify(f *testing.F) {
	if _, err := exec.LookPath("wimverify"); err != nil && fuzzing() {
		f.Fatal("wimverify is not installed: the differential fuzz needs it as its oracle (make deps)")
	}
	tooltest.Require(f, "wimverify")
	src := func() *memsource.Source {
		return memsource.New(memsource.Text("a.txt", "hello hello hello"),
			memsource.Dir("d", memsource.Text("b.txt", strings.Repeat("tiny ", 40))))
	}
	for _, c := range []Compression{CompressNone, CompressXPRESS, CompressLZX} {
		p := filepath.Join(f.TempDir(), "seed.wim")
		writeWIM(f, p, src(), Options{Compression: c, Integrity: c != CompressLZX}, ImageOptions{Name: "seed"})
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.wim")
		acceptedByWimverify(t, p, b)
	})
}

// fuzzing reports whether this run fuzzes (go test -fuzz), as opposed to
// running the seed corpus only.
func fuzzing() bool {
	fl := flag.Lookup("test.fuzz")
	return fl != nil && fl.Value.String() != ""
}

// FuzzVerifyEditsAgainstWimverify is the differential fuzz of
// FuzzVerifyAgainstWimverify with its inputs kept near valid WIMs: the
// input picks one of three small WIMs and up to 16 byte edits (offset,
// value), and with refresh the integrity table is computed again over the
// edited bytes, as a forger would. Byte-level fuzzing of whole files
// drifts to inputs Verify refuses at once; these reach the checks behind
// the integrity table and the SHA-1s (blob table fields, part numbers,
// reference counts, the XML), where Verify must refuse whatever wimverify
// refuses.
func FuzzVerifyEditsAgainstWimverify(f *testing.F) {
	if _, err := exec.LookPath("wimverify"); err != nil && fuzzing() {
		f.Fatal("wimverify is not installed: the differential fuzz needs it as its oracle (make deps)")
	}
	tooltest.Require(f, "wimverify")
	var seeds [3][]byte
	for i, c := range []Compression{CompressNone, CompressXPRESS, CompressLZX} {
		p := filepath.Join(f.TempDir(), "seed.wim")
		src := memsource.New(memsource.Text("a.txt", "hello hello hello"),
			memsource.Dir("d", memsource.Text("b.txt", strings.Repeat("tiny ", 40))))
		writeWIM(f, p, src, Options{Compression: c, Integrity: true}, ImageOptions{Name: "seed", Description: "edited"})
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds[i] = b
	}
	f.Add(uint8(0), []byte{}, false)
	f.Add(uint8(1), []byte{0x14, 0x00, 0x00}, false) // chunk size
	f.Add(uint8(2), []byte{0x28, 0x00, 0x00}, true)  // part number
	f.Add(uint8(1), []byte{0x30, 0x00, 0x10}, true)  // blob table size
	f.Add(uint8(0), []byte(" b0"), false)            // a size wimverify runs out of memory on; Verify accepted it before issue 14
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, which uint8, edits []byte, refresh bool) {
		b := bytes.Clone(seeds[int(which)%len(seeds)])
		for i := 0; i+3 <= len(edits) && i < 3*16; i += 3 {
			off := int(edits[i]) | int(edits[i+1])<<8
			b[off%len(b)] = edits[i+2]
		}
		if refresh {
			refreshIntegrity(b)
		}
		p := filepath.Join(dir, "e.wim")
		acceptedByWimverify(t, p, b)
	})
}

// acceptedByWimverify writes b to p and fails t when Verify accepts it but
// wimverify, the oracle, refuses it.
func acceptedByWimverify(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if Verify(p, VerifyOptions{Threads: 1}) != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "wimverify", p).CombinedOutput()
	if err != nil {
		t.Fatalf("Verify accepts a WIM that wimverify refuses (%v):\n%s", err, out)
	}
}

// refreshIntegrity recomputes b's integrity table in place over the bytes
// it covers (after the header to the end of the blob table), when the
// header still locates both and the new table has the old one's size.
func refreshIntegrity(b []byte) {
	if len(b) < headerSize {
		return
	}
	bt, it := getResHdr(b[0x30:]), getResHdr(b[0x7C:])
	end := bt.Offset + bt.StoredSize
	if it.Offset == 0 || end < bt.Offset || end > uint64(len(b)) || it.Offset > uint64(len(b)) || it.StoredSize > uint64(len(b))-it.Offset || end <= headerSize {
		return
	}
	tbl, err := computeIntegrity(bytes.NewReader(b), headerSize, int64(end))
	if err != nil || uint64(len(tbl)) != it.StoredSize {
		return
	}
	copy(b[it.Offset:], tbl)
}

// streamRank orders a dentry's streams as streamLayout writes them.
func streamRank(s StreamRef) int {
	switch {
	case s.Reparse:
		return 0
	case s.Name == "":
		return 1
	}
	return 2
}
