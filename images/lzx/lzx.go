// Package lzx implements the LZX compression format in the variant used by
// WIM files: every chunk of at most 32 KiB is compressed on its own with a
// 32 KiB window, the three repeat offsets restart at 1 for every chunk, and
// the x86 CALL (E8) translation is always applied with a file size of
// 12000000.
//
// The bit stream is made of 16-bit little-endian words whose bits are used
// from the most significant down. A chunk is a sequence of blocks; each
// block starts with a 3-bit type (1 verbatim, 2 aligned offset,
// 3 uncompressed) and its uncompressed size, coded as a single 1 bit for
// 32768 or a 0 bit followed by a 16-bit size. Verbatim and aligned offset
// blocks carry canonical Huffman codes for the main alphabet (256 literals
// and 8 length headers for each of the 30 offset slots), for long match
// lengths and, in aligned offset blocks, for the low 3 bits of offsets.
// Code lengths are sent as differences from the previous block's lengths
// in the same chunk, coded with a 20-symbol pretree that also has run
// codes.
//
// A Compressor holds about 2.6 MB of working memory and a Decompressor a
// few KB; neither allocates per chunk, and neither is safe for concurrent
// use, so a writer gives each worker its own.
//
// The compressor's match finder and parser read the chunk (and write the
// parser's nodes) through unsafe pointers in their innermost loops, where
// bounds checks cost registers the loops need; the ranges are guaranteed
// by construction and stated at each use, and the tests run under the
// race detector, which checks pointer arithmetic. The decompressor, which
// reads untrusted input, uses no unsafe code: it decodes into a window
// array of its own and reads a copy of the input with the bytes of each
// word swapped (a big-endian bit stream), both indexed with positions
// masked to the array sizes, so that its inner loop has no bounds checks
// and can take up to 57 bits per refill; decode tables resolve codes of up
// to 11 bits (main code) in one look-up, and matches are copied in 8-byte
// words.
//
// The references used are the Microsoft "LZX DELTA Compression and
// Decompression" specification ([MS-PATCH]) and the behaviour of wimlib,
// against which the tests check this package.
package lzx

// ChunkSize is the largest input a single Compress or Decompress call
// accepts: the WIM chunk size, which is also the LZX window size.
const ChunkSize = 32768

// Compression levels for NewCompressor.
const (
	// LevelFast uses a lazy parser with a hash-chain match finder.
	LevelFast = 1
	// LevelDefault uses a binary-tree match finder and a cost-driven
	// near-optimal parser refined over two passes (the first over half of
	// the chunk, to gather symbol statistics), and splits a chunk into two
	// or four blocks when that is smaller. Capturing the bench corpus (a
	// Windows file tree) it takes about 0.92-1.0 times the CPU time of
	// wimlib's default LZX level (50) for output about 0.8% larger; on
	// Go source text the output is about 3% larger.
	LevelDefault = 2
	// LevelMax spends more effort than LevelDefault: deeper match search
	// and a third refinement pass.
	LevelMax = 3
)

const (
	numChars         = 256
	minMatch         = 2
	maxMatch         = 257
	numPrimaryLens   = 7
	numLenHeaders    = numPrimaryLens + 1
	numOffsetSlots   = 30 // for a 32 KiB window
	numMainSyms      = numChars + numOffsetSlots*numLenHeaders
	numLenSyms       = maxMatch - minMatch + 1 - numPrimaryLens // 249
	numPreSyms       = 20
	numAlignedSyms   = 8
	alignedBits      = 3
	minAlignedSlot   = 8
	maxMainCodeLen   = 16
	maxLenCodeLen    = 16
	maxAlignedLen    = 7
	maxPreCodeLen    = 15
	defaultBlockSize = 32768
	e8FileSize       = 12000000
	numRepeats       = 3
	// maxOffset is the largest match offset a 32 KiB window allows: the
	// formatted offset (offset+2) must fit offset slot 29.
	maxOffset = ChunkSize - 3

	blockVerbatim     = 1
	blockAligned      = 2
	blockUncompressed = 3
)

// slotBase[s] is the smallest formatted offset (match offset + 2) coded
// with offset slot s; slots 0-2 are the repeat offsets. slotBase and
// slotExtra have 32 entries so that an index masked with 31 needs no
// bounds check; slotBase[numOffsetSlots] is the end of the last slot.
var slotBase [32]uint32

// slotOf maps a formatted offset (< ChunkSize) to its offset slot.
var slotOf [ChunkSize]uint8

// slotExtra[s] is the number of extra offset bits following slot s.
var slotExtra [32]uint8

func init() {
	base := uint32(0)
	for s := 0; s < numOffsetSlots; s++ {
		slotBase[s] = base
		extra := 0
		if s >= 4 {
			extra = s/2 - 1
		}
		slotExtra[s] = uint8(extra)
		base += 1 << extra
	}
	slotBase[numOffsetSlots] = base
	s := 0
	for f := range slotOf {
		for s+1 < numOffsetSlots && uint32(f) >= slotBase[s+1] {
			s++
		}
		slotOf[f] = uint8(s)
	}
	initDecodeSlots()
}
