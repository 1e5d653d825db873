package lzx

// This file keeps the first, straightforward decoder of this package (one
// table look-up and one refill check per symbol, byte-wise match copies) as
// a test oracle: FuzzDecompress checks that the fast decoder agrees with it
// on every input, valid or not, and the benchmarks compare the two.

import (
	"encoding/binary"
	"fmt"

	"github.com/wdscapture/wdscapture/images/internal/huffdec"
)

// errBadCode is what the reference decoder returns for bad code lengths.
var errBadCode = huffdec.ErrBadCode

// refDecompressor decodes LZX chunks. It is not safe for concurrent use; a
// refDecompressor may be reused for any number of chunks and allocates
// nothing per call.
type refDecompressor struct {
	mainLens    [numMainSyms + lensSlack]uint8
	lenLens     [numLenSyms + lensSlack]uint8
	alignedLens [numAlignedSyms]uint8
	preLens     [numPreSyms]uint8

	main    *refHuffDecoder
	length  *refHuffDecoder
	aligned *refHuffDecoder
	pre     *refHuffDecoder

	br refBitReader
}

// newRefDecompressor returns a refDecompressor ready for use.
func newRefDecompressor() *refDecompressor {
	return &refDecompressor{
		main:    newRefHuffDecoder(numMainSyms, 11, maxMainCodeLen),
		length:  newRefHuffDecoder(numLenSyms, 9, maxLenCodeLen),
		aligned: newRefHuffDecoder(numAlignedSyms, maxAlignedLen, maxAlignedLen),
		pre:     newRefHuffDecoder(numPreSyms, 8, maxPreCodeLen),
	}
}

func refCorrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Decompress decodes the compressed chunk src into dst, whose length must
// be the chunk's uncompressed size (at most ChunkSize). Any input that is
// not a valid encoding of exactly len(dst) bytes gives an error wrapping
// ErrCorrupt; dst may then hold partial output.
func (d *refDecompressor) Decompress(dst, src []byte) error {
	if len(dst) > ChunkSize {
		return fmt.Errorf("lzx: uncompressed size %d exceeds the chunk size %d", len(dst), ChunkSize)
	}
	clear(d.mainLens[:])
	clear(d.lenLens[:])
	br := &d.br
	br.init(src)
	rep := [numRepeats]uint32{1, 1, 1}
	out := 0
	for out < len(dst) {
		btype := br.bits(3)
		size := defaultBlockSize
		if br.bits(1) == 0 {
			size = int(br.bits(16))
		}
		if size == 0 || size > len(dst)-out {
			return refCorrupt("block at output offset %d has size %d, but %d bytes remain", out, size, len(dst)-out)
		}
		switch btype {
		case blockVerbatim, blockAligned:
			if err := d.readTrees(btype == blockAligned); err != nil {
				return fmt.Errorf("%w: block at output offset %d: %v", ErrCorrupt, out, err)
			}
			if err := d.decodeBlock(dst, out, out+size, btype == blockAligned, &rep); err != nil {
				return err
			}
		case blockUncompressed:
			br.alignForBytes()
			r := br.rawBytes(12)
			if r == nil {
				return refCorrupt("uncompressed block at output offset %d: header truncated", out)
			}
			for i := range rep {
				rep[i] = binary.LittleEndian.Uint32(r[4*i:])
				if rep[i] == 0 {
					return refCorrupt("uncompressed block at output offset %d: repeat offset R%d is 0", out, i)
				}
			}
			b := br.rawBytes(size)
			if b == nil {
				return refCorrupt("uncompressed block at output offset %d: %d data bytes truncated", out, size)
			}
			copy(dst[out:], b)
			if size&1 != 0 {
				br.rawBytes(1) // padding byte; may be absent at the very end
			}
		default:
			return refCorrupt("invalid block type %d at output offset %d", btype, out)
		}
		if br.overrun() {
			return refCorrupt("compressed data truncated (%d bytes) in block ending at output offset %d", len(src), out+size)
		}
		out += size
	}
	refE8Translate(dst, false)
	return nil
}

