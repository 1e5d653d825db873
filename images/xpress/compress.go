package xpress

import (
	"encoding/binary"
	"math/bits"
)

const (
	hashBits = 15
	hashSize = 1 << hashBits
	// len3TooFar: a length-3 match this far back costs about as much as
	// three literals, so the greedy parsers pass it up.
	len3TooFar = 4096
	// itemOffMask selects an item's offset; 0 marks a literal.
	itemOffMask = 0xffff
)

// Compressor compresses XPRESS chunks. It is not safe for concurrent use but
// may be reused for any number of chunks; Compress does not allocate.
type Compressor struct {
	level  int
	depth  int // hash chain search depth
	nice   int // stop searching at a match this long
	passes int // near-optimal parsing passes

	huff huffman

	// Hash chains over absolute positions base+i: an entry below base is
	// from an earlier chunk and reads as empty, so tables need no clearing.
	base uint32
	head [hashSize]uint32
	prev [MaxChunkSize]uint32

	// items is the parse: a literal is byte<<16 (offset field 0), a match
	// is offset | (length-3)<<16 (offsets are never 0).
	items [MaxChunkSize]uint32

	opt *optimal // near-optimal parsing state, nil at LevelFast

	// scratch receives the block before it is copied to dst, so that the
	// bit writer needs no exact bounds checks. Literals cost at most 15
	// bits, and a match of at least 3 bytes at most 30 bits plus 3 bytes.
	scratch [tableBytes + 2*MaxChunkSize + 16]byte
}

// NewCompressor returns a Compressor for level (LevelFast, LevelDefault or
// LevelHigh; other values are clamped into that range).
func NewCompressor(level int) *Compressor {
	level = max(LevelFast, min(level, LevelHigh))
	c := &Compressor{level: level}
	switch level {
	case LevelFast:
		c.depth, c.nice = 16, 48
	case LevelDefault:
		c.depth, c.nice, c.passes = 24, 64, 2
	case LevelHigh:
		c.depth, c.nice, c.passes = 96, 256, 4
	}
	if c.passes > 0 {
		c.opt = new(optimal)
	}
	c.base = 1 // 0 in head means "never used"
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
	if c.base > 1<<31 {
		c.head = [hashSize]uint32{}
		c.base = 1
	}
	c.huff.freqs = [numSymbols]uint32{}
	var count int
	if c.opt == nil {
		count = c.parseLazy(src)
	} else {
		count = c.parseOptimal(src)
	}
	c.base += uint32(n) + 1
	return c.write(dst[:limit], c.items[:count])
}

// hashAt hashes the 3 bytes at src[i:]; i+3 <= len(src).
func hashAt(src []byte, i int) uint32 {
	v := uint32(src[i]) | uint32(src[i+1])<<8 | uint32(src[i+2])<<16
	return (v * 0x9e3779b1) >> (32 - hashBits)
}

// matchLen returns how many bytes, up to max, src[a:] and src[b:] share.
// b+max <= len(src) and a < b.
func matchLen(src []byte, a, b, max int) int {
	n := 0
	for n+8 <= max {
		x := binary.LittleEndian.Uint64(src[a+n:]) ^ binary.LittleEndian.Uint64(src[b+n:])
		if x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
	}
	for n < max && src[a+n] == src[b+n] {
		n++
	}
	return n
}

// insert adds position i (i+3 <= len(src)) to the hash chains.
func (c *Compressor) insert(src []byte, i int) {
	h := hashAt(src, i)
	c.prev[i] = c.head[h]
	c.head[h] = c.base + uint32(i)
}

// longest inserts position i (i+3 <= len(src)) and returns the longest match
// there that is longer than best, searching at most depth candidates, with
// length at most maxLen.
func (c *Compressor) longest(src []byte, i, best, maxLen, depth int) (length, offset int) {
	h := hashAt(src, i)
	cand := c.head[h]
	c.prev[i] = cand
	c.head[h] = c.base + uint32(i)
	nice := min(c.nice, maxLen)
	base := c.base
	for ; depth > 0 && cand >= base; depth-- {
		p := int(cand - base)
		off := i - p
		if off > maxOffset {
			break
		}
		cand = c.prev[p]
		// Cheap filter: the byte that would make this match longer.
		if best >= maxLen || src[p+best] != src[i+best] {
			continue
		}
		l := matchLen(src, p, i, maxLen)
		if l > best {
			best, length, offset = l, l, off
			if l >= nice {
				break
			}
		}
	}
	return length, offset
}

