package images

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
)

// RawFile is what a RawWriter writes: *os.File satisfies it, and so do
// the image store's files.
type RawFile interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
}

// RawOptions configures a RawWriter.
type RawOptions struct {
	// Threads bounds the goroutines that copy and check resources; 0
	// means GOMAXPROCS.
	Threads int
	// Integrity writes an integrity table at Commit.
	Integrity bool
	// Progress, when set, is called (from several goroutines, never at
	// once) with the stored bytes a CopyBlobs call has copied and its total.
	Progress func(done, total uint64)
	// Known, when set, returns the SHA-256 of a stream's stored bytes as
	// they were when its data was last checked (the image store records
	// it). A stream with one is checked by comparing the copied bytes'
	// SHA-256 with it, which is much cheaper than decompressing; only
	// when they differ is the data itself checked.
	Known func(hash [20]byte, storedSize uint64) ([32]byte, bool)
	// Copied, when set, is called (from several goroutines, never at
	// once) for each stream copied and checked, with the SHA-256 of its
	// stored bytes.
	Copied func(hash [20]byte, storedSize uint64, digest [32]byte)
	// TableSlack leaves room after a blob table written at the end of the
	// file (as much again as the table and a quarter), so that the next
	// append can put its new table there instead of at the end: a file
	// that grows by appends then grows by the new data alone. Appends put
	// their table in any such unused room (never where the current header
	// points) when there is no integrity table to keep at the end.
	TableSlack bool
	// Stage, when set, is called at the steps of a write: "blob" after
	// each resource copied, "tables" once the blob table, XML data and
	// integrity table are written and synced but the header is not, and
	// "header" once the new header is written and synced. The image store
	// uses it to kill itself at each step in its crash tests.
	Stage func(stage string)
}

// RawWriter assembles a WIM from resources copied byte for byte from other
// WIMs of the same compression type: no data is recompressed, and each
// resource's SHA-1 is checked on the bytes copied (decompressed from the
// very buffer that is written). It creates a new WIM (NewRawWriter) or
// adds to an existing one in place (AppendRaw): new data goes after the
// end of what the old header refers to, and the old header stays valid
// until Commit replaces it, so a writer interrupted at any moment leaves
// the old WIM intact.
type RawWriter struct {
	f        RawFile
	opts     RawOptions
	comp     Compression
	hdr      header
	blobs    []*blob // the blob table, in order
	byHash   map[[20]byte]*blob
	metas    []*blob
	images   []ImageInfo
	pos      int64 // end of the data
	start    int64 // where this writer's data begins
	appendTo bool
	done     bool
	// gaps are the ranges of an appended file that its header does not
	// refer to (room left for tables, old tables, interrupted writes'
	// leftovers), by offset.
	gaps []gap
}

// gap is an unreferenced range [off, end) of the file.
type gap struct{ off, end int64 }

// NewRawWriter starts a new WIM in f, which must be empty. The header
// stays all zeros (not a WIM) until Commit.
func NewRawWriter(f RawFile, comp Compression, opts RawOptions) (*RawWriter, error) {
	w := &RawWriter{f: f, opts: opts, comp: comp, byHash: map[[20]byte]*blob{}, pos: headerSize, start: headerSize}
	w.hdr.Flags = compressionFlags(comp)
	if comp != CompressNone {
		w.hdr.ChunkSize = ChunkSize
	}
	w.hdr.PartNumber, w.hdr.TotalParts = 1, 1
	if _, err := rand.Read(w.hdr.GUID[:]); err != nil {
		return nil, fmt.Errorf("random GUID: %w", err)
	}
	if err := f.Truncate(0); err != nil {
		return nil, err
	}
	if _, err := f.WriteAt(make([]byte, headerSize), 0); err != nil {
		return nil, err
	}
	return w, nil
}

