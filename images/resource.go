package images

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// chunkEntrySize is 4 for resources up to 4 GiB and 8 above.
func chunkEntrySize(size uint64) int {
	if size <= 0xFFFFFFFF {
		return 4
	}
	return 8
}

func numChunks(size uint64) uint64 { return (size + ChunkSize - 1) / ChunkSize }

// resourceReader reads one resource from start to end, decompressing chunk
// by chunk.
type resourceReader struct {
	r      io.ReaderAt
	res    resHdr
	dec    chunkDecompressor
	what   string
	starts []uint64 // chunk offsets relative to dataStart, plus the end
	data   int64    // file offset of chunk 0
	next   uint64   // next chunk to decode
	buf    []byte   // decoded bytes of the current chunk not yet returned
	raw    []byte   // compressed data read ahead: rawLen bytes from chunk data offset rawOff
	rawOff uint64
	rawLen uint64
	pos    uint64   // uncompressed bytes returned so far
	sc     *scratch // for WriteTo's buffer, if any
}

// readAhead is how many bytes of compressed chunks a resourceReader reads
// at once (a read per chunk made the system calls a tenth of a verify's
// CPU time).
const readAhead = 256 << 10

// scratch is a decompressor (which decodes into a buffer of its own) and
// a buffer for the compressed chunks that a goroutine reading many
// resources reuses.
type scratch struct {
	dec chunkDecompressor
	raw []byte
	big []byte // WriteTo's buffer for uncompressed resources, made on first use
}

func newScratch(comp Compression) (*scratch, error) {
	return newScratchSize(comp, readAhead)
}

// newScratchSize is newScratch reading ahead rawSize (at least ChunkSize)
// bytes.
func newScratchSize(comp Compression, rawSize int) (*scratch, error) {
	s := &scratch{raw: make([]byte, max(rawSize, ChunkSize))}
	if comp != CompressNone {
		dec, err := newDecompressor(comp)
		if err != nil {
			return nil, err
		}
		s.dec = dec
	}
	return s, nil
}

// openResource prepares to read res; what names it in errors.
func openResource(r io.ReaderAt, res resHdr, comp Compression, what string) (*resourceReader, error) {
	return openResourceWith(r, res, comp, what, nil)
}

