package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/wdscapture/wdscapture/images"
)

// BlobRecordSize is the size of one record of a dedup query: a 20-byte
// SHA-1 and the stream's uncompressed size as 8 bytes little-endian.
const BlobRecordSize = 28

// ContentTypeBlobList is the Content-Type of a dedup query body.
const ContentTypeBlobList = "application/vnd.wdscapture.blob-list"

// ContentTypeBitmap is the Content-Type of a dedup answer.
const ContentTypeBitmap = "application/vnd.wdscapture.missing-bitmap"

// AppendBlobList encodes refs as a dedup query body.
func AppendBlobList(dst []byte, refs []images.BlobRef) []byte {
	for _, r := range refs {
		dst = append(dst, r.Hash[:]...)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Size))
	}
	return dst
}

// ErrBlobList is wrapped by errors about a malformed blob list.
var ErrBlobList = errors.New("malformed blob list")

// ReadBlobList decodes a dedup query body of length bytes (the request's
// Content-Length; -1 when unknown) from r, reading at most max records.
// Sizes above 2^56 (no WIM resource is larger) are refused.
func ReadBlobList(r io.Reader, length int64, max int) ([]images.BlobRef, error) {
	if length >= 0 {
		if length%BlobRecordSize != 0 {
			return nil, fmt.Errorf("%w: %d bytes is not a whole number of %d-byte records", ErrBlobList, length, BlobRecordSize)
		}
		if length/BlobRecordSize > int64(max) {
			return nil, fmt.Errorf("%w: %d records, more than the %d allowed", ErrBlobList, length/BlobRecordSize, max)
		}
	}
	var out []images.BlobRef
	if length > 0 {
		out = make([]images.BlobRef, 0, length/BlobRecordSize)
	}
	var rec [BlobRecordSize]byte
	for {
		_, err := io.ReadFull(r, rec[:])
		if err == io.EOF {
			break
		}
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: the body ends inside record %d", ErrBlobList, len(out))
		}
		if err != nil {
			return nil, err
		}
		if len(out) == max {
			return nil, fmt.Errorf("%w: more than the %d records allowed", ErrBlobList, max)
		}
		size := binary.LittleEndian.Uint64(rec[20:])
		if size >= 1<<56 {
			return nil, fmt.Errorf("%w: record %d has size %d", ErrBlobList, len(out), size)
		}
		out = append(out, images.BlobRef{Hash: [20]byte(rec[:20]), Size: int64(size)})
	}
	if length >= 0 && int64(len(out))*BlobRecordSize != length {
		return nil, fmt.Errorf("%w: %d bytes announced, %d received", ErrBlobList, length, int64(len(out))*BlobRecordSize)
	}
	return out, nil
}

// Bitmap is the dedup answer: bit i (byte i/8, bit i%8, least significant
// first) is set when the group lacks blob i of the query, which the client
// then puts in its upload.
type Bitmap []byte

// NewBitmap returns an all-clear bitmap for n blobs.
func NewBitmap(n int) Bitmap { return make(Bitmap, (n+7)/8) }

// Set marks blob i as missing.
func (b Bitmap) Set(i int) { b[i/8] |= 1 << (i % 8) }

// Missing reports whether blob i is missing.
func (b Bitmap) Missing(i int) bool { return b[i/8]&(1<<(i%8)) != 0 }

// CheckBitmap checks that b answers a query of n blobs: the right length
// and no bits set past n.
func CheckBitmap(b []byte, n int) error {
	if len(b) != (n+7)/8 {
		return fmt.Errorf("dedup answer of %d bytes for %d blobs (want %d)", len(b), n, (n+7)/8)
	}
	if n%8 != 0 && b[len(b)-1]>>(n%8) != 0 {
		return fmt.Errorf("dedup answer has bits set past blob %d", n)
	}
	return nil
}
