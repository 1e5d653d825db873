package lzx

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

const (
	hashBits = 15
	hashSize = 1 << hashBits
)

// match is a match candidate: length and offset.
type match struct {
	length uint16
	offset uint16
}

func hash3(b []byte, i int) uint32 {
	v := uint32(b[i]) | uint32(b[i+1])<<8 | uint32(b[i+2])<<16
	return (v * 0x9E3779B1) >> (32 - hashBits)
}

// Table sizes of the binary-tree match finder, in bits of hash.
const (
	bt2Bits = 12 // last position per 2-byte prefix
	bt3Bits = 14 // last two positions per 3-byte prefix
	bt4Bits = 15 // tree roots per 4-byte prefix
)

// btFinder is a binary-tree match finder. Matches of 2 and 3 bytes come
// from small hash tables of recent positions; longer ones from binary
// search trees, one per 4-byte hash bucket, of earlier positions ordered
// by the bytes that follow them, so that one descent visits the longest
// matches first while inserting the new position.
//
// Positions are stored as uint16, with 0 meaning "none": position 0 is
// never offered as a match source, which costs next to nothing and lets
// reset be a plain clear.
//
// No offset needs checking against maxOffset: a searched position is at
// least 5 bytes from the end of a chunk of at most ChunkSize bytes, and
// a match source is at least position 1.
type btFinder struct {
	hash2 [1 << bt2Bits]uint16
	hash3 [1 << bt3Bits][2]uint16
	hash4 [1 << bt4Bits]uint16
	child [2 * ChunkSize]uint16
}

// reset forgets all positions, so that a chunk's matches (and so its
// compressed form) never depend on the chunks compressed before it.
// The tree links need no clearing: inserting a position sets them.
func (f *btFinder) reset() {
	clear(f.hash2[:])
	clear(f.hash3[:])
	clear(f.hash4[:])
}

// hashes returns the first 4 bytes at pos (little-endian) and their 2-,
// 3- and 4-byte hashes.
func hashes(buf []byte, pos int) (v, h2, h3, h4 uint32) {
	v = binary.LittleEndian.Uint32(buf[pos:])
	h2 = (v & 0xFFFF) * 0x9E3779B1 >> (32 - bt2Bits)
	h3 = (v << 8) * 0x9E3779B1 >> (32 - bt3Bits)
	h4 = v * 0x9E3779B1 >> (32 - bt4Bits)
	return
}

// Indexes into child are masked so that the compiler can drop bounds
// checks; every index is already in range.
const childMask = 2*ChunkSize - 1

// find inserts position pos of buf into the finder and stores in ms the
// matches found, in strictly increasing length, and returns how many; at
// most depth tree nodes are visited, and it stops early at a match of
// nice bytes. len(ms) must be at least maxMatch (one find records fewer:
// the lengths strictly increase). Positions fewer than 5 bytes from the
// end are neither searched nor inserted.
//
// The tree walk reads buf through unsafe pointers: it is the hottest loop
// of the compressor and the bounds checks cost registers it needs. Every
// read is in range by construction: a visited node cur is below pos, and
// bytes are read at offsets below maxLen from cur and from pos, with
// pos+maxLen <= len(buf).
func (f *btFinder) find(buf []byte, pos, nice, depth int, ms []match) int {
	avail := len(buf) - pos
	if avail < 5 {
		return 0
	}
	ms = ms[:maxMatch]
	maxLen := min(avail, maxMatch)
	nice = min(nice, maxLen)
	v, h2, h3, h4 := hashes(buf, pos)
	p := uint16(pos)
	n := 0
	c2 := int(f.hash2[h2&(1<<bt2Bits-1)])
	f.hash2[h2&(1<<bt2Bits-1)] = p
	e3 := &f.hash3[h3&(1<<bt3Bits-1)]
	c3, c3b := int(e3[0]), int(e3[1])
	e3[0], e3[1] = p, uint16(c3)
	if c2 != 0 && binary.LittleEndian.Uint16(buf[c2:]) == uint16(v) {
		ms[0] = match{2, uint16(pos - c2)}
		n = 1
	}
	if c3 != 0 && (binary.LittleEndian.Uint32(buf[c3:])^v)&0xFFFFFF == 0 {
		ms[n] = match{3, uint16(pos - c3)}
		n++
	} else if c3b != 0 && (binary.LittleEndian.Uint32(buf[c3b:])^v)&0xFFFFFF == 0 {
		ms[n] = match{3, uint16(pos - c3b)}
		n++
	}
	cur := int(f.hash4[h4&(1<<bt4Bits-1)])
	f.hash4[h4&(1<<bt4Bits-1)] = p
	child := &f.child
	lt, gt := 2*pos, 2*pos+1
	lenLT, lenGT := 0, 0
	best := 3
	base := unsafe.Pointer(unsafe.SliceData(buf))
	b := unsafe.Add(base, pos)
	l := 0
	for d := depth; cur != 0 && d > 0; d-- {
		a := unsafe.Add(base, cur)
		if at(a, l) == at(b, l) {
			l = extendPtr(a, b, l+1, maxLen)
			if l > best {
				best = l
				ms[n] = match{uint16(l), uint16(pos - cur)}
				n++
				if l >= nice {
					child[lt&childMask] = child[(2*cur)&childMask]
					child[gt&childMask] = child[(2*cur+1)&childMask]
					return n
				}
			}
		}
		if at(a, l) < at(b, l) {
			child[lt&childMask] = uint16(cur)
			lt = 2*cur + 1
			cur = int(child[lt&childMask])
			lenLT = l
		} else {
			child[gt&childMask] = uint16(cur)
			gt = 2 * cur
			cur = int(child[gt&childMask])
			lenGT = l
		}
		l = min(lenLT, lenGT)
	}
	child[lt&childMask] = 0
	child[gt&childMask] = 0
	return n
}