// readTrees reads the code lengths of a verbatim or aligned block and
// builds the decoders.
func (d *refDecompressor) readTrees(aligned bool) error {
	br := &d.br
	if aligned {
		for i := range d.alignedLens {
			d.alignedLens[i] = uint8(br.bits(3))
		}
		if err := d.aligned.build(d.alignedLens[:]); err != nil {
			return fmt.Errorf("aligned offset code: %w", err)
		}
	}
	if err := d.readLens(d.mainLens[:], 0, numChars); err != nil {
		return fmt.Errorf("main code literals: %w", err)
	}
	if err := d.readLens(d.mainLens[:], numChars, numMainSyms); err != nil {
		return fmt.Errorf("main code matches: %w", err)
	}
	if err := d.readLens(d.lenLens[:], 0, numLenSyms); err != nil {
		return fmt.Errorf("length code: %w", err)
	}
	if err := d.main.build(d.mainLens[:numMainSyms]); err != nil {
		return fmt.Errorf("main code: %w", err)
	}
	if err := d.length.build(d.lenLens[:numLenSyms]); err != nil {
		return fmt.Errorf("length code: %w", err)
	}
	return nil
}

// readLens reads a pretree and, with it, new values for lens[start:end]
// coded relative to their previous values. Runs may spill past end into
// the slack of lens.
func (d *refDecompressor) readLens(lens []uint8, start, end int) error {
	br := &d.br
	for i := range d.preLens {
		d.preLens[i] = uint8(br.bits(4))
	}
	if err := d.pre.build(d.preLens[:]); err != nil {
		return fmt.Errorf("pretree: %w", err)
	}
	i := start
	for i < end {
		sym, err := d.pre.decode(br)
		if err != nil {
			return fmt.Errorf("pretree: %w", err)
		}
		switch {
		case sym < 17:
			lens[i] = uint8((int(lens[i]) - sym + 17) % 17)
			i++
		case sym == 17:
			run := 4 + int(br.bits(4))
			for ; run > 0; run-- {
				lens[i] = 0
				i++
			}
		case sym == 18:
			run := 20 + int(br.bits(5))
			for ; run > 0; run-- {
				lens[i] = 0
				i++
			}
		default: // 19
			run := 4 + int(br.bits(1))
			s2, err := d.pre.decode(br)
			if err != nil {
				return fmt.Errorf("pretree: %w", err)
			}
			if s2 > 17 {
				return fmt.Errorf("pretree symbol %d after a same-length run", s2)
			}
			v := uint8((int(lens[i]) - s2 + 17) % 17)
			for ; run > 0; run-- {
				lens[i] = v
				i++
			}
		}
	}
	return nil
}

// decodeBlock decodes the symbols of a verbatim or aligned block into
// dst[out:end].
func (d *refDecompressor) decodeBlock(dst []byte, out, end int, aligned bool, rep *[numRepeats]uint32) error {
	br := &d.br
	minAligned := numOffsetSlots
	if aligned {
		minAligned = minAlignedSlot
	}
	for out < end {
		sym, err := d.main.decode(br)
		if err != nil {
			return refCorrupt("main symbol at output offset %d: %v", out, err)
		}
		if sym < numChars {
			dst[out] = byte(sym)
			out++
			continue
		}
		sym -= numChars
		length := sym & 7
		slot := sym >> 3
		if length == numPrimaryLens {
			ls, err := d.length.decode(br)
			if err != nil {
				return refCorrupt("length symbol at output offset %d: %v", out, err)
			}
			length += ls
		}
		length += minMatch
		var off uint32
		if slot < numRepeats {
			off = rep[slot]
			rep[slot] = rep[0]
		} else {
			extra := uint(slotExtra[slot])
			var v uint32
			if slot >= minAligned {
				v = br.bits(extra-alignedBits) << alignedBits
				a, err := d.aligned.decode(br)
				if err != nil {
					return refCorrupt("aligned offset symbol at output offset %d: %v", out, err)
				}
				v |= uint32(a)
			} else {
				v = br.bits(extra)
			}
			off = slotBase[slot] + v - 2
			rep[2] = rep[1]
			rep[1] = rep[0]
		}
		rep[0] = off
		if off == 0 || int64(off) > int64(out) {
			return refCorrupt("match at output offset %d refers back %d bytes", out, off)
		}
		if length > end-out {
			return refCorrupt("match of length %d at output offset %d runs past the block end %d", length, out, end)
		}
		o := int(off)
		if o >= length {
			copy(dst[out:out+length], dst[out-o:])
		} else {
			for k := 0; k < length; k++ {
				dst[out+k] = dst[out+k-o]
			}
		}
		out += length
		if br.overrun() {
			return refCorrupt("compressed data truncated at output offset %d", out)
		}
	}
	return nil
}

