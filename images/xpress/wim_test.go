package xpress

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// requireTool returns the path of an external tool. A missing tool skips the
// test on a developer machine but fails it under CI, where it is installed.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s not installed (install wimtools); skipping", name)
		}
		t.Fatalf("%s not found under CI: %v", name, err)
	}
	return p
}

// resHdr is a WIM resource header.
type resHdr struct {
	size   uint64 // stored size
	flags  byte
	offset uint64
	orig   uint64 // uncompressed size
}

const (
	resFlagMetadata   = 0x02
	resFlagCompressed = 0x04
	resFlagSpanned    = 0x08
	resFlagSolid      = 0x10
)

func parseResHdr(b []byte) resHdr {
	var s [8]byte
	copy(s[:], b[:7])
	return resHdr{
		size:   binary.LittleEndian.Uint64(s[:]),
		flags:  b[7],
		offset: binary.LittleEndian.Uint64(b[8:]),
		orig:   binary.LittleEndian.Uint64(b[16:]),
	}
}

// wimChunk is one chunk of a compressed resource as wimlib stored it.
type wimChunk struct {
	stored []byte // as stored: raw if len(stored) == size
	size   int    // uncompressed size
}

// wimFile is the part of a WIM file this test needs.
type wimFile struct {
	data      []byte
	chunkSize int
	xpress    bool
}

func openWIM(t testing.TB, path string) *wimFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 208 || string(data[:8]) != "MSWIM\x00\x00\x00" {
		t.Fatalf("%s: not a WIM file", path)
	}
	flags := binary.LittleEndian.Uint32(data[16:])
	return &wimFile{
		data:      data,
		chunkSize: int(binary.LittleEndian.Uint32(data[20:])),
		xpress:    flags&0x20000 != 0,
	}
}

// chunks splits the compressed resource r into its chunks.
func (w *wimFile) chunks(t testing.TB, r resHdr) []wimChunk {
	t.Helper()
	if r.flags&(resFlagSpanned|resFlagSolid) != 0 {
		t.Fatalf("resource at %d: spanned/solid resources are not expected here (flags %#x)", r.offset, r.flags)
	}
	if r.offset+r.size > uint64(len(w.data)) {
		t.Fatalf("resource at %d+%d beyond file end %d", r.offset, r.size, len(w.data))
	}
	res := w.data[r.offset : r.offset+r.size]
	if r.flags&resFlagCompressed == 0 {
		return []wimChunk{{stored: res, size: len(res)}}
	}
	cs := uint64(w.chunkSize)
	n := (r.orig + cs - 1) / cs
	entry := uint64(4)
	if r.orig >= 1<<32 {
		entry = 8
	}
	tbl := (n - 1) * entry
	if tbl > uint64(len(res)) {
		t.Fatalf("resource at %d: chunk table of %d bytes exceeds the resource", r.offset, tbl)
	}
	offs := make([]uint64, n+1)
	for i := uint64(1); i < n; i++ {
		if entry == 4 {
			offs[i] = uint64(binary.LittleEndian.Uint32(res[(i-1)*4:]))
		} else {
			offs[i] = binary.LittleEndian.Uint64(res[(i-1)*8:])
		}
	}
	offs[n] = uint64(len(res)) - tbl
	body := res[tbl:]
	out := make([]wimChunk, n)
	for i := range n {
		size := cs
		if i == n-1 {
			size = r.orig - i*cs
		}
		if offs[i] > offs[i+1] || offs[i+1] > uint64(len(body)) {
			t.Fatalf("resource at %d: bad chunk table", r.offset)
		}
		out[i] = wimChunk{stored: body[offs[i]:offs[i+1]], size: int(size)}
	}
	return out
}

// blobs returns the resource header and SHA-1 of every blob-table entry.
func (w *wimFile) blobs(t testing.TB) ([]resHdr, [][20]byte) {
	t.Helper()
	bt := parseResHdr(w.data[48:])
	if bt.flags&resFlagCompressed != 0 {
		t.Fatalf("compressed blob table not expected")
	}
	table := w.data[bt.offset : bt.offset+bt.size]
	var hdrs []resHdr
	var sums [][20]byte
	for len(table) >= 50 {
		hdrs = append(hdrs, parseResHdr(table))
		var s [20]byte
		copy(s[:], table[30:50])
		sums = append(sums, s)
		table = table[50:]
	}
	return hdrs, sums
}

