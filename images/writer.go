package images

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Options configures a Writer.
type Options struct {
	// Compression of new resources. For Append it must equal the file's.
	Compression Compression
	// Level is the codec level; 0 selects the codec's default.
	Level int
	// Threads bounds the compression workers; 0 means GOMAXPROCS. With
	// Verify, verifier goroutines run beside them (one per four workers)
	// and decompress what they produce.
	Threads int
	// Integrity writes the SHA-1 integrity table.
	Integrity bool
	// Overwrite lets Create replace an existing file (atomically, at Commit).
	Overwrite bool
	// Progress, when set, receives progress reports from the writing
	// goroutine: at each phase change, for each entry scanned and each
	// chunk written, unthrottled.
	Progress func(Progress)
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
	// BeforeWrite, when set, is called once the tree is scanned with the
	// number of data bytes to store; an error stops the capture before any
	// data is written (a free-space check, say).
	BeforeWrite func(totalBytes uint64) error
	// Verify checks the WIM as it is written (writecheck.go says how):
	// every compressed chunk is decompressed (by verifiers beside the
	// compression workers) and compared with its source bytes before it is
	// written, and every byte of the file is read back from the disk and
	// compared with what was written. Commit fails with a *CheckError,
	// leaving the target as it was, when a check fails.
	Verify bool
}

// Progress reports how far a capture has come.
type Progress struct {
	Phase      string // "scan", "hash", "write", "metadata", "integrity", "verify", "done"
	BytesDone  uint64
	BytesTotal uint64
	// FilesTotal counts the entries found while scanning; while writing,
	// FilesDone of FilesTotal files (not directories) have all their data
	// stored, so that the end count equals ImageInfo.FileCount.
	FilesDone  uint64
	FilesTotal uint64
	Path       string
}

// ImageOptions describes a new image.
type ImageOptions struct {
	Name, Description string
	// Flags, DisplayName and DisplayDescription are image-level XML elements
	// (FLAGS is usually the edition ID).
	Flags, DisplayName, DisplayDescription string
	// WindowsXML is a complete <WINDOWS>…</WINDOWS> element, or "".
	WindowsXML string
	// Boot marks the new image as the bootable one.
	Boot bool
}

// Writer creates a WIM file or appends images to one. Nothing is visible
// under the target name until Commit succeeds: Create writes a temporary
// file that Commit renames, and Append leaves the old header, blob table
// and XML untouched until the new ones are complete.
type Writer struct {
	path     string
	tmpPath  string
	lock     *os.File // holds the lock on tmpPath until it is renamed or removed
	f        *os.File
	out      *output
	appendTo bool
	origSize int64
	oldHdr   []byte // the header bytes an append started from
	hdrDirty bool   // Commit has begun to overwrite oldHdr
	opts     Options
	log      *slog.Logger
	hdr      header
	blobs    []*blob
	byHash   map[[20]byte]*blob
	sizes    map[uint64]int
	images   []ImageInfo
	metas    []*blob
	pool     *compressPool
	fill     *chunkBatch   // the batch being filled
	inflight []*chunkBatch // batches with the workers, oldest first
	done     bool
	prog     Progress
	// beforeRename, when set, checks the complete temporary file of a new
	// WIM before it is renamed into place; an error discards it.
	beforeRename func(tmp string) error
	names        []resName // what each region written so far holds, by offset (Verify)
	namesPrune   int       // len(names) at which noteRegion prunes them
	// ctx is the last AddImage's: Commit's verification stops when it is
	// cancelled.
	ctx context.Context
}

// MaxThreads bounds Options.Threads and VerifyOptions.Threads. Each
// compression worker holds up to about 6 MiB (LZX, XPRESS at its high
// level, and the batches in flight); beyond a few dozen threads a capture
// is bound by the disks, not the CPUs.
const MaxThreads = 64

// MaxLevel is the highest codec level (xpress.LevelHigh, lzx.LevelMax).
const MaxLevel = 3

