package lzx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// sized prefixes a compressed chunk with its uncompressed size, the form
// FuzzDecompress takes.
func sized(size int, comp []byte) []byte {
	var sz [2]byte
	binary.LittleEndian.PutUint16(sz[:], uint16(size))
	return append(sz[:], comp...)
}

// fuzzSeeds returns valid compressed chunks (with their sizes), some made
// by wimlib when it is installed, and some near-valid ones, as seeds for
// FuzzDecompress.
func fuzzSeeds(tb testing.TB) (seeds [][]byte) {
	rng := rand.New(rand.NewPCG(12, 34))
	inputs := [][]byte{
		x86Like(rng, 2000),
		repeatOffsets(rng, 3000),
		bytes.Repeat([]byte("abcabcabd"), 300),
		make([]byte, 5000),
	}
	for _, in := range inputs {
		for _, lv := range []int{LevelFast, LevelDefault} {
			dst := make([]byte, len(in))
			if k := NewCompressor(lv).Compress(dst, in); k > 0 {
				seeds = append(seeds, sized(len(in), dst[:k]))
			}
		}
	}
	s := newStream()
	s.uncompressed([]byte("uncompressed block!"), [3]uint32{1, 2, 3})
	seeds = append(seeds, sized(19, s.bytes()))
	return append(seeds, wimlibSeeds(tb, rng)...)
}

// wimlibSeeds returns a few chunks compressed by wimlib (aligned offset
// blocks, block splits, its choice of codes), or none without wimcapture.
func wimlibSeeds(tb testing.TB, rng *rand.Rand) (seeds [][]byte) {
	wimcapture, err := exec.LookPath("wimcapture")
	if err != nil {
		return nil
	}
	dir := tb.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		tb.Fatal(err)
	}
	files := map[string][]byte{
		"x86":     x86Like(rng, 3*ChunkSize),
		"repeats": repeatOffsets(rng, ChunkSize),
		"text":    bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog; "), 400),
	}
	writeCorpus(tb, src, files)
	wimPath := filepath.Join(dir, "seed.wim")
	if out, err := exec.Command(wimcapture, src, wimPath, "--compress=LZX", "--threads=1", "--no-acls").CombinedOutput(); err != nil {
		tb.Fatalf("wimcapture: %v: %s", err, out)
	}
	wim, err := os.ReadFile(wimPath)
	if err != nil {
		tb.Fatal(err)
	}
	for _, b := range parseWIM(tb, wim) {
		if b.flags&0x04 == 0 {
			continue
		}
		for i, c := range readChunks(tb, wim, b) {
			size := min(ChunkSize, int(b.origSize)-i*ChunkSize)
			if len(c) < size {
				seeds = append(seeds, sized(size, c))
			}
		}
	}
	return seeds
}

// FuzzDecompress feeds arbitrary data (first two bytes: the output size)
// to the decompressor. It must return an error wrapping ErrCorrupt or
// fill dst, without panicking; it must agree with the reference decoder
// of the tests (ref_decoder_test.go) on which inputs are valid and on
// their output; and a decoder that has just seen other input must give
// the same result as a new one.
func FuzzDecompress(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte{0, 1, 0xff, 0xff, 0xff, 0xff})
	d := NewDecompressor()
	ref := newRefDecompressor()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		size := int(binary.LittleEndian.Uint16(data)) % (ChunkSize + 1)
		src := data[2:]
		orig := bytes.Clone(src)
		got := make([]byte, size)
		err := d.Decompress(got, src)
		if !bytes.Equal(src, orig) {
			t.Fatal("Decompress modified its input")
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		want := make([]byte, size)
		refErr := ref.Decompress(want, src)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("decoder says %v, reference decoder says %v", err, refErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("output differs from the reference decoder's at byte %d of %d", firstDiff(got, want), size)
		}
		again := make([]byte, size)
		if err2 := NewDecompressor().Decompress(again, src); (err2 == nil) != (err == nil) || err == nil && !bytes.Equal(again, got) {
			t.Fatalf("a new decoder gives %v, the reused one %v", err2, err)
		}
	})
}

// FuzzRoundTrip compresses arbitrary data at a level chosen by the first
// byte and checks that decompression restores it exactly.
func FuzzRoundTrip(f *testing.F) {
	rng := rand.New(rand.NewPCG(56, 78))
	f.Add([]byte{1})
	f.Add(append([]byte{2}, x86Like(rng, 4000)...))
	f.Add(append([]byte{3}, repeatOffsets(rng, 2000)...))
	f.Add(append([]byte{2, 0xE8, 0, 0, 0, 0}, bytes.Repeat([]byte{0xE8}, 30)...))
	f.Add(append([]byte{1}, bytes.Repeat([]byte("0123456789"), 100)...))
	f.Add(append([]byte{2}, bytes.Repeat([]byte{0}, ChunkSize)...))
	cs := []*Compressor{NewCompressor(LevelFast), NewCompressor(LevelDefault), NewCompressor(LevelMax)}
	d := NewDecompressor()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		c := cs[int(data[0])%len(cs)]
		src := data[1:]
		if len(src) > ChunkSize {
			src = src[:ChunkSize]
		}
		orig := bytes.Clone(src)
		dst := make([]byte, len(src))
		k := c.Compress(dst, src)
		if !bytes.Equal(src, orig) {
			t.Fatal("Compress modified src")
		}
		if k == 0 {
			return
		}
		if k >= len(src) {
			t.Fatalf("compressed size %d not below %d", k, len(src))
		}
		got := make([]byte, len(src))
		if err := d.Decompress(got, dst[:k]); err != nil {
			t.Fatalf("Decompress: %v", err)
		}
		if !bytes.Equal(got, src) {
			t.Fatalf("mismatch at byte %d of %d", firstDiff(got, src), len(src))
		}
		// One byte more or less of output is not a valid reading of the
		// same stream.
		if len(src) < ChunkSize {
			if err := d.Decompress(make([]byte, len(src)+1), dst[:k]); err == nil {
				t.Fatalf("%d compressed bytes decode to %d and to %d bytes", k, len(src), len(src)+1)
			}
		}
	})
}
