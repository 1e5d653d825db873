package lzx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/wdscapture/wdscapture/images/internal/huffdec"
)

var levels = []struct {
	name  string
	level int
}{
	{"fast", LevelFast},
	{"default", LevelDefault},
	{"max", LevelMax},
}

// x86Like returns n bytes resembling x86 code: call instructions (E8 with
// a relative target) among short instruction-like byte groups.
func x86Like(rng *rand.Rand, n int) []byte {
	b := make([]byte, 0, n+8)
	ops := [][]byte{{0x48, 0x89, 0xE5}, {0x55}, {0xC3}, {0x48, 0x83, 0xEC, 0x20}, {0x8B, 0x45, 0xF8}, {0x0F, 0x1F, 0x44, 0x00, 0x00}}
	for len(b) < n {
		if rng.IntN(4) == 0 {
			var t [4]byte
			binary.LittleEndian.PutUint32(t[:], uint32(int32(rng.IntN(200000)-100000)))
			b = append(b, 0xE8)
			b = append(b, t[:]...)
		} else {
			b = append(b, ops[rng.IntN(len(ops))]...)
		}
	}
	return b[:n]
}

// repeatOffsets returns data built so that the best parse keeps returning
// to three earlier offsets (records interleaved at strides 40, 72, 136).
func repeatOffsets(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	strides := []int{40, 72, 136}
	for i := 200; i+12 < n; i += 12 {
		s := strides[(i/12)%3]
		copy(b[i:i+8], b[i-s:i-s+8])
	}
	return b
}

func roundTripCases() []struct {
	name string
	data []byte
	// compressible: the compressor must not give up on it.
	compressible bool
} {
	rng := rand.New(rand.NewPCG(7, 11))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	full := x86Like(rng, ChunkSize)
	e8Tail := bytes.Repeat([]byte("abcdefgh"), 20)
	for i := len(e8Tail) - 11; i < len(e8Tail); i++ {
		e8Tail[i] = 0xE8
	}
	e8Head := append([]byte{0xE8, 0x10, 0x00, 0x00, 0x00}, bytes.Repeat([]byte("xyz"), 40)...)
	e8Edge := bytes.Repeat([]byte{0xE8, 0xFF, 0xFF, 0xFF, 0xFF}, ChunkSize/5)
	negTarget := make([]byte, 4000)
	for i := 0; i+5 <= len(negTarget); i += 5 {
		negTarget[i] = 0xE8
		binary.LittleEndian.PutUint32(negTarget[i+1:], uint32(int32(-i+rng.IntN(3)-1)))
	}
	bigTarget := make([]byte, 4000)
	for i := 0; i+5 <= len(bigTarget); i += 5 {
		bigTarget[i] = 0xE8
		binary.LittleEndian.PutUint32(bigTarget[i+1:], uint32(e8FileSize-i+rng.IntN(3)-1))
	}
	return []struct {
		name         string
		data         []byte
		compressible bool
	}{
		{"empty", nil, false},
		{"one byte", []byte{0xE8}, false},
		{"two bytes", []byte{1, 2}, false},
		{"eleven bytes e8", []byte{0xE8, 1, 2, 3, 4, 0xE8, 0, 0, 0, 0, 0}, false},
		{"e8 in last 10 bytes", e8Tail, true},
		{"e8 at offset 0", e8Head, true},
		{"e8 every 5 bytes", e8Edge, true},
		{"e8 negative targets", negTarget, true},
		{"e8 targets near file size", bigTarget, true},
		{"x86 exactly 32 KiB", full, true},
		{"x86 odd size", x86Like(rng, 12345), true},
		{"zeros 32 KiB", make([]byte, ChunkSize), true},
		{"long repeat", bytes.Repeat([]byte("The quick brown fox. "), 1600)[:ChunkSize], true},
		{"repeat offsets", repeatOffsets(rng, ChunkSize), true},
		{"random 32 KiB", random(ChunkSize), false},
		{"random 100", random(100), false},
		{"random then copy", append(random(16000), make([]byte, 16768)...), true},
		{"far match", func() []byte { r := random(ChunkSize / 2); return append(r, r...) }(), true},
		{"text", func() []byte {
			var b bytes.Buffer
			words := []string{"capture", "volume", "image", "the", "of", "Windows", "offline", "registry", "hive"}
			for b.Len() < 20000 {
				fmt.Fprintf(&b, "%s %s %d, ", words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(1000))
			}
			return b.Bytes()
		}(), true},
	}
}

