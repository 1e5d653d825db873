package xpress

import (
	"encoding/binary"
	"fmt"

	"github.com/wdscapture/wdscapture/images/internal/huffdec"
)

const (
	// tableBits is the number of bits the primary decode table is indexed
	// by; longer codes go through a second-level table.
	tableBits = 10
	// tableEntries is huffdec.TableSize(numSymbols, tableBits, maxCodeLen),
	// checked by a test.
	tableEntries = 3755

	// The decoder writes into an output array of its own and reads a copy
	// of the input, both indexed with positions masked to the array
	// sizes (which lets the compiler drop the bounds checks), with slack
	// for 8-byte accesses past the last position. inSize bounds the input
	// kept in the copy; further input (never in a WIM, whose chunks are
	// smaller) is read from src directly.
	outSlack = 16
	outMask  = MaxChunkSize - 1
	inSize   = MaxChunkSize
	inMask   = inSize - 1

	entrySymShift = huffdec.SymShift
	entryLenMask  = huffdec.LenMask
	entrySub      = huffdec.Sub
)

// Decompressor decodes XPRESS chunks. Its zero value is not ready for use;
// call NewDecompressor. A Decompressor is not safe for concurrent use, but
// it can be reused for any number of chunks without allocating.
type Decompressor struct {
	lens  [numSymbols]uint8
	table [tableEntries]uint32
	win   [MaxChunkSize + outSlack]byte
	in    [inSize + 8]byte
}

// NewDecompressor returns a Decompressor.
func NewDecompressor() *Decompressor {
	return &Decompressor{}
}

// Decompress fills dst exactly from the compressed chunk src; len(dst) is the
// chunk's known uncompressed size and must not exceed MaxChunkSize. Input
// that is not a valid stream of exactly that size gives an error wrapping
// ErrCorrupt; Decompress never reads or writes out of bounds and always
// terminates in time linear in len(dst)+len(src).
//
// The bit stream is read as [MS-XCA] defines it: 16-bit words, with the
// extra match length bytes taken from where a reader that keeps 16 to 31
// bits loaded has got to. This decoder keeps up to 63 bits loaded, so that
// one refill serves a whole match or two literals; it derives that
// reader's position from its own when it needs the length bytes, and then
// drops the words it loaded ahead.
func (d *Decompressor) Decompress(dst, src []byte) error {
	out, err := d.Decode(src, len(dst))
	if err != nil {
		return err
	}
	copy(dst, out)
	return nil
}

