package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
)

// This file gives callers that move resources between WIMs without
// recompressing them (the image store) what they need to know about a
// WIM's stored resources.

// BlobInfo describes one stored stream (blob) of a WIM.
type BlobInfo struct {
	Hash [20]byte
	// Size is the stream's size; StoredSize what it takes in the file.
	Size, StoredSize uint64
	// Compressed reports whether the resource is stored in compressed chunks.
	Compressed bool
	// RefCount is the reference count the blob table records.
	RefCount uint32
	// Offset is where the resource starts in the file.
	Offset uint64
}

func blobInfo(b *blob) BlobInfo {
	return BlobInfo{Hash: b.hash, Size: b.res.Size, StoredSize: b.res.StoredSize,
		Compressed: b.res.compressed(), RefCount: b.refcnt, Offset: b.res.Offset}
}

// Blobs returns the stream blobs of the WIM (metadata resources excluded),
// in file order.
func (r *Reader) Blobs() []BlobInfo {
	out := make([]BlobInfo, 0, len(r.blobs))
	for _, b := range r.blobs {
		out = append(out, blobInfo(b))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
	return out
}

// Blob returns the stored stream with SHA-1 h.
func (r *Reader) Blob(h [20]byte) (BlobInfo, bool) {
	b, ok := r.blobs[h]
	if !ok {
		return BlobInfo{}, false
	}
	return blobInfo(b), true
}

// MetadataBlob returns the metadata resource of image index (1-based).
func (r *Reader) MetadataBlob(index int) (BlobInfo, error) {
	if index < 1 || index > len(r.metas) {
		return BlobInfo{}, fmt.Errorf("image %d does not exist (the WIM has %d)", index, len(r.metas))
	}
	return blobInfo(r.metas[index-1]), nil
}

// CheckIntegrity checks the integrity table against the data it covers. A
// WIM without one passes; ok reports whether there was one. progress, if
// not nil, is told the bytes checked so far and their total.
func (r *Reader) CheckIntegrity(progress func(done, total uint64)) (ok bool, err error) {
	if !r.HasIntegrity() {
		return false, nil
	}
	if r.hdr.Integrity.StoredSize > 1<<30 {
		return true, formatErr("integrity table of %d bytes is larger than any WIM needs", r.hdr.Integrity.StoredSize)
	}
	tbl := make([]byte, r.hdr.Integrity.StoredSize)
	if _, err := r.f.ReadAt(tbl, int64(r.hdr.Integrity.Offset)); err != nil {
		return true, fmt.Errorf("read integrity table: %w", err)
	}
	end := int64(r.hdr.BlobTable.Offset + r.hdr.BlobTable.StoredSize)
	return true, checkIntegrityProgress(context.Background(), r.f, tbl, headerSize, end, progress)
}

// Size returns the size of the WIM the reader was given.
func (r *Reader) Size() int64 { return r.size }

// ImageStreams returns every stream img refers to, by SHA-1, with
// the number of references (one per dentry stream; hard links count once
// per name, as blob table reference counts do) and the first path that
// refers to it ("image:path[:stream]"). Empty streams are left out.
func ImageStreams(img *Image) map[[20]byte]StreamUse {
	out := map[[20]byte]StreamUse{}
	Walk(img.Root, func(d *Dentry) error {
		for _, s := range d.Streams {
			if s.Hash == zeroHash {
				continue
			}
			u, seen := out[s.Hash]
			if !seen {
				u.Path = d.Path()
				if s.Name != "" {
					u.Path += ":" + s.Name
				}
			}
			u.Refs++
			out[s.Hash] = u
		}
		return nil
	})
	return out
}

// StreamUse says how an image uses one stream.
type StreamUse struct {
	Refs uint32
	Path string // the first path in the image that refers to it
}

// HeaderCompression reads only the header of the WIM in r and returns its
// compression type.
func HeaderCompression(r io.ReaderAt, size int64) (Compression, error) {
	hb := make([]byte, headerSize)
	n, err := r.ReadAt(hb, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read header: %w", err)
	}
	h, err := parseHeader(hb[:n], size)
	if err != nil {
		return 0, err
	}
	return h.compression()
}

// ReadHeaderBytes returns the raw header of the WIM in r, so a caller can
// tell whether a file that is updated in place changed while it read it.
func ReadHeaderBytes(r io.ReaderAt) ([]byte, error) {
	hb := make([]byte, headerSize)
	if _, err := r.ReadAt(hb, 0); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	return hb, nil
}

// CheckMetadata checks that the metadata resource of image index
// decompresses to data with the SHA-1 the blob table records.
func (r *Reader) CheckMetadata(index int) error {
	if index < 1 || index > len(r.metas) {
		return fmt.Errorf("image %d does not exist (the WIM has %d)", index, len(r.metas))
	}
	c, err := newCopier(r.comp)
	if err != nil {
		return err
	}
	_, err = c.copy(context.Background(), r.f, r.metas[index-1], discardAt{}, 0, func(uint64) {}, nil)
	var be *BlobError
	if errors.As(err, &be) {
		be.Metadata = true
	}
	return err
}

// discardAt is an io.WriterAt that keeps nothing.
type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
