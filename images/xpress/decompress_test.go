package xpress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/wdscapture/wdscapture/images/internal/huffdec"
)

// bitStream builds LZ77+Huffman streams by hand, following [MS-XCA]
// independently of the compressor, for decoder tests.
type bitStream struct {
	out    []byte
	bits   uint32
	n      uint
	w1, w2 int
	lens   [numSymbols]uint8
	codes  [numSymbols]uint16
}

// newBitStream starts a stream with the given code lengths (codes are
// assigned canonically).
func newBitStream(lens [numSymbols]uint8) *bitStream {
	s := &bitStream{lens: lens}
	var h huffman
	h.lens = lens
	h.assignCodes()
	s.codes = h.codes
	s.out = make([]byte, tableBytes+4)
	for i := range tableBytes {
		s.out[i] = lens[2*i] | lens[2*i+1]<<4
	}
	s.w1, s.w2 = tableBytes, tableBytes+2
	return s
}

func (s *bitStream) put(v uint32, n uint) {
	s.bits = s.bits<<n | v
	s.n += n
	if s.n > 16 {
		s.n -= 16
		binary.LittleEndian.PutUint16(s.out[s.w1:], uint16(s.bits>>s.n))
		s.w1, s.w2 = s.w2, len(s.out)
		s.out = append(s.out, 0, 0)
	}
}

func (s *bitStream) sym(sym int) { s.put(uint32(s.codes[sym]), uint(s.lens[sym])) }

func (s *bitStream) byte(b byte) { s.out = append(s.out, b) }

func (s *bitStream) finish() []byte {
	binary.LittleEndian.PutUint16(s.out[s.w1:], uint16(s.bits<<(16-s.n)))
	return s.out
}

// flatLens gives all 512 symbols length 9: a complete code.
func flatLens() (l [numSymbols]uint8) {
	for i := range l {
		l[i] = 9
	}
	return l
}

func TestDecompressErrors(t *testing.T) {
	valid := func() []byte {
		s := newBitStream(flatLens())
		s.sym('a')
		s.sym(numLiterals + 0<<4 | 2) // offset 1, length 5
		s.sym(endOfData)
		return s.finish()
	}
	if err := NewDecompressor().Decompress(make([]byte, 6), valid()); err != nil {
		t.Fatalf("hand-built valid stream rejected: %v", err)
	}
	incomplete := flatLens()
	incomplete[5] = 0
	over := flatLens()
	over[5] = 8
	allZero := [numSymbols]uint8{}
	tests := []struct {
		name string
		size int
		src  func() []byte
	}{
		{"empty input", 10, func() []byte { return nil }},
		{"table only", 10, func() []byte { return valid()[:tableBytes] }},
		{"incomplete code", 6, func() []byte { s := newBitStream(incomplete); s.sym('a'); return s.finish() }},
		{"over-subscribed code", 6, func() []byte { s := newBitStream(over); return s.finish() }},
		{"no code at all", 6, func() []byte { return newBitStream(allZero).finish() }},
		{"offset before start", 6, func() []byte {
			s := newBitStream(flatLens())
			s.sym('a')
			s.sym(numLiterals + 1<<4 | 2) // offset 2..3 > 1 byte of output
			s.put(0, 1)
			return s.finish()
		}},
		{"match overruns output", 4, func() []byte { return valid() }},
		{"truncated bit stream", 200, func() []byte {
			s := newBitStream(flatLens())
			for range 200 {
				s.sym('x')
			}
			return s.finish()[:tableBytes+20]
		}},
		{"missing length byte", 40, func() []byte {
			s := newBitStream(flatLens())
			s.sym('a')
			s.sym(numLiterals + 0xf) // needs a length byte that is absent
			return s.finish()
		}},
		{"missing 16-bit length", 400, func() []byte {
			s := newBitStream(flatLens())
			s.sym('a')
			s.sym(numLiterals + 0xf)
			s.byte(0xff)
			return s.finish()
		}},
		{"extended length below 15", 400, func() []byte {
			s := newBitStream(flatLens())
			s.sym('a')
			s.sym(numLiterals + 0xf)
			s.byte(0xff)
			s.byte(3)
			s.byte(0)
			s.sym(endOfData)
			return s.finish()
		}},
		{"32-bit length beyond chunk", 400, func() []byte {
			s := newBitStream(flatLens())
			s.sym('a')
			s.sym(numLiterals + 0xf)
			s.byte(0xff)
			s.byte(0)
			s.byte(0)
			s.out = binary.LittleEndian.AppendUint32(s.out, 1<<30)
			s.sym(endOfData)
			return s.finish()
		}},
	}
	d := NewDecompressor()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := d.Decompress(make([]byte, tc.size), tc.src())
			if err == nil {
				t.Fatal("corrupt input accepted")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
		})
	}
	if err := d.Decompress(make([]byte, MaxChunkSize+1), valid()); err == nil {
		t.Fatal("oversized output accepted")
	}
	if err := d.Decompress(nil, nil); err != nil {
		t.Fatalf("empty chunk: %v", err)
	}
}

