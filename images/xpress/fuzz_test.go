package xpress

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fuzzSeeds returns a few valid compressed chunks and their sizes.
func fuzzSeeds() (comp [][]byte, sizes []int) {
	r := rand.New(rand.NewPCG(21, 22))
	c := NewCompressor(LevelDefault)
	for _, src := range [][]byte{
		genText(r, 300), genBinary(r, 2000), genRuns(r, 5000), genText(r, 40000),
		bytes.Repeat([]byte("ab"), 200),
	} {
		dst := make([]byte, len(src))
		if n := c.Compress(dst, src); n > 0 {
			comp = append(comp, dst[:n])
			sizes = append(sizes, len(src))
		}
	}
	return comp, sizes
}

// wimlibSeeds returns a few chunks (and their sizes) that wimlib
// compressed, or none without wimcapture.
func wimlibSeeds(tb testing.TB) (comp [][]byte, sizes []int) {
	wimcapture, err := exec.LookPath("wimcapture")
	if err != nil {
		return nil, nil
	}
	r := rand.New(rand.NewPCG(25, 26))
	dir := tb.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		tb.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"text": genText(r, 40000), "bin": genBinary(r, 40000), "runs": genRuns(r, 20000),
	} {
		if err := os.WriteFile(filepath.Join(tree, name), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	out := filepath.Join(dir, "seed.wim")
	if msg, err := exec.Command(wimcapture, tree, out, "--compress=XPRESS").CombinedOutput(); err != nil {
		tb.Fatalf("wimcapture: %v\n%s", err, msg)
	}
	w := openWIM(tb, out)
	hdrs, _ := w.blobs(tb)
	for _, h := range hdrs {
		if h.flags&resFlagCompressed == 0 {
			continue
		}
		for _, ch := range w.chunks(tb, h) {
			if len(ch.stored) < ch.size {
				comp = append(comp, ch.stored)
				sizes = append(sizes, ch.size)
			}
		}
	}
	return comp, sizes
}

// FuzzDecompress feeds arbitrary bytes and sizes to the decoder. It must
// return an error wrapping ErrCorrupt or fill dst, without panicking,
// hanging or allocating; it must agree with the reference decoder of the
// tests (ref_decoder_test.go) on which inputs are valid and on their
// output; and a decoder that has just seen other input must give the same
// result as a new one.
func FuzzDecompress(f *testing.F) {
	comp, sizes := fuzzSeeds()
	wc, ws := wimlibSeeds(f)
	comp, sizes = append(comp, wc...), append(sizes, ws...)
	for i, c := range comp {
		f.Add(c, uint16(sizes[i]-1))
		// A damaged copy: flip bits after the table.
		bad := bytes.Clone(c)
		for j := tableBytes; j < len(bad); j += 7 {
			bad[j] ^= 0x10
		}
		f.Add(bad, uint16(sizes[i]-1))
		f.Add(c[:len(c)/2], uint16(sizes[i]-1))
	}
	f.Add(make([]byte, 300), uint16(99))
	d := NewDecompressor()
	ref := newRefDecompressor()
	dst := make([]byte, MaxChunkSize)
	want := make([]byte, MaxChunkSize)
	f.Fuzz(func(t *testing.T, src []byte, size uint16) {
		out := dst[:int(size)+1]
		orig := bytes.Clone(src)
		var err error
		allocs := testing.AllocsPerRun(1, func() {
			err = d.Decompress(out, src)
		})
		// Success allocates nothing (an error allocates only its message).
		if err == nil && allocs > 0 {
			t.Fatalf("Decompress allocated %v times", allocs)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		if !bytes.Equal(src, orig) {
			t.Fatal("Decompress modified its input")
		}
		refErr := ref.Decompress(want[:len(out)], src)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("decoder says %v, reference decoder says %v", err, refErr)
		}
		if err == nil && !bytes.Equal(out, want[:len(out)]) {
			t.Fatal("output differs from the reference decoder's")
		}
		again := make([]byte, len(out))
		if err2 := NewDecompressor().Decompress(again, src); (err2 == nil) != (err == nil) || err == nil && !bytes.Equal(again, out) {
			t.Fatalf("a new decoder gives %v, the reused one %v", err2, err)
		}
	})
}

// FuzzRoundTrip compresses arbitrary data at every level and checks that it
// decompresses to the same bytes.
func FuzzRoundTrip(f *testing.F) {
	r := rand.New(rand.NewPCG(23, 24))
	f.Add([]byte{})
	f.Add([]byte("a"))
	f.Add(bytes.Repeat([]byte{0}, 1000))
	f.Add(genText(r, 3000))
	f.Add(genBinary(r, 3000))
	f.Add(genRuns(r, 3000))
	f.Add(genRandom(r, 300))
	comps := []*Compressor{NewCompressor(LevelFast), NewCompressor(LevelDefault), NewCompressor(LevelHigh)}
	d := NewDecompressor()
	dst := make([]byte, MaxChunkSize)
	got := make([]byte, MaxChunkSize)
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > MaxChunkSize {
			src = src[:MaxChunkSize]
		}
		for lv, c := range comps {
			n := c.Compress(dst[:len(src)], src)
			if n == 0 {
				continue
			}
			if n >= len(src) {
				t.Fatalf("level %d: Compress returned %d for %d bytes", lv+1, n, len(src))
			}
			if err := d.Decompress(got[:len(src)], dst[:n]); err != nil {
				t.Fatalf("level %d: %v", lv+1, err)
			}
			if !bytes.Equal(got[:len(src)], src) {
				t.Fatalf("level %d: round trip differs", lv+1)
			}
			// The stream ends with the end-of-data symbol: one byte of
			// output more is not a valid reading of it.
			if len(src) < MaxChunkSize {
				if err := d.Decompress(got[:len(src)+1], dst[:n]); err == nil {
					t.Fatalf("level %d: %d compressed bytes decode to %d and to %d bytes", lv+1, n, len(src), len(src)+1)
				}
			}
		}
	})
}