func (o *Options) threads() int {
	if o.Threads > 0 {
		return min(o.Threads, MaxThreads)
	}
	return min(runtime.GOMAXPROCS(0), MaxThreads)
}

// OptionError reports an Options field out of its range.
type OptionError struct {
	Field string
	Value int
	Msg   string
}

func (e *OptionError) Error() string { return fmt.Sprintf("%s %d: %s", e.Field, e.Value, e.Msg) }

// check validates the numeric options.
func (o *Options) check() error {
	if o.Threads < 0 || o.Threads > MaxThreads {
		return &OptionError{"threads", o.Threads, fmt.Sprintf("want 0 (one per core) to %d", MaxThreads)}
	}
	switch {
	case o.Compression != CompressNone && o.Compression != CompressXPRESS && o.Compression != CompressLZX:
		return &OptionError{"compression", int(o.Compression), "unknown compression type"}
	case o.Level < 0 || o.Level > MaxLevel:
		return &OptionError{"level", o.Level, fmt.Sprintf("want 0 (the default) to %d", MaxLevel)}
	case o.Level != 0 && o.Compression == CompressNone:
		return &OptionError{"level", o.Level, "a level needs compression (XPRESS or LZX)"}
	}
	return nil
}

// Create starts a new WIM file at path.
func Create(path string, opts Options) (*Writer, error) {
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		// Found now, not by the rename after the whole capture.
		return nil, fmt.Errorf("create %s: is a directory", path)
	}
	if !opts.Overwrite {
		if _, err := os.Lstat(path); err == nil {
			return nil, fmt.Errorf("create %s: file exists (overwrite not allowed)", path)
		}
	}
	f, lock, err := createPartial(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	w := &Writer{path: path, tmpPath: f.Name(), f: f, lock: lock, opts: opts}
	w.init()
	if _, err := rand.Read(w.hdr.GUID[:]); err != nil {
		w.Abort()
		return nil, fmt.Errorf("create %s: random GUID: %w", path, err)
	}
	w.hdr.Flags = compressionFlags(opts.Compression)
	if opts.Compression == CompressNone {
		w.hdr.ChunkSize = 0
	}
	// The header stays zero (no magic) until Commit.
	w.out, err = newCheckedOutput(f, f.Name(), 0, opts.Verify)
	if err != nil {
		w.Abort()
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := w.out.Write(make([]byte, headerSize)); err != nil {
		w.Abort()
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if err := w.startPool(); err != nil {
		w.Abort()
		return nil, err
	}
	return w, nil
}

// Append opens the WIM at path to add images. Blobs already stored are
// reused; new data goes after the current end of the file.
//
// Before anything is written, Append checks what the new image will depend
// on, as wimlib does with --check: the header, blob table and XML data, the
// integrity table when there is one (which covers every stored byte) and
// every image's metadata resource. A WIM that fails is left untouched and
// the error wraps ErrFormat (or is an *IntegrityError).
func Append(path string, opts Options) (*Writer, error) {
	return AppendContext(context.Background(), path, opts)
}

// AppendContext is Append whose checks of the existing WIM stop when ctx is
// done.
func AppendContext(ctx context.Context, path string, opts Options) (*Writer, error) {
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("append to %s: %w", path, err)
	}
	r, err := Open(path)
	if err != nil {
		return nil, err
	}
	if err := r.checkForAppend(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("append to %s: nothing was written: %w", path, err)
	}
	comp := r.Compression()
	hdr := *r.hdr
	blobs := r.blobList
	images := append([]ImageInfo(nil), r.images...)
	end := r.usedEnd()
	r.Close()
	if comp != opts.Compression {
		return nil, fmt.Errorf("append to %s: the WIM uses %v compression, not %v; images in one WIM share a compression type", path, comp, opts.Compression)
	}
	if hdr.Flags&(hdrFlagReadOnly|hdrFlagResourceOnly|hdrFlagMetadataOnly) != 0 {
		return nil, fmt.Errorf("append to %s: the WIM is marked read-only or partial (header flags %#x)", path, hdr.Flags)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("append to %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("append to %s: %w", path, err)
	}
	// New data goes after the end of what the WIM uses. Bytes beyond it
	// are left by a writer that was killed before its commit; they are
	// dead space that would otherwise stay in the file for good.
	if st.Size() > end {
		lg := opts.Logger
		if lg == nil {
			lg = slog.New(slog.DiscardHandler)
		}
		lg.Warn("dropping the unused tail of the WIM (left by an interrupted write)", "path", path, "bytes", st.Size()-end)
	} else {
		end = st.Size()
	}
	w := &Writer{path: path, f: f, opts: opts, appendTo: true, origSize: end, oldHdr: make([]byte, headerSize)}
	if _, err := f.ReadAt(w.oldHdr, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("append to %s: read the header: %w", path, err)
	}
	w.init()
	w.hdr = hdr
	w.images = images
	for _, b := range blobs {
		nb := *b
		w.blobs = append(w.blobs, &nb)
		if nb.metadata() {
			w.metas = append(w.metas, &nb)
		} else {
			w.byHash[nb.hash] = &nb
			w.sizes[nb.res.Size]++
		}
	}
	if len(w.metas) != len(w.images) {
		f.Close()
		return nil, formatErr("append to %s: %d metadata resources for %d images", path, len(w.metas), len(w.images))
	}
	w.out, err = newCheckedOutput(f, path, end, opts.Verify)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("append to %s: %w", path, err)
	}
	if err := w.startPool(); err != nil {
		w.Abort()
		return nil, err
	}
	return w, nil
}

// checkForAppend checks the parts of the WIM that an append keeps and
// builds on.
func (r *Reader) checkForAppend(ctx context.Context) error {
	if r.HasIntegrity() {
		if err := r.checkIntegrity(ctx); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("integrity check interrupted: %w", ctx.Err())
			}
			return fmt.Errorf("the WIM is damaged: %w", err)
		}
	}
	for i := range r.metas {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := r.Image(i + 1); err != nil {
			return fmt.Errorf("the WIM is damaged: %w", err)
		}
	}
	return nil
}

