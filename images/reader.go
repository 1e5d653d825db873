package images

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"

	"github.com/wdscapture/wdscapture/internal/fileopen"
)

const maxMetadataSize = 1 << 30 // 1 GiB of dentries is far beyond any real image

// Reader reads a WIM file.
type Reader struct {
	f        io.ReaderAt
	closer   io.Closer // the file Open opened; nil for NewReader
	size     int64
	hdr      *header
	comp     Compression
	blobList []*blob
	blobs    map[[20]byte]*blob
	metas    []*blob
	images   []ImageInfo
}

// Image is one image's metadata: its security descriptors and dentry tree.
type Image struct {
	Info     ImageInfo
	Security [][]byte
	Root     *Dentry
}

// Open opens the WIM at path and reads its header, blob table and XML data.
func Open(path string) (*Reader, error) {
	f, st, err := fileopen.Open(path, "a WIM file", false)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.closer = f
	return r, nil
}

// NewReader reads the header, blob table and XML data of the WIM held in
// the first size bytes of f, which must stay readable while the Reader is
// used. Close does not close f.
func NewReader(f io.ReaderAt, size int64) (*Reader, error) {
	r := &Reader{f: f, size: size, blobs: map[[20]byte]*blob{}}
	var err error
	hb := make([]byte, headerSize)
	n, err := f.ReadAt(hb, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read header: %w", err)
	}
	if r.hdr, err = parseHeader(hb[:n], r.size); err != nil {
		return nil, err
	}
	if r.comp, err = r.hdr.compression(); err != nil {
		return nil, err
	}
	if r.hdr.Flags&hdrFlagWriteInProgress != 0 {
		return nil, formatErr("the WIM is marked as being written (an interrupted write?)")
	}
	tbl := make([]byte, r.hdr.BlobTable.StoredSize)
	if _, err := f.ReadAt(tbl, int64(r.hdr.BlobTable.Offset)); err != nil {
		return nil, fmt.Errorf("read blob table: %w", err)
	}
	if r.blobList, err = parseBlobTable(tbl, r.size); err != nil {
		return nil, err
	}
	for _, b := range r.blobList {
		if b.metadata() {
			r.metas = append(r.metas, b)
		} else if _, dup := r.blobs[b.hash]; !dup {
			r.blobs[b.hash] = b
		}
	}
	if uint32(len(r.metas)) != r.hdr.ImageCount {
		return nil, formatErr("header says %d images but the blob table has %d metadata resources", r.hdr.ImageCount, len(r.metas))
	}
	if r.hdr.XML.StoredSize > 0 {
		if r.hdr.XML.StoredSize > maxXMLSize {
			return nil, formatErr("XML data of %d bytes is larger than the %d allowed", r.hdr.XML.StoredSize, maxXMLSize)
		}
		x := make([]byte, r.hdr.XML.StoredSize)
		if _, err := f.ReadAt(x, int64(r.hdr.XML.Offset)); err != nil {
			return nil, fmt.Errorf("read XML data: %w", err)
		}
		if r.images, err = parseXML(x); err != nil {
			return nil, err
		}
	}
	if len(r.images) != len(r.metas) {
		return nil, formatErr("XML data describes %d images but the WIM has %d", len(r.images), len(r.metas))
	}
	return r, nil
}

// Close closes the file.
func (r *Reader) Close() error {
	if r.closer == nil {
		return nil
	}
	return r.closer.Close()
}

// Compression returns the WIM's compression type.
func (r *Reader) Compression() Compression { return r.comp }

// Images returns the XML information of every image, in index order.
func (r *Reader) Images() []ImageInfo { return append([]ImageInfo(nil), r.images...) }

// BootIndex returns the bootable image's index, or 0.
func (r *Reader) BootIndex() int { return int(r.hdr.BootIndex) }

// GUID returns the WIM's GUID.
func (r *Reader) GUID() [16]byte { return r.hdr.GUID }

// HasIntegrity reports whether the WIM has an integrity table.
func (r *Reader) HasIntegrity() bool { return r.hdr.Integrity != resHdr{} }

// BlobCount returns the number of stream blobs (metadata excluded).
func (r *Reader) BlobCount() int { return len(r.blobs) }

// Image reads the metadata of image index (1-based).
func (r *Reader) Image(index int) (*Image, error) {
	if index < 1 || index > len(r.metas) {
		return nil, fmt.Errorf("image %d does not exist (the WIM has %d)", index, len(r.metas))
	}
	m := r.metas[index-1]
	buf, err := readResource(r.f, m.res, r.comp, fmt.Sprintf("metadata resource of image %d", index), maxMetadataSize)
	if err != nil {
		return nil, err
	}
	if sum := sha1.Sum(buf); sum != m.hash {
		return nil, &MetadataHashError{Image: index, Want: m.hash, Got: sum}
	}
	sec, rootOff, err := parseSecurity(buf)
	if err != nil {
		return nil, fmt.Errorf("image %d: %w", index, err)
	}
	root, err := parseDentryTree(buf, rootOff)
	if err != nil {
		return nil, fmt.Errorf("image %d: %w", index, err)
	}
	return &Image{Info: r.images[index-1], Security: sec, Root: root}, nil
}

// MetadataHashError reports an image whose metadata resource (its file
// names, attributes, security descriptors and stream references) does not
// hash to the SHA-1 the blob table records: the directory tree is damaged.
type MetadataHashError struct {
	Image     int
	Want, Got [20]byte
}

func (e *MetadataHashError) Error() string {
	return fmt.Sprintf("image %d: the metadata resource (directory tree) is damaged: it hashes to %x, the blob table says %x", e.Image, e.Got, e.Want)
}

// Unwrap makes errors.Is(err, ErrFormat) true.
func (e *MetadataHashError) Unwrap() error { return ErrFormat }

// BlobSize returns the uncompressed size of the blob with hash h.
func (r *Reader) BlobSize(h [20]byte) (int64, bool) {
	if h == zeroHash {
		return 0, true
	}
	b, ok := r.blobs[h]
	if !ok {
		return 0, false
	}
	return int64(b.res.Size), true
}

// OpenBlob returns the contents of the stream with SHA-1 h. An all-zero
// hash is the empty stream.
func (r *Reader) OpenBlob(h [20]byte) (io.Reader, int64, error) {
	if h == zeroHash {
		return eofReader{}, 0, nil
	}
	b, ok := r.blobs[h]
	if !ok {
		return nil, 0, fmt.Errorf("blob %x is not in the blob table", h)
	}
	rr, err := openResource(r.f, b.res, r.comp, fmt.Sprintf("blob %x", h))
	if err != nil {
		return nil, 0, err
	}
	return rr, int64(b.res.Size), nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// Walk calls fn for every dentry of the tree in pre-order.
func Walk(root *Dentry, fn func(d *Dentry) error) error {
	if err := fn(root); err != nil {
		return err
	}
	for _, c := range root.Children {
		if err := Walk(c, fn); err != nil {
			return err
		}
	}
	return nil
}
