package lzx

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/wdscapture/wdscapture/images/internal/huffdec"
)

// ErrCorrupt is wrapped by every error Decompress returns for data that is
// not a valid LZX chunk of the requested size.
var ErrCorrupt = errors.New("lzx: corrupt compressed data")

// lensSlack leaves room for a pretree run that goes past the end of the
// lengths being read; such runs spill into the following entries, as in
// other decoders.
const lensSlack = 64

// Decode table sizes: the primary look-up takes mainBits bits of the
// stream for a main symbol, lenBits for a length symbol.
const (
	mainBits    = 11
	lenBits     = 9
	preBits     = 6
	mainEntries = 4694 // huffdec.TableSize(numMainSyms, mainBits, maxMainCodeLen), checked by a test
	lenEntries  = 4496 // huffdec.TableSize(numLenSyms, lenBits, maxLenCodeLen)
	preEntries  = 1088 // huffdec.TableSize(numPreSyms, preBits, maxPreCodeLen)
)

// winSlack is the room after the window for word copies that run past
// the end of a match; inSize is the part of the input kept in the swapped
// form (a WIM stores a chunk compressed only when it is smaller than
// ChunkSize; further input is read from src directly).
const (
	winSlack = 16
	inSize   = ChunkSize
	winMask  = ChunkSize - 1
	inMask   = inSize - 1
)

// Decompressor decodes LZX chunks. It is not safe for concurrent use; a
// Decompressor may be reused for any number of chunks and allocates
// nothing per call.
type Decompressor struct {
	mainLens    [numMainSyms + lensSlack]uint8
	lenLens     [numLenSyms + lensSlack]uint8
	alignedLens [numAlignedSyms]uint8
	preLens     [numPreSyms]uint8

	mainTable    [mainEntries]uint32
	lenTable     [lenEntries]uint32
	alignedTable [1 << maxAlignedLen]uint32
	preTable     [preEntries]uint32

	// win receives the output of the chunk, which Decompress copies to
	// dst at the end; in is the start of the input with the two bytes of
	// every 16-bit word swapped, so that the stream reads as big-endian
	// bytes. Both are arrays indexed with masked positions, and have
	// slack for 8-byte accesses past the last position, so that the hot
	// loop needs no bounds checks.
	win [ChunkSize + winSlack]byte
	in  [inSize + 8]byte

	br bitReader
	// rep holds the repeat offsets R0-R2, and slots describes the offset
	// slots of the block type, while decodeBlock runs.
	rep   [numRepeats]uint32
	slots [32]uint32
	// fastEnd is the last input position decodeBlock can load 8 bytes
	// of d.in from.
	fastEnd int
}