func (w *Writer) init() {
	w.byHash = map[[20]byte]*blob{}
	w.sizes = map[uint64]int{}
	w.log = w.opts.Logger
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.hdr.ChunkSize = ChunkSize
	w.hdr.PartNumber, w.hdr.TotalParts = 1, 1
}

func (w *Writer) startPool() error {
	if w.opts.Compression == CompressNone {
		return nil
	}
	p, err := newCompressPool(w.opts.Compression, w.opts.Level, w.opts.threads(), w.opts.Verify)
	if err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	w.pool = p
	return nil
}

// Abort discards everything written since Create or Append. The target
// file is left as it was.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	if w.pool != nil {
		w.pool.close()
	}
	if w.out != nil {
		w.out.close()
	}
	if w.appendTo {
		var errs []error
		if w.hdrDirty {
			// The new header may be written, even synced, but the
			// commit failed: put the old one back, on disk before the
			// data it would point at goes away.
			if _, err := w.f.WriteAt(w.oldHdr, 0); err != nil {
				errs = append(errs, fmt.Errorf("restore the header of %s: %w", w.path, err))
			} else if err := w.f.Sync(); err != nil {
				errs = append(errs, fmt.Errorf("restore the header of %s: %w", w.path, err))
			}
		}
		if len(errs) == 0 {
			errs = append(errs, w.f.Truncate(w.origSize))
		}
		return errors.Join(append(errs, w.f.Close())...)
	}
	w.f.Close()
	err := os.Remove(w.tmpPath)
	w.lock.Close()
	return err
}

// Test hooks of the commit (crash_test.go fails or kills the writer at
// each stage); production leaves them as they are.
//
// commitStage is called as Commit reaches each stage, and its error fails
// the commit there:
//
//	"tables"       blob table, XML and integrity table written, not synced
//	               (an error stands for the fsync before the header failing)
//	"header"       all of that synced, the header not yet written
//	"header-sync"  the header written, not synced (an error stands for its
//	               fsync failing)
//	"synced"       the header synced; the file not yet truncated (append)
//	               or renamed (create)
//	"renamed"      a new file renamed to its name, the directory not synced
//
// writeHeader writes the header at offset 0; a test makes it tear.
var (
	commitStage = func(stage string) error { return nil }
	writeHeader = func(f *os.File, b []byte) (int, error) { return f.WriteAt(b, 0) }
)

