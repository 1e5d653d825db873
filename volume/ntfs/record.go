package ntfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// NTFS attribute type codes.
const (
	atStandardInformation = 0x10
	atAttributeList       = 0x20
	atFileName            = 0x30
	atObjectID            = 0x40
	atSecurityDescriptor  = 0x50
	atVolumeName          = 0x60
	atVolumeInformation   = 0x70
	atData                = 0x80
	atIndexRoot           = 0x90
	atIndexAllocation     = 0xA0
	atBitmap              = 0xB0
	atReparsePoint        = 0xC0
	atEnd                 = 0xFFFFFFFF
)

// MFT record header flags.
const (
	recordInUse     = 0x0001
	recordDirectory = 0x0002
)

// Attribute header flags.
const (
	attrFlagCompressionMask = 0x00FF
	attrFlagEncrypted       = 0x4000
	attrFlagSparse          = 0x8000
)

// errCorrupt marks structural damage found while parsing on-disk structures.
var errCorrupt = errors.New("corrupt NTFS structure")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, args...))
}

// applyFixups checks and undoes the update sequence array of a multi-sector
// protected block (MFT record or INDX block) in place. magic is the
// expected 4-byte signature.
func applyFixups(b []byte, magic string) error {
	if len(b) < 48 || len(b)%512 != 0 {
		return corruptf("block size %d is not a multiple of 512", len(b))
	}
	if string(b[:4]) != magic {
		return corruptf("bad signature %q, want %q", b[:4], magic)
	}
	usaOff := int(binary.LittleEndian.Uint16(b[4:]))
	usaCount := int(binary.LittleEndian.Uint16(b[6:]))
	if usaCount != len(b)/512+1 {
		return corruptf("update sequence count %d, want %d", usaCount, len(b)/512+1)
	}
	if usaOff&1 != 0 || usaOff < 8 || usaOff+2*usaCount > 510 {
		return corruptf("update sequence array offset %d out of range", usaOff)
	}
	usn0, usn1 := b[usaOff], b[usaOff+1]
	for i := 1; i < usaCount; i++ {
		end := i*512 - 2
		if b[end] != usn0 || b[end+1] != usn1 {
			return corruptf("update sequence mismatch in sector %d (torn write)", i-1)
		}
		b[end] = b[usaOff+2*i]
		b[end+1] = b[usaOff+2*i+1]
	}
	return nil
}

// attr is one attribute record as found in an MFT record.
type attr struct {
	typ      uint32
	name     string
	id       uint16
	flags    uint16
	resident bool
	rec      uint64 // MFT record holding this attribute

	value []byte // resident value

	startVCN, lastVCN int64
	runs              []run
	compUnit          uint8
	allocSize         int64
	dataSize          int64
	initSize          int64
}

// record is a parsed MFT record.
type record struct {
	num      uint64
	seq      uint16
	flags    uint16
	base     uint64 // base record reference (0 for a base record)
	attrs    []*attr
	nameRefs int // number of FILE_NAME attributes in this record
}

// maxAttrsPerRecord bounds the attributes parsed from one record; a 64 KiB
// record cannot hold more than this many 24-byte attribute headers anyway.
const maxAttrsPerRecord = 65536 / 24

// parseRecord parses an MFT record whose fixups were already applied.
// totalClusters bounds run LCNs (0 disables the check).
func parseRecord(b []byte, num uint64, totalClusters int64) (*record, error) {
	if len(b) < 48 {
		return nil, corruptf("record too short (%d bytes)", len(b))
	}
	r := &record{
		num:   num,
		seq:   binary.LittleEndian.Uint16(b[0x10:]),
		flags: binary.LittleEndian.Uint16(b[0x16:]),
		base:  binary.LittleEndian.Uint64(b[0x20:]),
	}
	first := int(binary.LittleEndian.Uint16(b[0x14:]))
	used := int(binary.LittleEndian.Uint32(b[0x18:]))
	if used > len(b) || used < first {
		used = len(b)
	}
	if first < 0x18 || first&7 != 0 || first+4 > len(b) {
		return nil, corruptf("first attribute offset %d out of range", first)
	}
	off := first
	for {
		if off+4 > used {
			return nil, corruptf("attribute list not terminated at offset %d", off)
		}
		typ := binary.LittleEndian.Uint32(b[off:])
		if typ == atEnd {
			break
		}
		if len(r.attrs) >= maxAttrsPerRecord {
			return nil, corruptf("too many attributes")
		}
		if off+16 > used {
			return nil, corruptf("attribute header at offset %d truncated", off)
		}
		alen := int(binary.LittleEndian.Uint32(b[off+4:]))
		if alen < 16 || alen&7 != 0 || alen > used-off {
			return nil, corruptf("attribute 0x%X at offset %d has bad length %d", typ, off, alen)
		}
		a, err := parseAttr(b[off:off+alen], num, totalClusters)
		if err != nil {
			return nil, fmt.Errorf("attribute 0x%X at offset %d: %w", typ, off, err)
		}
		if a.typ == atFileName {
			r.nameRefs++
		}
		r.attrs = append(r.attrs, a)
		off += alen
	}
	return r, nil
}