// TestDecompressLengthForms decodes each length encoding of [MS-XCA],
// including the 32-bit form, from hand-built streams.
func TestDecompressLengthForms(t *testing.T) {
	d := NewDecompressor()
	for _, length := range []int{3, 17, 18, 19, 272, 273, 274, 1000, 65535} {
		for _, form := range []string{"shortest", "u32"} {
			if form == "u32" && length < 273 {
				continue
			}
			s := newBitStream(flatLens())
			s.sym('q')
			adj := length - minMatch
			s.sym(numLiterals + min(adj, 0xf))
			switch {
			case adj < 0xf:
			case form == "u32":
				s.byte(0xff)
				s.byte(0)
				s.byte(0)
				s.out = binary.LittleEndian.AppendUint32(s.out, uint32(adj))
			case adj-0xf < 0xff:
				s.byte(byte(adj - 0xf))
			default:
				s.byte(0xff)
				s.out = binary.LittleEndian.AppendUint16(s.out, uint16(adj))
			}
			s.sym(endOfData)
			got := make([]byte, length+1)
			if err := d.Decompress(got, s.finish()); err != nil {
				t.Fatalf("length %d (%s): %v", length, form, err)
			}
			if !bytes.Equal(got, bytes.Repeat([]byte{'q'}, length+1)) {
				t.Fatalf("length %d (%s): wrong output", length, form)
			}
		}
	}
}

// TestDecoderLongCodes uses codes of every length up to 15, so that the
// second-level decode tables are exercised with all shapes.
func TestDecoderLongCodes(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	d := NewDecompressor()
	for trial := range 200 {
		var h huffman
		// Skewed frequencies give long codes; the limiter caps them at 15.
		for s := range numSymbols {
			if r.IntN(3) > 0 {
				h.freqs[s] = 1 + uint32(r.ExpFloat64()*float64(1+trial%50)*float64(r.IntN(1000)+1))
			}
		}
		h.freqs['a']++
		h.freqs[endOfData] += 1
		h.build()
		s := newBitStream(h.lens)
		var want []byte
		for range 2000 {
			sym := r.IntN(numLiterals)
			if h.lens[sym] == 0 {
				continue
			}
			s.sym(sym)
			want = append(want, byte(sym))
		}
		s.sym(endOfData)
		got := make([]byte, len(want))
		if err := d.Decompress(got, s.finish()); err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("trial %d: wrong output", trial)
		}
	}
}

// TestHuffmanLengths checks the code builder: lengths never exceed 15, the
// code is always complete (Kraft sum exactly 1), and when no limiting is
// needed the total cost equals that of a reference Huffman construction.
func TestHuffmanLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for trial := range 500 {
		var h huffman
		n := 2 + r.IntN(numSymbols-1)
		for _, s := range r.Perm(numSymbols)[:n] {
			switch trial % 3 {
			case 0:
				h.freqs[s] = 1 + uint32(r.IntN(1000))
			case 1: // exponential: forces the length limit
				h.freqs[s] = 1 << uint(r.IntN(17))
			default:
				h.freqs[s] = 1 + uint32(r.IntN(3))
			}
		}
		h.build()
		kraft := 0
		var cost, maxLen uint64
		for s, l := range h.lens {
			if (l == 0) != (h.freqs[s] == 0) {
				t.Fatalf("trial %d: symbol %d freq %d got length %d", trial, s, h.freqs[s], l)
			}
			if l > maxCodeLen {
				t.Fatalf("trial %d: length %d exceeds 15", trial, l)
			}
			if l > 0 {
				kraft += 1 << (maxCodeLen - l)
				cost += uint64(h.freqs[s]) * uint64(l)
				maxLen = max(maxLen, uint64(l))
			}
		}
		if kraft != 1<<maxCodeLen {
			t.Fatalf("trial %d: Kraft sum %d/32768: code not complete", trial, kraft)
		}
		if ref, refMax := referenceHuffmanCost(h.freqs[:]); refMax <= maxCodeLen && cost != ref {
			t.Fatalf("trial %d: cost %d, optimal %d", trial, cost, ref)
		} else if cost < ref {
			t.Fatalf("trial %d: cost %d below the optimum %d", trial, cost, ref)
		}
	}
}

// referenceHuffmanCost is the textbook Huffman construction: it returns the
// total cost sum(freq*depth) and the maximum depth.
func referenceHuffmanCost(freqs []uint32) (cost uint64, maxDepth int) {
	type node struct {
		w     uint64
		depth int
	}
	var q []node
	for _, f := range freqs {
		if f > 0 {
			q = append(q, node{uint64(f), 0})
		}
	}
	for len(q) > 1 {
		slices.SortFunc(q, func(a, b node) int {
			if a.w != b.w {
				if a.w < b.w {
					return -1
				}
				return 1
			}
			return a.depth - b.depth
		})
		a, b := q[0], q[1]
		cost += a.w + b.w
		q = append(q[2:], node{a.w + b.w, max(a.depth, b.depth) + 1})
	}
	return cost, q[0].depth
}

// TestDecodeTableSize checks tableEntries against huffdec.TableSize.
func TestDecodeTableSize(t *testing.T) {
	if got := huffdec.TableSize(numSymbols, tableBits, maxCodeLen); got != tableEntries {
		t.Fatalf("tableEntries is %d, huffdec.TableSize says %d", tableEntries, got)
	}
}