// NewDecompressor returns a Decompressor ready for use.
func NewDecompressor() *Decompressor {
	return &Decompressor{}
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Decompress decodes the compressed chunk src into dst, whose length must
// be the chunk's uncompressed size (at most ChunkSize). Any input that is
// not a valid encoding of exactly len(dst) bytes gives an error wrapping
// ErrCorrupt; dst may then hold partial output. Decompress never reads or
// writes outside src and dst and runs in time linear in their lengths.
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
func (d *Decompressor) Decode(src []byte, total int) ([]byte, error) {
	if total < 0 || total > ChunkSize {
		return nil, fmt.Errorf("lzx: uncompressed size %d is not between 0 and the chunk size %d", total, ChunkSize)
	}
	clear(d.mainLens[:])
	clear(d.lenLens[:])
	br := &d.br
	br.init(src)
	d.fastEnd = d.swapWords(src) - 8
	rep := [numRepeats]uint32{1, 1, 1}
	out := 0
	for out < total {
		btype := br.bits(3)
		size := defaultBlockSize
		if br.bits(1) == 0 {
			size = int(br.bits(16))
		}
		if size == 0 || size > total-out {
			return nil, corrupt("block at output offset %d has size %d, but %d bytes remain", out, size, total-out)
		}
		switch btype {
		case blockVerbatim, blockAligned:
			if err := d.readTrees(btype == blockAligned); err != nil {
				return nil, fmt.Errorf("%w: block at output offset %d: %v", ErrCorrupt, out, err)
			}
			if err := d.decodeBlock(out, out+size, btype == blockAligned, &rep); err != nil {
				return nil, err
			}
		case blockUncompressed:
			br.alignForBytes()
			r := br.rawBytes(12)
			if r == nil {
				return nil, corrupt("uncompressed block at output offset %d: header truncated", out)
			}
			for i := range rep {
				rep[i] = binary.LittleEndian.Uint32(r[4*i:])
				if rep[i] == 0 {
					return nil, corrupt("uncompressed block at output offset %d: repeat offset R%d is 0", out, i)
				}
			}
			b := br.rawBytes(size)
			if b == nil {
				return nil, corrupt("uncompressed block at output offset %d: %d data bytes truncated", out, size)
			}
			copy(d.win[out:], b)
			if size&1 != 0 {
				br.rawBytes(1) // padding byte; may be absent at the very end
			}
		default:
			return nil, corrupt("invalid block type %d at output offset %d", btype, out)
		}
		if br.overrun() {
			return nil, corrupt("compressed data truncated (%d bytes) in block ending at output offset %d", len(src), out+size)
		}
		out += size
	}
	res := d.win[:total]
	e8Translate(res, false)
	return res, nil
}

// swapWords copies the start of src to d.in, swapping the bytes of each
// 16-bit word, and returns the number of bytes copied: whole words, at
// most inSize.
func (d *Decompressor) swapWords(src []byte) int {
	n := min(len(src), inSize) &^ 1
	i := 0
	for ; i+8 <= n; i += 8 {
		x := binary.LittleEndian.Uint64(src[i : i+8])
		x = (x&0x00ff00ff00ff00ff)<<8 | (x>>8)&0x00ff00ff00ff00ff
		binary.LittleEndian.PutUint64(d.in[i&inMask:], x)
	}
	for ; i < n; i += 2 {
		d.in[i&inMask], d.in[(i+1)&inMask] = src[i+1], src[i]
	}
	return n
}

// readTrees reads the code lengths of a verbatim or aligned block and
// builds the decode tables.
func (d *Decompressor) readTrees(aligned bool) error {
	br := &d.br
	if aligned {
		for i := range d.alignedLens {
			d.alignedLens[i] = uint8(br.bits(3))
		}
		if _, err := huffdec.Build(d.alignedTable[:], d.alignedLens[:], maxAlignedLen, maxAlignedLen); err != nil {
			return fmt.Errorf("aligned offset code: %w", err)
		}
	}
	if err := d.readLens(d.mainLens[:], 0, numChars); err != nil {
		return fmt.Errorf("main code literals: %w", err)
	}
	if err := d.readLens(d.mainLens[:], numChars, numMainSyms); err != nil {
		return fmt.Errorf("main code matches: %w", err)
	}
	if err := d.readLens(d.lenLens[:], 0, numLenSyms); err != nil {
		return fmt.Errorf("length code: %w", err)
	}
	empty, err := huffdec.Build(d.mainTable[:], d.mainLens[:numMainSyms], mainBits, maxMainCodeLen)
	if err != nil {
		return fmt.Errorf("main code: %w", err)
	}
	if empty {
		// A block has at least one byte, so it reads a main symbol.
		return fmt.Errorf("main code: %w", errEmptyCode)
	}
	if _, err := huffdec.Build(d.lenTable[:], d.lenLens[:numLenSyms], lenBits, maxLenCodeLen); err != nil {
		return fmt.Errorf("length code: %w", err)
	}
	return nil
}

// readLens reads a pretree and, with it, new values for lens[start:end]
// coded relative to their previous values. Runs may spill past end into
// the slack of lens. The symbols are read with the bit buffer in local
// variables, as in decodeBlock: a refill gives at least 56 bits, enough
// for a pretree symbol, its run length and a second symbol (15+5+15).
func (d *Decompressor) readLens(lens []uint8, start, end int) error {
	br := &d.br
	for i := range d.preLens {
		d.preLens[i] = uint8(br.bits(4))
	}
	if _, err := huffdec.Build(d.preTable[:], d.preLens[:], preBits, maxPreCodeLen); err != nil {
		return fmt.Errorf("pretree: %w", err)
	}
	bitbuf, bitcnt, pos := br.buf, br.n, br.pos
	i := start
	for i < end {
		if pos <= d.fastEnd {
			bitbuf |= binary.BigEndian.Uint64(d.in[pos&inMask:]) >> (bitcnt & 63)
			pos += int((63 - bitcnt) >> 3)
			bitcnt |= 56
		} else {
			bitbuf, bitcnt, pos = refillSlow(br.src, bitbuf, bitcnt, pos)
		}
		sym, n := d.preSymbol(bitbuf)
		if n == 0 {
			return fmt.Errorf("pretree: %w", errEmptyCode)
		}
		bitbuf <<= n
		bitcnt -= n
		switch {
		case sym < 17:
			v := lens[i] + 17 - uint8(sym)
			if v >= 17 {
				v -= 17
			}
			lens[i] = v
			i++
		case sym == 17:
			run := 4 + int(bitbuf>>60)
			bitbuf <<= 4
			bitcnt -= 4
			clear(lens[i : i+run])
			i += run
		case sym == 18:
			run := 20 + int(bitbuf>>59)
			bitbuf <<= 5
			bitcnt -= 5
			clear(lens[i : i+run])
			i += run
		default: // 19
			run := 4 + int(bitbuf>>63)
			bitbuf <<= 1
			bitcnt--
			s2, n := d.preSymbol(bitbuf)
			if n == 0 {
				return fmt.Errorf("pretree: %w", errEmptyCode)
			}
			bitbuf <<= n
			bitcnt -= n
			if s2 > 17 {
				return fmt.Errorf("pretree symbol %d after a same-length run", s2)
			}
			v := lens[i] + 17 - uint8(s2)
			if v >= 17 {
				v -= 17
			}
			for k := range lens[i : i+run] {
				lens[i+k] = v
			}
			i += run
		}
	}
	d.saveBits(bitbuf, bitcnt, pos)
	return nil
}

// preSymbol decodes the pretree symbol at the top of bitbuf and returns
// it with its code length (0 for an empty pretree).
func (d *Decompressor) preSymbol(bitbuf uint64) (sym uint32, n uint) {
	e := d.preTable[bitbuf>>(64-preBits)]
	if e&entrySub != 0 {
		e = d.preTable[(e>>entrySymShift)+uint32((bitbuf<<preBits)>>((64-e&entryLenMask)&63))]
	}
	return e >> entrySymShift, uint(e & entryLenMask)
}

// verbatimSlots and alignedSlots describe, for each offset slot of a
// verbatim or an aligned offset block, the base of the formatted offset
// less 2 (bits 0-15), the number of verbatim offset bits that follow the
// slot (bits 16-20), and whether an aligned offset symbol gives the low 3
// offset bits.
var verbatimSlots, alignedSlots [32]uint32

const (
	slotBaseMask      = 0xffff
	slotVerbatimShift = 16
	slotAligned       = 1 << 24
)

// initDecodeSlots fills verbatimSlots and alignedSlots; the init of
// lzx.go calls it once slotBase and slotExtra are set.
func initDecodeSlots() {
	for s := numRepeats; s < numOffsetSlots; s++ {
		base := slotBase[s] - 2
		extra := uint32(slotExtra[s])
		verbatimSlots[s] = base | extra<<slotVerbatimShift
		alignedSlots[s] = verbatimSlots[s]
		if s >= minAlignedSlot {
			alignedSlots[s] = base | (extra-alignedBits)<<slotVerbatimShift | slotAligned
		}
	}
}

// decodeBlock decodes the symbols of a verbatim or aligned block into
// d.win[out:end].
//
// The bit buffer lives in local variables: bitbuf holds bitcnt valid bits
// of the stream at its top, followed by further bits that are not counted
// yet (a refill ORs the same bits in again, so they do no harm). pos is
// the byte offset of the stream after the counted bits; in d.in the bytes
// of every word are swapped, so that the stream reads as big-endian bytes
// and a refill can count whole bytes rather than whole words. A refill
// brings bitcnt to at least 56: enough for a main symbol, a length symbol
// and an offset (16+16+17 bits), or for two main symbols.
//
// Positions in d.win and d.in are masked to the array sizes, which lets
// the compiler drop the bounds checks; the masks change nothing, since
// out < end <= ChunkSize and a fast refill reads below d.fastEnd+8 <=
// inSize.
func (d *Decompressor) decodeBlock(out, end int, aligned bool, rep *[numRepeats]uint32) error {
	br := &d.br
	bitbuf, bitcnt, pos := br.buf, br.n, br.pos
	// The repeat offsets and minAligned stay in d rather than in
	// registers, which the literal path needs more.
	d.rep = *rep
	d.slots = verbatimSlots
	if aligned {
		d.slots = alignedSlots
	}
	for out < end {
		// Refill (also below): load 8 bytes, and count the whole bytes
		// that fit.
		if pos <= d.fastEnd {
			bitbuf |= binary.BigEndian.Uint64(d.in[pos&inMask:]) >> (bitcnt & 63) // bitcnt < 64: every symbol takes a bit
			pos += int((63 - bitcnt) >> 3)
			bitcnt |= 56
		} else {
			bitbuf, bitcnt, pos = refillSlow(br.src, bitbuf, bitcnt, pos)
		}
		e := d.mainTable[bitbuf>>(64-mainBits)]
		if e&entrySub != 0 {
			e = d.mainTable[(e>>entrySymShift)+uint32((bitbuf<<mainBits)>>((64-e&entryLenMask)&63))]
		}
		n := uint(e & entryLenMask)
		bitbuf <<= n
		bitcnt -= n
		if e < numChars<<entrySymShift {
			d.win[out&winMask] = byte(e >> entrySymShift)
			out++
			if out >= end {
				break
			}
			// A second main symbol fits in the bits left.
			e = d.mainTable[bitbuf>>(64-mainBits)]
			if e&entrySub != 0 {
				e = d.mainTable[(e>>entrySymShift)+uint32((bitbuf<<mainBits)>>((64-e&entryLenMask)&63))]
			}
			n := uint(e & entryLenMask)
			bitbuf <<= n
			bitcnt -= n
			if e < numChars<<entrySymShift {
				d.win[out&winMask] = byte(e >> entrySymShift)
				out++
				if out >= end {
					break
				}
				// And a third (3*16 bits <= 56).
				e = d.mainTable[bitbuf>>(64-mainBits)]
				if e&entrySub != 0 {
					e = d.mainTable[(e>>entrySymShift)+uint32((bitbuf<<mainBits)>>((64-e&entryLenMask)&63))]
				}
				n := uint(e & entryLenMask)
				bitbuf <<= n
				bitcnt -= n
				if e < numChars<<entrySymShift {
					d.win[out&winMask] = byte(e >> entrySymShift)
					out++
					continue
				}
			}
			// A match after a literal: refill for its length and offset
			// (16+17 bits) unless they fit.
			if bitcnt < 33 {
				if pos <= d.fastEnd {
					bitbuf |= binary.BigEndian.Uint64(d.in[pos&inMask:]) >> (bitcnt & 63)
					pos += int((63 - bitcnt) >> 3)
					bitcnt |= 56
				} else {
					bitbuf, bitcnt, pos = refillSlow(br.src, bitbuf, bitcnt, pos)
				}
			}
		}

		// A match: length header and offset slot.
		sym := e>>entrySymShift - numChars
		header := sym & 7
		length := int(header) + minMatch
		if header == numPrimaryLens {
			e := d.lenTable[bitbuf>>(64-lenBits)]
			if e&entrySub != 0 {
				e = d.lenTable[(e>>entrySymShift)+uint32((bitbuf<<lenBits)>>((64-e&entryLenMask)&63))]
			}
			n := uint(e & entryLenMask)
			if n == 0 {
				d.saveState(bitbuf, bitcnt, pos, rep)
				return corrupt("length symbol at output offset %d: %v", out, errEmptyCode)
			}
			bitbuf <<= n
			bitcnt -= n
			length += int(e >> entrySymShift)
		}
		slot := sym >> 3
		var off uint32
		if slot < numRepeats {
			// Repeat offset Rslot, swapped with R0.
			off = d.rep[slot]
			d.rep[slot] = d.rep[0]
		} else {
			st := d.slots[slot&31]
			vb := uint(st>>slotVerbatimShift) & 31
			off = uint32((bitbuf >> 1) >> ((63 - vb) & 63)) // vb may be 0
			bitbuf <<= vb
			bitcnt -= vb
			if st&slotAligned != 0 {
				e := d.alignedTable[bitbuf>>(64-maxAlignedLen)]
				n := uint(e & entryLenMask)
				if n == 0 {
					d.saveState(bitbuf, bitcnt, pos, rep)
					return corrupt("aligned offset symbol at output offset %d: %v", out, errEmptyCode)
				}
				bitbuf <<= n
				bitcnt -= n
				off = off<<alignedBits | e>>entrySymShift
			}
			off += st & slotBaseMask
			d.rep[2] = d.rep[1]
			d.rep[1] = d.rep[0]
		}
		d.rep[0] = off

		if off-1 >= uint32(out) {
			d.saveState(bitbuf, bitcnt, pos, rep)
			return corrupt("match at output offset %d refers back %d bytes", out, off)
		}
		if length > end-out {
			d.saveState(bitbuf, bitcnt, pos, rep)
			return corrupt("match of length %d at output offset %d runs past the block end %d", length, out, end)
		}
		from := out - int(off)
		if off >= 8 {
			// 8-byte words, two at once (most matches are short); each
			// word read lies before the word written, so it is final.
			// Up to 15 bytes past the match are written too, in the
			// window or its slack; the output that follows overwrites
			// them.
			o, f := out&winMask, from&winMask
			binary.LittleEndian.PutUint64(d.win[o:], binary.LittleEndian.Uint64(d.win[f:]))
			binary.LittleEndian.PutUint64(d.win[o+8:], binary.LittleEndian.Uint64(d.win[f+8:]))
			for j := 16; j < length; j += 8 {
				binary.LittleEndian.PutUint64(d.win[(out+j)&winMask:], binary.LittleEndian.Uint64(d.win[(from+j)&winMask:]))
			}
		} else {
			// An offset below 8 repeats the last off bytes. The first
			// bytes go one at a time; from shortDist[off] bytes on,
			// every byte equals the one shortDist[off] (at least 8)
			// bytes back, so the rest goes in words, as above.
			dist := shortDist[off&7]
			k := 0
			for ; k < length && k < dist; k++ {
				d.win[(out+k)&winMask] = d.win[(from+k)&winMask]
			}
			for ; k < length; k += 8 {
				binary.LittleEndian.PutUint64(d.win[(out+k)&winMask:], binary.LittleEndian.Uint64(d.win[(out+k-dist)&winMask:]))
			}
		}
		out += length
	}
	d.saveState(bitbuf, bitcnt, pos, rep)
	return nil
}

// refillSlow is decodeBlock's refill near the end of the input: it loads
// one byte at a time from src, swapping the bytes of each word, until at
// least 56 bits are valid. Like bitReader, it reads a missing word, and
// the odd last byte of src, as zero.
//
//go:noinline
func refillSlow(src []byte, bitbuf uint64, bitcnt uint, pos int) (uint64, uint, int) {
	for bitcnt < 56 {
		var b uint64
		if pos|1 < len(src) {
			b = uint64(src[pos^1])
		}
		bitbuf |= b << (56 - bitcnt)
		bitcnt += 8
		pos++
	}
	return bitbuf, bitcnt, pos
}

// saveState stores decodeBlock's local bit reader and repeat offsets.
// The bit reader reads whole words, so an odd position is brought back
// to a word boundary: by giving back the last byte (its bits stay in
// bitbuf as uncounted bits, which is harmless), or, when fewer than 8 bits
// are counted, by counting the next byte too.
func (d *Decompressor) saveState(bitbuf uint64, bitcnt uint, pos int, rep *[numRepeats]uint32) {
	d.saveBits(bitbuf, bitcnt, pos)
	*rep = d.rep
}

// saveBits stores a local bit buffer in d.br (see saveState).
func (d *Decompressor) saveBits(bitbuf uint64, bitcnt uint, pos int) {
	if pos&1 != 0 {
		if bitcnt >= 8 {
			pos--
			bitcnt -= 8
		} else {
			var b uint64
			if pos|1 < len(d.br.src) {
				b = uint64(d.br.src[pos^1])
			}
			bitbuf |= b << (56 - bitcnt)
			bitcnt += 8
			pos++
		}
	}
	d.br.buf, d.br.n, d.br.pos = bitbuf, bitcnt, pos
}

// shortDist[off] is the smallest multiple of off that is at least 8.
var shortDist = [8]int{0, 8, 8, 9, 8, 10, 12, 14}
