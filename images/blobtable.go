package images

import (
	"encoding/binary"
	"encoding/hex"
)

// blob is one entry of the blob (lookup) table: a stored stream, or an
// image's metadata resource.
type blob struct {
	res    resHdr
	part   uint16
	refcnt uint32
	hash   [20]byte
}

func (b *blob) metadata() bool { return b.res.Flags&resFlagMetadata != 0 }

func marshalBlobTable(blobs []*blob) []byte {
	out := make([]byte, len(blobs)*blobEntrySize)
	for i, bl := range blobs {
		e := out[i*blobEntrySize:]
		bl.res.put(e)
		binary.LittleEndian.PutUint16(e[24:], bl.part)
		binary.LittleEndian.PutUint32(e[26:], bl.refcnt)
		copy(e[30:50], bl.hash[:])
	}
	return out
}

// parseBlobTable decodes the blob table of a file of fileSize bytes. Every
// entry must be one this package could have written or read back: part 1,
// inside the file, an uncompressed resource exactly as large as it claims,
// and, for a metadata resource, a reference count of 1 (0 marks an unused
// entry, which is left out as wimlib and DISM do).
func parseBlobTable(buf []byte, fileSize int64) ([]*blob, error) {
	if len(buf)%blobEntrySize != 0 {
		return nil, formatErr("blob table size %d is not a multiple of %d", len(buf), blobEntrySize)
	}
	blobs := make([]*blob, 0, len(buf)/blobEntrySize)
	for i := 0; i+blobEntrySize <= len(buf); i += blobEntrySize {
		e := buf[i:]
		n := i / blobEntrySize
		bl := &blob{
			res:    getResHdr(e),
			part:   binary.LittleEndian.Uint16(e[24:]),
			refcnt: binary.LittleEndian.Uint32(e[26:]),
		}
		copy(bl.hash[:], e[30:50])
		if bl.res.Flags&resFlagFree != 0 {
			continue
		}
		if bl.res.Flags&resFlagSolid != 0 {
			return nil, formatErr("blob table entry %d uses a solid resource; solid WIMs (wimlib --solid, ESD) are not supported", n)
		}
		if bl.res.Flags&resFlagSpanned != 0 {
			return nil, formatErr("blob table entry %d is flagged as spanning parts of a split WIM", n)
		}
		if bl.part != 1 {
			return nil, formatErr("blob table entry %d is in part %d of a WIM that has only part 1", n, bl.part)
		}
		if !bl.res.compressed() && bl.res.StoredSize != bl.res.Size {
			return nil, formatErr("blob table entry %d: uncompressed resource stores %d bytes but claims %d", n, bl.res.StoredSize, bl.res.Size)
		}
		if bl.res.Size == 0 || bl.hash == zeroHash {
			if bl.metadata() {
				return nil, formatErr("blob table entry %d: a metadata resource with %d bytes and SHA-1 %x", n, bl.res.Size, bl.hash)
			}
			// Empty streams need no entry and the zero hash is theirs;
			// such an entry is ignored, as wimlib ignores it.
			continue
		}
		if bl.metadata() {
			if bl.refcnt == 0 {
				continue
			}
			if bl.refcnt != 1 {
				return nil, formatErr("metadata resource (blob table entry %d) has reference count %d, want 1", n, bl.refcnt)
			}
		}
		if err := checkBounds("blob "+hex.EncodeToString(bl.hash[:]), bl.res, fileSize); err != nil {
			return nil, err
		}
		blobs = append(blobs, bl)
	}
	return blobs, nil
}
