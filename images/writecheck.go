package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// What Options.Verify proves, and how it stays cheap. A separate pass that
// reads the finished WIM, decompresses every chunk and hashes every
// stream costs as much as a third of the capture. Instead, each step of
// the capture is checked where its data still is:
//
//  1. The SHA-1 of each stream (the name it gets in the blob table) is
//     taken over the very bytes handed to the compressor.
//  2. Every compressed chunk is decompressed and compared with those
//     bytes before it is written (pool.go): by verifier goroutines that
//     take each batch from the compression workers, so that the check
//     overlaps compression while the capture reads and writes.
//  3. Every byte written to the file is read back from the disk,
//     bypassing the page cache, and compared with the byte written
//     (readback.go): the data blocks by the block writer right after
//     each write, the few bytes written through the page cache (chunk
//     tables, the header, the last partial block) once they are synced.
//  4. After the header is synced, the file is opened as any reader opens
//     it: the header, blob table and XML parse, every image's metadata
//     decodes, every stream it names is in the blob table, and the
//     integrity table (when written) matches the data.
//
// Together: reading the file from the disk gives, for every stream, chunks
// that decompress to bytes whose SHA-1 is the one in the blob table. When
// the file system refuses direct I/O (tmpfs, some network file systems),
// step 3 cannot read from the disk; the page cache is then dropped and
// the finished file verified the long way, as Verify does.

// CheckError is a failed check of the WIM being written (Options.Verify):
// a chunk whose compressed form does not give its data back, or bytes
// that, read back from the disk, differ from the bytes written.
type CheckError struct {
	// File is the WIM.
	File string
	// What names the data affected: the source path of a stream, "the
	// blob table", "the header"…
	What string
	// Offset is the file offset of the first bad byte read back, or -1
	// when the compression check failed (nothing wrong was written) or
	// the finished file was verified the long way.
	Offset int64
	Err    error
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("verification of %s failed: %s: %v", e.File, e.What, e.Err)
}

func (e *CheckError) Unwrap() error { return e.Err }

// resName says what the file holds from off on.
type resName struct {
	off  int64
	what string
}

// noteRegion records that what is written from off on (offsets only grow,
// but for a rewind).
func (w *Writer) noteRegion(off int64, what string) {
	if !w.opts.Verify {
		return
	}
	if len(w.names) >= w.namesPrune {
		w.pruneNames()
		w.namesPrune = max(minNamesPrune, 2*len(w.names))
	}
	w.names = append(w.names, resName{off, what})
}

// minNamesPrune is the fewest names kept before pruneNames runs.
const minNamesPrune = 1024

// pruneNames drops the names of regions that no check can fail any more:
// read back from the disk already, with nothing of theirs written through
// the page cache (which checkLate reads back at the end). The last region
// stays: its resource may still be completing. Source paths are most of
// what a capture of many small files would otherwise keep to its end.
func (w *Writer) pruneNames() {
	checked := w.out.checkedTo.Load()
	late := w.out.late
	keep := make([]resName, 0, len(w.names)/4+1)
	li := 0
	for i, r := range w.names {
		if i == len(w.names)-1 {
			keep = append(keep, r)
			break
		}
		end := w.names[i+1].off
		for li < len(late) && late[li].end() <= r.off {
			li++
		}
		if end > checked || (li < len(late) && late[li].off < end) {
			keep = append(keep, r)
		}
	}
	w.names = keep
}

// forgetRegions drops the regions from off on.
func (w *Writer) forgetRegions(off int64) {
	for len(w.names) > 0 && w.names[len(w.names)-1].off >= off {
		w.names = w.names[:len(w.names)-1]
	}
}

// nameAt names what the file holds at off.
func (w *Writer) nameAt(off int64) string {
	if off < headerSize {
		return "the header"
	}
	i := sort.Search(len(w.names), func(i int) bool { return w.names[i].off > off }) - 1
	if i < 0 {
		return fmt.Sprintf("the data at offset %d", off)
	}
	return w.names[i].what
}