// AppendRaw opens the WIM in the first size bytes of f to add resources
// and images to it. Bytes past the end of everything its header refers to
// (left by an earlier writer that was interrupted) are overwritten.
func AppendRaw(f RawFile, size int64, opts RawOptions) (*RawWriter, error) {
	r, err := NewReader(f, size)
	if err != nil {
		return nil, err
	}
	w := &RawWriter{f: f, opts: opts, comp: r.comp, hdr: *r.hdr, byHash: map[[20]byte]*blob{}, appendTo: true}
	w.images = append([]ImageInfo(nil), r.images...)
	used := []gap{{0, headerSize}}
	for _, rh := range []resHdr{r.hdr.BlobTable, r.hdr.XML, r.hdr.Integrity, r.hdr.BootMeta} {
		if rh.StoredSize > 0 {
			used = append(used, gap{int64(rh.Offset), int64(rh.Offset + rh.StoredSize)})
		}
	}
	for _, b := range r.blobList {
		nb := *b
		w.blobs = append(w.blobs, &nb)
		if nb.metadata() {
			w.metas = append(w.metas, &nb)
		} else if _, dup := w.byHash[nb.hash]; !dup {
			w.byHash[nb.hash] = &nb
		}
		used = append(used, gap{int64(nb.res.Offset), int64(nb.res.Offset + nb.res.StoredSize)})
	}
	// New data goes at the end of the file; what lies between the ranges
	// the header refers to (and after the last) is free for the table.
	sort.Slice(used, func(i, j int) bool { return used[i].off < used[j].off })
	var at int64
	for _, u := range used {
		if u.off > at {
			w.gaps = append(w.gaps, gap{at, u.off})
		}
		at = max(at, u.end)
	}
	if size > at {
		w.gaps = append(w.gaps, gap{at, size})
	}
	w.pos, w.start = max(size, at), size
	return w, nil
}

// tableSpot returns where an append can put n bytes of tables without
// growing the file: the first unreferenced range that holds them.
func (w *RawWriter) tableSpot(n int64) (int64, bool) {
	if !w.appendTo || w.opts.Integrity {
		return 0, false
	}
	for _, g := range w.gaps {
		if g.end-g.off >= n {
			return g.off, true
		}
	}
	return 0, false
}

// Compression returns the compression type of the WIM being written.
func (w *RawWriter) Compression() Compression { return w.comp }

// Has reports whether the WIM holds (or will hold) the stream h.
func (w *RawWriter) Has(h [20]byte) bool {
	_, ok := w.byHash[h]
	return ok || h == zeroHash
}

// Images returns the XML information of the images written so far.
func (w *RawWriter) Images() []ImageInfo { return append([]ImageInfo(nil), w.images...) }

// BlobCopy names a stream for CopyBlobs and the references the new
// content adds to it.
type BlobCopy struct {
	Hash [20]byte
	Refs uint32
}

// BlobError reports a resource that cannot be copied: damaged (its data
// does not match its SHA-1, or does not decompress) or missing.
type BlobError struct {
	Hash     [20]byte
	Metadata bool // the metadata resource of an image
	Err      error
}

func (e *BlobError) Error() string {
	what := fmt.Sprintf("stream %x", e.Hash)
	if e.Metadata {
		what = "metadata resource"
	}
	return fmt.Sprintf("%s: %v", what, e.Err)
}

func (e *BlobError) Unwrap() error { return e.Err }

// ErrBlobMissing is wrapped by the BlobError of a stream that the source
// WIM does not hold.
var ErrBlobMissing = errors.New("not in the source WIM")

// copyJob is one resource to copy.
type copyJob struct {
	src  *blob
	dst  *blob
	from *Reader
}

// CopyBlobs adds the streams in list: one the WIM holds already only gains
// references; any other is copied from src as it is stored there, its
// SHA-1 checked on the copied bytes. The first damaged or missing stream
// stops the copy with a *BlobError; the WIM is then unchanged once the
// writer is aborted.
func (w *RawWriter) CopyBlobs(ctx context.Context, src *Reader, list []BlobCopy) error {
	if w.done {
		return errors.New("copy blobs: writer already closed")
	}
	var jobs []copyJob
	for _, c := range list {
		if c.Hash == zeroHash {
			continue
		}
		if b, ok := w.byHash[c.Hash]; ok {
			b.refcnt += c.Refs
			continue
		}
		sb, ok := src.blobs[c.Hash]
		if !ok {
			return &BlobError{Hash: c.Hash, Err: ErrBlobMissing}
		}
		if err := w.canCopy(src, sb); err != nil {
			return &BlobError{Hash: c.Hash, Err: err}
		}
		nb := &blob{res: sb.res, part: 1, refcnt: c.Refs, hash: c.Hash}
		w.byHash[c.Hash] = nb
		jobs = append(jobs, copyJob{src: sb, dst: nb, from: src})
	}
	// Copy in the source's order, so both files are read and written
	// front to back.
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].src.res.Offset < jobs[j].src.res.Offset })
	err := w.copyAll(ctx, jobs)
	for _, j := range jobs {
		w.blobs = append(w.blobs, j.dst)
	}
	return err
}

// canCopy reports whether b of src can be stored in this WIM unchanged.
func (w *RawWriter) canCopy(src *Reader, b *blob) error {
	if b.res.compressed() && src.comp != w.comp {
		return fmt.Errorf("the source stores it %v-compressed and this WIM uses %v; a raw copy needs one compression type", src.comp, w.comp)
	}
	return nil
}

