package xpress

// This file keeps the first, straightforward decoder of this package (the
// bit reader of [MS-XCA], 32 bits at a time, one table look-up per symbol)
// as a test oracle: FuzzDecompress checks that the fast decoder agrees
// with it on every input, valid or not, and the benchmarks compare the
// two.

import (
	"encoding/binary"
	"fmt"
)

const (
	refPrimaryBits   = 11
	refPrimarySize   = 1 << refPrimaryBits
	refMaxSubEntries = numSymbols << (maxCodeLen - refPrimaryBits)
	refEntrySub      = 1 << 31
	refEntryLenSh    = 16
	refEntryValMsk   = 0xffff
)

// refDecompressor is the reference decoder.
type refDecompressor struct {
	lens  [numSymbols]uint8
	table [refPrimarySize + refMaxSubEntries]uint32
}

func newRefDecompressor() *refDecompressor { return &refDecompressor{} }

func (d *refDecompressor) Decompress(dst, src []byte) error {
	if len(dst) > MaxChunkSize {
		return fmt.Errorf("xpress: uncompressed size %d exceeds the %d-byte chunk limit", len(dst), MaxChunkSize)
	}
	if len(dst) == 0 {
		return nil
	}
	if len(src) < tableBytes+4 {
		return fmt.Errorf("%w: %d bytes is too short for the %d-byte code table and bit stream", ErrCorrupt, len(src), tableBytes)
	}
	for i, b := range src[:tableBytes] {
		d.lens[2*i] = b & 0xf
		d.lens[2*i+1] = b >> 4
	}
	if err := d.buildTable(); err != nil {
		return err
	}

	in := src[tableBytes:]
	table := &d.table
	// The decoder keeps two 16-bit words ahead, exactly as [MS-XCA] does, so
	// that the extra length bytes are read from the right place.
	bits := uint32(binary.LittleEndian.Uint16(in))<<16 | uint32(binary.LittleEndian.Uint16(in[2:]))
	extra := 16 // bits available beyond the first 16
	pos := 4
	missing := 0 // words loaded past the end of src (read as zero)

	out := 0
	for out < len(dst) {
		e := table[bits>>(32-refPrimaryBits)]
		if e&refEntrySub != 0 {
			sub := (e >> refEntryLenSh) & 0xf
			e = table[(e&refEntryValMsk)+((bits<<refPrimaryBits)>>(32-sub))]
		}
		n := int(e>>refEntryLenSh) & 0xf
		sym := e & refEntryValMsk
		bits <<= n
		extra -= n
		if extra < 0 {
			if pos+2 <= len(in) {
				bits |= uint32(binary.LittleEndian.Uint16(in[pos:])) << -extra
			} else if missing++; missing > 1 {
				return fmt.Errorf("%w: bit stream ends early at output byte %d of %d", ErrCorrupt, out, len(dst))
			}
			extra += 16
			pos += 2
		}
		if sym < numLiterals {
			dst[out] = byte(sym)
			out++
			continue
		}

		sym -= numLiterals
		length := int(sym & 0xf)
		if length == 0xf {
			if pos >= len(in) {
				return fmt.Errorf("%w: match length byte missing at input offset %d", ErrCorrupt, tableBytes+pos)
			}
			length = int(in[pos])
			pos++
			if length == 0xff {
				if pos+2 > len(in) {
					return fmt.Errorf("%w: 16-bit match length missing at input offset %d", ErrCorrupt, tableBytes+pos)
				}
				length = int(binary.LittleEndian.Uint16(in[pos:]))
				pos += 2
				if length == 0 {
					if pos+4 > len(in) {
						return fmt.Errorf("%w: 32-bit match length missing at input offset %d", ErrCorrupt, tableBytes+pos)
					}
					l32 := binary.LittleEndian.Uint32(in[pos:])
					pos += 4
					if l32 > MaxChunkSize {
						return fmt.Errorf("%w: match length %d at output byte %d overruns the %d-byte chunk", ErrCorrupt, l32, out, len(dst))
					}
					length = int(l32)
				}
				if length < 0xf {
					return fmt.Errorf("%w: invalid extended match length %d at output byte %d", ErrCorrupt, length, out)
				}
				length -= 0xf
			}
			length += 0xf
		}
		length += minMatch

		ob := int(sym >> 4)
		offset := 1 << ob
		if ob > 0 {
			offset |= int(bits >> (32 - ob))
			bits <<= ob
			extra -= ob
			if extra < 0 {
				if pos+2 <= len(in) {
					bits |= uint32(binary.LittleEndian.Uint16(in[pos:])) << -extra
				} else if missing++; missing > 1 {
					return fmt.Errorf("%w: bit stream ends early at output byte %d of %d", ErrCorrupt, out, len(dst))
				}
				extra += 16
				pos += 2
			}
		}
		if offset > out {
			return fmt.Errorf("%w: match offset %d at output byte %d reaches before the chunk start", ErrCorrupt, offset, out)
		}
		if length > len(dst)-out {
			return fmt.Errorf("%w: match length %d at output byte %d overruns the %d-byte chunk", ErrCorrupt, length, out, len(dst))
		}
		refCopyMatch(dst, out, offset, length)
		out += length
	}
	return nil
}

