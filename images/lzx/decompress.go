package lzx

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every error Decompress returns for data that is
// not a valid LZX chunk of the requested size.
var ErrCorrupt = errors.New("lzx: corrupt compressed data")

// lensSlack leaves room for a pretree run that goes past the end of the
// lengths being read; such runs spill into the following entries, as in
// other decoders.
const lensSlack = 64

// Decompressor decodes LZX chunks. It is not safe for concurrent use; a
// Decompressor may be reused for any number of chunks and allocates
// nothing per call.
type Decompressor struct {
	mainLens    [numMainSyms + lensSlack]uint8
	lenLens     [numLenSyms + lensSlack]uint8
	alignedLens [numAlignedSyms]uint8
	preLens     [numPreSyms]uint8

	main    *huffDecoder
	length  *huffDecoder
	aligned *huffDecoder
	pre     *huffDecoder

	br bitReader
}

// NewDecompressor returns a Decompressor ready for use.
func NewDecompressor() *Decompressor {
	return &Decompressor{
		main:    newHuffDecoder(numMainSyms, 11, maxMainCodeLen),
		length:  newHuffDecoder(numLenSyms, 9, maxLenCodeLen),
		aligned: newHuffDecoder(numAlignedSyms, maxAlignedLen, maxAlignedLen),
		pre:     newHuffDecoder(numPreSyms, 8, maxPreCodeLen),
	}
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Decompress decodes the compressed chunk src into dst, whose length must
// be the chunk's uncompressed size (at most ChunkSize). Any input that is
// not a valid encoding of exactly len(dst) bytes gives an error wrapping
// ErrCorrupt; dst may then hold partial output.
func (d *Decompressor) Decompress(dst, src []byte) error {
	if len(dst) > ChunkSize {
		return fmt.Errorf("lzx: uncompressed size %d exceeds the chunk size %d", len(dst), ChunkSize)
	}
	clear(d.mainLens[:])
	clear(d.lenLens[:])
	br := &d.br
	br.init(src)
	rep := [numRepeats]uint32{1, 1, 1}
	out := 0
	for out < len(dst) {
		btype := br.bits(3)
		size := defaultBlockSize
		if br.bits(1) == 0 {
			size = int(br.bits(16))
		}
		if size == 0 || size > len(dst)-out {
			return corrupt("block at output offset %d has size %d, but %d bytes remain", out, size, len(dst)-out)
		}
		switch btype {
		case blockVerbatim, blockAligned:
			if err := d.readTrees(btype == blockAligned); err != nil {
				return fmt.Errorf("%w: block at output offset %d: %v", ErrCorrupt, out, err)
			}
			if err := d.decodeBlock(dst, out, out+size, btype == blockAligned, &rep); err != nil {
				return err
			}
		case blockUncompressed:
			br.alignForBytes()
			r := br.rawBytes(12)
			if r == nil {
				return corrupt("uncompressed block at output offset %d: header truncated", out)
			}
			for i := range rep {
				rep[i] = binary.LittleEndian.Uint32(r[4*i:])
				if rep[i] == 0 {
					return corrupt("uncompressed block at output offset %d: repeat offset R%d is 0", out, i)
				}
			}
			b := br.rawBytes(size)
			if b == nil {
				return corrupt("uncompressed block at output offset %d: %d data bytes truncated", out, size)
			}
			copy(dst[out:], b)
			if size&1 != 0 {
				br.rawBytes(1) // padding byte; may be absent at the very end
			}
		default:
			return corrupt("invalid block type %d at output offset %d", btype, out)
		}
		if br.overrun() {
			return corrupt("compressed data truncated (%d bytes) in block ending at output offset %d", len(src), out+size)
		}
		out += size
	}
	e8Translate(dst, false)
	return nil
}

// readTrees reads the code lengths of a verbatim or aligned block and
// builds the decoders.
func (d *Decompressor) readTrees(aligned bool) error {
	br := &d.br
	if aligned {
		for i := range d.alignedLens {
			d.alignedLens[i] = uint8(br.bits(3))
		}
		if err := d.aligned.build(d.alignedLens[:]); err != nil {
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
	if err := d.main.build(d.mainLens[:numMainSyms]); err != nil {
		return fmt.Errorf("main code: %w", err)
	}
	if err := d.length.build(d.lenLens[:numLenSyms]); err != nil {
		return fmt.Errorf("length code: %w", err)
	}
	return nil
}

// readLens reads a pretree and, with it, new values for lens[start:end]
// coded relative to their previous values. Runs may spill past end into
// the slack of lens.
func (d *Decompressor) readLens(lens []uint8, start, end int) error {
	br := &d.br
	for i := range d.preLens {
		d.preLens[i] = uint8(br.bits(4))
	}
	if err := d.pre.build(d.preLens[:]); err != nil {
		return fmt.Errorf("pretree: %w", err)
	}
	i := start
	for i < end {
		sym, err := d.pre.decode(br)
		if err != nil {
			return fmt.Errorf("pretree: %w", err)
		}
		switch {
		case sym < 17:
			lens[i] = uint8((int(lens[i]) - sym + 17) % 17)
			i++
		case sym == 17:
			run := 4 + int(br.bits(4))
			for ; run > 0; run-- {
				lens[i] = 0
				i++
			}
		case sym == 18:
			run := 20 + int(br.bits(5))
			for ; run > 0; run-- {
				lens[i] = 0
				i++
			}
		default: // 19
			run := 4 + int(br.bits(1))
			s2, err := d.pre.decode(br)
			if err != nil {
				return fmt.Errorf("pretree: %w", err)
			}
			if s2 > 17 {
				return fmt.Errorf("pretree symbol %d after a same-length run", s2)
			}
			v := uint8((int(lens[i]) - s2 + 17) % 17)
			for ; run > 0; run-- {
				lens[i] = v
				i++
			}
		}
	}
	return nil
}

// decodeBlock decodes the symbols of a verbatim or aligned block into
// dst[out:end].
func (d *Decompressor) decodeBlock(dst []byte, out, end int, aligned bool, rep *[numRepeats]uint32) error {
	br := &d.br
	minAligned := numOffsetSlots
	if aligned {
		minAligned = minAlignedSlot
	}
	for out < end {
		sym, err := d.main.decode(br)
		if err != nil {
			return corrupt("main symbol at output offset %d: %v", out, err)
		}
		if sym < numChars {
			dst[out] = byte(sym)
			out++
			continue
		}
		sym -= numChars
		length := sym & 7
		slot := sym >> 3
		if length == numPrimaryLens {
			ls, err := d.length.decode(br)
			if err != nil {
				return corrupt("length symbol at output offset %d: %v", out, err)
			}
			length += ls
		}
		length += minMatch
		var off uint32
		if slot < numRepeats {
			off = rep[slot]
			rep[slot] = rep[0]
		} else {
			extra := uint(slotExtra[slot])
			var v uint32
			if slot >= minAligned {
				v = br.bits(extra-alignedBits) << alignedBits
				a, err := d.aligned.decode(br)
				if err != nil {
					return corrupt("aligned offset symbol at output offset %d: %v", out, err)
				}
				v |= uint32(a)
			} else {
				v = br.bits(extra)
			}
			off = slotBase[slot] + v - 2
			rep[2] = rep[1]
			rep[1] = rep[0]
		}
		rep[0] = off
		if off == 0 || int64(off) > int64(out) {
			return corrupt("match at output offset %d refers back %d bytes", out, off)
		}
		if length > end-out {
			return corrupt("match of length %d at output offset %d runs past the block end %d", length, out, end)
		}
		o := int(off)
		if o >= length {
			copy(dst[out:out+length], dst[out-o:])
		} else {
			for k := 0; k < length; k++ {
				dst[out+k] = dst[out+k-o]
			}
		}
		out += length
		if br.overrun() {
			return corrupt("compressed data truncated at output offset %d", out)
		}
	}
	return nil
}
