package images

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sizes and constants of the WIM on-disk format.
const (
	headerSize      = 208
	wimVersion      = 0x10d00
	reshdrSize      = 24
	blobEntrySize   = 50
	integrityChunk  = 10 * 1024 * 1024
	maxResourceSize = 1<<56 - 1
)

var wimMagic = [8]byte{'M', 'S', 'W', 'I', 'M', 0, 0, 0}

// Header flags (WIM_HDR_FLAG_*).
const (
	hdrFlagCompression     = 0x00000002
	hdrFlagReadOnly        = 0x00000004
	hdrFlagSpanned         = 0x00000008
	hdrFlagResourceOnly    = 0x00000010
	hdrFlagMetadataOnly    = 0x00000020
	hdrFlagWriteInProgress = 0x00000040
	hdrFlagRPFix           = 0x00000080
	hdrFlagXPRESS          = 0x00020000
	hdrFlagLZX             = 0x00040000
	hdrFlagLZMS            = 0x00080000
	hdrFlagXPRESS2         = 0x00200000
)

// Resource header flags (WIM_RESHDR_FLAG_*).
const (
	resFlagFree       = 0x01
	resFlagMetadata   = 0x02
	resFlagCompressed = 0x04
	resFlagSpanned    = 0x08
	resFlagSolid      = 0x10
)

// ErrFormat is wrapped by every error that reports a malformed WIM file.
var ErrFormat = errors.New("malformed WIM")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// resHdr locates a resource in the file.
type resHdr struct {
	StoredSize uint64 // bytes in the file (56 bits)
	Flags      uint8
	Offset     uint64
	Size       uint64 // uncompressed size
}

func (r resHdr) put(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], r.StoredSize&maxResourceSize|uint64(r.Flags)<<56)
	binary.LittleEndian.PutUint64(b[8:], r.Offset)
	binary.LittleEndian.PutUint64(b[16:], r.Size)
}

func getResHdr(b []byte) resHdr {
	v := binary.LittleEndian.Uint64(b[0:])
	return resHdr{
		StoredSize: v & maxResourceSize,
		Flags:      uint8(v >> 56),
		Offset:     binary.LittleEndian.Uint64(b[8:]),
		Size:       binary.LittleEndian.Uint64(b[16:]),
	}
}

func (r resHdr) compressed() bool { return r.Flags&resFlagCompressed != 0 }

// header is the 208-byte WIM file header.
type header struct {
	Flags      uint32
	ChunkSize  uint32
	GUID       [16]byte
	PartNumber uint16
	TotalParts uint16
	ImageCount uint32
	BlobTable  resHdr
	XML        resHdr
	BootMeta   resHdr
	BootIndex  uint32
	Integrity  resHdr
}

func (h *header) marshal() []byte {
	b := make([]byte, headerSize)
	copy(b, wimMagic[:])
	binary.LittleEndian.PutUint32(b[0x08:], headerSize)
	binary.LittleEndian.PutUint32(b[0x0C:], wimVersion)
	binary.LittleEndian.PutUint32(b[0x10:], h.Flags)
	binary.LittleEndian.PutUint32(b[0x14:], h.ChunkSize)
	copy(b[0x18:], h.GUID[:])
	binary.LittleEndian.PutUint16(b[0x28:], h.PartNumber)
	binary.LittleEndian.PutUint16(b[0x2A:], h.TotalParts)
	binary.LittleEndian.PutUint32(b[0x2C:], h.ImageCount)
	h.BlobTable.put(b[0x30:])
	h.XML.put(b[0x48:])
	h.BootMeta.put(b[0x60:])
	binary.LittleEndian.PutUint32(b[0x78:], h.BootIndex)
	h.Integrity.put(b[0x7C:])
	return b
}

// compression returns the compression type the header declares. Exactly
// one known type flag must accompany the compression flag, and none may
// appear without it: wimlib and DISM never write anything else, and a
// reader that picked one of two flags would decode data the writer did not
// mean.
func (h *header) compression() (Compression, error) {
	types := h.Flags & (hdrFlagXPRESS | hdrFlagLZX | hdrFlagLZMS | hdrFlagXPRESS2)
	if h.Flags&hdrFlagCompression == 0 {
		if types != 0 {
			return 0, formatErr("header names a compression type but lacks the compression flag (flags %#x)", h.Flags)
		}
		return CompressNone, nil
	}
	switch types {
	case hdrFlagXPRESS:
		return CompressXPRESS, nil
	case hdrFlagLZX:
		return CompressLZX, nil
	case hdrFlagLZMS:
		return 0, fmt.Errorf("LZMS compression is not supported (header flags %#x)", h.Flags)
	case 0:
		return 0, formatErr("header says compressed but names no known compression type (flags %#x)", h.Flags)
	}
	return 0, formatErr("header names more than one compression type, or an unknown one (flags %#x)", h.Flags)
}

func compressionFlags(c Compression) uint32 {
	switch c {
	case CompressXPRESS:
		return hdrFlagCompression | hdrFlagXPRESS
	case CompressLZX:
		return hdrFlagCompression | hdrFlagLZX
	}
	return 0
}

