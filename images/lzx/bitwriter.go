package lzx

import "encoding/binary"

// bitWriter writes the LZX bit stream (16-bit little-endian words, most
// significant bit first) into a fixed buffer. It never writes past the
// end of out; once out is full it only records the overflow.
type bitWriter struct {
	out      []byte
	pos      int
	buf      uint64 // pending bits in the low n bits
	n        uint
	overflow bool
}

func (w *bitWriter) init(out []byte) {
	*w = bitWriter{out: out}
}

// write appends the low k (k <= 32) bits of v. Whole words are stored
// two at a time, once 32 bits are pending.
func (w *bitWriter) write(v uint32, k uint) {
	w.buf = w.buf<<k | uint64(v)&(1<<k-1)
	w.n += k
	if w.n >= 32 {
		w.n -= 32
		x := uint32(w.buf >> w.n)
		if w.pos+4 <= len(w.out) {
			binary.LittleEndian.PutUint32(w.out[w.pos:], x>>16|x<<16)
			w.pos += 4
		} else {
			w.overflow = true
		}
	}
}

// flush writes the pending bits, padded with zero bits to a 16-bit
// boundary, and returns the number of bytes written.
func (w *bitWriter) flush() int {
	if w.n%16 != 0 {
		w.buf <<= 16 - w.n%16
		w.n += 16 - w.n%16
	}
	for w.n >= 16 {
		w.n -= 16
		word := uint16(w.buf >> w.n)
		if w.pos+2 > len(w.out) {
			w.overflow = true
			break
		}
		binary.LittleEndian.PutUint16(w.out[w.pos:], word)
		w.pos += 2
	}
	return w.pos
}