// parseAttr parses one attribute record (b is exactly its length).
func parseAttr(b []byte, rec uint64, totalClusters int64) (*attr, error) {
	a := &attr{
		typ:      binary.LittleEndian.Uint32(b),
		resident: b[8] == 0,
		flags:    binary.LittleEndian.Uint16(b[12:]),
		id:       binary.LittleEndian.Uint16(b[14:]),
		rec:      rec,
	}
	nameLen := int(b[9])
	nameOff := int(binary.LittleEndian.Uint16(b[10:]))
	if nameLen > 0 {
		if nameOff+2*nameLen > len(b) {
			return nil, corruptf("name out of bounds")
		}
		a.name = decodeUTF16(b[nameOff : nameOff+2*nameLen])
	}
	if a.resident {
		if len(b) < 24 {
			return nil, corruptf("resident header truncated")
		}
		vlen := int(binary.LittleEndian.Uint32(b[16:]))
		voff := int(binary.LittleEndian.Uint16(b[20:]))
		if vlen < 0 || voff > len(b) || vlen > len(b)-voff {
			return nil, corruptf("resident value (offset %d, length %d) out of bounds", voff, vlen)
		}
		a.value = append([]byte(nil), b[voff:voff+vlen]...)
		return a, nil
	}
	if len(b) < 64 {
		return nil, corruptf("non-resident header truncated")
	}
	a.startVCN = int64(binary.LittleEndian.Uint64(b[16:]))
	a.lastVCN = int64(binary.LittleEndian.Uint64(b[24:]))
	runOff := int(binary.LittleEndian.Uint16(b[32:]))
	cu := binary.LittleEndian.Uint16(b[34:])
	a.allocSize = int64(binary.LittleEndian.Uint64(b[40:]))
	a.dataSize = int64(binary.LittleEndian.Uint64(b[48:]))
	a.initSize = int64(binary.LittleEndian.Uint64(b[56:]))
	if cu > 16 {
		return nil, corruptf("compression unit 2^%d clusters out of range", cu)
	}
	a.compUnit = uint8(cu)
	if a.startVCN < 0 || a.lastVCN < -1 || a.lastVCN < a.startVCN-1 || a.lastVCN > maxVCN {
		return nil, corruptf("VCN range %d..%d invalid", a.startVCN, a.lastVCN)
	}
	if a.startVCN == 0 {
		if a.dataSize < 0 || a.dataSize > maxStreamSize || a.allocSize < 0 || a.initSize < 0 {
			return nil, corruptf("sizes (allocated %d, data %d, initialized %d) invalid",
				a.allocSize, a.dataSize, a.initSize)
		}
		if a.initSize > a.dataSize {
			a.initSize = a.dataSize
		}
	}
	if runOff < 64 || runOff > len(b) {
		return nil, corruptf("runlist offset %d out of bounds", runOff)
	}
	runs, err := decodeRunlist(b[runOff:], a.startVCN, a.lastVCN, totalClusters)
	if err != nil {
		return nil, err
	}
	a.runs = runs
	return a, nil
}

// decodeUTF16 converts little-endian UTF-16 to a string. Unpaired
// surrogates become U+FFFD.
func decodeUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// fileName is a decoded $FILE_NAME value (also the key of $I30 entries).
type fileName struct {
	parent    uint64
	name      string
	namespace uint8
}

// File name namespaces.
const (
	nsPOSIX    = 0
	nsWin32    = 1
	nsDOS      = 2
	nsWin32DOS = 3
)

func parseFileName(b []byte) (fileName, error) {
	if len(b) < 0x42 {
		return fileName{}, corruptf("$FILE_NAME too short (%d bytes)", len(b))
	}
	n := int(b[0x40])
	if 0x42+2*n > len(b) {
		return fileName{}, corruptf("$FILE_NAME name length %d exceeds value", n)
	}
	return fileName{
		parent:    binary.LittleEndian.Uint64(b) & refMask,
		namespace: b[0x41],
		name:      decodeUTF16(b[0x42 : 0x42+2*n]),
	}, nil
}

// refMask selects the record number of a 64-bit MFT reference.
const refMask = 1<<48 - 1