// TestRoundTrip compresses and decompresses generated chunks at every
// level and checks the exact bytes, that src is untouched, and that dst
// is never written past its length.
func TestRoundTrip(t *testing.T) {
	for _, lv := range levels {
		c := NewCompressor(lv.level)
		d := NewDecompressor()
		for _, tc := range roundTripCases() {
			t.Run(lv.name+"/"+tc.name, func(t *testing.T) {
				src := bytes.Clone(tc.data)
				// dst has a guard zone that must stay untouched.
				area := make([]byte, len(src)+64)
				for i := range area {
					area[i] = 0xA5
				}
				dst := area[:len(src)]
				k := c.Compress(dst, src)
				if !bytes.Equal(src, tc.data) {
					t.Fatalf("Compress modified src")
				}
				for i := len(src); i < len(area); i++ {
					if area[i] != 0xA5 {
						t.Fatalf("Compress wrote past len(dst) at %d", i)
					}
				}
				if k < 0 || (k > 0 && k >= len(src)) {
					t.Fatalf("Compress returned %d for %d bytes", k, len(src))
				}
				if k == 0 {
					if tc.compressible {
						t.Fatalf("compressible input of %d bytes was not compressed", len(src))
					}
					return
				}
				got := make([]byte, len(src))
				if err := d.Decompress(got, dst[:k]); err != nil {
					t.Fatalf("Decompress: %v", err)
				}
				if !bytes.Equal(got, src) {
					t.Fatalf("round trip mismatch at byte %d", firstDiff(got, src))
				}
				// The exact size the block chooser works with must match.
				if want := chosenBytes(c); want != k {
					t.Errorf("predicted %d bytes, wrote %d", want, k)
				}
			})
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestRepeatOffsetsUsed checks that the parsers code matches with each of
// the three repeat offsets when the data calls for it.
func TestRepeatOffsetsUsed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := repeatOffsets(rng, ChunkSize)
	for _, lv := range levels {
		c := NewCompressor(lv.level)
		dst := make([]byte, len(data))
		if k := c.Compress(dst, data); k == 0 {
			t.Fatalf("%s: not compressed", lv.name)
		}
		var used [numRepeats]int
		for _, it := range c.items[:c.nItem] {
			if it.length >= minMatch && it.code < numRepeats {
				used[it.code]++
			}
		}
		t.Logf("%s: repeat matches R0 %d, R1 %d, R2 %d", lv.name, used[0], used[1], used[2])
		for r, u := range used {
			if u == 0 {
				t.Errorf("%s: repeat offset R%d never used", lv.name, r)
			}
		}
	}
}

// TestCompressSmallDst checks every dst size below the compressed size:
// the result must be 0 and nothing may be written past len(dst).
func TestCompressSmallDst(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	src := x86Like(rng, 3000)
	c := NewCompressor(LevelDefault)
	full := make([]byte, len(src))
	k := c.Compress(full, src)
	if k == 0 {
		t.Fatal("test input did not compress")
	}
	for size := 0; size < k; size += 1 + size/32 {
		area := make([]byte, size+16)
		if n := c.Compress(area[:size], src); n != 0 {
			t.Fatalf("dst of %d bytes: returned %d, want 0 (needs %d)", size, n, k)
		}
		for i := size; i < len(area); i++ {
			if area[i] != 0 {
				t.Fatalf("dst of %d bytes: wrote at %d", size, i)
			}
		}
	}
	if n := c.Compress(make([]byte, k), src); n != k {
		t.Fatalf("dst of exactly %d bytes: returned %d", k, n)
	}
	if n := c.Compress(make([]byte, ChunkSize+1), make([]byte, ChunkSize+1)); n != 0 {
		t.Fatalf("oversized chunk: returned %d, want 0", n)
	}
}

// TestE8Translate checks that the E8 translation is its own inverse and
// follows the WIM rules on which positions are considered.
func TestE8Translate(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte // after encoding
	}{
		{"too short", []byte{0xE8, 1, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{0xE8, 1, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"at 0", []byte{0xE8, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{0xE8, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"at 1", []byte{0, 0xE8, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{0, 0xE8, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"last allowed", append(make([]byte, 5), 0xE8, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), append(make([]byte, 5), 0xE8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)},
		{"in last 10", append(make([]byte, 6), 0xE8, 5, 0, 0, 0, 0, 0, 0, 0, 0), append(make([]byte, 6), 0xE8, 5, 0, 0, 0, 0, 0, 0, 0, 0)},
		{"negative in range", []byte{0, 0, 0xE8, 0xFE, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0}, []byte{0, 0, 0xE8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"negative out of range", []byte{0, 0, 0xE8, 0xFD, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0}, []byte{0, 0, 0xE8, 0xFD, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0}},
		{"compensating", []byte{0, 0, 0xE8, 0xFF, 0x1A, 0xB7, 0x00, 0, 0, 0, 0, 0, 0}, []byte{0, 0, 0xE8, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0}},
		{"target skipped", []byte{0, 0xE8, 0xE8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{0, 0xE8, 0xE9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(tc.in)
			e8Translate(b, true)
			if !bytes.Equal(b, tc.want) {
				t.Fatalf("encode: got % x, want % x", b, tc.want)
			}
			e8Translate(b, false)
			if !bytes.Equal(b, tc.in) {
				t.Fatalf("decode: got % x, want % x", b, tc.in)
			}
		})
	}
	// Exhaustive-ish inverse check on random E8-dense data.
	rng := rand.New(rand.NewPCG(9, 9))
	for n := 0; n < 200; n++ {
		b := make([]byte, rng.IntN(300))
		for i := range b {
			switch rng.IntN(4) {
			case 0:
				b[i] = 0xE8
			case 1:
				b[i] = 0xFF
			default:
				b[i] = byte(rng.IntN(256))
			}
		}
		orig := bytes.Clone(b)
		e8Translate(b, true)
		e8Translate(b, false)
		if !bytes.Equal(b, orig) {
			t.Fatalf("translation not inverted for % x", orig)
		}
	}
}

// streamBuilder writes hand-made LZX streams for decoder tests.
type streamBuilder struct {
	w   bitWriter
	buf [1 << 17]byte
}

func newStream() *streamBuilder {
	s := &streamBuilder{}
	s.w.init(s.buf[:])
	return s
}

func (s *streamBuilder) header(btype uint32, size int) {
	s.w.write(btype, 3)
	if size == defaultBlockSize {
		s.w.write(1, 1)
	} else {
		s.w.write(0, 1)
		s.w.write(uint32(size), 16)
	}
}

// uncompressed writes an uncompressed block holding data.
func (s *streamBuilder) uncompressed(data []byte, reps [3]uint32) {
	s.header(blockUncompressed, len(data))
	// 1 to 16 bits of padding up to the next 16-bit boundary.
	s.w.write(0, 16-s.w.n%16)
	s.w.flush() // store the pending words
	if s.w.n != 0 {
		panic("not aligned")
	}
	var r [12]byte
	for i, v := range reps {
		binary.LittleEndian.PutUint32(r[4*i:], v)
	}
	raw := append(r[:], data...)
	if len(data)%2 == 1 {
		raw = append(raw, 0)
	}
	copy(s.w.out[s.w.pos:], raw)
	s.w.pos += len(raw)
}

func (s *streamBuilder) bytes() []byte {
	n := s.w.flush()
	return s.buf[:n]
}

// TestDecompressUncompressedBlocks checks uncompressed blocks, including
// several in one chunk, odd sizes, E8 post-processing of their bytes and
// repeat offsets set by their header.
func TestDecompressUncompressedBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	orig := x86Like(rng, 3001)
	enc := bytes.Clone(orig)
	e8Translate(enc, true)
	tests := []struct {
		name  string
		parts []int
	}{
		{"one block", []int{3001}},
		{"two blocks odd then even", []int{1001, 2000}},
		{"three blocks", []int{1, 2, 2998}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStream()
			off := 0
			for _, p := range tc.parts {
				s.uncompressed(enc[off:off+p], [3]uint32{1, 2, 3})
				off += p
			}
			got := make([]byte, len(orig))
			if err := NewDecompressor().Decompress(got, s.bytes()); err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			if !bytes.Equal(got, orig) {
				t.Fatalf("mismatch at byte %d", firstDiff(got, orig))
			}
		})
	}
	// An uncompressed block's repeat offsets are used by the next block:
	// a verbatim block holding only an R1 match of length 4 at offset 3.
	s := newStream()
	s.uncompressed([]byte("abcdef"), [3]uint32{5, 3, 9})
	s.header(blockVerbatim, 4)
	// Main code: only symbol 256+1*8+2 (slot R1, length 4) and literal 0,
	// both of length 1.
	var mainLens [numMainSyms]uint8
	mainLens[0] = 1
	mainLens[numChars+1*numLenHeaders+2] = 1
	writeLensPlain(&s.w, mainLens[:numChars])
	writeLensPlain(&s.w, mainLens[numChars:])
	writeLensPlain(&s.w, make([]uint8, numLenSyms))
	s.w.write(1, 1) // the match symbol is the second canonical code
	got := make([]byte, 10)
	if err := NewDecompressor().Decompress(got, s.bytes()); err != nil {
		t.Fatalf("uncompressed then verbatim: %v", err)
	}
	if string(got) != "abcdefdefd" {
		t.Fatalf("uncompressed then verbatim: got %q", got)
	}
}

// writeLensPlain writes code lengths (against all-zero previous lengths)
// with a fixed pretree covering the 17 difference symbols and no runs.
func writeLensPlain(w *bitWriter, lens []uint8) {
	var pl [numPreSyms]uint8
	for i := 0; i < 17; i++ {
		pl[i] = 4
	}
	pl[15], pl[16] = 5, 5
	var codes [numPreSyms]uint16
	canonicalCodes(pl[:], codes[:])
	for _, l := range pl {
		w.write(uint32(l), 4)
	}
	for _, l := range lens {
		sym := (17 - int(l)) % 17
		w.write(uint32(codes[sym]), uint(pl[sym]))
	}
}

// TestDecompressCorrupt feeds invalid streams and checks for errors.
func TestDecompressCorrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	valid := x86Like(rng, 5000)
	comp := make([]byte, len(valid))
	k := NewCompressor(LevelDefault).Compress(comp, valid)
	if k == 0 {
		t.Fatal("could not compress the test input")
	}
	comp = comp[:k]
	type tcase struct {
		name string
		src  []byte
		size int
	}
	s := func(f func(s *streamBuilder)) []byte {
		b := newStream()
		f(b)
		return bytes.Clone(b.bytes())
	}
	tests := []tcase{
		{"empty input", nil, 100},
		{"block type 0", s(func(b *streamBuilder) { b.header(0, 100) }), 100},
		{"block type 4", s(func(b *streamBuilder) { b.header(4, 100) }), 100},
		{"block type 7", s(func(b *streamBuilder) { b.header(7, 100) }), 100},
		{"block size 0", s(func(b *streamBuilder) { b.header(blockVerbatim, 0) }), 100},
		{"block too big", s(func(b *streamBuilder) { b.header(blockUncompressed, 101) }), 100},
		{"uncompressed truncated", s(func(b *streamBuilder) { b.uncompressed(make([]byte, 100), [3]uint32{1, 1, 1}) })[:60], 100},
		{"uncompressed R0 zero", s(func(b *streamBuilder) { b.uncompressed(make([]byte, 100), [3]uint32{0, 1, 1}) }), 100},
		{"uncompressed R2 zero", s(func(b *streamBuilder) { b.uncompressed(make([]byte, 100), [3]uint32{1, 1, 0}) }), 100},
		{"incomplete main code", s(func(b *streamBuilder) {
			b.header(blockVerbatim, 100)
			lens := make([]uint8, numMainSyms)
			lens[65] = 1
			writeLensPlain(&b.w, lens[:numChars])
			writeLensPlain(&b.w, lens[numChars:])
			writeLensPlain(&b.w, make([]uint8, numLenSyms))
		}), 100},
		{"match before start", s(func(b *streamBuilder) {
			b.header(blockVerbatim, 100)
			lens := make([]uint8, numMainSyms)
			lens[65] = 1
			lens[numChars+0*numLenHeaders+0] = 1 // R0 match, length 2
			writeLensPlain(&b.w, lens[:numChars])
			writeLensPlain(&b.w, lens[numChars:])
			writeLensPlain(&b.w, make([]uint8, numLenSyms))
			b.w.write(0, 1) // R0 match at position 0: offset 1 > 0
		}), 100},
		{"match past block end", s(func(b *streamBuilder) {
			b.header(blockVerbatim, 3)
			lens := make([]uint8, numMainSyms)
			lens[65] = 1
			lens[numChars+0*numLenHeaders+2] = 1 // R0 match, length 4
			writeLensPlain(&b.w, lens[:numChars])
			writeLensPlain(&b.w, lens[numChars:])
			writeLensPlain(&b.w, make([]uint8, numLenSyms))
			b.w.write(0, 1) // literal 'A'
			b.w.write(1, 1) // match of 4 > 2 remaining
			b.header(blockUncompressed, 7)
		}), 10},
		{"empty length code used", s(func(b *streamBuilder) {
			b.header(blockVerbatim, 100)
			lens := make([]uint8, numMainSyms)
			lens[65] = 1
			lens[numChars+0*numLenHeaders+7] = 1 // needs the length code
			writeLensPlain(&b.w, lens[:numChars])
			writeLensPlain(&b.w, lens[numChars:])
			writeLensPlain(&b.w, make([]uint8, numLenSyms))
			b.w.write(0, 1)
			b.w.write(1, 1)
		}), 100},
		{"valid stream, output too long", comp, len(valid) + 1},
		{"valid stream, output too short", comp, len(valid) - 1},
		{"dst larger than a chunk", comp, ChunkSize + 1},
	}
	for cut := 2; cut <= len(comp); cut += 1 + cut/8 {
		tests = append(tests, tcase{fmt.Sprintf("truncated by %d", cut), comp[:len(comp)-cut], len(valid)})
	}
	d := NewDecompressor()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, tc.size)
			err := d.Decompress(dst, tc.src)
			if err == nil {
				if tc.size == len(valid) && !bytes.Equal(dst, valid) {
					return // undetectable damage: wrong bytes, caught by the WIM's SHA-1
				}
				t.Fatalf("no error")
			}
			if tc.size <= ChunkSize && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
		})
	}
	// Random bit flips must never panic; the decoder must still work after.
	for i := 0; i < 2000; i++ {
		b := bytes.Clone(comp)
		b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
		_ = d.Decompress(make([]byte, len(valid)), b)
	}
	got := make([]byte, len(valid))
	if err := d.Decompress(got, comp); err != nil || !bytes.Equal(got, valid) {
		t.Fatalf("decoder unusable after bad input: %v", err)
	}
}

// TestNoAllocs checks that compressing and decompressing allocate nothing
// once the codec exists.
func TestNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	src := x86Like(rng, ChunkSize)
	dst := make([]byte, ChunkSize)
	out := make([]byte, ChunkSize)
	d := NewDecompressor()
	for _, lv := range levels {
		c := NewCompressor(lv.level)
		var k int
		if a := testing.AllocsPerRun(3, func() { k = c.Compress(dst, src) }); a != 0 {
			t.Errorf("%s: Compress allocates %.1f times per call", lv.name, a)
		}
		if k == 0 {
			t.Fatalf("%s: not compressed", lv.name)
		}
		if a := testing.AllocsPerRun(3, func() {
			if err := d.Decompress(out, dst[:k]); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("Decompress allocates %.1f times per call", a)
		}
	}
}

// TestBlockSplit checks that a chunk whose halves have very different
// statistics is sent as several blocks (code lengths coded against the
// previous block's) and still round-trips.
func TestBlockSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	src := make([]byte, 0, ChunkSize)
	for len(src) < ChunkSize/2 {
		src = append(src, "lorem ipsum dolor sit amet "[rng.IntN(27)])
	}
	for len(src) < ChunkSize {
		src = append(src, byte(0x80+rng.IntN(16)))
	}
	for _, lv := range []int{LevelDefault, LevelMax} {
		c := NewCompressor(lv)
		dst := make([]byte, ChunkSize)
		k := c.Compress(dst, src)
		if k == 0 {
			t.Fatalf("level %d: not compressed", lv)
		}
		if c.nBlocks < 2 {
			t.Errorf("level %d: sent as %d block(s), want a split", lv, c.nBlocks)
		}
		got := make([]byte, len(src))
		if err := NewDecompressor().Decompress(got, dst[:k]); err != nil {
			t.Fatalf("level %d: %v", lv, err)
		}
		if !bytes.Equal(got, src) {
			t.Fatalf("level %d: mismatch at %d", lv, firstDiff(got, src))
		}
		// The size chooseBlocks predicted must be what was written.
		if want := chosenBytes(c); want != k {
			t.Errorf("level %d: predicted %d bytes, wrote %d", lv, want, k)
		}
	}
}

// chosenBytes returns the size the block chooser computed for the blocks
// of the last Compress call.
func chosenBytes(c *Compressor) int {
	var fs [maxBlocks]freqSet
	var ptrs []*freqSet
	for j := 0; j < c.nBlocks; j++ {
		c.countFreqs(c.bounds[j], c.bounds[j+1], &fs[j])
		ptrs = append(ptrs, &fs[j])
	}
	return (c.splitBits(ptrs, c.sizes[:c.nBlocks]) + 15) / 16 * 2
}

// TestDeterministic checks that a chunk's compressed form does not depend
// on what the Compressor did before, so that WIMs written by a pool of
// workers are reproducible.
func TestDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	target := x86Like(rng, ChunkSize)
	others := [][]byte{x86Like(rng, ChunkSize), repeatOffsets(rng, 20000), bytes.Repeat([]byte("ab"), 9000)}
	for _, lv := range levels {
		want := make([]byte, ChunkSize)
		k := NewCompressor(lv.level).Compress(want, target)
		for i, o := range others {
			c := NewCompressor(lv.level)
			scratch := make([]byte, ChunkSize)
			c.Compress(scratch, o)
			got := make([]byte, ChunkSize)
			if n := c.Compress(got, target); n != k || !bytes.Equal(got[:n], want[:k]) {
				t.Errorf("%s: output after chunk %d differs from a fresh compressor's (%d vs %d bytes)", lv.name, i, n, k)
			}
		}
	}
}

