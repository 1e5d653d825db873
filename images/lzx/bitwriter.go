package lzx

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

// write appends the low k (k <= 32) bits of v.
func (w *bitWriter) write(v uint32, k uint) {
	w.buf = w.buf<<k | uint64(v)&(1<<k-1)
	w.n += k
	for w.n >= 16 {
		w.n -= 16
		word := uint16(w.buf >> w.n)
		if w.pos+2 > len(w.out) {
			w.overflow = true
			continue
		}
		w.out[w.pos] = byte(word)
		w.out[w.pos+1] = byte(word >> 8)
		w.pos += 2
	}
}

// flush pads the stream with zero bits to a 16-bit boundary and returns
// the number of bytes written.
func (w *bitWriter) flush() int {
	if w.n > 0 {
		w.write(0, 16-w.n)
	}
	return w.pos
}
