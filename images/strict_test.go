package images

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

// strictSource is a small tree with a dozen named files, so that the
// metadata resource is a few KiB.
func strictSource() *memsource.Source {
	var files []*memsource.File
	for i := range 12 {
		files = append(files, memsource.Text(fmt.Sprintf("file%02d.txt", i), strings.Repeat(fmt.Sprintf("line %d\n", i), 40+i)))
	}
	files = append(files, memsource.Dir("Windows", memsource.Text("victim.dll", strings.Repeat("MZ code ", 300))))
	return memsource.New(files...)
}

// strictWIM writes strictSource into a WIM and returns its bytes.
func strictWIM(t testing.TB, comp Compression, integrity bool) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.wim")
	writeWIM(t, p, strictSource(), Options{Compression: comp, Integrity: integrity}, ImageOptions{Name: "strict"})
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ourVerify verifies b as a file, the way `wdscapture verify` does.
func ourVerify(t testing.TB, b []byte) error {
	t.Helper()
	p := filepath.Join(t.TempDir(), "v.wim")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return Verify(p, VerifyOptions{Threads: 1})
}

// wimverifyRejects runs wimlib's verifier on b.
func wimverifyRejects(t testing.TB, dir string, b []byte) (bool, string) {
	t.Helper()
	p := filepath.Join(dir, "w.wim")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := tooltest.Try("wimverify", p)
	return err != nil, out
}

// TestVerifyAsStrictAsWimverify damages one header or blob table field at
// a time, each a case that wimverify refuses, and expects Verify to refuse
// it too (the image store trusts Verify for every upload).
func TestVerifyAsStrictAsWimverify(t *testing.T) {
	tooltest.Require(t, "wimverify")
	type mut func(t *testing.T, b []byte, h *header, blobs []*blob) []byte
	u32 := func(off int, v uint32) mut {
		return func(t *testing.T, b []byte, h *header, blobs []*blob) []byte {
			binary.LittleEndian.PutUint32(b[off:], v)
			return b
		}
	}
	entry := func(meta bool, field int, put func(e []byte)) mut {
		return func(t *testing.T, b []byte, h *header, blobs []*blob) []byte {
			for i, bl := range blobs {
				if bl.metadata() == meta {
					put(b[h.BlobTable.Offset+uint64(i*blobEntrySize)+uint64(field):])
					return b
				}
			}
			t.Fatal("no such blob table entry")
			return nil
		}
	}
	cases := []struct {
		name string
		comp Compression
		m    mut
		// stricter: wimverify accepts this one (it picks LZX of two
		// compression flags; the files are too small for the chunk size
		// to matter); Verify refuses it because the header is not one
		// any writer makes.
		stricter bool
	}{
		{name: "chunk size 0", comp: CompressXPRESS, m: u32(0x14, 0)},
		{name: "chunk size 65536", comp: CompressXPRESS, m: u32(0x14, 65536), stricter: true},
		{name: "chunk size in an uncompressed WIM", comp: CompressNone, m: u32(0x14, 32768)},
		{name: "XPRESS and LZX flags", comp: CompressXPRESS, m: u32(0x10, hdrFlagCompression|hdrFlagXPRESS|hdrFlagLZX)},
		{name: "LZX and XPRESS flags", comp: CompressLZX, m: u32(0x10, hdrFlagCompression|hdrFlagXPRESS|hdrFlagLZX), stricter: true},
		{name: "part numbers 0/0", comp: CompressXPRESS, m: u32(0x28, 0)},
		{name: "part numbers 98/1", comp: CompressXPRESS, m: u32(0x28, 98|1<<16)},
		{name: "version 0x10b00", comp: CompressXPRESS, m: u32(0x0C, 0x10b00)},
		{name: "metadata refcount 0xFFFFFFFF", comp: CompressXPRESS, m: entry(true, 26, func(e []byte) { binary.LittleEndian.PutUint32(e, 0xFFFFFFFF) })},
		{name: "metadata refcount 2", comp: CompressNone, m: entry(true, 26, func(e []byte) { binary.LittleEndian.PutUint32(e, 2) })},
		{name: "blob part number flipped", comp: CompressXPRESS, m: entry(false, 24, func(e []byte) { e[0] ^= 0x02 })},
		{name: "XML size 2^64-1", comp: CompressXPRESS, m: func(t *testing.T, b []byte, h *header, blobs []*blob) []byte {
			binary.LittleEndian.PutUint64(b[0x48+16:], 1<<64-1)
			return b
		}},
		{name: "blob table size 2^64-1", comp: CompressLZX, m: func(t *testing.T, b []byte, h *header, blobs []*blob) []byte {
			binary.LittleEndian.PutUint64(b[0x30+16:], 1<<64-1)
			return b
		}},
		{name: "integrity table of 0 bytes", comp: CompressXPRESS, m: func(t *testing.T, b []byte, h *header, blobs []*blob) []byte {
			binary.LittleEndian.PutUint64(b[0x7C+8:], uint64(h.XML.Offset))
			return b
		}},
		{name: "renamed file in the metadata", comp: CompressNone, m: func(t *testing.T, b []byte, h *header, blobs []*blob) []byte {
			name := utf16Bytes(utf16.Encode([]rune("file03.txt")))
			i := bytes.Index(b, name)
			if i < 0 {
				t.Fatal("name not found")
			}
			b[i] = 'F'
			return b
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			good := strictWIM(t, tc.comp, false)
			h, err := parseHeader(good, int64(len(good)))
			if err != nil {
				t.Fatal(err)
			}
			blobs, err := parseBlobTable(good[h.BlobTable.Offset:h.BlobTable.Offset+h.BlobTable.StoredSize], int64(len(good)))
			if err != nil {
				t.Fatal(err)
			}
			if err := ourVerify(t, good); err != nil {
				t.Fatalf("intact WIM: %v", err)
			}
			bad := tc.m(t, bytes.Clone(good), h, blobs)
			if rejects, out := wimverifyRejects(t, t.TempDir(), bad); !rejects && !tc.stricter {
				t.Fatalf("wimverify accepts the damage, so the case proves nothing:\n%s", out)
			}
			if err := ourVerify(t, bad); err == nil {
				t.Errorf("Verify accepted a WIM that wimverify refuses")
			}
		})
	}
}

