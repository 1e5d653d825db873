package ntfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// sdLocation is where one security descriptor lives in $Secure:$SDS.
type sdLocation struct {
	off    int64 // of the descriptor itself (after the 20-byte entry header)
	length int64
}

const (
	sdsBlock      = 256 << 10 // $SDS is written in 256 KiB blocks, each followed by a mirror copy
	sdsHeaderSize = 20
	maxSDSize     = 1 << 20 // a security descriptor is at most 64 KiB in practice
)

// loadSecure indexes $Secure:$SDS: security id → descriptor location.
// Volumes without $Secure (NTFS 1.x) rely on inline descriptors only.
func (v *Volume) loadSecure() error {
	f, err := v.loadFile(recSecure)
	if err != nil {
		return err
	}
	exts := f.attrsOf(atData, "$SDS")
	if len(exts) == 0 {
		return nil
	}
	d, err := v.newStreamDesc("MFT record 9 ($Secure) $DATA:$SDS", exts)
	if err != nil {
		return err
	}
	idx, err := indexSDS(d)
	if err != nil {
		return err
	}
	v.sds, v.sdIndex = d, idx
	return nil
}

// indexSDS scans the primary (even) 256 KiB blocks of $SDS.
func indexSDS(d *streamDesc) (map[uint32]sdLocation, error) {
	idx := make(map[uint32]sdLocation)
	st := d.open()
	buf := make([]byte, sdsBlock)
	for blk := int64(0); blk < d.size; blk += 2 * sdsBlock {
		n, err := d.readAt(buf, blk, st)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		b := buf[:n]
		for pos := 0; pos+sdsHeaderSize <= len(b); {
			id := binary.LittleEndian.Uint32(b[pos+4:])
			self := int64(binary.LittleEndian.Uint64(b[pos+8:]))
			l := int(binary.LittleEndian.Uint32(b[pos+16:]))
			if l < sdsHeaderSize || l > len(b)-pos || self != blk+int64(pos) {
				break // end of the used part of this block
			}
			if _, dup := idx[id]; !dup {
				idx[id] = sdLocation{off: blk + int64(pos) + sdsHeaderSize, length: int64(l - sdsHeaderSize)}
			}
			pos += (l + 15) &^ 15
		}
	}
	return idx, nil
}

// securityDescriptor returns the descriptor of f: by security id from $SDS
// when its $STANDARD_INFORMATION has one, else the inline
// $SECURITY_DESCRIPTOR attribute; nil when there is none.
func (v *Volume) securityDescriptor(f *file, secID uint32) ([]byte, error) {
	if secID != 0 && v.sdIndex != nil {
		v.sdMu.Lock()
		sd, ok := v.sdCache[secID]
		v.sdMu.Unlock()
		if ok {
			return sd, nil
		}
		loc, ok := v.sdIndex[secID]
		if !ok {
			return nil, fmt.Errorf("MFT record %d: security id %d not found in $Secure:$SDS", f.num, secID)
		}
		if loc.length > maxSDSize {
			return nil, fmt.Errorf("MFT record %d: security id %d: descriptor of %d bytes too large", f.num, secID, loc.length)
		}
		sd = make([]byte, loc.length)
		if _, err := v.sds.readAt(sd, loc.off, nil); err != nil {
			return nil, fmt.Errorf("MFT record %d: security id %d: %w", f.num, secID, err)
		}
		v.sdMu.Lock()
		v.sdCache[secID] = sd
		v.sdMu.Unlock()
		return sd, nil
	}
	exts := f.attrsOf(atSecurityDescriptor, "")
	if len(exts) == 0 {
		return nil, nil
	}
	d, err := v.newStreamDesc(fmt.Sprintf("MFT record %d $SECURITY_DESCRIPTOR", f.num), exts)
	if err != nil {
		return nil, err
	}
	sd, err := d.readAll(maxSDSize)
	if err != nil {
		return nil, err
	}
	if len(sd) == 0 {
		return nil, nil
	}
	return sd, nil
}