// TestMatchCacheFull forces the match cache to overflow (as pathological
// data could) and checks that the output stays exact.
func TestMatchCacheFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	src := x86Like(rng, ChunkSize)
	for _, limit := range []int{0, 1, 300, 5000} {
		for _, lv := range []int{LevelDefault, LevelMax} {
			c := NewCompressor(lv)
			c.cacheLen = limit
			dst := make([]byte, ChunkSize)
			k := c.Compress(dst, src)
			if k == 0 {
				t.Fatalf("cache %d, level %d: not compressed", limit, lv)
			}
			got := make([]byte, len(src))
			if err := NewDecompressor().Decompress(got, dst[:k]); err != nil {
				t.Fatalf("cache %d, level %d: %v", limit, lv, err)
			}
			if !bytes.Equal(got, src) {
				t.Fatalf("cache %d, level %d: mismatch at %d", limit, lv, firstDiff(got, src))
			}
		}
	}
}

// TestAlignForBytes checks the padding before an uncompressed block's raw
// bytes: up to the next 16-bit boundary, or a whole word when the stream
// is already on one.
func TestAlignForBytes(t *testing.T) {
	src := make([]byte, 16)
	tests := []struct {
		consumed uint
		wantPos  int
	}{
		{0, 2}, {1, 2}, {15, 2}, {16, 4}, {17, 4}, {20, 4}, {32, 6}, {47, 6},
	}
	for _, tc := range tests {
		var br bitReader
		br.init(src)
		for left := tc.consumed; left > 0; {
			k := min(left, 16)
			br.bits(k)
			left -= k
		}
		br.ensure(48) // buffered but unconsumed words must be given back
		br.alignForBytes()
		if br.pos != tc.wantPos {
			t.Errorf("after %d bits: raw bytes start at %d, want %d", tc.consumed, br.pos, tc.wantPos)
		}
	}
}

// TestDecodeTableSizes checks the decode table sizes against
// huffdec.TableSize.
func TestDecodeTableSizes(t *testing.T) {
	for _, tc := range []struct {
		name              string
		entries, numSyms  int
		tableBits, maxLen uint
	}{
		{"main", mainEntries, numMainSyms, mainBits, maxMainCodeLen},
		{"length", lenEntries, numLenSyms, lenBits, maxLenCodeLen},
		{"pretree", preEntries, numPreSyms, preBits, maxPreCodeLen},
		{"aligned", 1 << maxAlignedLen, numAlignedSyms, maxAlignedLen, maxAlignedLen},
	} {
		if got := huffdec.TableSize(tc.numSyms, tc.tableBits, tc.maxLen); got != tc.entries {
			t.Errorf("%s: %d entries, huffdec.TableSize says %d", tc.name, tc.entries, got)
		}
	}
}