// Decode decodes the compressed chunk src, an encoding of size bytes, into
// a buffer of the Decompressor's own and returns that: the bytes
// Decompress writes to dst, without the copy. They stay valid until the
// next call of Decode or Decompress.
func (d *Decompressor) Decode(src []byte, size int) ([]byte, error) {
	if size < 0 || size > MaxChunkSize {
		return nil, fmt.Errorf("xpress: uncompressed size %d is not between 0 and the %d-byte chunk limit", size, MaxChunkSize)
	}
	if size == 0 {
		return d.win[:0], nil
	}
	if len(src) < tableBytes+4 {
		return nil, fmt.Errorf("%w: %d bytes is too short for the %d-byte code table and bit stream", ErrCorrupt, len(src), tableBytes)
	}
	for i, b := range src[:tableBytes] {
		d.lens[2*i] = b & 0xf
		d.lens[2*i+1] = b >> 4
	}
	// [MS-XCA] accepts only complete codes.
	if empty, err := huffdec.Build(d.table[:], d.lens[:], tableBits, maxCodeLen); err != nil || empty {
		return nil, fmt.Errorf("%w: the Huffman code lengths do not form a complete code", ErrCorrupt)
	}
	copy(d.in[:], src)
	fastEnd := min(len(src), inSize) - 8

	// bitbuf holds bitcnt valid bits of the stream at its top, followed by
	// further bits that are not counted yet (a refill ORs the same bits in
	// again, so they do no harm). pos is the byte offset in src after the
	// counted bits. A refill brings bitcnt to at least 48: enough for two
	// literals, or a match symbol and its offset bits (15+15 bits).
	var bitbuf uint64
	var bitcnt uint
	pos := tableBytes
	out := 0
	end := size
	for out < end {
		// Refill (also below): load 8 bytes, and count the whole words
		// that fit.
		if pos <= fastEnd {
			x := binary.LittleEndian.Uint64(d.in[pos&inMask:])
			x = x<<32 | x>>32 // words in stream order, the first at the top
			x = (x&0x0000ffff0000ffff)<<16 | (x>>16)&0x0000ffff0000ffff
			bitbuf |= x >> (bitcnt & 63) // bitcnt < 64: every symbol takes a bit
			pos += int((^bitcnt & 48) >> 3)
			bitcnt |= 48
		} else {
			bitbuf, bitcnt, pos = refillSlow(src, bitbuf, bitcnt, pos)
		}
		e := d.table[bitbuf>>(64-tableBits)]
		if e&entrySub != 0 {
			e = d.table[(e>>entrySymShift)+uint32((bitbuf<<tableBits)>>((64-e&entryLenMask)&63))]
		}
		n := uint(e & entryLenMask)
		bitbuf <<= n
		bitcnt -= n
		if e < numLiterals<<entrySymShift {
			d.win[out&outMask] = byte(e >> entrySymShift)
			out++
			if out >= end {
				break
			}
			// A second symbol fits in the bits left, and so do the
			// offset bits of a match.
			e = d.table[bitbuf>>(64-tableBits)]
			if e&entrySub != 0 {
				e = d.table[(e>>entrySymShift)+uint32((bitbuf<<tableBits)>>((64-e&entryLenMask)&63))]
			}
			n := uint(e & entryLenMask)
			bitbuf <<= n
			bitcnt -= n
			if e < numLiterals<<entrySymShift {
				d.win[out&outMask] = byte(e >> entrySymShift)
				out++
				if out >= end {
					break
				}
				// And a third (3*15 bits <= 48); a match after it may
				// need a refill: the length bytes' position is derived
				// from at least 16 bits, and the offset takes up to 15.
				e = d.table[bitbuf>>(64-tableBits)]
				if e&entrySub != 0 {
					e = d.table[(e>>entrySymShift)+uint32((bitbuf<<tableBits)>>((64-e&entryLenMask)&63))]
				}
				n := uint(e & entryLenMask)
				bitbuf <<= n
				bitcnt -= n
				if e < numLiterals<<entrySymShift {
					d.win[out&outMask] = byte(e >> entrySymShift)
					out++
					continue
				}
				if bitcnt < 16 {
					if pos <= fastEnd {
						x := binary.LittleEndian.Uint64(d.in[pos&inMask:])
						x = x<<32 | x>>32
						x = (x&0x0000ffff0000ffff)<<16 | (x>>16)&0x0000ffff0000ffff
						bitbuf |= x >> (bitcnt & 63)
						pos += int((^bitcnt & 48) >> 3)
						bitcnt |= 48
					} else {
						bitbuf, bitcnt, pos = refillSlow(src, bitbuf, bitcnt, pos)
					}
				}
			}
		}

		// A match: the low 4 bits of sym are the length (15: more in
		// the byte stream), the high 4 the offset's bit count.
		sym := e>>entrySymShift - numLiterals
		length := int(sym & 0xf)
		if length == 0xf {
			// The [MS-XCA] reader holds 16 to 31 bits, as many words
			// fewer than bitcnt as make it so (bitcnt >= 18 here); it
			// reads the length bytes from where it is, and goes on
			// loading words after them.
			keep := 16 + bitcnt&15
			rp := pos - int((bitcnt-keep)>>3)
			bitcnt = keep
			bitbuf &= ^uint64(0) << (64 - keep)
			var err error
			if length, pos, err = readLength(src, rp); err != nil {
				return nil, fmt.Errorf("%w at output byte %d", err, out)
			}
		}
		length += minMatch
		ob := uint(sym>>4) & 0xf
		offset := 1<<ob | int((bitbuf>>1)>>((63-ob)&63)) // ob may be 0
		bitbuf <<= ob
		bitcnt -= ob
		if offset > out {
			return nil, fmt.Errorf("%w: match offset %d at output byte %d reaches before the chunk start", ErrCorrupt, offset, out)
		}
		if length > end-out {
			return nil, fmt.Errorf("%w: match length %d at output byte %d overruns the %d-byte chunk", ErrCorrupt, length, out, end)
		}
		from := out - offset
		if offset >= 8 {
			// 8-byte words, two at once (most matches are short); each
			// word read lies before the word written, so it is final.
			// Up to 15 bytes past the match are written too, in the
			// window or its slack; the output that follows overwrites
			// them.
			o, f := out&outMask, from&outMask
			binary.LittleEndian.PutUint64(d.win[o:], binary.LittleEndian.Uint64(d.win[f:]))
			binary.LittleEndian.PutUint64(d.win[o+8:], binary.LittleEndian.Uint64(d.win[f+8:]))
			for j := 16; j < length; j += 8 {
				binary.LittleEndian.PutUint64(d.win[(out+j)&outMask:], binary.LittleEndian.Uint64(d.win[(from+j)&outMask:]))
			}
		} else {
			// An offset below 8 repeats the last offset bytes. The
			// first bytes go one at a time; from shortDist[offset]
			// bytes on, every byte equals the one shortDist[offset]
			// (at least 8) bytes back, so the rest goes in words, as
			// above.
			dist := shortDist[offset&7]
			k := 0
			for ; k < length && k < dist; k++ {
				d.win[(out+k)&outMask] = d.win[(from+k)&outMask]
			}
			for ; k < length; k += 8 {
				binary.LittleEndian.PutUint64(d.win[(out+k)&outMask:], binary.LittleEndian.Uint64(d.win[(out+k-dist)&outMask:]))
			}
		}
		out += length
	}
	// The [MS-XCA] reader may load one word past the end of the input
	// (as zero), not two: its position must not pass the end by more
	// than a word.
	if bitcnt < 16 {
		_, bitcnt, pos = refillSlow(src, bitbuf, bitcnt, pos)
	}
	if rp := pos - int((bitcnt-16)&^15>>3); rp > len(src)+2 {
		return nil, fmt.Errorf("%w: bit stream ends early (%d bytes)", ErrCorrupt, len(src))
	}
	return d.win[:size], nil
}

