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

func parseBlobTable(buf []byte, fileSize int64) ([]*blob, error) {
	if len(buf)%blobEntrySize != 0 {
		return nil, formatErr("blob table size %d is not a multiple of %d", len(buf), blobEntrySize)
	}
	blobs := make([]*blob, 0, len(buf)/blobEntrySize)
	for i := 0; i+blobEntrySize <= len(buf); i += blobEntrySize {
		e := buf[i:]
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
			return nil, formatErr("blob table entry %d uses a solid resource; solid WIMs (wimlib --solid, ESD) are not supported", i/blobEntrySize)
		}
		if err := checkBounds("blob "+hex.EncodeToString(bl.hash[:]), bl.res, fileSize); err != nil {
			return nil, err
		}
		blobs = append(blobs, bl)
	}
	return blobs, nil
}
