package xpress

import (
	"encoding/binary"
	"math/bits"
)

const (
	hash4Bits = 16
	hash3Bits = 15
	// len3TooFar: a length-3 match this far back costs about as much as
	// three literals, so the lazy parser passes it up.
	len3TooFar = 4096
	// After 1<<skipShift searches in a row find nothing, the lazy parser
	// starts skipping positions, up to maxSkip at a time.
	skipShift = 8
	maxSkip   = 7
	// Only the first and last longKeep positions of a match of longMatch
	// bytes or more go into the match finder.
	longMatch = 256
	longKeep  = 16
	// lazyLong: see Compressor.depth2Long.
	lazyLong = 6
	// itemOffMask selects the offset of a match found by the near-optimal
	// parser, whose items are offset | (length-3)<<16 (0 marks a literal).
	itemOffMask = 0xffff
	// longLenMin is the shortest match whose length takes three extra
	// bytes in the stream.
	longLenMin = minMatch + 0xf + 0xff
)

// Compressor compresses XPRESS chunks. It is not safe for concurrent use but
// may be reused for any number of chunks; Compress does not allocate.
type Compressor struct {
	level  int
	depth  int // hash chain search depth
	depth2 int // search depth of the lazy step
	// depth2Long is the lazy step's depth after a match of lazyLong bytes
	// or more, which a later one rarely beats.
	depth2Long int
	lazy       int // matches shorter than this get a lazy check at the next byte
	nice       int // stop searching at a match this long
	passes     int // near-optimal parsing passes

	huff huffman

	// The match finder: head3 remembers the latest position of each 3-byte
	// hash (for length-3 matches), head4 and prev chain the positions of
	// each 4-byte hash. Entries hold position+1 (positions that can be
	// hashed are below MaxChunkSize-3), 0 meaning none; 16-bit entries keep
	// the tables small enough for the CPU caches, and clearing the heads
	// per chunk costs far less than the misses bigger entries would.
	head3 [1 << hash3Bits]uint16
	head4 [1 << hash4Bits]uint16
	prev  [MaxChunkSize]uint16

	// win is a copy of the chunk being compressed (see window).
	win window

	// items is the parse, each item ready for the bit writer: bits 0-8
	// hold the Huffman symbol, bits 9-23 a match's offset bits below its
	// top bit, and bits 24-31 min(length-18, 255) for a match of 18 bytes
	// or more. longLens holds length-3 of each match of 273 bytes or more
	// (the ones whose length byte is 255), in order; nlong counts them.
	items    [MaxChunkSize]uint32
	longLens [MaxChunkSize/longLenMin + 1]uint16
	nlong    int

	sink uint16 // see longest

	opt *optimal // near-optimal parsing state, nil for the lazy levels

	// The bit writer first writes the 16-bit words of the bit stream in
	// order to words, and notes in marks each match that is followed by
	// length bytes (its item, and in bits 32-63 how many words preceded
	// its length bytes); write then interleaves the two into dst. Literals
	// cost at most 15 bits, and a match of at least 3 bytes at most 30
	// bits, so the words of a chunk fit under the mask.
	words [wordsMask + 1 + 8]byte
	marks [MaxChunkSize/(minMatch+0xf) + 1]uint64
}

// NewCompressor returns a Compressor for level (LevelFast, LevelDefault or
// LevelHigh; other values are clamped into that range).
func NewCompressor(level int) *Compressor {
	level = max(LevelFast, min(level, LevelHigh))
	c := &Compressor{level: level}
	// depth2 is the lazy step's depth: it searches less, as most of what
	// it finds goes unused.
	switch level {
	case LevelFast:
		c.depth, c.depth2, c.nice = 8, 4, 32
		c.depth2Long = c.depth2
	case LevelDefault:
		c.depth, c.depth2, c.nice = 16, 8, 80
		c.depth2Long = 4
	case LevelHigh:
		c.depth, c.nice, c.passes = 24, 64, 2
	}
	c.lazy = c.nice
	if c.passes > 0 {
		c.opt = new(optimal)
	}
	return c
}

// Compress writes the compressed form of src (len(src) <= MaxChunkSize) into
// dst and returns its length, or 0 if the result would not fit in len(dst) or
// would not be smaller than len(src) (the caller then stores src raw).
// Compress never writes past len(dst); dst and src must not overlap.
func (c *Compressor) Compress(dst, src []byte) int {
	n := len(src)
	limit := min(len(dst), n-1)
	if n > MaxChunkSize || limit < tableBytes+8 || n < 8 {
		return 0
	}
	c.head3 = [1 << hash3Bits]uint16{}
	c.head4 = [1 << hash4Bits]uint16{}
	copy(c.win[:], src)
	c.resetItems()
	var count int
	if c.opt == nil {
		count = c.parseLazy(src)
	} else {
		count = c.parseOptimal(src)
	}
	return c.write(dst[:limit], c.items[:count])
}