// readLength reads the extra length bytes of a match at src[rp:] and
// returns the match length less minMatch and the position after them.
func readLength(src []byte, rp int) (length, pos int, err error) {
	if rp >= len(src) {
		return 0, 0, fmt.Errorf("%w: match length byte missing at input offset %d", ErrCorrupt, rp)
	}
	length = int(src[rp])
	rp++
	if length == 0xff {
		if rp+2 > len(src) {
			return 0, 0, fmt.Errorf("%w: 16-bit match length missing at input offset %d", ErrCorrupt, rp)
		}
		length = int(binary.LittleEndian.Uint16(src[rp:]))
		rp += 2
		if length == 0 {
			if rp+4 > len(src) {
				return 0, 0, fmt.Errorf("%w: 32-bit match length missing at input offset %d", ErrCorrupt, rp)
			}
			l32 := binary.LittleEndian.Uint32(src[rp:])
			rp += 4
			if l32 > MaxChunkSize {
				return 0, 0, fmt.Errorf("%w: match length %d overruns the chunk", ErrCorrupt, l32)
			}
			length = int(l32)
		}
		if length < 0xf {
			return 0, 0, fmt.Errorf("%w: invalid extended match length %d", ErrCorrupt, length)
		}
		length -= 0xf
	}
	return length + 0xf, rp, nil
}

// refillSlow is Decompress's refill near the end of the input: it loads one
// word at a time, zero words past the end, until at least 48 bits are
// valid.
//
//go:noinline
func refillSlow(src []byte, bitbuf uint64, bitcnt uint, pos int) (uint64, uint, int) {
	for bitcnt < 48 {
		var w uint64
		if pos+2 <= len(src) {
			w = uint64(binary.LittleEndian.Uint16(src[pos:]))
		}
		bitbuf |= w << (48 - bitcnt)
		bitcnt += 16
		pos += 2
	}
	return bitbuf, bitcnt, pos
}

// shortDist[off] is the smallest multiple of off that is at least 8.
var shortDist = [8]int{0, 8, 8, 9, 8, 10, 12, 14}