// TestMetadataBitFlips flips single bits all over the metadata resource of
// a default (XPRESS) WIM. Every flip that wimverify refuses must be refused
// by Verify too; wimverify runs only where Verify accepts, so the test stays
// quick.
func TestMetadataBitFlips(t *testing.T) {
	tooltest.Require(t, "wimverify")
	for _, comp := range []Compression{CompressXPRESS, CompressNone} {
		t.Run(comp.String(), func(t *testing.T) {
			good := strictWIM(t, comp, false)
			h, _ := parseHeader(good, int64(len(good)))
			blobs, _ := parseBlobTable(good[h.BlobTable.Offset:h.BlobTable.Offset+h.BlobTable.StoredSize], int64(len(good)))
			var meta resHdr
			for _, bl := range blobs {
				if bl.metadata() {
					meta = bl.res
				}
			}
			dir := t.TempDir()
			bits := meta.StoredSize * 8
			step := max(1, bits/400) // about 400 flips, spread over the resource
			flips, accepted := 0, 0
			for bit := uint64(0); bit < bits; bit += step {
				bad := bytes.Clone(good)
				bad[meta.Offset+bit/8] ^= 1 << (bit % 8)
				flips++
				if ourVerify(t, bad) != nil {
					continue
				}
				accepted++
				if rejects, out := wimverifyRejects(t, dir, bad); rejects {
					t.Errorf("bit %d of the metadata: Verify accepts what wimverify refuses:\n%s", bit, out)
				}
			}
			t.Logf("%d flips, %d accepted by Verify", flips, accepted)
		})
	}
}

// TestDamageAsStrictAsWimverify changes the header, the blob table and the
// XML data of small WIMs byte by byte (bit flips, 0x00, 0xFF, UTF-16
// surrogate halves and XML markup) and expects Verify to refuse whatever
// wimverify refuses. It is the bounded, deterministic part of
// FuzzVerifyAgainstWimverify: about 5,000 cases, wimverify running only on
// the few hundred that Verify accepts.
func TestDamageAsStrictAsWimverify(t *testing.T) {
	tooltest.Require(t, "wimverify")
	for _, tc := range []struct {
		comp      Compression
		integrity bool
	}{{CompressXPRESS, false}, {CompressLZX, true}} {
		t.Run(fmt.Sprintf("%v/integrity=%v", tc.comp, tc.integrity), func(t *testing.T) {
			good := strictWIM(t, tc.comp, tc.integrity)
			h, err := parseHeader(good, int64(len(good)))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			p := filepath.Join(dir, "d.wim")
			cases, accepted := 0, 0
			try := func(off uint64, v byte) {
				if good[off] == v {
					return
				}
				bad := bytes.Clone(good)
				bad[off] = v
				cases++
				if err := os.WriteFile(p, bad, 0o644); err != nil {
					t.Fatal(err)
				}
				if Verify(p, VerifyOptions{Threads: 1}) != nil {
					return
				}
				accepted++
				if out, err := tooltest.Try("wimverify", p); err != nil {
					t.Errorf("byte %d set to %#02x: Verify accepts what wimverify refuses:\n%s", off, v, out)
				}
			}
			flips := func(from, to, stride uint64, extra ...byte) {
				for off := from; off < to; off += stride {
					for bit := range 8 {
						try(off, good[off]^1<<bit)
					}
					for _, v := range extra {
						try(off, v)
					}
				}
			}
			// The header up to the GUID and from the part number to the
			// integrity table (the GUID and the unused tail are free).
			flips(0, 0x18, 1, 0x00, 0xFF)
			flips(0x28, 0x94, 1, 0x00, 0xFF)
			if !tc.integrity { // with one, the table covers the blob table
				flips(h.BlobTable.Offset, h.BlobTable.Offset+h.BlobTable.StoredSize, 7, 0x00, 0xFF)
			}
			flips(h.XML.Offset, h.XML.Offset+h.XML.StoredSize, 13, 0x00, 0xD8, 0xDC, '<', '&')
			t.Logf("%d cases, %d accepted by Verify", cases, accepted)
		})
	}
}
