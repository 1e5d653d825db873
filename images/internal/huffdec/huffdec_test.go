package huffdec

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// canonical returns the canonical code of every symbol (0 for none).
func canonical(lens []uint8) []uint32 {
	var count [17]uint32
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [18]uint32
	for l := 1; l <= 16; l++ {
		next[l+1] = (next[l] + count[l]) << 1
	}
	codes := make([]uint32, len(lens))
	for s, l := range lens {
		if l != 0 {
			codes[s] = next[l]
			next[l]++
		}
	}
	return codes
}

// lookup decodes the code at the top of the 64-bit word bits as a decoder
// does: one primary look-up, and one in a second-level table for a link.
func lookup(table []uint32, bits uint64, tableBits uint) uint32 {
	e := table[bits>>(64-tableBits)]
	if e&Sub != 0 {
		e = table[(e>>SymShift)+uint32((bits<<tableBits)>>(64-(e&LenMask)))]
	}
	return e
}

// randomCode returns code lengths of a random complete code: a random
// binary tree cut to depth maxLen, with its leaves given to random
// symbols.
func randomCode(r *rand.Rand, numSyms int, maxLen uint) []uint8 {
	var leaves []uint8
	var grow func(depth uint, budget int)
	grow = func(depth uint, budget int) {
		if depth == maxLen || budget <= 1 || depth > 0 && r.IntN(4) == 0 {
			leaves = append(leaves, uint8(depth))
			return
		}
		left := 1 + r.IntN(budget-1)
		grow(depth+1, left)
		grow(depth+1, budget-left)
	}
	grow(0, 2+r.IntN(numSyms-1))
	lens := make([]uint8, numSyms)
	for i, s := range r.Perm(numSyms)[:len(leaves)] {
		lens[s] = leaves[i]
	}
	return lens
}

// TestBuild checks every code of random complete codes, and the code
// shapes that need the most second-level entries, against a direct
// canonical assignment.
func TestBuild(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, a := range []struct {
		numSyms           int
		tableBits, maxLen uint
	}{
		{496, 11, 16}, {249, 9, 16}, {20, 8, 15}, {8, 7, 7}, {512, 11, 15}, {2, 1, 1},
	} {
		table := make([]uint32, TableSize(a.numSyms, a.tableBits, a.maxLen))
		var cases [][]uint8
		for range 300 {
			cases = append(cases, randomCode(r, a.numSyms, a.maxLen))
		}
		// Lengths 1, 2, ..., maxLen, maxLen: every long code under a
		// prefix of its own, as deep as possible.
		deep := make([]uint8, a.numSyms)
		for i := 0; i < int(a.maxLen) && i < a.numSyms; i++ {
			deep[i] = uint8(i + 1)
		}
		if int(a.maxLen) < a.numSyms {
			deep[a.maxLen] = uint8(a.maxLen)
			cases = append(cases, deep)
		}
		for _, lens := range cases {
			if empty, err := Build(table, lens, a.tableBits, a.maxLen); err != nil || empty {
				t.Fatalf("%d symbols: Build(%v) = %v, %v", a.numSyms, lens, empty, err)
			}
			for s, c := range canonical(lens) {
				l := uint(lens[s])
				if l == 0 {
					continue
				}
				// The code followed by arbitrary bits.
				bits := uint64(c)<<(64-l) | r.Uint64()>>l
				e := lookup(table, bits, a.tableBits)
				if e>>SymShift != uint32(s) || uint(e&LenMask) != l {
					t.Fatalf("%d symbols, lengths %v: symbol %d (code %b) decodes as %d/%d", a.numSyms, lens, s, c, e>>SymShift, e&LenMask)
				}
			}
		}
	}
}

// TestBuildRejects checks incomplete, over-subscribed and too long codes,
// and the empty code.
func TestBuildRejects(t *testing.T) {
	table := make([]uint32, TableSize(20, 8, 15))
	for _, tc := range []struct {
		name string
		lens []uint8
	}{
		{"incomplete", []uint8{1, 2, 3}},
		{"single code", []uint8{1}},
		{"over-subscribed", []uint8{1, 1, 1}},
		{"too long", []uint8{1, 16, 16, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
		{"length above 31", []uint8{1, 2, 2 + 64, 2}},
	} {
		if _, err := Build(table, tc.lens, 8, 15); !errors.Is(err, ErrBadCode) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	table[0] = 1
	if empty, err := Build(table, make([]uint8, 20), 8, 15); err != nil || !empty || table[0] != 0 {
		t.Errorf("empty code: %v, %v, first entry %#x", empty, err, table[0])
	}
}

// BenchmarkBuild builds the tables of random complete codes of the LZX
// main and XPRESS alphabets, as the decoders do for every block.
func BenchmarkBuild(b *testing.B) {
	for _, a := range []struct {
		name              string
		numSyms           int
		tableBits, maxLen uint
	}{{"lzx-main", 496, 11, 16}, {"xpress", 512, 10, 15}} {
		b.Run(a.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(7, 8))
			var codes [][]uint8
			for range 64 {
				codes = append(codes, randomCode(r, a.numSyms, a.maxLen))
			}
			table := make([]uint32, TableSize(a.numSyms, a.tableBits, a.maxLen))
			i := 0
			for b.Loop() {
				if _, err := Build(table, codes[i%len(codes)], a.tableBits, a.maxLen); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