// copyAll places the jobs one after another from pos and copies them with
// a pool of goroutines, each writing its resources at their own offsets.
func (w *RawWriter) copyAll(ctx context.Context, jobs []copyJob) error {
	var total uint64
	for _, j := range jobs {
		j.dst.res.Offset = uint64(w.pos)
		w.pos += int64(j.src.res.StoredSize)
		total += j.src.res.StoredSize
	}
	if len(jobs) == 0 {
		return nil
	}
	threads := w.opts.Threads
	if threads <= 0 {
		threads = (&Options{}).threads()
	}
	threads = min(threads, len(jobs))
	var done atomic.Uint64
	var progMu sync.Mutex
	onBytes := func(n uint64) {
		d := done.Add(n)
		if w.opts.Progress != nil {
			progMu.Lock()
			w.opts.Progress(d, total)
			progMu.Unlock()
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var firstErr error
	var errMu sync.Mutex
	// Write back as the copy goes, so the sync before the header does not
	// wait for all of it: a goroutine syncs whenever syncEvery more bytes
	// have been copied.
	syncNow := make(chan struct{}, 1)
	syncDone := make(chan error, 1)
	go func() {
		var err error
		for range syncNow {
			if err == nil {
				err = w.f.Sync()
			}
		}
		syncDone <- err
	}()
	var unsynced atomic.Uint64
	onBytes0 := onBytes
	onBytes = func(n uint64) {
		onBytes0(n)
		if unsynced.Add(n) >= syncEvery {
			unsynced.Store(0)
			select {
			case syncNow <- struct{}{}:
			default: // a sync is pending already
			}
		}
	}
	ch := make(chan copyJob)
	var wg sync.WaitGroup
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := newCopier(w.comp)
			for j := range ch {
				if err == nil {
					var known *[32]byte
					if w.opts.Known != nil {
						if d, ok := w.opts.Known(j.src.hash, j.src.res.StoredSize); ok {
							known = &d
						}
					}
					var digest [32]byte
					digest, err = c.copy(ctx, j.from.f, j.src, w.f, int64(j.dst.res.Offset), onBytes, known)
					if err == nil && w.opts.Copied != nil {
						progMu.Lock()
						w.opts.Copied(j.src.hash, j.src.res.StoredSize, digest)
						progMu.Unlock()
					}
				}
				if err == nil && w.opts.Stage != nil {
					w.opts.Stage("blob")
				}
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					errMu.Unlock()
				}
			}
		}()
	}
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(ch)
	wg.Wait()
	close(syncNow)
	if err := <-syncDone; err != nil && firstErr == nil {
		firstErr = fmt.Errorf("sync: %w", err)
	}
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// syncEvery is how many bytes a copy writes between two syncs.
const syncEvery = 64 << 20

// CopyImage adds image index of src: its metadata resource copied as it
// is stored (its SHA-1 checked on the copied bytes) and info as its XML
// (Index is set to the new image's). The streams the image refers to are
// added with CopyBlobs.
func (w *RawWriter) CopyImage(ctx context.Context, src *Reader, index int, info ImageInfo) error {
	if w.done {
		return errors.New("copy image: writer already closed")
	}
	if index < 1 || index > len(src.metas) {
		return fmt.Errorf("image %d does not exist (the WIM has %d)", index, len(src.metas))
	}
	sm := src.metas[index-1]
	if err := w.canCopy(src, sm); err != nil {
		return &BlobError{Hash: sm.hash, Metadata: true, Err: err}
	}
	nb := &blob{res: sm.res, part: 1, refcnt: 1, hash: sm.hash}
	nb.res.Offset = uint64(w.pos)
	w.pos += int64(sm.res.StoredSize)
	c, err := newCopier(w.comp)
	if err == nil {
		_, err = c.copy(ctx, src.f, sm, w.f, int64(nb.res.Offset), func(uint64) {}, nil)
	}
	if err != nil {
		var be *BlobError
		if errors.As(err, &be) {
			be.Metadata = true
		}
		return err
	}
	w.blobs = append(w.blobs, nb)
	w.metas = append(w.metas, nb)
	info.Index = len(w.images) + 1
	w.images = append(w.images, info)
	return nil
}

