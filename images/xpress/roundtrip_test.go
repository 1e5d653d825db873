package xpress

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/testcorpus"
)

var levels = []int{LevelFast, LevelDefault, LevelHigh}

// roundTrip compresses src at level with c, decompresses with d and checks the
// result. It returns the compressed size (0 if stored raw).
func roundTrip(t testing.TB, c *Compressor, d *Decompressor, src []byte) int {
	t.Helper()
	dst := make([]byte, len(src)+64)
	// Guard bytes after the usable part catch writes past len(dst).
	limit := len(src)
	for i := limit; i < len(dst); i++ {
		dst[i] = 0xa5
	}
	n := c.Compress(dst[:limit], src)
	for i := limit; i < len(dst); i++ {
		if dst[i] != 0xa5 {
			t.Fatalf("Compress wrote past len(dst) at %d", i)
		}
	}
	if n < 0 || n >= len(src) && n != 0 {
		t.Fatalf("Compress returned %d for %d input bytes", n, len(src))
	}
	if n == 0 {
		return 0
	}
	got := make([]byte, len(src))
	if err := d.Decompress(got, dst[:n]); err != nil {
		t.Fatalf("Decompress of %d-byte chunk (%d compressed): %v", len(src), n, err)
	}
	if !bytes.Equal(got, src) {
		i := 0
		for i < len(src) && got[i] == src[i] {
			i++
		}
		t.Fatalf("round trip of %d bytes differs first at byte %d", len(src), i)
	}
	return n
}

