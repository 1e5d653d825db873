package images

import (
	"fmt"
	"io"
	"sort"
)

// BlobRef names a stream an image refers to: its SHA-1 and uncompressed
// size. It is what a client sends the image store to learn which data the
// store already has.
type BlobRef struct {
	Hash [20]byte
	Size int64
}

// ImageBlobs returns the distinct non-empty streams image index (1-based)
// refers to, in the order their resources lie in the file. A stream the
// image names but the blob table lacks is an error naming its file.
func (r *Reader) ImageBlobs(index int) ([]BlobRef, error) {
	list, _, err := r.imageBlobs(index)
	if err != nil {
		return nil, err
	}
	out := make([]BlobRef, len(list))
	for i, b := range list {
		out[i] = BlobRef{Hash: b.hash, Size: int64(b.res.Size)}
	}
	return out, nil
}

// imageBlobs returns the blobs image index refers to, sorted by offset,
// and the number of references to each.
func (r *Reader) imageBlobs(index int) ([]*blob, map[[20]byte]uint32, error) {
	img, err := r.Image(index)
	if err != nil {
		return nil, nil, err
	}
	refs := map[[20]byte]uint32{}
	var list []*blob
	err = Walk(img.Root, func(d *Dentry) error {
		for _, s := range d.Streams {
			if s.Hash == zeroHash {
				continue
			}
			b, ok := r.blobs[s.Hash]
			if !ok {
				return fmt.Errorf("image %d: %s: stream %x is not in the blob table", index, d.Path(), s.Hash)
			}
			if refs[s.Hash] == 0 {
				list = append(list, b)
			}
			refs[s.Hash]++
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].res.Offset < list[j].res.Offset })
	return list, refs, nil
}

// Delta is a WIM made from one image of another WIM with only some of its
// streams: the image's metadata and XML, and the chosen streams'
// resources copied byte for byte (still compressed). An image store that
// has the other streams completes it. Its bytes are a pure function of
// the source WIM and the chosen streams, so a client that resumes an
// upload can produce them again from any offset (ReadAt) without keeping a
// copy.
//
// Layout: header; the chosen resources in source file order; the metadata
// resource; the blob table (streams, then metadata); the XML data. There
// is no integrity table: the receiver checks every stream's SHA-1.
type Delta struct {
	src     io.ReaderAt
	size    int64
	segs    []deltaSeg
	blobs   int
	payload int64
}

// deltaSeg is a run of the delta's bytes: generated (data) or copied from
// the source at srcOff.
type deltaSeg struct {
	off, n int64
	data   []byte
	srcOff int64
}

// PlanDelta lays out the delta WIM of image index that holds the streams
// for which include returns true. The reader must stay open while the
// Delta is read.
func (r *Reader) PlanDelta(index int, include func(BlobRef) bool) (*Delta, error) {
	list, refs, err := r.imageBlobs(index)
	if err != nil {
		return nil, err
	}
	if r.hdr.TotalParts != 1 {
		return nil, fmt.Errorf("a delta cannot be made from part %d of a %d-part (split) WIM", r.hdr.PartNumber, r.hdr.TotalParts)
	}
	d := &Delta{src: r.f}
	pos := int64(headerSize)
	var table []*blob
	add := func(b *blob) {
		nb := *b
		nb.res.Offset = uint64(pos)
		nb.part = 1
		d.segs = append(d.segs, deltaSeg{off: pos, n: int64(b.res.StoredSize), srcOff: int64(b.res.Offset)})
		pos += int64(b.res.StoredSize)
		table = append(table, &nb)
	}
	for _, b := range list {
		if !include(BlobRef{Hash: b.hash, Size: int64(b.res.Size)}) {
			continue
		}
		add(b)
		table[len(table)-1].refcnt = refs[b.hash]
		d.blobs++
		d.payload += int64(b.res.StoredSize)
	}
	meta := r.metas[index-1]
	add(meta)
	table[len(table)-1].refcnt = 1

	hdr := header{
		Flags:      compressionFlags(r.comp),
		ChunkSize:  r.hdr.ChunkSize,
		GUID:       r.hdr.GUID,
		PartNumber: 1,
		TotalParts: 1,
		ImageCount: 1,
	}
	if r.hdr.BootIndex == uint32(index) {
		hdr.BootIndex = 1
		hdr.BootMeta = table[len(table)-1].res
	}
	tbl := marshalBlobTable(table)
	hdr.BlobTable = resHdr{StoredSize: uint64(len(tbl)), Flags: resFlagMetadata, Offset: uint64(pos), Size: uint64(len(tbl))}
	d.segs = append(d.segs, deltaSeg{off: pos, n: int64(len(tbl)), data: tbl})
	pos += int64(len(tbl))
	info := r.images[index-1]
	info.Index = 1
	x := marshalXML([]ImageInfo{info}, uint64(pos))
	hdr.XML = resHdr{StoredSize: uint64(len(x)), Offset: uint64(pos), Size: uint64(len(x))}
	d.segs = append(d.segs, deltaSeg{off: pos, n: int64(len(x)), data: x})
	pos += int64(len(x))
	d.segs = append([]deltaSeg{{off: 0, n: headerSize, data: hdr.marshal()}}, d.segs...)
	d.size = pos
	return d, nil
}

// Size returns the delta's length in bytes.
func (d *Delta) Size() int64 { return d.size }

// BlobCount returns how many streams the delta holds.
func (d *Delta) BlobCount() int { return d.blobs }

// PayloadSize returns the stored (compressed) bytes of the delta's
// streams, its metadata resource not counted.
func (d *Delta) PayloadSize() int64 { return d.payload }

// ReadAt reads the delta's bytes at off, as io.ReaderAt.
func (d *Delta) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("delta: negative offset %d", off)
	}
	if off >= d.size {
		return 0, io.EOF
	}
	i := sort.Search(len(d.segs), func(i int) bool { return d.segs[i].off+d.segs[i].n > off })
	n := 0
	for n < len(p) && i < len(d.segs) {
		s := d.segs[i]
		rel := off + int64(n) - s.off
		want := min(int64(len(p)-n), s.n-rel)
		if s.data != nil {
			copy(p[n:], s.data[rel:rel+want])
		} else if m, err := d.src.ReadAt(p[n:n+int(want)], s.srcOff+rel); m < int(want) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n + m, fmt.Errorf("delta: read source at %d: %w", s.srcOff+rel+int64(m), err)
		}
		n += int(want)
		i++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
