package lzx

// bitReader reads the LZX bit stream: 16-bit little-endian words, each
// used from its most significant bit down. Past the end of the input it
// supplies zero bits, as other decoders do, and remembers how far it went
// so that a stream that really consumed missing bits can be rejected.
type bitReader struct {
	src []byte
	pos int    // byte offset of the next word to load (may pass len(src))
	buf uint64 // valid bits at the top
	n   uint   // number of valid bits in buf
}

func (br *bitReader) init(src []byte) {
	*br = bitReader{src: src}
}

// ensure makes at least k (k <= 48) bits available in buf.
func (br *bitReader) ensure(k uint) {
	for br.n < k {
		var w uint64
		if br.pos+2 <= len(br.src) {
			w = uint64(br.src[br.pos]) | uint64(br.src[br.pos+1])<<8
		}
		br.buf |= w << (48 - br.n)
		br.n += 16
		br.pos += 2
	}
}

func (br *bitReader) consume(k uint) {
	br.buf <<= k
	br.n -= k
}

// bits reads k (k <= 32) bits.
func (br *bitReader) bits(k uint) uint32 {
	if k == 0 {
		return 0
	}
	br.ensure(k)
	v := uint32(br.buf >> (64 - k))
	br.consume(k)
	return v
}

// consumed returns the number of bits taken from the stream so far.
func (br *bitReader) consumed() int {
	return br.pos*8 - int(br.n)
}

// overrun reports whether more bits were taken than the input holds.
func (br *bitReader) overrun() bool {
	return br.consumed() > len(br.src)*8
}

// alignForBytes moves to the byte position where an uncompressed block's
// contents start: the rest of the current 16-bit word is skipped, or a
// whole word when the stream is already on a word boundary.
func (br *bitReader) alignForBytes() {
	c := br.consumed()
	c += 16 - c%16
	br.pos = c / 8
	br.buf = 0
	br.n = 0
}

// rawBytes returns the next k bytes of the input as raw bytes (only valid
// right after alignForBytes), or nil when the input is too short.
func (br *bitReader) rawBytes(k int) []byte {
	if br.pos > len(br.src) || len(br.src)-br.pos < k {
		return nil
	}
	b := br.src[br.pos : br.pos+k]
	br.pos += k
	return b
}
