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
// order; read most significant bit first, they are therefore in table
// order too. Build sorts the symbols so (a counting sort, one pass
// without branches) and then writes the table front to back: each code of
// l <= tableBits bits as a run of 2^(tableBits-l) equal entries, the runs
// of one length with one loop; the primary entries after them are the
// prefixes of the longer codes (the code is complete), each the root of a
// second-level table as deep as its longest code, filled in the same way.
// Only the entries of the table in use are written.
func Build(table []uint32, lens []uint8, tableBits, maxLen uint) (empty bool, err error) {
	if len(lens) > maxSyms || maxLen > 16 || tableBits-1 > 15 {
		return false, ErrBadCode
	}
	// The sorted symbols go to an array on the stack, which Go zeroes:
	// a small one for the small alphabets.
	if len(lens) <= 32 {
		var sorted [32]uint16
		return build(table, lens, tableBits, maxLen, sorted[:])
	}
	var sorted [maxSyms]uint16
	return build(table, lens, tableBits, maxLen, sorted[:])
}

// build is Build with room for the sorted symbols, len(lens) or more.
func build(table []uint32, lens []uint8, tableBits, maxLen uint, sorted []uint16) (empty bool, err error) {
	// The lengths are counted, and the symbols sorted, in four
	// quarters at once, each with counts of its own: a single count
	// would make every increment wait for the previous one of the same
	// length.
	q := len(lens) / 4
	l0, l1, l2, l3 := lens[:q], lens[q:2*q], lens[2*q:3*q], lens[3*q:]
	var counts [4][32]uint16
	var all uint8 // every length ORed: no length is larger
	for i := range l0 {
		a, b, c, d := l0[i], l1[i], l2[i], l3[i]
		all |= a | b | c | d
		counts[0][a&31]++
		counts[1][b&31]++
		counts[2][c&31]++
		counts[3][d&31]++
	}
	for _, d := range l3[q:] {
		all |= d
		counts[3][d&31]++
	}
	if all > 31 {
		return false, ErrBadCode
	}
	if uint(all) > maxLen {
		for l := maxLen + 1; l < 32; l++ {
			if counts[0][l]|counts[1][l]|counts[2][l]|counts[3][l] != 0 {
				return false, ErrBadCode
			}
		}
	}
	// The Kraft sum must be exactly 1. qoffs[k][l] is where the symbols
	// of length l of quarter k start in the sorted order: after those of
	// shorter codes, and those of the quarters before; symbols without a
	// code go last.
	var count [32]uint16
	var qoffs [4][32]uint16
	left := 1
	used := uint16(0)
	for l := uint(1); l <= maxLen; l++ {
		c0, c1, c2 := counts[0][l&31], counts[1][l&31], counts[2][l&31]
		c := c0 + c1 + c2 + counts[3][l&31]
		left = left<<1 - int(c)
		if left < 0 {
			return false, ErrBadCode
		}
		count[l&31] = c
		qoffs[0][l&31], qoffs[1][l&31], qoffs[2][l&31], qoffs[3][l&31] = used, used+c0, used+c0+c1, used+c0+c1+c2
		used += c
	}
	if left != 0 {
		if left != 1<<maxLen {
			return false, ErrBadCode
		}
		clear(table[:1<<tableBits])
		return true, nil
	}
	c0, c1, c2 := counts[0][0], counts[1][0], counts[2][0]
	qoffs[0][0], qoffs[1][0], qoffs[2][0], qoffs[3][0] = used, used+c0, used+c0+c1, used+c0+c1+c2
	m := len(sorted) - 1 // a power of 2 less 1, which len(lens) <= len(sorted)
	for i := range l0 {
		a, b, c, d := l0[i]&31, l1[i]&31, l2[i]&31, l3[i]&31
		oa, ob, oc, od := qoffs[0][a], qoffs[1][b], qoffs[2][c], qoffs[3][d]
		sorted[int(oa)&m] = uint16(i)
		sorted[int(ob)&m] = uint16(q + i)
		sorted[int(oc)&m] = uint16(2*q + i)
		sorted[int(od)&m] = uint16(3*q + i)
		qoffs[0][a], qoffs[1][b], qoffs[2][c], qoffs[3][d] = oa+1, ob+1, oc+1, od+1
	}
	for i, d := range l3[q:] {
		o := qoffs[3][d&31]
		sorted[int(o)&m] = uint16(4*q + i)
		qoffs[3][d&31] = o + 1
	}

	// Codes of at most tableBits bits.
	p := 0 // next table entry
	k := 0 // next symbol in sorted
	for l := uint(1); l <= min(tableBits, maxLen); l++ {
		c := int(count[l])
		if c == 0 {
			continue
		}
		n := 1 << (tableBits - l)
		if p+c*n > len(table) {
			return false, ErrBadCode // the table is smaller than TableSize
		}
		fillRuns(table[p:p+c*n], sorted[k:k+c], uint32(l), n)
		p += c * n
		k += c
	}
	if k == int(used) {
		return false, nil
	}

	// Long codes: the primary entries from p on are their prefixes, in
	// order, and the codes under each prefix follow one another in
	// sorted, filling its subtree, whose leaves are counted in units of
	// the longest possible code.
	sub := 1 << tableBits
	full := 1 << (maxLen - tableBits)
	for q := p; q < 1<<tableBits; q++ {
		// The codes under prefix q are sorted[k:j]; the last is the
		// longest.
		j, space := k, 0
		for space < full && j < int(used) {
			space += 1 << (maxLen - uint(lens[sorted[j]]))
			j++
		}
		if space != full {
			return false, ErrBadCode // cannot happen for a complete code
		}
		bits := uint(lens[sorted[j-1]]) - tableBits
		if sub+1<<bits > len(table) {
			return false, ErrBadCode // cannot happen (see TableSize)
		}
		table[q] = uint32(sub)<<SymShift | Sub | uint32(bits)
		for ; k < j; k++ {
			s := sorted[k]
			l := uint(lens[s])
			n := 1 << (bits - (l - tableBits))
			fill(table[sub:sub+n], uint32(s)<<SymShift|uint32(l))
			sub += n
		}
	}
	return false, nil
}

// maxSyms bounds the alphabet Build accepts (a power of 2).
const maxSyms = 512

// fillRuns writes, for each symbol of syms in turn, a run of n (a power
// of 2) entries of that symbol with code length l; t holds exactly
// len(syms)*n entries.
func fillRuns(t []uint32, syms []uint16, l uint32, n int) {
	switch n {
	case 1:
		t = t[:len(syms)]
		for i, s := range syms {
			t[i] = uint32(s)<<SymShift | l
		}
	case 2:
		for i, s := range syms {
			e := uint32(s)<<SymShift | l
			r := t[2*i : 2*i+2]
			r[0], r[1] = e, e
		}
	case 4:
		for i, s := range syms {
			e := uint32(s)<<SymShift | l
			r := t[4*i : 4*i+4]
			r[0], r[1], r[2], r[3] = e, e, e, e
		}
	default:
		for i, s := range syms {
			fill(t[i*n:(i+1)*n], uint32(s)<<SymShift|l)
		}
	}
}

// fill sets every entry of t to e; len(t) is a power of 2.
func fill(t []uint32, e uint32) {
	if len(t) < 8 {
		for i := range t {
			t[i] = e
		}
		return
	}
	// Eight entries one by one, then copies doubling what is written
	// (a wider pattern built in a local array would be read back before
	// its narrower stores could be forwarded).
	h := t[:8]
	h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7] = e, e, e, e, e, e, e, e
	for k := 8; k < len(t); k *= 2 {
		copy(t[k:], t[:k])
	}
}