// checkError turns a failed read-back within err into a *CheckError naming
// what the bad bytes hold, and returns a *CheckError already in err as it
// is; otherwise nil.
func (w *Writer) checkError(err error) *CheckError {
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce
	}
	var rb *readBackError
	if errors.As(err, &rb) {
		return &CheckError{File: w.path, What: w.nameAt(rb.off), Offset: rb.off, Err: rb}
	}
	return nil
}

// verifyWritten is step 3 for the bytes that went through the page cache,
// and step 4 (see above); the file is complete and synced. On file
// systems without direct I/O it verifies the whole file instead.
func (w *Writer) verifyWritten() error {
	w.prog = Progress{Phase: "verify"}
	w.report()
	ctx := w.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted before the verification finished: %w", err)
	}
	name := w.path
	if !w.appendTo {
		name = w.tmpPath
	}
	direct := !w.out.unchecked.Load()
	if direct {
		if err := w.out.checkLate(); errors.Is(err, errNoDirectRead) {
			direct = false
		} else if err != nil {
			return err
		}
	}
	if fi, err := w.f.Stat(); err != nil {
		return err
	} else if fi.Size() < w.out.pos {
		return &readBackError{off: fi.Size(), short: true}
	}
	// Nothing read back from here on is named by region: let the names,
	// the late pages and the last block go before the file is opened.
	w.names, w.out.late, w.out.cur = nil, nil, nil
	if !direct {
		// Nothing was read back from the disk: drop the cached pages
		// (written and synced, so the kernel can) and decode it all.
		dropCache(w.f)
		r, err := Open(name)
		if err != nil {
			return &CheckError{File: w.path, What: "the WIM", Offset: -1, Err: err}
		}
		defer r.Close()
		var mu sync.Mutex // Verify reports from its goroutines
		err = r.VerifyContext(ctx, VerifyOptions{Threads: w.opts.threads(), Progress: func(done, total uint64) {
			mu.Lock()
			defer mu.Unlock()
			w.prog.BytesDone, w.prog.BytesTotal = max(w.prog.BytesDone, done), total
			w.report()
		}})
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted before the verification finished: %w", ctx.Err())
		}
		if err != nil {
			return &CheckError{File: w.path, What: "the WIM", Offset: -1, Err: err}
		}
		return nil
	}
	r, err := Open(name)
	if err != nil {
		return &CheckError{File: w.path, What: "the WIM", Offset: -1, Err: err}
	}
	defer r.Close()
	if err := r.checkStructure(); err != nil {
		return &CheckError{File: w.path, What: "the WIM", Offset: -1, Err: err}
	}
	return nil
}

// checkStructure is Verify without decoding the streams: the integrity
// table (when present) matches, every image's metadata decodes and every
// stream it names has a blob.
func (r *Reader) checkStructure() error {
	if r.HasIntegrity() {
		tbl := make([]byte, r.hdr.Integrity.StoredSize)
		if _, err := r.f.ReadAt(tbl, int64(r.hdr.Integrity.Offset)); err != nil {
			return fmt.Errorf("read integrity table: %w", err)
		}
		end := int64(r.hdr.BlobTable.Offset + r.hdr.BlobTable.StoredSize)
		if err := checkIntegrity(context.Background(), r.f, tbl, headerSize, end); err != nil {
			return err
		}
	}
	for i := range r.metas {
		img, err := r.Image(i + 1)
		if err != nil {
			return err
		}
		err = Walk(img.Root, func(d *Dentry) error {
			for _, s := range d.Streams {
				if s.Hash == zeroHash {
					continue
				}
				if _, ok := r.blobs[s.Hash]; !ok {
					p := d.Path()
					if s.Name != "" {
						p += ":" + s.Name
					}
					return fmt.Errorf("image %d: %s: stream %x is missing from the blob table", i+1, p, s.Hash)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// dropCache asks the kernel to forget the cached pages of f, so that the
// next reads come from the disk (f must be synced).
func dropCache(f *os.File) {
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