// refHuffDecoder decodes one canonical Huffman code. Codes of at most
// tableBits bits are found with one lookup in table; longer ones (rare)
// are found by walking the canonical code length by length.
type refHuffDecoder struct {
	tableBits uint
	maxLen    uint
	empty     bool
	// table entries are sym<<5 | length; 0 means "longer than tableBits".
	table []uint16
	// count[l] is the number of codes of length l; first[l] is the first
	// code of length l; index[l] is the position in sorted of its symbol.
	count  [maxMainCodeLen + 1]uint16
	first  [maxMainCodeLen + 1]uint32
	index  [maxMainCodeLen + 1]uint16
	sorted []uint16
}

func newRefHuffDecoder(numSyms int, tableBits, maxLen uint) *refHuffDecoder {
	return &refHuffDecoder{
		tableBits: tableBits,
		maxLen:    maxLen,
		table:     make([]uint16, 1<<tableBits),
		sorted:    make([]uint16, numSyms),
	}
}

// build prepares the decoder for the code with the given lengths.
func (h *refHuffDecoder) build(lens []uint8) error {
	h.count = [maxMainCodeLen + 1]uint16{}
	for _, l := range lens {
		if uint(l) > h.maxLen {
			return errBadCode
		}
		h.count[l]++
	}
	h.count[0] = 0
	// Check completeness: the Kraft sum must be exactly 1.
	left := 1
	for l := uint(1); l <= h.maxLen; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return errBadCode
		}
	}
	if left != 0 {
		if left == 1<<h.maxLen {
			h.empty = true
			clear(h.table)
			return nil
		}
		return errBadCode
	}
	h.empty = false
	// Canonical codes: by length, then by symbol value.
	code := uint32(0)
	idx := uint16(0)
	for l := uint(1); l <= h.maxLen; l++ {
		code <<= 1
		h.first[l] = code
		h.index[l] = idx
		code += uint32(h.count[l])
		idx += h.count[l]
	}
	next := h.index
	for s, l := range lens {
		if l != 0 {
			h.sorted[next[l]] = uint16(s)
			next[l]++
		}
	}
	clear(h.table)
	tb := h.tableBits
	for l := uint(1); l <= tb && l <= h.maxLen; l++ {
		c := h.first[l]
		for i := uint16(0); i < h.count[l]; i++ {
			sym := h.sorted[h.index[l]+i]
			start := (c + uint32(i)) << (tb - l)
			e := sym<<5 | uint16(l)
			fill := h.table[start : start+1<<(tb-l)]
			for j := range fill {
				fill[j] = e
			}
		}
	}
	return nil
}

// decode reads one symbol from br.
func (h *refHuffDecoder) decode(br *refBitReader) (int, error) {
	br.ensure(16)
	peek := uint32(br.buf >> 48)
	e := h.table[peek>>(16-h.tableBits)]
	if e != 0 {
		br.consume(uint(e & 31))
		return int(e >> 5), nil
	}
	if h.empty {
		return 0, errEmptyCode
	}
	for l := h.tableBits + 1; l <= h.maxLen; l++ {
		c := peek >> (16 - l)
		if d := c - h.first[l]; d < uint32(h.count[l]) {
			br.consume(l)
			return int(h.sorted[uint32(h.index[l])+d]), nil
		}
	}
	// Unreachable for a complete code; kept as a guard.
	return 0, errBadCode
}

