package images

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"io"
)

// computeIntegrity hashes [start, end) of r in 10 MiB chunks and returns the
// encoded integrity table.
func computeIntegrity(r io.ReaderAt, start, end int64) ([]byte, error) {
	n := (end - start + integrityChunk - 1) / integrityChunk
	out := make([]byte, 12+20*n)
	binary.LittleEndian.PutUint32(out[0:], uint32(len(out)))
	binary.LittleEndian.PutUint32(out[4:], uint32(n))
	binary.LittleEndian.PutUint32(out[8:], integrityChunk)
	buf := make([]byte, min(int64(integrityChunk), end-start))
	for i := int64(0); i < n; i++ {
		off := start + i*integrityChunk
		size := min(int64(integrityChunk), end-off)
		if _, err := r.ReadAt(buf[:size], off); err != nil {
			return nil, fmt.Errorf("read bytes %d-%d for the integrity table: %w", off, off+size, err)
		}
		h := sha1.Sum(buf[:size])
		copy(out[12+20*i:], h[:])
	}
	return out, nil
}

// IntegrityError reports a 10 MiB chunk whose SHA-1 does not match the
// integrity table.
type IntegrityError struct {
	Chunk      int
	Start, End int64
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("integrity check failed: chunk %d (bytes %d-%d) does not match its SHA-1 in the integrity table", e.Chunk, e.Start, e.End)
}

// checkIntegrity verifies the integrity table tbl against r.
func checkIntegrity(ctx context.Context, r io.ReaderAt, tbl []byte, start, end int64) error {
	return checkIntegrityProgress(ctx, r, tbl, start, end, nil)
}

// checkIntegrityProgress is checkIntegrity telling progress (if not nil)
// the bytes checked so far and the total.
func checkIntegrityProgress(ctx context.Context, r io.ReaderAt, tbl []byte, start, end int64, progress func(done, total uint64)) error {
	if len(tbl) < 12 {
		return formatErr("integrity table of %d bytes is too short", len(tbl))
	}
	size := binary.LittleEndian.Uint32(tbl[0:])
	n := int64(binary.LittleEndian.Uint32(tbl[4:]))
	chunk := int64(binary.LittleEndian.Uint32(tbl[8:]))
	if uint64(size) != uint64(len(tbl)) || 12+20*n != int64(len(tbl)) {
		return formatErr("integrity table size %d does not match %d entries (%d bytes stored)", size, n, len(tbl))
	}
	if chunk == 0 || (end-start+chunk-1)/chunk != n {
		return formatErr("integrity table has %d entries of %d bytes, but the checked region is %d bytes", n, chunk, end-start)
	}
	// The chunk size comes from the file: hash each chunk in pieces so
	// that a huge one costs no memory.
	buf := make([]byte, min(chunk, end-start, 1<<20))
	for i := int64(0); i < n; i++ {
		off := start + i*chunk
		sz := min(chunk, end-off)
		h := sha1.New()
		for p := off; p < off+sz; {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := min(int64(len(buf)), off+sz-p)
			if _, err := r.ReadAt(buf[:k], p); err != nil {
				return fmt.Errorf("read bytes %d-%d for the integrity check: %w", p, p+k, err)
			}
			h.Write(buf[:k])
			p += k
		}
		if [20]byte(tbl[12+20*i:32+20*i]) != [20]byte(h.Sum(nil)) {
			return &IntegrityError{Chunk: int(i), Start: off, End: off + sz}
		}
		if progress != nil {
			progress(uint64(off+sz-start), uint64(end-start))
		}
	}
	return nil
}