// openResourceWith is openResource with reusable scratch (nil: allocate).
func openResourceWith(r io.ReaderAt, res resHdr, comp Compression, what string, sc *scratch) (*resourceReader, error) {
	rr := &resourceReader{r: r, res: res, what: what, sc: sc}
	if !res.compressed() {
		if res.StoredSize != res.Size {
			return nil, formatErr("%s: uncompressed resource stores %d bytes but claims %d", what, res.StoredSize, res.Size)
		}
		return rr, nil
	}
	if comp == CompressNone {
		return nil, formatErr("%s: resource is flagged compressed in a WIM without compression", what)
	}
	if sc == nil || sc.dec == nil {
		var err error
		// For this resource alone: no more read-ahead than it has.
		if sc, err = newScratchSize(comp, int(min(res.StoredSize, readAhead))); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	rr.dec = sc.dec
	n := numChunks(res.Size)
	es := uint64(chunkEntrySize(res.Size))
	tbl := (n - 1) * es
	if n == 0 || tbl > res.StoredSize || n > res.StoredSize {
		return nil, formatErr("%s: %d chunks cannot fit in %d stored bytes", what, n, res.StoredSize)
	}
	raw := make([]byte, tbl)
	if _, err := r.ReadAt(raw, int64(res.Offset)); err != nil {
		return nil, fmt.Errorf("%s: read chunk table at offset %d: %w", what, res.Offset, err)
	}
	dataSize := res.StoredSize - tbl
	rr.starts = make([]uint64, n+1)
	for i := uint64(1); i < n; i++ {
		if es == 4 {
			rr.starts[i] = uint64(binary.LittleEndian.Uint32(raw[(i-1)*4:]))
		} else {
			rr.starts[i] = binary.LittleEndian.Uint64(raw[(i-1)*8:])
		}
	}
	rr.starts[n] = dataSize
	for i := uint64(0); i < n; i++ {
		if rr.starts[i+1] <= rr.starts[i] || rr.starts[i+1]-rr.starts[i] > ChunkSize || rr.starts[i+1] > dataSize {
			return nil, formatErr("%s: chunk table entry %d is invalid (chunk %d-%d of %d data bytes)", what, i, rr.starts[i], rr.starts[i+1], dataSize)
		}
	}
	rr.data = int64(res.Offset + tbl)
	rr.raw = sc.raw
	return rr, nil
}

func (rr *resourceReader) Read(p []byte) (int, error) {
	if rr.pos >= rr.res.Size {
		return 0, io.EOF
	}
	if rr.dec == nil {
		n := min(uint64(len(p)), rr.res.Size-rr.pos)
		m, err := rr.r.ReadAt(p[:n], int64(rr.res.Offset+rr.pos))
		rr.pos += uint64(m)
		if err != nil && !(errors.Is(err, io.EOF) && uint64(m) == n) {
			return m, fmt.Errorf("%s: read at offset %d: %w", rr.what, rr.res.Offset+rr.pos, err)
		}
		return m, nil
	}
	if len(rr.buf) == 0 {
		if err := rr.decodeChunk(); err != nil {
			return 0, err
		}
	}
	n := copy(p, rr.buf)
	rr.buf = rr.buf[n:]
	rr.pos += uint64(n)
	return n, nil
}

// WriteTo writes the rest of the resource to w (io.Copy uses it): each
// decoded chunk as it stands in the chunk buffer, with no copy, and an
// uncompressed resource in 256 KiB reads.
func (rr *resourceReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if rr.dec == nil {
		var buf []byte
		switch {
		case rr.sc == nil:
			buf = make([]byte, min(rr.res.Size-rr.pos, 256<<10))
		case rr.sc.big == nil:
			rr.sc.big = make([]byte, 256<<10)
			fallthrough
		default:
			buf = rr.sc.big
		}
		for {
			m, err := rr.Read(buf)
			if m > 0 {
				n, werr := w.Write(buf[:m])
				total += int64(n)
				if werr != nil {
					return total, werr
				}
			}
			if err == io.EOF || m == 0 && err == nil {
				return total, nil
			}
			if err != nil {
				return total, err
			}
		}
	}
	for rr.pos < rr.res.Size {
		if len(rr.buf) == 0 {
			if err := rr.decodeChunk(); err != nil {
				return total, err
			}
		}
		n, err := w.Write(rr.buf)
		total += int64(n)
		rr.buf = rr.buf[n:]
		rr.pos += uint64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (rr *resourceReader) decodeChunk() error {
	i := rr.next
	usize := min(uint64(ChunkSize), rr.res.Size-i*ChunkSize)
	s, e := rr.starts[i], rr.starts[i+1]
	csize := e - s
	if s < rr.rawOff || e > rr.rawOff+rr.rawLen {
		// Read this chunk and as many of the next as fit (openResource
		// checked that the chunks lie in order within the data). An
		// error past this chunk is left for the chunk it hits.
		n := min(uint64(len(rr.raw)), rr.starts[len(rr.starts)-1]-s)
		m, err := rr.r.ReadAt(rr.raw[:n], rr.data+int64(s))
		if uint64(m) < csize {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("%s: read chunk %d at offset %d: %w", rr.what, i, rr.data+int64(s), err)
		}
		rr.rawOff, rr.rawLen = s, uint64(m)
	}
	raw := rr.raw[s-rr.rawOff : e-rr.rawOff]
	var out []byte
	switch {
	case csize == usize:
		out = raw // stored as is
	case csize > usize:
		return formatErr("%s: chunk %d stores %d bytes for %d", rr.what, i, csize, usize)
	default:
		var err error
		if out, err = rr.dec.Decode(raw, int(usize)); err != nil {
			return fmt.Errorf("%w: %s: chunk %d (at offset %d) does not decompress: %v", ErrFormat, rr.what, i, rr.data+int64(rr.starts[i]), err)
		}
	}
	rr.buf = out
	rr.next++
	return nil
}

// readResource reads a whole (small) resource into memory, refusing sizes
// above limit.
func readResource(r io.ReaderAt, res resHdr, comp Compression, what string, limit uint64) ([]byte, error) {
	if res.Size > limit {
		return nil, formatErr("%s claims %d bytes, more than the %d allowed", what, res.Size, limit)
	}
	rr, err := openResource(r, res, comp, what)
	if err != nil {
		return nil, err
	}
	// Grow with the data actually decoded, so a size field that lies costs
	// no more memory than the data behind it.
	var buf bytes.Buffer
	buf.Grow(int(min(res.Size, 1<<20)))
	n, err := io.Copy(&buf, rr)
	if err != nil {
		return nil, err
	}
	if uint64(n) != res.Size {
		return nil, formatErr("%s: decoded %d bytes, want %d", what, n, res.Size)
	}
	return buf.Bytes(), nil
}
