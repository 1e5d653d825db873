package lzx

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// fuzzSeeds returns valid compressed chunks (with their sizes) and some
// near-valid ones, as seeds for FuzzDecompress.
func fuzzSeeds() (seeds [][]byte) {
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
				var sz [2]byte
				binary.LittleEndian.PutUint16(sz[:], uint16(len(in)))
				seeds = append(seeds, append(sz[:], dst[:k]...))
			}
		}
	}
	s := newStream()
	s.uncompressed([]byte("uncompressed block!"), [3]uint32{1, 2, 3})
	seeds = append(seeds, append([]byte{19, 0}, s.bytes()...))
	return seeds
}

// FuzzDecompress feeds arbitrary data (first two bytes: the output size)
// to the decompressor: it must return, without panicking, an error or
// exactly len(dst) bytes.
func FuzzDecompress(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Add([]byte{0, 1, 0xff, 0xff, 0xff, 0xff})
	d := NewDecompressor()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		size := int(binary.LittleEndian.Uint16(data)) % (ChunkSize + 1)
		dst := make([]byte, size)
		_ = d.Decompress(dst, data[2:])
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
	})
}
