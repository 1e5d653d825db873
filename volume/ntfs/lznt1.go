package ntfs

import "encoding/binary"

// lznt1ChunkSize is the uncompressed size of one LZNT1 chunk.
const lznt1ChunkSize = 4096

// decompressLZNT1 decompresses one NTFS compression unit from src into dst.
// dst must be zeroed by the caller; output beyond what the chunks produce
// stays zero (NTFS semantics for short chunks and a truncated unit). It
// returns an error when the data is malformed or would overflow dst.
func decompressLZNT1(dst, src []byte) error {
	out := 0
	in := 0
	for in+2 <= len(src) && out < len(dst) {
		h := binary.LittleEndian.Uint16(src[in:])
		if h == 0 {
			return nil // end of unit
		}
		size := int(h&0x0FFF) + 1 // data bytes after the 2-byte header
		in += 2
		if in+size > len(src) {
			return corruptf("LZNT1 chunk at input offset %d overruns the compressed data", in-2)
		}
		chunk := src[in : in+size]
		in += size
		lim := out + lznt1ChunkSize
		if lim > len(dst) {
			lim = len(dst)
		}
		if h&0x8000 == 0 {
			// Stored chunk: raw bytes.
			if len(chunk) > lim-out {
				return corruptf("LZNT1 stored chunk of %d bytes overflows the unit", len(chunk))
			}
			copy(dst[out:], chunk)
			out += lznt1ChunkSize
			continue
		}
		start := out
		pos := out
		for i := 0; i < len(chunk); {
			flags := chunk[i]
			i++
			for bit := 0; bit < 8 && i < len(chunk); bit++ {
				if flags&(1<<bit) == 0 {
					if pos >= lim {
						return corruptf("LZNT1 chunk overflows 4096 bytes")
					}
					dst[pos] = chunk[i]
					pos++
					i++
					continue
				}
				if i+2 > len(chunk) {
					return corruptf("LZNT1 back-reference truncated")
				}
				tok := int(binary.LittleEndian.Uint16(chunk[i:]))
				i += 2
				done := pos - start
				if done == 0 {
					return corruptf("LZNT1 back-reference at start of chunk")
				}
				// Offset bits grow with the position inside the chunk.
				lenBits := 12
				for p := done - 1; p >= 0x10; p >>= 1 {
					lenBits--
				}
				length := tok&(1<<lenBits-1) + 3
				disp := tok>>lenBits + 1
				if disp > done {
					return corruptf("LZNT1 back-reference distance %d exceeds %d decoded bytes", disp, done)
				}
				if length > lim-pos {
					return corruptf("LZNT1 chunk overflows 4096 bytes")
				}
				from := pos - disp
				for k := 0; k < length; k++ {
					dst[pos+k] = dst[from+k]
				}
				pos += length
			}
		}
		out += lznt1ChunkSize
	}
	return nil
}