// recordLiteral appends a literal item.
func (c *Compressor) recordLiteral(k int, b byte) int {
	c.items[k] = uint32(b) << 16
	c.huff.freqs[b]++
	return k + 1
}

// matchSymbol returns the Huffman symbol of a match.
func matchSymbol(length, offset int) int {
	return numLiterals + (bits.Len16(uint16(offset))-1)<<4 | min(length-minMatch, 0xf)
}

// recordMatch appends a match item.
func (c *Compressor) recordMatch(k, length, offset int) int {
	c.items[k] = uint32(offset) | uint32(length-minMatch)<<16
	c.huff.freqs[matchSymbol(length, offset)]++
	return k + 1
}

// parseLazy parses src with lazy matching: a match is taken unless the next
// position has a longer one. It returns the number of items.
func (c *Compressor) parseLazy(src []byte) int {
	n := len(src)
	k := 0
	i := 0
	last := n - minMatch // last position that can start a match
	for i < n {
		if i > last {
			k = c.recordLiteral(k, src[i])
			i++
			continue
		}
		length, offset := c.longest(src, i, minMatch-1, n-i, c.depth)
		if length < minMatch || (length == minMatch && offset >= len3TooFar) {
			k = c.recordLiteral(k, src[i])
			i++
			continue
		}
		// Lazy step: a longer match one byte later wins over this one.
		nextInserted := false
		for length < c.nice && i+1 <= last {
			l2, o2 := c.longest(src, i+1, length, n-i-1, c.depth/2)
			if l2 <= length {
				nextInserted = true
				break
			}
			k = c.recordLiteral(k, src[i])
			i++
			length, offset = l2, o2
		}
		k = c.recordMatch(k, length, offset)
		j := i + 1
		if nextInserted {
			j++
		}
		for ; j < i+length && j <= last; j++ {
			c.insert(src, j)
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
	out := c.scratch[:]
	for i := range tableBytes {
		out[i] = h.lens[2*i] | h.lens[2*i+1]<<4
	}
	lens := &h.lens
	codes := &h.codes

	// The bit stream: 16-bit words go to the two reserved slots w1 and w2,
	// extra length bytes to nb; a new slot is reserved at nb when w1 fills.
	var bitbuf uint32
	var bitcount uint
	w1, w2, nb := tableBytes, tableBytes+2, tableBytes+4
	end := len(dst) // the size only grows: past this, give up
	put := func(v uint32, n uint) {
		bitbuf = bitbuf<<n | v
		bitcount += n
		if bitcount > 16 {
			bitcount -= 16
			binary.LittleEndian.PutUint16(out[w1:], uint16(bitbuf>>bitcount))
			w1, w2 = w2, nb
			nb += 2
		}
	}
	for _, it := range items {
		if nb > end {
			return 0
		}
		off := int(it & itemOffMask)
		if off == 0 {
			b := it >> 16
			put(uint32(codes[b]), uint(lens[b]))
			continue
		}
		adj := int(it >> 16)
		ob := uint(bits.Len16(uint16(off)) - 1)
		sym := numLiterals + int(ob)<<4 | min(adj, 0xf)
		put(uint32(codes[sym]), uint(lens[sym]))
		if adj >= 0xf {
			if adj-0xf >= 0xff {
				out[nb] = 0xff
				binary.LittleEndian.PutUint16(out[nb+1:], uint16(adj))
				nb += 3
			} else {
				out[nb] = byte(adj - 0xf)
				nb++
			}
		}
		if ob > 0 {
			put(uint32(off)&(1<<ob-1), ob)
		}
	}
	put(uint32(codes[endOfData]), uint(lens[endOfData]))
	binary.LittleEndian.PutUint16(out[w1:], uint16(bitbuf<<(16-bitcount)))
	binary.LittleEndian.PutUint16(out[w2:], 0)
	if nb > len(dst) {
		return 0
	}
	return copy(dst, out[:nb])
}
