package lzx

import "errors"

// errBadCode reports code lengths that do not form a complete prefix code
// (the format allows only complete codes, or no code at all when no
// symbol of the alphabet is used).
var errBadCode = errors.New("code lengths do not form a complete prefix code")

// errEmptyCode reports that the data uses a Huffman code with no symbols.
var errEmptyCode = errors.New("symbol read with an empty Huffman code")

// huffDecoder decodes one canonical Huffman code. Codes of at most
// tableBits bits are found with one lookup in table; longer ones (rare)
// are found by walking the canonical code length by length.
type huffDecoder struct {
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

func newHuffDecoder(numSyms int, tableBits, maxLen uint) *huffDecoder {
	return &huffDecoder{
		tableBits: tableBits,
		maxLen:    maxLen,
		table:     make([]uint16, 1<<tableBits),
		sorted:    make([]uint16, numSyms),
	}
}

// build prepares the decoder for the code with the given lengths.
func (h *huffDecoder) build(lens []uint8) error {
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
func (h *huffDecoder) decode(br *bitReader) (int, error) {
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
