// Package huffdec builds decode tables for canonical Huffman codes read
// most significant bit first, as the WIM codecs (XPRESS and LZX) use them.
// The codecs' inner loops do the look-ups themselves, inlined; this
// package only fills the tables, so that both codecs share one checked
// construction instead of two.
package huffdec

import "errors"

// ErrBadCode reports code lengths that do not form a complete prefix code
// (the formats allow only complete codes, or, in LZX, no code at all when
// no symbol of the alphabet is used).
var ErrBadCode = errors.New("code lengths do not form a complete prefix code")

// A decode table maps the next tableBits bits of the stream (most
// significant first) to an entry: the symbol in bits 16-31 and its code
// length in bits 0-4. Codes longer than tableBits share a primary entry
// with Sub set, whose bits 16-31 are the start of a second-level
// table and bits 0-4 the number of further bits that index it; the
// entries there carry the symbol and the full code length. The table of
// a code with no symbols is all zero: entries of length 0, which the
// decoder rejects where a code can be empty.
const (
	// SymShift is the position of the symbol (or second-level table
	// start) in an entry.
	SymShift = 16
	// LenMask extracts the code length (or second-level index bits).
	LenMask = 31
	// Sub marks an entry that links to a second-level table.
	Sub = 1 << 15
)

// TableSize is the number of entries a decode table needs for an alphabet
// of numSyms symbols with codes of at most maxLen bits: the primary table
// and the worst case of its second-level tables. A second-level table of
// depth d > 0 holds a complete subtree of the code, which has at least d+1
// leaves (long codes); 2^d/(d+1) grows with d, so every long code accounts
// for at most 2^D/(D+1) entries, D = maxLen-tableBits.
func TableSize(numSyms int, tableBits, maxLen uint) int {
	if maxLen <= tableBits {
		return 1 << tableBits
	}
	d := maxLen - tableBits
	return 1<<tableBits + (numSyms<<d+int(d))/int(d+1)
}

// Build fills table for the canonical Huffman code with the given
// code lengths: at most maxLen (at most 16), for at most 512 symbols. It
// returns empty = true, and zeroes the primary table, when no symbol has
// a code. The table must hold TableSize(len(lens), tableBits, maxLen)
// entries.
//
// Canonical codes are assigned by length and, within a length, in symbol
// order, so one pass over the symbols in order, taking the next code of
// each length, places every code without sorting. Codes of at most
// tableBits bits fill the primary table from its start; the primary
// entries after them are the prefixes of the longer codes (the code is
// complete), each the root of a second-level table as deep as its longest
// code.
func Build(table []uint32, lens []uint8, tableBits, maxLen uint) (empty bool, err error) {
	if len(lens) > 512 || maxLen > 16 || tableBits > 16 {
		return false, ErrBadCode
	}
	// Four interleaved counts: a single one would make every increment
	// wait for the previous one of the same length.
	var counts [4][32]uint16
	i := 0
	for ; i+4 <= len(lens); i += 4 {
		counts[0][lens[i]&31]++
		counts[1][lens[i+1]&31]++
		counts[2][lens[i+2]&31]++
		counts[3][lens[i+3]&31]++
	}
	for ; i < len(lens); i++ {
		counts[0][lens[i]&31]++
	}
	var count [32]uint16
	for l := range count {
		count[l] = counts[0][l] + counts[1][l] + counts[2][l] + counts[3][l]
	}
	count[0] = 0
	for l := maxLen + 1; l < 32; l++ {
		if count[l] != 0 {
			return false, ErrBadCode
		}
	}
	// The Kraft sum must be exactly 1; next[l] is the first code of
	// length l.
	var next [32]uint32
	left := 1
	code := uint32(0)
	short := 0 // primary entries taken by codes of at most tableBits bits
	for l := uint(1); l <= maxLen; l++ {
		left = left<<1 - int(count[l])
		if left < 0 {
			return false, ErrBadCode
		}
		next[l] = code
		code = (code + uint32(count[l])) << 1
		if l <= tableBits {
			short += int(count[l]) << (tableBits - l)
		}
	}
	if left != 0 {
		if left != 1<<maxLen {
			return false, ErrBadCode
		}
		clear(table[:1<<tableBits])
		return true, nil
	}

	for s, l := range lens {
		if uint(l)-1 >= tableBits {
			continue // no code, or a long one
		}
		c := next[l&31]
		next[l&31]++
		n := 1 << (tableBits - uint(l))
		fill(table[int(c)*n:int(c+1)*n], uint32(s)<<SymShift|uint32(l))
	}
	nlong := 0
	for l := tableBits + 1; l <= maxLen; l++ {
		nlong += int(count[l])
	}
	if nlong == 0 {
		return false, nil
	}

	// Long codes. Their prefixes are the primary entries from short on,
	// at most nlong/2 of them (each has two codes or more); depth[k] is
	// the length of the longest code under prefix short+k.
	prefixes := 1<<tableBits - short
	if prefixes > nlong/2 {
		return false, ErrBadCode // cannot happen for a complete code
	}
	var depth [256]uint8
	clear(depth[:prefixes])
	codes := next // next is advanced again below; the first codes are kept here
	for _, l8 := range lens {
		l := uint(l8)
		if l <= tableBits {
			continue
		}
		c := codes[l&31]
		codes[l&31]++
		k := int(c>>(l-tableBits)) - short
		depth[k&255] = max(depth[k&255], uint8(l))
	}
	var start [256]uint16
	sub := 1 << tableBits
	for k := range prefixes {
		bits := uint(depth[k]) - tableBits
		if sub+1<<bits > len(table) {
			return false, ErrBadCode // cannot happen (see TableSize)
		}
		table[short+k] = uint32(sub)<<SymShift | Sub | uint32(bits)
		start[k] = uint16(sub)
		sub += 1 << bits
	}
	for s, l8 := range lens {
		l := uint(l8)
		if l <= tableBits {
			continue
		}
		c := next[l&31]
		next[l&31]++
		k := int(c>>(l-tableBits)) - short
		bits := uint(depth[k&255]) - tableBits
		rest := l - tableBits // code bits after the prefix
		n := 1 << (bits - rest)
		i := int(start[k&255]) + int(c&(1<<rest-1))*n
		fill(table[i:i+n], uint32(s)<<SymShift|uint32(l))
	}
	return false, nil
}

// fill sets every entry of t to e; len(t) is a power of 2.
func fill(t []uint32, e uint32) {
	switch len(t) {
	case 1:
		t[0] = e
	case 2:
		_ = t[1]
		t[0], t[1] = e, e
	case 4:
		_ = t[3]
		t[0], t[1], t[2], t[3] = e, e, e, e
	default:
		x := [8]uint32{e, e, e, e, e, e, e, e}
		for len(t) >= 8 {
			*(*[8]uint32)(t) = x
			t = t[8:]
		}
	}
}