// window holds the chunk being compressed for the match finder. Its indices
// are masked, which lets the compiler drop the bounds checks from the hot
// loops: every real index is below MaxChunkSize+maxLen, far under the mask,
// so masking never changes one.
type window [winMask + 1 + 8]byte

const winMask = 1<<17 - 1

// wordsMask bounds the words of the bit stream of a chunk: at most 15 bits
// per byte, plus the end-of-data symbol and two words.
const wordsMask = 1<<17 - 1

func (w *window) load32(i int) uint32 {
	return binary.LittleEndian.Uint32(w[i&winMask:])
}

func (w *window) load64(i int) uint64 {
	return binary.LittleEndian.Uint64(w[i&winMask:])
}

func hash3(v uint32) uint32 { return ((v << 8) * 0x9e3779b1) >> (32 - hash3Bits) }
func hash4(v uint32) uint32 { return (v * 0x9e3779b1) >> (32 - hash4Bits) }

// matchLen returns how many bytes, up to max, the chunk has in common at a
// and b; a < b and b+max <= the chunk length.
func (w *window) matchLen(a, b, max int) int {
	n := 0
	for n+8 <= max {
		x := w.load64(a+n) ^ w.load64(b+n)
		if x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
	}
	for n < max && w[(a+n)&winMask] == w[(b+n)&winMask] {
		n++
	}
	return n
}

// insert adds position i (i+4 <= the chunk length) to the match finder.
func (c *Compressor) insert(i int) {
	w := &c.win
	v := w.load32(i)
	pos := uint16(i + 1)
	c.head3[hash3(v)] = pos
	h := hash4(v)
	c.prev[uint16(i)] = c.head4[h]
	c.head4[h] = pos
}

// longest inserts position i (i+4 <= the chunk length) and returns the longest match
// there that is longer than best and at most maxLen long, searching at most
// depth hash chain entries. It returns length 0 if there is none.
func (c *Compressor) longest(i, best, maxLen, depth int) (length, offset int) {
	w := &c.win
	v := w.load32(i)
	pos := uint16(i + 1)
	h3 := hash3(v)
	c3 := c.head3[h3]
	c.head3[h3] = pos
	h := hash4(v)
	cand := c.head4[h]
	c.prev[uint16(i)] = cand
	c.head4[h] = pos
	// Touch the table entries of the next position, which is usually
	// searched next: the loads overlap with this search.
	vn := w.load32(i + 1)
	c.sink = c.head3[hash3(vn)] ^ c.head4[hash4(vn)]
	if best >= maxLen {
		return 0, 0
	}
	// A length-3 match from len3TooFar or farther would be passed up by
	// the parser: do not spend a load on it.
	if o := uint16(i) - (c3 - 1); best < minMatch && c3 != 0 && o < len3TooFar {
		if w.load32(i-int(o))<<8 == v<<8 {
			best, offset = minMatch, int(o)
		}
	}
	nice := min(c.nice, maxLen)
	prev := &c.prev
	// b is the length a candidate must beat, at least minMatch: every
	// candidate that passes the two checks below matches at least 4 bytes,
	// so "longer than b" is "longer than best" even when best < minMatch.
	b := max(best, minMatch)
	want := w.load32(i + b - 3) // the last 4 bytes a longer match must have
	v8 := w.load64(i)
	for depth > 0 && cand != 0 {
		p := int(cand - 1)
		cand = prev[uint16(p)]
		depth--
		if w.load32(p+b-3) != want {
			continue
		}
		x := w.load64(p) ^ v8
		if uint32(x) != 0 {
			continue
		}
		// Most matches end within the first 8 bytes: no call for those.
		var l int
		if x != 0 {
			l = min(bits.TrailingZeros64(x)>>3, maxLen)
		} else if maxLen > 8 {
			l = 8 + w.matchLen(p+8, i+8, maxLen-8)
		} else {
			l = maxLen
		}
		if l > b {
			b, offset = l, i-p
			if l >= nice {
				break
			}
			want = w.load32(i + b - 3)
		}
	}
	if offset == 0 {
		return 0, 0
	}
	return b, offset
}