// parseHeader decodes and validates a WIM header. fileSize bounds every
// resource it names. It refuses at least everything wimlib refuses when it
// opens a WIM (read_wim_header and the open checks of wimlib 1.13), and
// more: fields wimlib corrects or ignores with a warning are errors here,
// because a verifier that the image store trusts must not pass a file that
// another reader takes differently.
func parseHeader(b []byte, fileSize int64) (*header, error) {
	if len(b) < headerSize {
		return nil, formatErr("file is %d bytes, shorter than the %d-byte WIM header", len(b), headerSize)
	}
	if [8]byte(b[0:8]) != wimMagic {
		return nil, formatErr("bad magic %q at offset 0 (want \"MSWIM\\0\\0\\0\"): not a WIM file", b[0:8])
	}
	if hs := binary.LittleEndian.Uint32(b[0x08:]); hs != headerSize {
		return nil, formatErr("header size field is %d, want %d", hs, headerSize)
	}
	if v := binary.LittleEndian.Uint32(b[0x0C:]); v != wimVersion {
		return nil, formatErr("unsupported WIM version %#x (want %#x)", v, wimVersion)
	}
	h := &header{
		Flags:      binary.LittleEndian.Uint32(b[0x10:]),
		ChunkSize:  binary.LittleEndian.Uint32(b[0x14:]),
		PartNumber: binary.LittleEndian.Uint16(b[0x28:]),
		TotalParts: binary.LittleEndian.Uint16(b[0x2A:]),
		ImageCount: binary.LittleEndian.Uint32(b[0x2C:]),
		BlobTable:  getResHdr(b[0x30:]),
		XML:        getResHdr(b[0x48:]),
		BootMeta:   getResHdr(b[0x60:]),
		BootIndex:  binary.LittleEndian.Uint32(b[0x78:]),
		Integrity:  getResHdr(b[0x7C:]),
	}
	copy(h.GUID[:], b[0x18:0x28])
	if h.Flags&hdrFlagSpanned != 0 || h.TotalParts > 1 {
		return nil, fmt.Errorf("split (spanned) WIMs are not supported: part %d of %d", h.PartNumber, h.TotalParts)
	}
	if h.PartNumber != 1 || h.TotalParts != 1 {
		return nil, formatErr("invalid part number %d of %d (a WIM that is not split is part 1 of 1)", h.PartNumber, h.TotalParts)
	}
	comp, err := h.compression()
	if err != nil {
		return nil, err
	}
	switch {
	case comp == CompressNone && h.ChunkSize != 0:
		return nil, formatErr("chunk size %d in an uncompressed WIM (want 0)", h.ChunkSize)
	case comp != CompressNone && h.ChunkSize != ChunkSize:
		if h.ChunkSize == 0 || h.ChunkSize&(h.ChunkSize-1) != 0 {
			return nil, formatErr("invalid chunk size %d for %v compression", h.ChunkSize, comp)
		}
		return nil, fmt.Errorf("unsupported chunk size %d (only %d is supported)", h.ChunkSize, ChunkSize)
	}
	if h.ImageCount > maxImages {
		return nil, formatErr("image count %d is implausible (at most %d)", h.ImageCount, maxImages)
	}
	if h.BlobTable.StoredSize == 0 && h.XML.StoredSize == 0 {
		return nil, formatErr("the header has neither a blob table nor XML data: the WIM was never completed")
	}
	// The blob table, XML data and integrity table are stored
	// uncompressed, each exactly as large as it says.
	for _, r := range []struct {
		name     string
		hdr      resHdr
		optional bool
	}{{"blob table", h.BlobTable, false}, {"XML data", h.XML, false}, {"integrity table", h.Integrity, true}} {
		if r.optional && r.hdr.Offset == 0 && r.hdr.StoredSize == 0 && r.hdr.Size == 0 {
			continue
		}
		if r.hdr.Flags&^resFlagMetadata != 0 {
			return nil, formatErr("the %s has resource flags %#x; it is always stored whole and uncompressed", r.name, r.hdr.Flags)
		}
		if r.hdr.Size != r.hdr.StoredSize {
			return nil, formatErr("the %s claims %d bytes but stores %d", r.name, r.hdr.Size, r.hdr.StoredSize)
		}
		if err := checkBounds(r.name, r.hdr, fileSize); err != nil {
			return nil, err
		}
	}
	if h.BootMeta != (resHdr{}) {
		if err := checkBounds("boot metadata", h.BootMeta, fileSize); err != nil {
			return nil, err
		}
	}
	if h.BootIndex > h.ImageCount {
		return nil, formatErr("boot index %d is beyond the image count %d", h.BootIndex, h.ImageCount)
	}
	return h, nil
}

// maxImages bounds the image count of a header (wimlib's limit is far
// higher; no real WIM holds more than a few dozen images).
const maxImages = 1 << 16

func checkBounds(what string, r resHdr, fileSize int64) error {
	end := r.Offset + r.StoredSize
	if r.Offset < headerSize || end < r.Offset || end > uint64(fileSize) {
		return formatErr("%s at offset %d (%d bytes) lies outside the %d-byte file (truncated WIM?)", what, r.Offset, r.StoredSize, fileSize)
	}
	return nil
}