// at returns the byte at p+i.
func at(p unsafe.Pointer, i int) byte { return *(*byte)(unsafe.Add(p, i)) }

// load16 returns the 2 bytes at p, little-endian (one load on
// little-endian machines).
func load16(p unsafe.Pointer) uint16 { return binary.LittleEndian.Uint16((*[2]byte)(p)[:]) }

// load64 returns the 8 bytes at p, little-endian (one load on
// little-endian machines).
func load64(p unsafe.Pointer) uint64 { return binary.LittleEndian.Uint64((*[8]byte)(p)[:]) }

// extendPtr returns the length of the common prefix of the limit bytes
// at a and at b, knowing the first l are equal. Both must have limit
// readable bytes. It is extend on pointers; extend keeps its own loop
// because a wrapper around this one is no longer inlined, which cost the
// fast level's hash-chain walk 4%.
func extendPtr(a, b unsafe.Pointer, l, limit int) int {
	for l+8 <= limit {
		x := load64(unsafe.Add(a, l)) ^ load64(unsafe.Add(b, l))
		if x != 0 {
			return l + bits.TrailingZeros64(x)>>3
		}
		l += 8
	}
	for l < limit && at(a, l) == at(b, l) {
		l++
	}
	return l
}

// skip inserts position pos of buf into the finder like find, without
// recording matches. Only the tree order matters, so bytes are compared
// up to nice only. It reads buf like find does.
func (f *btFinder) skip(buf []byte, pos, nice, depth int) {
	avail := len(buf) - pos
	if avail < 5 {
		return
	}
	maxLen := min(avail, nice)
	_, h2, h3, h4 := hashes(buf, pos)
	p := uint16(pos)
	f.hash2[h2&(1<<bt2Bits-1)] = p
	e3 := &f.hash3[h3&(1<<bt3Bits-1)]
	e3[0], e3[1] = p, e3[0]
	cur := int(f.hash4[h4&(1<<bt4Bits-1)])
	f.hash4[h4&(1<<bt4Bits-1)] = p
	child := &f.child
	lt, gt := 2*pos, 2*pos+1
	lenLT, lenGT := 0, 0
	base := unsafe.Pointer(unsafe.SliceData(buf))
	b := unsafe.Add(base, pos)
	l := 0
	for d := depth; cur != 0 && d > 0; d-- {
		a := unsafe.Add(base, cur)
		if at(a, l) == at(b, l) {
			l = extendPtr(a, b, l+1, maxLen)
			if l >= maxLen {
				child[lt&childMask] = child[(2*cur)&childMask]
				child[gt&childMask] = child[(2*cur+1)&childMask]
				return
			}
		}
		if at(a, l) < at(b, l) {
			child[lt&childMask] = uint16(cur)
			lt = 2*cur + 1
			cur = int(child[lt&childMask])
			lenLT = l
		} else {
			child[gt&childMask] = uint16(cur)
			gt = 2 * cur
			cur = int(child[gt&childMask])
			lenGT = l
		}
		l = min(lenLT, lenGT)
	}
	child[lt&childMask] = 0
	child[gt&childMask] = 0
}

// hcFinder is a hash-chain match finder for the fast level.
type hcFinder struct {
	head [hashSize]int32
	prev [ChunkSize]int32
}

func (f *hcFinder) reset() {
	for i := range f.head {
		f.head[i] = -1
	}
}

// insert adds pos to its hash chain.
func (f *hcFinder) insert(buf []byte, pos int) {
	if len(buf)-pos < 3 {
		return
	}
	h := hash3(buf, pos)
	f.prev[pos] = f.head[h]
	f.head[h] = int32(pos)
}

// longest returns the longest match at pos among the first depth chain
// entries (length 0 if none of at least 3 bytes), and inserts pos.
func (f *hcFinder) longest(buf []byte, pos, nice, depth int) (length, offset int) {
	avail := len(buf) - pos
	if avail < 3 {
		return 0, 0
	}
	maxLen := min(avail, maxMatch)
	nice = min(nice, maxLen)
	h := hash3(buf, pos)
	cur := int(f.head[h])
	f.prev[pos] = int32(cur)
	f.head[h] = int32(pos)
	b := buf[pos : pos+maxLen]
	best := 2
	for d := depth; d > 0 && cur >= 0 && pos-cur <= maxOffset; d-- {
		a := buf[cur:]
		if a[best] == b[best] && a[0] == b[0] {
			l := extend(a, b, 0)
			if l > best {
				best, length, offset = l, l, pos-cur
				if l >= nice {
					break
				}
			}
		}
		cur = int(f.prev[cur])
	}
	return length, offset
}
