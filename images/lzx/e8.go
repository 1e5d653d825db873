package lzx

import (
	"bytes"
	"encoding/binary"
)

// e8Translate converts the targets of E8 (x86 CALL) bytes from relative
// to absolute form (encode true) or back (encode false), as LZX requires
// before compression and after decompression. An E8 byte is considered
// only when the whole 5-byte instruction starts before the last 10 bytes
// of the chunk, and the 4 bytes after a considered E8 are never scanned
// themselves; both directions scan the same positions, since only target
// bytes change.
//
// E8 bytes are found with bytes.IndexByte, which scans many bytes per
// instruction: most data has few of them, and even x86 code has one every
// few dozen bytes.
func e8Translate(data []byte, encode bool) {
	n := len(data)
	if n <= 10 {
		return
	}
	end := n - 10
	for i := 0; i < end; i += 5 {
		j := bytes.IndexByte(data[i:end], 0xE8)
		if j < 0 {
			return
		}
		i += j
		t := data[i+1 : i+5]
		v := int32(binary.LittleEndian.Uint32(t))
		pos := int32(i)
		if encode {
			if v >= -pos && v < e8FileSize {
				if v < e8FileSize-pos {
					v += pos
				} else {
					v -= e8FileSize
				}
				binary.LittleEndian.PutUint32(t, uint32(v))
			}
		} else {
			if v >= 0 {
				if v < e8FileSize {
					binary.LittleEndian.PutUint32(t, uint32(v-pos))
				}
			} else if v >= -pos {
				binary.LittleEndian.PutUint32(t, uint32(v+e8FileSize))
			}
		}
	}
}