// writeTestTree fills dir with generated files of many kinds and sizes,
// including chunk-size multiples and files that do not compress.
func writeTestTree(t testing.TB, dir string) {
	t.Helper()
	r := rand.New(rand.NewPCG(11, 12))
	gens := map[string]func(*rand.Rand, int) []byte{
		"text": genText, "bin": genBinary, "runs": genRuns, "rand": genRandom,
	}
	sizes := []int{1, 24, 25, 100, 4096, 32767, 32768, 32769, 65536, 65537, 100000, 300000}
	for name, g := range gens {
		for _, size := range sizes {
			p := filepath.Join(dir, fmt.Sprintf("%s-%d", name, size))
			if err := os.WriteFile(p, g(r, size), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Mixed: compressible and random chunks in one file.
	var mixed []byte
	for i := range 8 {
		if i%2 == 0 {
			mixed = append(mixed, genText(r, 32768)...)
		} else {
			mixed = append(mixed, genRandom(r, 32768)...)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "mixed"), mixed, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, f := range realFiles(t, 2<<20) {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("real-%03d", i)), f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDecompressWimlibWIM decompresses every resource of WIMs that wimlib
// wrote with XPRESS (32 KiB and 64 KiB chunks) and checks each against the
// SHA-1 in the blob table. It also re-compresses wimlib's chunks with our
// compressor: our default level (our high level against wimlib's level 100)
// must stay within 2% of wimlib's total size on the same chunks.
func TestDecompressWimlibWIM(t *testing.T) {
	wimcapture := requireTool(t, "wimcapture")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestTree(t, tree)

	for _, tc := range []struct {
		name string
		args []string
		// level is the level of ours whose output must stay within 2%
		// of wimlib's on the same chunks.
		level int
	}{
		{"xpress-32k", []string{"--compress=XPRESS"}, LevelDefault},
		{"xpress-64k", []string{"--compress=XPRESS", "--chunk-size=65536"}, LevelDefault},
		{"xpress-32k-level100", []string{"--compress=XPRESS:100"}, LevelHigh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name+".wim")
			args := append([]string{tree, out}, tc.args...)
			if msg, err := exec.Command(wimcapture, args...).CombinedOutput(); err != nil {
				t.Fatalf("wimcapture %v: %v\n%s", args, err, msg)
			}
			w := openWIM(t, out)
			if !w.xpress {
				t.Fatalf("%s: WIM is not XPRESS-compressed", out)
			}
			d := NewDecompressor()
			comp := map[int]*Compressor{}
			for _, lv := range levels {
				comp[lv] = NewCompressor(lv)
			}
			hdrs, sums := w.blobs(t)
			var nBlobs, nCompressed, nRaw, theirs int
			ours := map[int]int{}
			for i, h := range hdrs {
				if h.orig == 0 {
					continue
				}
				var whole bytes.Buffer
				for _, ch := range w.chunks(t, h) {
					buf := make([]byte, ch.size)
					if len(ch.stored) == ch.size || h.flags&resFlagCompressed == 0 {
						copy(buf, ch.stored)
						nRaw++
					} else {
						if err := d.Decompress(buf, ch.stored); err != nil {
							t.Fatalf("blob %d chunk: %v", i, err)
						}
						nCompressed++
					}
					whole.Write(buf)
					if h.flags&resFlagCompressed != 0 {
						theirs += len(ch.stored)
						for _, lv := range levels {
							dst := make([]byte, ch.size)
							n := comp[lv].Compress(dst, buf)
							if n == 0 {
								n = ch.size
							} else {
								got := make([]byte, ch.size)
								if err := d.Decompress(got, dst[:n]); err != nil || !bytes.Equal(got, buf) {
									t.Fatalf("level %d: our round trip of a wimlib chunk failed: %v", lv, err)
								}
							}
							ours[lv] += n
						}
					}
				}
				if got := sha1.Sum(whole.Bytes()); got != sums[i] {
					t.Fatalf("blob %d (%d bytes, flags %#x): SHA-1 %x, blob table says %x", i, h.orig, h.flags, got, sums[i])
				}
				nBlobs++
			}
			if nCompressed == 0 {
				t.Fatal("no compressed chunk was checked")
			}
			t.Logf("%d blobs verified: %d XPRESS chunks decoded, %d raw", nBlobs, nCompressed, nRaw)
			for _, lv := range levels {
				t.Logf("re-compressed: wimlib %d bytes, ours level %d %d bytes (%.4fx)", theirs, lv, ours[lv], float64(ours[lv])/float64(theirs))
			}
			if float64(ours[tc.level]) > 1.02*float64(theirs) {
				t.Errorf("level %d: %d bytes, more than 2%% above wimlib's %d on the same chunks", tc.level, ours[tc.level], theirs)
			}
		})
	}
}