// refCopyMatch copies length bytes from dst[out-offset:] to dst[out:], with the
// overlapping semantics of LZ77 (a short offset repeats the last bytes). The
// caller has checked the bounds.
func refCopyMatch(dst []byte, out, offset, length int) {
	from := out - offset
	if offset >= 8 && out+length+8 <= len(dst) {
		// Word copies may write up to 7 bytes past the match; those are
		// inside dst and overwritten by the output that follows. With an
		// offset of at least 8 every word read is already final.
		for j := 0; j < length; j += 8 {
			binary.LittleEndian.PutUint64(dst[out+j:], binary.LittleEndian.Uint64(dst[from+j:]))
		}
		return
	}
	if length <= 32 {
		s := dst[from : out+length]
		for j := offset; j < len(s); j++ {
			s[j] = s[j-offset]
		}
		return
	}
	if offset >= length {
		copy(dst[out:out+length], dst[from:from+length])
		return
	}
	if offset == 1 {
		b := dst[from]
		s := dst[out : out+length]
		for i := range s {
			s[i] = b
		}
		return
	}
	// Overlapping: each copy doubles the repeated pattern.
	end := out + length
	for out < end {
		n := copy(dst[out:end], dst[from:out])
		out += n
	}
}

// buildTable fills d.table from d.lens. The code must be complete: [MS-XCA]
// rejects over-subscribed and incomplete codes alike.
func (d *refDecompressor) buildTable() error {
	var count [maxCodeLen + 1]int
	for _, l := range d.lens {
		count[l]++
	}
	count[0] = 0
	// Kraft sum in units of 2^-15.
	sum := 0
	for l := 1; l <= maxCodeLen; l++ {
		sum += count[l] << (maxCodeLen - l)
	}
	if sum != 1<<maxCodeLen {
		if sum > 1<<maxCodeLen {
			return fmt.Errorf("%w: Huffman code lengths are over-subscribed", ErrCorrupt)
		}
		return fmt.Errorf("%w: Huffman code lengths are incomplete", ErrCorrupt)
	}

	// Symbols in canonical order: by length, then by symbol value.
	var offs [maxCodeLen + 2]int
	for l := 1; l <= maxCodeLen; l++ {
		offs[l+1] = offs[l] + count[l]
	}
	var sorted [numSymbols]uint16
	for s, l := range d.lens {
		if l != 0 {
			sorted[offs[l]] = uint16(s)
			offs[l]++
		}
	}
	n := offs[maxCodeLen] // offs[l] now holds the end of length l's run
	syms := sorted[:n]

	table := d.table[:]
	code := 0 // left-aligned to maxCodeLen bits
	i := 0
	for ; i < len(syms); i++ {
		s := syms[i]
		l := int(d.lens[s])
		if l > refPrimaryBits {
			break
		}
		start := code >> (maxCodeLen - refPrimaryBits)
		cnt := 1 << (refPrimaryBits - l)
		e := uint32(s) | uint32(l)<<refEntryLenSh
		for j := start; j < start+cnt; j++ {
			table[j] = e
		}
		code += 1 << (maxCodeLen - l)
	}
	// Long codes: codes sharing a primary prefix are consecutive in canonical
	// order, and the last of each group is the longest.
	next := refPrimarySize
	for i < len(syms) {
		prefix := code >> (maxCodeLen - refPrimaryBits)
		j, c := i, code
		for j < len(syms) && c>>(maxCodeLen-refPrimaryBits) == prefix {
			c += 1 << (maxCodeLen - int(d.lens[syms[j]]))
			j++
		}
		subBits := int(d.lens[syms[j-1]]) - refPrimaryBits
		table[prefix] = refEntrySub | uint32(subBits)<<refEntryLenSh | uint32(next)
		shift := maxCodeLen - refPrimaryBits - subBits
		for ; i < j; i++ {
			s := syms[i]
			l := int(d.lens[s])
			start := next + (code>>shift)&(1<<subBits-1)
			cnt := 1 << (refPrimaryBits + subBits - l)
			e := uint32(s) | uint32(l)<<refEntryLenSh
			for m := start; m < start+cnt; m++ {
				table[m] = e
			}
			code += 1 << (maxCodeLen - l)
		}
		next += 1 << subBits
	}
	return nil
}