// better reports whether a match of length l2 at offset o2 found later is
// worth more than the current one (l1, o1) after paying for the literal
// that precedes it: each length byte saves about 4 bits of output, each
// offset bit costs one.
func better(l2, o2, l1, o1 int) bool {
	return 4*l2-bits.Len16(uint16(o2)) > 4*l1-bits.Len16(uint16(o1))
}

// resetItems clears the symbol counts and the long lengths before a parse.
func (c *Compressor) resetItems() {
	c.huff.freqs = [numSymbols]uint32{}
	c.nlong = 0
}

// recordLiteral appends a literal item.
func (c *Compressor) recordLiteral(k int, b byte) int {
	c.items[uint16(k)] = uint32(b)
	c.huff.freqs[b]++
	return k + 1
}

// matchSymbol returns the Huffman symbol of a match.
func matchSymbol(length, offset int) int {
	return numLiterals + (bits.Len16(uint16(offset))-1)<<4 | min(length-minMatch, 0xf)
}

// recordMatch appends a match item.
func (c *Compressor) recordMatch(k, length, offset int) int {
	ob := bits.Len16(uint16(offset)) - 1
	adj := length - minMatch
	sym := (numLiterals + ob<<4 | min(adj, 0xf)) & (numSymbols - 1)
	it := uint32(sym) | uint32(offset&(1<<ob-1))<<9
	if adj >= 0xf {
		b := min(adj-0xf, 0xff)
		it |= uint32(b) << 24
		if b == 0xff {
			c.longLens[c.nlong%len(c.longLens)] = uint16(adj)
			c.nlong++
		}
	}
	c.items[uint16(k)] = it
	c.huff.freqs[sym]++
	return k + 1
}

// parseLazy parses src with lazy matching: a match is taken unless the next
// position has a longer one. It returns the number of items.
func (c *Compressor) parseLazy(src []byte) int {
	n := len(src)
	k := 0
	i := 0
	last := n - 4 // last position the match finder can hash
	misses := 0   // positions searched in a row without a match
	for i < n {
		if i > last {
			k = c.recordLiteral(k, src[i])
			i++
			continue
		}
		length, offset := c.longest(i, minMatch-1, n-i, c.depth)
		if length < minMatch || (length == minMatch && offset >= len3TooFar) {
			k = c.recordLiteral(k, src[i])
			i++
			// In data that does not compress (already compressed files),
			// search fewer positions the longer nothing is found.
			misses++
			for skip := min(misses>>skipShift, maxSkip); skip > 0 && i < n; skip-- {
				k = c.recordLiteral(k, src[i])
				i++
			}
			continue
		}
		misses = 0
		// Lazy step: a better match one byte later wins over this one;
		// "better" weighs length against offset bits.
		done := i // positions up to done are in the match finder
		for length < c.lazy && i+1 <= last {
			d := c.depth2
			if length >= lazyLong {
				d = c.depth2Long
			}
			l2, o2 := c.longest(i+1, length, n-i-1, d)
			done = i + 1
			if l2 > length && better(l2, o2, length, offset) {
				k = c.recordLiteral(k, src[i])
				i++
				length, offset = l2, o2
				continue
			}
			break
		}
		k = c.recordMatch(k, length, offset)
		end := min(i+length, last+1)
		j := done + 1
		if length >= longMatch {
			// Inside a very long match (runs of zeros, duplicated blocks)
			// every position would hash alike: keep the first and last few.
			for ; j < i+longKeep; j++ {
				c.insert(j)
			}
			j = max(j, end-longKeep)
		}
		for ; j < end; j++ {
			c.insert(j)
		}
		i += length
	}
	return k
}