func genRandom(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

var words = strings.Fields(`the of and to in is that for it as with was on be by this are
from at or an have not which but all their has were one can there more been its also
file windows system volume capture image resource chunk offset length huffman table`)

func genText(r *rand.Rand, n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// genBinary imitates executable code: small integers, repeated opcodes and
// structures with little-endian fields.
func genBinary(r *rand.Rand, n int) []byte {
	b := make([]byte, 0, n+16)
	for len(b) < n {
		switch r.IntN(4) {
		case 0:
			b = append(b, 0x48, 0x8b, byte(0x40+r.IntN(8)), byte(r.IntN(64)))
		case 1:
			b = binary.LittleEndian.AppendUint32(b, uint32(r.IntN(1<<16)))
		case 2:
			b = append(b, 0xe8)
			b = binary.LittleEndian.AppendUint32(b, uint32(r.Int32()))
		default:
			if len(b) > 64 {
				p := r.IntN(len(b) - 32)
				b = append(b, b[p:p+4+r.IntN(28)]...)
			} else {
				b = append(b, 0)
			}
		}
	}
	return b[:n]
}

func genRuns(r *rand.Rand, n int) []byte {
	b := make([]byte, 0, n)
	for len(b) < n {
		c := byte(r.IntN(4))
		k := 1 + r.IntN(300)
		for range k {
			b = append(b, c)
		}
	}
	return b[:n]
}

func TestRoundTripGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gens := []struct {
		name string
		gen  func(*rand.Rand, int) []byte
	}{
		{"random", genRandom},
		{"text", genText},
		{"binary", genBinary},
		{"runs", genRuns},
		{"zeros", func(_ *rand.Rand, n int) []byte { return make([]byte, n) }},
	}
	sizes := []int{0, 1, 2, 3, 7, 8, 9, 25, 255, 256, 257, 300, 1000, 4095, 4096, 32767, 32768, 32769, 65535, 65536}
	for _, lv := range levels {
		c := NewCompressor(lv)
		d := NewDecompressor()
		for _, g := range gens {
			for _, size := range sizes {
				t.Run(fmt.Sprintf("level%d/%s/%d", lv, g.name, size), func(t *testing.T) {
					src := g.gen(r, size)
					n := roundTrip(t, c, d, src)
					compressible := g.name != "random" && size >= 1000
					if compressible && n == 0 {
						t.Errorf("compressible %s input of %d bytes was not compressed", g.name, size)
					}
					if g.name == "random" && size >= 1000 && n != 0 {
						t.Errorf("random input of %d bytes compressed to %d: not plausible", size, n)
					}
				})
			}
		}
	}
}

// TestRoundTripMatchBoundaries builds inputs that force a match of each
// interesting length and offset: the length escapes at 18 (15+3), 273
// (255+15+3) and the largest lengths, and offsets at each power of two.
func TestRoundTripMatchBoundaries(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var lengths []int
	for l := 3; l <= 300; l++ {
		lengths = append(lengths, l)
	}
	lengths = append(lengths, 1000, 4096, 32765, 32766, 32767, 65532, 65533, 65534, 65535)
	var offsets []int
	for b := 0; b < 16; b++ {
		o := 1 << b
		offsets = append(offsets, o-1, o, o+1)
	}
	offsets = append(offsets, 65534, 65535)
	d := NewDecompressor()
	for _, lv := range levels {
		c := NewCompressor(lv)
		// Every length at a fixed offset: random prefix of 'off' bytes, then
		// a copy of 'length' bytes from it, then random bytes to stop it.
		for _, length := range lengths {
			off := 40
			if length > off {
				off = 1 + r.IntN(7)
			}
			src := make([]byte, 0, off+length+8)
			src = append(src, genRandom(r, off)...)
			for i := range length {
				src = append(src, src[i])
			}
			src = append(src, genRandom(r, 8)...)
			if len(src) > MaxChunkSize {
				src = src[len(src)-MaxChunkSize:]
			}
			roundTrip(t, c, d, src)
		}
		// Every offset: a 64-byte random block repeated 'off' bytes later.
		for _, off := range offsets {
			if off < 1 {
				continue
			}
			blk := genRandom(r, 64)
			if off+64 > MaxChunkSize {
				continue
			}
			src := genRandom(r, off+64)
			copy(src, blk)
			copy(src[off:], blk)
			roundTrip(t, c, d, src)
		}
	}
}

// itemStream encodes a hand-chosen parse with the compressor's Huffman
// builder and bit writer, decodes it and compares it with the output the
// parse stands for, computed here independently.
type itemStream struct {
	c     *Compressor
	d     *Decompressor
	items int
	want  []byte
}

func (s *itemStream) literal(b byte) {
	if s.items == 0 {
		s.c.resetItems()
	}
	s.items = s.c.recordLiteral(s.items, b)
	s.want = append(s.want, b)
}

func (s *itemStream) match(length, offset int) {
	if s.items == 0 {
		s.c.resetItems()
	}
	s.items = s.c.recordMatch(s.items, length, offset)
	for range length {
		s.want = append(s.want, s.want[len(s.want)-offset])
	}
}

func (s *itemStream) check(t *testing.T) {
	t.Helper()
	c := s.c
	dst := make([]byte, 3*len(s.want)+1024)
	n := c.write(dst, c.items[:s.items])
	if n == 0 {
		t.Fatalf("write failed for %d items", s.items)
	}
	got := make([]byte, len(s.want))
	if err := s.d.Decompress(got, dst[:n]); err != nil {
		t.Fatalf("decompress: %v", err)
	}
	if !bytes.Equal(got, s.want) {
		t.Fatal("decoded stream differs from the parse it encodes")
	}
	s.items, s.want = 0, s.want[:0]
}

// TestEveryOffset encodes a length-3 match at every offset a 64 KiB chunk
// can hold, packed into 64 KiB streams: each stream starts with enough random
// literals to reach its largest offset, then holds as many matches as fit.
// A match at offset o needs o bytes before it and 3 of its own, so offsets
// above 65533 (the format allows up to 65535) cannot occur in one chunk.
func TestEveryOffset(t *testing.T) {
	const maxChunkOffset = MaxChunkSize - minMatch
	r := rand.New(rand.NewPCG(5, 6))
	s := &itemStream{c: NewCompressor(LevelFast), d: NewDecompressor()}
	streams := 0
	for next := 1; next <= maxChunkOffset; {
		prefix := max(min((3*next+MaxChunkSize)/4, maxChunkOffset), next)
		for range prefix {
			s.literal(byte(r.Uint32()))
		}
		for next <= maxChunkOffset && next <= len(s.want) && len(s.want)+minMatch <= MaxChunkSize {
			s.match(minMatch, next)
			next++
		}
		s.check(t)
		streams++
	}
	t.Logf("offsets 1..%d covered in %d streams", maxChunkOffset, streams)
}

// TestEveryLength encodes a match of every length 3..4096 (packed into 64 KiB
// streams), and then longer ones at a stride plus every boundary of the length
// escapes: 17/18/19 (one extra byte), 272/273/274 (the 16-bit form) and the
// largest a 64 KiB chunk can hold, 65535. Lengths 65536..65538, which the
// format can express, cannot occur in a single 64 KiB chunk: a match needs
// at least one byte before it.
func TestEveryLength(t *testing.T) {
	s := &itemStream{c: NewCompressor(LevelFast), d: NewDecompressor()}
	var lengths []int
	for l := minMatch; l <= 4096; l++ {
		lengths = append(lengths, l)
	}
	for l := 4097; l <= 65535; l += 1 + l/8 {
		lengths = append(lengths, l)
	}
	lengths = append(lengths, 17, 18, 19, 272, 273, 274, 32767, 32768, 65534, 65535)
	offsets := []int{1, 2, 3, 7, 8, 9, 100, 1000}
	const prefix = 1000
	for k, l := range lengths {
		if len(s.want) > 0 && len(s.want)+1+l > MaxChunkSize {
			s.check(t)
		}
		if len(s.want) == 0 && prefix+1+l <= MaxChunkSize {
			for _, b := range []byte("the lazy dog jumps over the quick brown fox. 0123456789") {
				s.literal(b)
			}
			for len(s.want) < prefix {
				s.match(10, 7)
			}
		}
		off := offsets[k%len(offsets)]
		if off > len(s.want)+1 {
			off = 1
		}
		s.literal(byte(k))
		s.match(l, off)
	}
	s.check(t)
}

// TestCompressDstLimits checks that Compress honours any len(dst): it never
// writes past it and returns 0 when the result does not fit.
func TestCompressDstLimits(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	src := genText(r, 32768)
	d := NewDecompressor()
	for _, lv := range levels {
		c := NewCompressor(lv)
		full := make([]byte, len(src))
		need := c.Compress(full, src)
		if need == 0 {
			t.Fatalf("level %d: text not compressed", lv)
		}
		for _, size := range []int{0, 1, 100, 256, 260, need / 2, need - 9, need - 1, need, need + 1} {
			buf := make([]byte, size+32)
			for i := range buf {
				buf[i] = 0xee
			}
			n := c.Compress(buf[:size], src)
			for i := size; i < len(buf); i++ {
				if buf[i] != 0xee {
					t.Fatalf("level %d, len(dst)=%d: wrote past dst at %d", lv, size, i)
				}
			}
			switch {
			case size < need && n != 0:
				t.Errorf("level %d: len(dst)=%d < needed %d but Compress returned %d", lv, size, need, n)
			case size >= need && n != need:
				t.Errorf("level %d: len(dst)=%d >= needed %d but Compress returned %d", lv, size, need, n)
			}
			if n > 0 {
				got := make([]byte, len(src))
				if err := d.Decompress(got, buf[:n]); err != nil || !bytes.Equal(got, src) {
					t.Fatalf("level %d: bad round trip with len(dst)=%d: %v", lv, size, err)
				}
			}
		}
	}
}

// TestCompressRealFiles round-trips real files from the Go installation cut
// into 32 KiB chunks, as the WIM writer does.
func TestCompressRealFiles(t *testing.T) {
	files := realFiles(t, 3<<20)
	d := NewDecompressor()
	for _, lv := range levels {
		c := NewCompressor(lv)
		in, out := 0, 0
		for _, f := range files {
			for off := 0; off < len(f); off += 32768 {
				chunk := f[off:min(off+32768, len(f))]
				n := roundTrip(t, c, d, chunk)
				in += len(chunk)
				if n == 0 {
					n = len(chunk)
				}
				out += n
			}
		}
		t.Logf("level %d: %d -> %d bytes (%.4f)", lv, in, out, float64(out)/float64(in))
	}
}

// realFiles returns about limit bytes of generated Windows-like files
// (internal/testcorpus): x86-64 code in a PE file, C source, prose, XML,
// a log and a registry hive, the same with every toolchain.
func realFiles(t testing.TB, limit int) [][]byte {
	t.Helper()
	part := limit / 8
	return [][]byte{
		testcorpus.PE(1, 3*part),
		testcorpus.Source(2, part),
		testcorpus.Prose(3, part),
		testcorpus.XML(4, part/2),
		testcorpus.Log(5, part/2),
		testcorpus.Hive(6, part/1000),
	}
}

// TestNoAllocations checks that compressing and decompressing a chunk, once
// the codec objects exist, allocates nothing.
func TestNoAllocations(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	src := genText(r, 32768)
	dst := make([]byte, len(src))
	got := make([]byte, len(src))
	d := NewDecompressor()
	for _, lv := range levels {
		c := NewCompressor(lv)
		var n int
		if a := testing.AllocsPerRun(5, func() { n = c.Compress(dst, src) }); a != 0 {
			t.Errorf("level %d: Compress allocates %v times per chunk", lv, a)
		}
		if n == 0 {
			t.Fatalf("level %d: text not compressed", lv)
		}
		if a := testing.AllocsPerRun(5, func() {
			if err := d.Decompress(got, dst[:n]); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("Decompress allocates %v times per chunk", a)
		}
	}
}