// refBitReader reads the LZX bit stream: 16-bit little-endian words, each
// used from its most significant bit down. Past the end of the input it
// supplies zero bits, as other decoders do, and remembers how far it went
// so that a stream that really consumed missing bits can be rejected.
type refBitReader struct {
	src []byte
	pos int    // byte offset of the next word to load (may pass len(src))
	buf uint64 // valid bits at the top
	n   uint   // number of valid bits in buf
}

func (br *refBitReader) init(src []byte) {
	*br = refBitReader{src: src}
}

// ensure makes at least k (k <= 48) bits available in buf.
func (br *refBitReader) ensure(k uint) {
	for br.n < k {
		var w uint64
		if br.pos+2 <= len(br.src) {
			w = uint64(br.src[br.pos]) | uint64(br.src[br.pos+1])<<8
		}
		br.buf |= w << (48 - br.n)
		br.n += 16
		br.pos += 2
	}
}

func (br *refBitReader) consume(k uint) {
	br.buf <<= k
	br.n -= k
}

// bits reads k (k <= 32) bits.
func (br *refBitReader) bits(k uint) uint32 {
	if k == 0 {
		return 0
	}
	br.ensure(k)
	v := uint32(br.buf >> (64 - k))
	br.consume(k)
	return v
}

// consumed returns the number of bits taken from the stream so far.
func (br *refBitReader) consumed() int {
	return br.pos*8 - int(br.n)
}

// overrun reports whether more bits were taken than the input holds.
func (br *refBitReader) overrun() bool {
	return br.consumed() > len(br.src)*8
}

// alignForBytes moves to the byte position where an uncompressed block's
// contents start: the rest of the current 16-bit word is skipped, or a
// whole word when the stream is already on a word boundary.
func (br *refBitReader) alignForBytes() {
	c := br.consumed()
	c += 16 - c%16
	br.pos = c / 8
	br.buf = 0
	br.n = 0
}

// rawBytes returns the next k bytes of the input as raw bytes (only valid
// right after alignForBytes), or nil when the input is too short.
func (br *refBitReader) rawBytes(k int) []byte {
	if br.pos > len(br.src) || len(br.src)-br.pos < k {
		return nil
	}
	b := br.src[br.pos : br.pos+k]
	br.pos += k
	return b
}

// refE8Translate converts the targets of E8 (x86 CALL) bytes from relative
// to absolute form (encode true) or back (encode false), as LZX requires
// before compression and after decompression. An E8 byte is considered
// only when the whole 5-byte instruction starts before the last 10 bytes
// of the chunk, and the 4 bytes after a considered E8 are never scanned
// themselves; both directions scan the same positions, since only target
// bytes change.
func refE8Translate(data []byte, encode bool) {
	n := len(data)
	if n <= 10 {
		return
	}
	end := n - 10
	for i := 0; i < end; i++ {
		if data[i] != 0xE8 {
			continue
		}
		t := data[i+1 : i+5]
		v := int32(binary.LittleEndian.Uint32(t))
		pos := int32(i)
		if encode {
			if v >= -pos && v < e8FileSize {
				if v < e8FileSize-pos {
					v += pos
				} else {
					v -= e8FileSize
				}
				binary.LittleEndian.PutUint32(t, uint32(v))
			}
		} else {
			if v >= 0 {
				if v < e8FileSize {
					binary.LittleEndian.PutUint32(t, uint32(v-pos))
				}
			} else if v >= -pos {
				binary.LittleEndian.PutUint32(t, uint32(v+e8FileSize))
			}
		}
		i += 4
	}
}