// write builds the Huffman code from c.huff.freqs (plus the end-of-data
// symbol) and writes the block for items into dst. It returns the size, or 0
// if it does not fit in dst.
func (c *Compressor) write(dst []byte, items []uint32) int {
	h := &c.huff
	h.freqs[endOfData]++
	h.build()
	if len(dst) < tableBytes+4 {
		return 0
	}
	// The exact number of bits of symbols and offsets gives a lower bound
	// on the size: a chunk that cannot fit (data that does not compress)
	// is rejected before any item is encoded.
	nbits := 0
	for s, f := range h.freqs {
		ob := 0
		if s >= numLiterals {
			ob = (s >> 4) & 0xf
		}
		nbits += int(f) * (int(h.lens[s]) + ob)
	}
	if tableBytes+(nbits+15)/16*2 > len(dst) {
		return 0
	}
	// enc[s] holds, for symbol s: in bits 0-31 its code shifted left by
	// the number of offset bits that follow it (ob, 0 for literals), in
	// bits 32-37 the code length plus ob, in bits 40-43 ob, and in bit 39
	// a flag for the match symbols that are followed by length bytes.
	var enc [numSymbols]uint64
	for s, l := range h.lens {
		ob := 0
		var flag uint64
		if s >= numLiterals {
			ob = (s >> 4) & 0xf
			if s&0xf == 0xf {
				flag = 1 << 39
			}
		}
		enc[s] = uint64(h.codes[s])<<ob | uint64(int(l)+ob)<<32 | uint64(ob)<<40 | flag
	}

	// The decoder reads the bit stream 16 bits at a time, two words ahead,
	// and a length byte from the byte stream at the point it has reached:
	// so each length byte goes right after the word that was the second
	// one ahead when the decoder finished reading the match symbol. A word
	// is complete once the buffer holds more than 16 bits; complete words
	// may wait and go out two at a time (when more than 32 bits are
	// buffered), except before length bytes, whose place depends on them.
	// Indices into words are masked only to spare the bounds checks: they
	// never reach the mask.
	wb := &c.words
	var bitbuf uint64
	var bitcount uint // at most 32 between items
	wp := 0           // bytes of words written
	nmark := 0
	for _, it := range items {
		e := enc[it&(numSymbols-1)]
		n := uint(e>>32) & 0x3f
		if e&(1<<39) != 0 {
			// The length bytes go in after the symbol's bits and before
			// the offset bits.
			ob := uint(e>>40) & 0xf
			bitbuf = bitbuf<<(n-ob) | (e&0xffffffff)>>ob
			bitcount += n - ob
			for bitcount > 16 {
				bitcount -= 16
				binary.LittleEndian.PutUint16(wb[wp&wordsMask:], uint16(bitbuf>>bitcount))
				wp += 2
			}
			c.marks[nmark%len(c.marks)] = uint64(wp)<<32 | uint64(it)
			nmark++
			bitbuf = bitbuf<<ob | uint64(it>>9&0x7fff)
			bitcount += ob
			continue
		}
		bitbuf = bitbuf<<n | e&0xffffffff | uint64(it>>9&0x7fff)
		bitcount += n
		// Whether two words are complete is a coin toss for the branch
		// predictor: store them either way (a premature store is
		// overwritten later) and advance without a branch.
		v := uint32(bitbuf >> (bitcount - 32)) // 0 if bitcount < 32
		binary.LittleEndian.PutUint32(wb[wp&wordsMask:], bits.RotateLeft32(v, 16))
		if bitcount > 32 {
			wp, bitcount = wp+4, bitcount-32
		}
	}
	e := enc[endOfData]
	bitbuf = bitbuf<<(e>>32&0x3f) | e&0xffffffff
	bitcount += uint(e>>32) & 0x3f
	for bitcount > 16 {
		bitcount -= 16
		binary.LittleEndian.PutUint16(wb[wp&wordsMask:], uint16(bitbuf>>bitcount))
		wp += 2
	}
	// The last, partial word, and the second word ahead, which is 0.
	binary.LittleEndian.PutUint16(wb[wp&wordsMask:], uint16(bitbuf<<(16-bitcount)))
	binary.LittleEndian.PutUint16(wb[(wp+2)&wordsMask:], 0)
	wp += 4

	// Interleave: the length bytes of a match follow the words before its
	// symbol's end plus the two the decoder had loaded ahead.
	size := tableBytes + wp
	marks := c.marks[:nmark]
	for _, m := range marks {
		if byte(m>>24) < 0xff {
			size++
		} else {
			size += 3
		}
	}
	if size > len(dst) {
		return 0
	}
	out := dst[:size]
	for i := range tableBytes {
		out[i] = h.lens[2*i] | h.lens[2*i+1]<<4
	}
	p := tableBytes
	done := 0 // bytes of words copied
	long := 0 // the next entry of c.longLens
	for _, m := range marks {
		upto := int(m>>32) + 4
		p += copy(out[p:], wb[done:upto])
		done = upto
		if b := byte(m >> 24); b < 0xff {
			out[p] = b
			p++
		} else {
			out[p] = 0xff
			binary.LittleEndian.PutUint16(out[p+1:], c.longLens[long%len(c.longLens)])
			long++
			p += 3
		}
	}
	copy(out[p:], wb[done:wp])
	return size
}
