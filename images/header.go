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

// compression returns the compression type the header declares.
func (h *header) compression() (Compression, error) {
	if h.Flags&hdrFlagCompression == 0 {
		return CompressNone, nil
	}
	switch {
	case h.Flags&hdrFlagXPRESS != 0:
		return CompressXPRESS, nil
	case h.Flags&hdrFlagLZX != 0:
		return CompressLZX, nil
	case h.Flags&hdrFlagLZMS != 0:
		return 0, fmt.Errorf("LZMS compression is not supported (header flags %#x)", h.Flags)
	}
	return 0, formatErr("header says compressed but names no known compression type (flags %#x)", h.Flags)
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
// resource it names.
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
	if v := binary.LittleEndian.Uint32(b[0x0C:]); v != wimVersion && v != 0x10b00 {
		return nil, formatErr("unsupported WIM version %#x", v)
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
	if _, err := h.compression(); err != nil {
		return nil, err
	}
	if h.Flags&hdrFlagCompression != 0 && h.ChunkSize != ChunkSize && h.ChunkSize != 0 {
		return nil, fmt.Errorf("unsupported chunk size %d (only %d is supported)", h.ChunkSize, ChunkSize)
	}
	for _, r := range []struct {
		name string
		hdr  resHdr
	}{{"blob table", h.BlobTable}, {"XML data", h.XML}, {"integrity table", h.Integrity}, {"boot metadata", h.BootMeta}} {
		if r.hdr.StoredSize == 0 {
			continue
		}
		if err := checkBounds(r.name, r.hdr, fileSize); err != nil {
			return nil, err
		}
	}
	if h.BootIndex > h.ImageCount {
		return nil, formatErr("boot index %d is beyond the image count %d", h.BootIndex, h.ImageCount)
	}
	return h, nil
}

func checkBounds(what string, r resHdr, fileSize int64) error {
	end := r.Offset + r.StoredSize
	if r.Offset < headerSize || end < r.Offset || end > uint64(fileSize) {
		return formatErr("%s at offset %d (%d bytes) lies outside the %d-byte file (truncated WIM?)", what, r.Offset, r.StoredSize, fileSize)
	}
	return nil
}
