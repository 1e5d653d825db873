package lzx

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// putResHdr encodes a WIM resource header.
func putResHdr(b []byte, stored int64, flags byte, offset, orig int64) {
	binary.LittleEndian.PutUint64(b[0:], uint64(stored)|uint64(flags)<<56)
	binary.LittleEndian.PutUint64(b[8:], uint64(offset))
	binary.LittleEndian.PutUint64(b[16:], uint64(orig))
}

// recompressWIM rebuilds a wimlib-written LZX WIM with every blob
// (file data and image metadata) recompressed by our Compressor, so that
// wimlib's own tools can judge our compressed chunks.
func recompressWIM(t testing.TB, wim []byte, level int) (out []byte, chunks, ours int) {
	t.Helper()
	d := NewDecompressor()
	c := NewCompressor(level)
	blobs := parseWIM(t, wim)
	var buf bytes.Buffer
	buf.Write(wim[:208])
	table := make([]byte, 0, 50*len(blobs))
	for _, b := range blobs {
		data := decodeBlob(t, d, wim, b)
		n := (len(data) + ChunkSize - 1) / ChunkSize
		var body bytes.Buffer
		offs := make([]byte, 4*(n-1))
		dst := make([]byte, ChunkSize)
		for i := 0; i < n; i++ {
			if i > 0 {
				binary.LittleEndian.PutUint32(offs[4*(i-1):], uint32(body.Len()))
			}
			chunk := data[i*ChunkSize : min(len(data), (i+1)*ChunkSize)]
			chunks++
			if k := c.Compress(dst, chunk); k > 0 {
				body.Write(dst[:k])
				ours++
			} else {
				body.Write(chunk)
			}
		}
		off := int64(buf.Len())
		buf.Write(offs)
		buf.Write(body.Bytes())
		var e [50]byte
		putResHdr(e[:], int64(len(offs)+body.Len()), b.flags|0x04, off, int64(len(data)))
		table = append(table, e[:]...)
	}
	// Copy part numbers and reference counts from the original table.
	_, _, tOff, _ := parseResHdr(wim[0x30:])
	for i := range blobs {
		copy(table[50*i+24:50*i+50], wim[tOff+int64(50*i)+24:tOff+int64(50*i)+50])
	}
	out = buf.Bytes()
	tableOff := int64(len(out))
	out = append(out, table...)
	putResHdr(out[0x30:], int64(len(table)), 0, tableOff, int64(len(table)))
	xs, xf, xo, xl := parseResHdr(wim[0x48:])
	xmlOff := int64(len(out))
	out = append(out, wim[xo:xo+xs]...)
	putResHdr(out[0x48:], xs, xf, xmlOff, xl)
	// No boot image, no integrity table.
	clear(out[0x60:0x78])
	clear(out[0x78:0x7C])
	clear(out[0x7C:0x94])
	return out, chunks, ours
}

// TestWimlibAcceptsOurChunks has wimlib verify and apply a WIM whose
// every resource was compressed by this package, and compares the
// applied files with the originals.
func TestWimlibAcceptsOurChunks(t *testing.T) {
	wimcapture := needTool(t, "wimcapture")
	wimverify := needTool(t, "wimverify")
	wimapply := needTool(t, "wimapply")
	files := corpusFiles(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	writeCorpus(t, src, files)
	orig := filepath.Join(dir, "wimlib.wim")
	if b, err := exec.Command(wimcapture, src, orig, "--compress=LZX", "--threads=1", "--no-acls").CombinedOutput(); err != nil {
		t.Fatalf("wimcapture: %v: %s", err, b)
	}
	wim, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		level int
	}{
		{"fast", LevelFast},
		{"default", LevelDefault},
		{"max", LevelMax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, chunks, ours := recompressWIM(t, wim, tc.level)
			if ours == 0 {
				t.Fatalf("no chunk was compressed")
			}
			p := filepath.Join(dir, tc.name+".wim")
			if err := os.WriteFile(p, out, 0o644); err != nil {
				t.Fatal(err)
			}
			if b, err := exec.Command(wimverify, p).CombinedOutput(); err != nil {
				t.Fatalf("wimverify rejected our chunks: %v: %s", err, b)
			}
			apply := filepath.Join(dir, "apply-"+tc.name)
			if b, err := exec.Command(wimapply, p, "1", apply).CombinedOutput(); err != nil {
				t.Fatalf("wimapply: %v: %s", err, b)
			}
			for name, data := range files {
				got, err := os.ReadFile(filepath.Join(apply, name))
				if err != nil {
					t.Fatalf("applied file: %v", err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("applied %s differs from the original", name)
				}
			}
			// The oracle must be live: a damaged copy has to be rejected.
			bad := bytes.Clone(out)
			b0 := parseWIM(t, bad)[0]
			bad[b0.offset+b0.storedSize/2] ^= 0x5A
			pb := filepath.Join(dir, tc.name+"-bad.wim")
			if err := os.WriteFile(pb, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			if b, err := exec.Command(wimverify, pb).CombinedOutput(); err == nil {
				t.Fatalf("wimverify accepted a damaged WIM: %s", b)
			}
			t.Logf("%s: wimverify and wimapply accepted %d chunks (%d LZX-compressed by us), %d bytes", tc.name, chunks, ours, len(out))
		})
	}
}
