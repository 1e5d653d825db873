package xpress

import (
	"bytes"
	"math/rand/v2"
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

// FuzzDecompress feeds arbitrary bytes and sizes to the decoder: it must
// return (an error or not) without panicking, hanging or allocating.
func FuzzDecompress(f *testing.F) {
	comp, sizes := fuzzSeeds()
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
	dst := make([]byte, MaxChunkSize)
	f.Fuzz(func(t *testing.T, src []byte, size uint16) {
		out := dst[:int(size)+1]
		var err error
		allocs := testing.AllocsPerRun(1, func() {
			err = d.Decompress(out, src)
		})
		// Success allocates nothing (an error allocates only its message).
		if err == nil && allocs > 0 {
			t.Fatalf("Decompress allocated %v times (err %v)", allocs, err)
		}
		// Whatever it accepted must survive our own round trip, and a
		// successful decode is deterministic.
		if err := d.Decompress(out, src); err == nil {
			again := make([]byte, len(out))
			if err := d.Decompress(again, src); err != nil || !bytes.Equal(again, out) {
				t.Fatalf("second decode differs: %v", err)
			}
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
		}
	})
}