// Commit writes the blob table, XML data, integrity table (if asked) and
// finally the header; only then does the file hold the new content.
func (w *RawWriter) Commit() error {
	if w.done {
		return errors.New("commit: writer already closed")
	}
	w.done = true
	stage := func(s string) {
		if w.opts.Stage != nil {
			w.opts.Stage(s)
		}
	}
	table := marshalBlobTable(w.blobs)
	tableOff := w.pos
	// The XML data's TOTALBYTES is its offset: size it for any offset.
	need := int64(len(table) + len(marshalXML(w.images, 1<<62)))
	inGap := false
	if off, ok := w.tableSpot(need); ok {
		tableOff, inGap = off, true
	}
	if _, err := w.f.WriteAt(table, tableOff); err != nil {
		return fmt.Errorf("write blob table: %w", err)
	}
	w.hdr.BlobTable = resHdr{StoredSize: uint64(len(table)), Flags: resFlagMetadata, Offset: uint64(tableOff), Size: uint64(len(table))}
	xmlOff := tableOff + int64(len(table))
	xmlData := marshalXML(w.images, uint64(xmlOff))
	if _, err := w.f.WriteAt(xmlData, xmlOff); err != nil {
		return fmt.Errorf("write XML data: %w", err)
	}
	w.hdr.XML = resHdr{StoredSize: uint64(len(xmlData)), Offset: uint64(xmlOff), Size: uint64(len(xmlData))}
	end := xmlOff + int64(len(xmlData))
	if inGap {
		end = w.pos
	}
	w.hdr.Integrity = resHdr{}
	if w.opts.Integrity {
		tbl, err := computeIntegrity(w.f, headerSize, tableOff+int64(len(table)))
		if err != nil {
			return err
		}
		if _, err := w.f.WriteAt(tbl, end); err != nil {
			return fmt.Errorf("write integrity table: %w", err)
		}
		w.hdr.Integrity = resHdr{StoredSize: uint64(len(tbl)), Offset: uint64(end), Size: uint64(len(tbl))}
		end += int64(len(tbl))
	}
	if !inGap && w.opts.TableSlack && !w.opts.Integrity {
		// Room for the next append's table; a hole, where the file
		// system allows it, until it is written.
		end += need + need/4 + 4096
	}
	w.hdr.ImageCount = uint32(len(w.images))
	w.hdr.BootMeta = resHdr{}
	if w.hdr.BootIndex > w.hdr.ImageCount {
		w.hdr.BootIndex = 0
	}
	if w.hdr.BootIndex > 0 {
		w.hdr.BootMeta = w.metas[w.hdr.BootIndex-1].res
	}
	w.hdr.Flags &^= hdrFlagWriteInProgress
	// In place, everything the new header names must be on disk before
	// it is. A new file is the caller's to sync and rename into place, so
	// the order within it does not matter and one sync at the end does.
	if w.appendTo {
		if err := w.f.Sync(); err != nil {
			return err
		}
	}
	stage("tables")
	if _, err := w.f.WriteAt(w.hdr.marshal(), 0); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	stage("header")
	// Drop whatever lay past the new end (a tail an interrupted writer
	// left, or nothing).
	return w.f.Truncate(end)
}

// Abort drops what this writer added: an appended WIM is cut back to the
// end of what its header names (a new file is the caller's to remove).
func (w *RawWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	if w.appendTo {
		return w.f.Truncate(w.start)
	}
	return nil
}

// rawPiece bounds the raw bytes a copier reads at once.
const rawPiece = 1 << 20

// copier copies resources and checks them; each goroutine has its own.
type copier struct {
	comp Compression
	buf  []byte
	sc   *scratch
}

func newCopier(comp Compression) (*copier, error) {
	sc, err := newScratch(comp)
	if err != nil {
		return nil, err
	}
	return &copier{comp: comp, buf: make([]byte, rawPiece), sc: sc}, nil
}

// copy copies resource b of src, as stored, to dst at off, and returns
// the SHA-256 of the stored bytes. With known nil it checks that the data
// it decompresses from the copied bytes has b's SHA-1 and size. With known
// set (the SHA-256 of the stored bytes when they were last checked) it
// compares the copied bytes' SHA-256 with it instead, and checks the data
// the first way only when they differ. onBytes is told of each piece's
// stored bytes.
func (c *copier) copy(ctx context.Context, src io.ReaderAt, b *blob, dst io.WriterAt, off int64, onBytes func(uint64), known *[32]byte) ([32]byte, error) {
	if known == nil {
		return c.copyChecked(ctx, src, b, dst, off, onBytes)
	}
	var sum [32]byte
	d := sha256.New()
	res := b.res
	for pos := uint64(0); pos < res.StoredSize; {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		n := min(uint64(len(c.buf)), res.StoredSize-pos)
		p := c.buf[:n]
		if _, err := src.ReadAt(p, int64(res.Offset+pos)); err != nil {
			return sum, &BlobError{Hash: b.hash, Err: fmt.Errorf("read %d bytes at offset %d: %w", n, res.Offset+pos, err)}
		}
		d.Write(p)
		if _, err := dst.WriteAt(p, off+int64(pos)); err != nil {
			return sum, fmt.Errorf("write at offset %d: %w", off+int64(pos), err)
		}
		pos += n
		onBytes(n)
	}
	d.Sum(sum[:0])
	if sum == *known {
		return sum, nil
	}
	// Not the bytes that were checked: damaged, or a record that is out of
	// date. Check the data itself.
	return c.copyChecked(ctx, src, b, discardAt{}, 0, func(uint64) {})
}