// report sends the progress, every time: the caller's progress component
// throttles (one place paces every phase of a run).
func (w *Writer) report() {
	if w.opts.Progress == nil {
		return
	}
	p := w.prog
	if p.Phase != "write" && p.Phase != "hash" && p.Phase != "verify" {
		p.BytesDone, p.BytesTotal = 0, 0
	}
	w.opts.Progress(p)
}

// filetimeNow returns the current time as a FILETIME.
func filetimeNow() uint64 {
	return uint64(time.Now().UnixNano()/100) + 116444736000000000
}

// Commit writes the blob table, XML data, integrity table and header, and
// makes the file visible under its name.
func (w *Writer) Commit() error {
	if w.done {
		return errors.New("commit: writer already closed")
	}
	err := w.commit()
	if err != nil {
		w.Abort()
		if ce := w.checkError(err); ce != nil {
			return ce
		}
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	return nil
}

func (w *Writer) commit() error {
	if w.pool != nil {
		w.pool.close()
		w.fill, w.inflight = nil, nil
	}
	tableOff := w.out.pos
	w.noteRegion(tableOff, "the blob table")
	table := marshalBlobTable(w.blobs)
	if _, err := w.out.Write(table); err != nil {
		return err
	}
	w.hdr.BlobTable = resHdr{StoredSize: uint64(len(table)), Flags: resFlagMetadata, Offset: uint64(tableOff), Size: uint64(len(table))}
	xmlOff := w.out.pos
	w.noteRegion(xmlOff, "the XML data")
	xmlData := marshalXML(w.images, uint64(xmlOff))
	if err := checkXMLRoundTrip(xmlData, w.images); err != nil {
		return err
	}
	if _, err := w.out.Write(xmlData); err != nil {
		return err
	}
	w.hdr.XML = resHdr{StoredSize: uint64(len(xmlData)), Offset: uint64(xmlOff), Size: uint64(len(xmlData))}
	if err := w.out.flush(); err != nil {
		return err
	}
	w.hdr.Integrity = resHdr{}
	if w.opts.Integrity {
		w.prog.Phase = "integrity"
		w.report()
		tbl, err := computeIntegrity(w.f, headerSize, tableOff+int64(len(table)))
		if err != nil {
			return err
		}
		off := w.out.pos
		w.noteRegion(off, "the integrity table")
		if _, err := w.out.Write(tbl); err != nil {
			return err
		}
		if err := w.out.flush(); err != nil {
			return err
		}
		w.hdr.Integrity = resHdr{StoredSize: uint64(len(tbl)), Offset: uint64(off), Size: uint64(len(tbl))}
	}
	w.hdr.ImageCount = uint32(len(w.images))
	w.hdr.BootMeta = resHdr{}
	if w.hdr.BootIndex > 0 && int(w.hdr.BootIndex) <= len(w.metas) {
		w.hdr.BootMeta = w.metas[w.hdr.BootIndex-1].res
	}
	w.hdr.Flags &^= hdrFlagWriteInProgress
	if err := w.out.close(); err != nil {
		return err
	}
	// Everything the new header points at must be on disk before it is.
	if err := commitStage("tables"); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	if err := commitStage("header"); err != nil {
		return err
	}
	w.hdrDirty = true
	hdr := w.hdr.marshal()
	if _, err := writeHeader(w.f, hdr); err != nil {
		return err
	}
	w.out.noteLate(0, hdr)
	if err := commitStage("header-sync"); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	if w.opts.Verify {
		if err := w.verifyWritten(); err != nil {
			return err
		}
	}
	if err := commitStage("synced"); err != nil {
		return err
	}
	if w.appendTo {
		// Drop anything past the new end (nothing, unless a previous
		// writer left a tail).
		if err := w.f.Truncate(w.out.pos); err != nil {
			return err
		}
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	w.done = true
	if !w.appendTo {
		defer w.lock.Close()
		if w.beforeRename != nil {
			if err := w.beforeRename(w.tmpPath); err != nil {
				os.Remove(w.tmpPath)
				return err
			}
		}
		if err := os.Rename(w.tmpPath, w.path); err != nil {
			os.Remove(w.tmpPath)
			return err
		}
		if err := commitStage("renamed"); err != nil {
			return err
		}
		syncDir(filepath.Dir(w.path))
	}
	w.prog.Phase = "done"
	w.report()
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// writeResource stores size bytes from r as one resource (compressed in
// chunks when the WIM is compressed) and returns its header and SHA-1.
func (w *Writer) writeResource(ctx context.Context, r io.Reader, size uint64, flags uint8, what string) (resHdr, [20]byte, error) {
	start := w.out.pos
	h := sha1.New()
	var sum [20]byte
	if w.pool == nil || size == 0 {
		w.noteRegion(start, what)
		// Uncompressed: read straight into the output block, in pieces
		// small enough to be still in the CPU cache when hashed.
		left := size
		for left > 0 {
			if err := ctx.Err(); err != nil {
				return resHdr{}, sum, err
			}
			buf := w.out.space()
			n := min(uint64(len(buf)), left, readPiece)
			if _, err := io.ReadFull(r, buf[:n]); err != nil {
				return resHdr{}, sum, fmt.Errorf("read %s at byte %d of %d: %w", what, size-left, size, err)
			}
			h.Write(buf[:n])
			if err := w.out.advance(int(n)); err != nil {
				return resHdr{}, sum, err
			}
			left -= n
			if flags&resFlagMetadata == 0 {
				w.addBytes(n)
			}
		}
		h.Sum(sum[:0])
		return resHdr{StoredSize: size, Flags: flags, Offset: uint64(start), Size: size}, sum, nil
	}
	p, sum, err := w.queueResource(ctx, r, size, flags, what)
	if err != nil {
		return resHdr{}, sum, err
	}
	if err := w.finishAll(); err != nil {
		return resHdr{}, sum, err
	}
	return p.hdr, sum, nil
}

// pendingRes is a compressed resource whose chunks are on their way
// through the compression workers; finishBatch writes them in order and
// completes it.
type pendingRes struct {
	size    uint64
	flags   uint8
	chunks  uint64 // chunks in all
	written uint64 // chunks written so far
	table   []byte // the chunk table, written as zeros first
	start   int64  // offset of the resource (its chunk table)
	data    int64  // offset of its first chunk
	hdr     resHdr // set once done
	done    bool
	blob    *blob  // gets hdr when the resource is done, if set
	what    string // names the resource in errors
}

// attach gives b the header of p: now if p is complete, else when its last
// chunk is written.
func (p *pendingRes) attach(b *blob) {
	if p.done {
		b.res = p.hdr
	} else {
		p.blob = b
	}
}

// queueResource reads size bytes (size > 0) from r into compression
// batches and returns the resource, to be completed when its last chunk is
// written, and the SHA-1 of the data.
func (w *Writer) queueResource(ctx context.Context, r io.Reader, size uint64, flags uint8, what string) (*pendingRes, [20]byte, error) {
	var sum [20]byte
	p := &pendingRes{size: size, flags: flags, chunks: numChunks(size), what: what}
	h := sha1.New()
	for i := uint64(0); i < p.chunks; {
		if err := ctx.Err(); err != nil {
			return nil, sum, err
		}
		if w.fill == nil {
			w.fill = w.pool.get()
		}
		// As many chunks as the batch has room for, in one read.
		b := w.fill
		k := b.count
		m := int(min(uint64(batchChunks-k), p.chunks-i))
		n := min(uint64(m)*ChunkSize, size-i*ChunkSize)
		in := b.in[k*ChunkSize : uint64(k*ChunkSize)+n]
		if _, err := io.ReadFull(r, in); err != nil {
			return nil, sum, fmt.Errorf("read %s at byte %d of %d: %w", what, i*ChunkSize, size, err)
		}
		h.Write(in)
		for j := range m {
			b.size[k+j] = int(min(uint64(ChunkSize), size-(i+uint64(j))*ChunkSize))
			b.res[k+j] = p
		}
		b.count += m
		i += uint64(m)
		if b.count == batchChunks {
			if err := w.submitBatch(); err != nil {
				return nil, sum, err
			}
		}
	}
	h.Sum(sum[:0])
	return p, sum, nil
}

// submitBatch hands the batch being filled to the workers, writing out the
// oldest batches while too many are in flight.
func (w *Writer) submitBatch() error {
	w.pool.submit(w.fill)
	w.inflight = append(w.inflight, w.fill)
	w.fill = nil
	for len(w.inflight) >= w.pool.depth {
		if err := w.finishBatch(); err != nil {
			return err
		}
	}
	return nil
}

// finishAll writes out every queued chunk.
func (w *Writer) finishAll() error {
	if w.fill != nil && w.fill.count > 0 {
		w.pool.submit(w.fill)
		w.inflight = append(w.inflight, w.fill)
		w.fill = nil
	}
	for len(w.inflight) > 0 {
		if err := w.finishBatch(); err != nil {
			return err
		}
	}
	return nil
}

// finishBatch waits for the oldest batch in flight and writes its chunks.
func (w *Writer) finishBatch() error {
	b := w.inflight[0]
	w.inflight = w.inflight[1:]
	<-b.done
	defer w.pool.put(b)
	for k := range b.count {
		p := b.res[k]
		if b.bad[k] != nil {
			return &CheckError{File: w.path, What: p.what, Offset: -1, Err: fmt.Errorf("chunk %d: %w", p.written, b.bad[k])}
		}
		if p.written == 0 {
			p.start = w.out.pos
			w.noteRegion(p.start, p.what)
			p.table = make([]byte, (p.chunks-1)*uint64(chunkEntrySize(p.size)))
			if _, err := w.out.Write(p.table); err != nil {
				return err
			}
			p.data = w.out.pos
		} else {
			off := uint64(w.out.pos - p.data)
			if chunkEntrySize(p.size) == 4 {
				binary.LittleEndian.PutUint32(p.table[(p.written-1)*4:], uint32(off))
			} else {
				binary.LittleEndian.PutUint64(p.table[(p.written-1)*8:], off)
			}
		}
		lo := k * ChunkSize
		data := b.in[lo : lo+b.size[k]]
		if b.n[k] > 0 {
			data = b.out[lo : lo+b.n[k]]
		}
		if _, err := w.out.Write(data); err != nil {
			return err
		}
		p.written++
		if p.flags&resFlagMetadata == 0 {
			w.addBytes(uint64(b.size[k]))
		}
		if p.written == p.chunks {
			if err := w.completeResource(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// completeResource fills in the chunk table of p, all of whose chunks are
// written, and its header.
func (w *Writer) completeResource(p *pendingRes) error {
	if len(p.table) > 0 {
		if err := w.out.writeAt(p.table, p.start); err != nil {
			return err
		}
	}
	stored := uint64(w.out.pos - p.start)
	p.hdr = resHdr{StoredSize: stored, Flags: p.flags | resFlagCompressed, Offset: uint64(p.start), Size: p.size}
	if p.chunks == 1 && stored == p.size {
		// One chunk that did not shrink: its bytes are the data itself,
		// so record the resource as uncompressed, as wimlib and DISM do.
		p.hdr.Flags = p.flags
	}
	p.done = true
	if p.blob != nil {
		p.blob.res = p.hdr
	}
	return nil
}

func (w *Writer) addBytes(n uint64) {
	w.prog.BytesDone += n
	w.report()
}

// readPiece bounds one read of an uncompressed stream.
const readPiece = 256 << 10