// copyChecked is copy without a known digest.
func (c *copier) copyChecked(ctx context.Context, src io.ReaderAt, b *blob, dst io.WriterAt, off int64, onBytes func(uint64)) ([32]byte, error) {
	var digest [32]byte
	fail := func(err error) ([32]byte, error) { return digest, &BlobError{Hash: b.hash, Err: err} }
	h := sha1.New()
	d := sha256.New()
	res := b.res
	if !res.compressed() {
		if res.StoredSize != res.Size {
			return fail(formatErr("uncompressed resource stores %d bytes but claims %d", res.StoredSize, res.Size))
		}
		for pos := uint64(0); pos < res.Size; {
			if err := ctx.Err(); err != nil {
				return digest, err
			}
			n := min(uint64(len(c.buf)), res.Size-pos)
			p := c.buf[:n]
			if _, err := src.ReadAt(p, int64(res.Offset+pos)); err != nil {
				return fail(fmt.Errorf("read %d bytes at offset %d: %w", n, res.Offset+pos, err))
			}
			h.Write(p)
			d.Write(p)
			if _, err := dst.WriteAt(p, off+int64(pos)); err != nil {
				return digest, fmt.Errorf("write at offset %d: %w", off+int64(pos), err)
			}
			pos += n
			onBytes(n)
		}
	} else {
		rr, err := openResourceWith(src, res, c.comp, "stream", c.sc)
		if err != nil {
			return fail(err)
		}
		// The chunk table, copied as it is.
		tbl := uint64(rr.data) - res.Offset
		for pos := uint64(0); pos < tbl; {
			n := min(uint64(len(c.buf)), tbl-pos)
			if _, err := src.ReadAt(c.buf[:n], int64(res.Offset+pos)); err != nil {
				return fail(fmt.Errorf("read chunk table: %w", err))
			}
			d.Write(c.buf[:n])
			if _, err := dst.WriteAt(c.buf[:n], off+int64(pos)); err != nil {
				return digest, fmt.Errorf("write at offset %d: %w", off+int64(pos), err)
			}
			pos += n
		}
		onBytes(tbl)
		nchunks := uint64(len(rr.starts) - 1)
		for i := uint64(0); i < nchunks; {
			if err := ctx.Err(); err != nil {
				return digest, err
			}
			// As many whole chunks as fit in the buffer (at least one).
			j := i + 1
			for j < nchunks && rr.starts[j+1]-rr.starts[i] <= uint64(len(c.buf)) {
				j++
			}
			lo, hi := rr.starts[i], rr.starts[j]
			p := c.buf[:hi-lo]
			if _, err := src.ReadAt(p, rr.data+int64(lo)); err != nil {
				return fail(fmt.Errorf("read chunks %d-%d at offset %d: %w", i, j-1, rr.data+int64(lo), err))
			}
			for k := i; k < j; k++ {
				usize := min(uint64(ChunkSize), res.Size-k*ChunkSize)
				raw := p[rr.starts[k]-lo : rr.starts[k+1]-lo]
				switch {
				case uint64(len(raw)) == usize:
					h.Write(raw)
				case uint64(len(raw)) > usize:
					return fail(formatErr("chunk %d stores %d bytes for %d", k, len(raw), usize))
				default:
					out, err := c.sc.dec.Decode(raw, int(usize))
					if err != nil {
						return fail(fmt.Errorf("%w: chunk %d (at offset %d) does not decompress: %v", ErrFormat, k, rr.data+int64(rr.starts[k]), err))
					}
					h.Write(out)
				}
			}
			d.Write(p)
			if _, err := dst.WriteAt(p, off+int64(tbl+lo)); err != nil {
				return digest, fmt.Errorf("write at offset %d: %w", off+int64(tbl+lo), err)
			}
			onBytes(hi - lo)
			i = j
		}
	}
	var sum [20]byte
	h.Sum(sum[:0])
	if sum != b.hash {
		return fail(fmt.Errorf("SHA-1 mismatch: the data hashes to %x", sum))
	}
	d.Sum(digest[:0])
	return digest, nil
}
