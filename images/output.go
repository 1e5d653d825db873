package images

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The output path. A capture writes gigabytes once and reads them back at
// most once (to verify), so the page cache only gets in the way: copying
// every byte into it costs as much CPU as hashing it, and the fsync that
// makes the file crash-safe then waits for all of it to reach the disk.
// So the WIM is written in large aligned blocks through a second
// descriptor opened with O_DIRECT, by a goroutine of its own, while the
// capture goes on filling the next block. Where the file system refuses
// O_DIRECT (at open or at the first write), the same blocks go through the
// page cache instead, still off the capture's goroutine.
//
// Small writes that land behind the block being filled (chunk tables,
// the header), partial tails and read-backs use the ordinary descriptor
// after the block writer has drained: the kernel keeps the two views of
// the file coherent as long as they do not overlap in time.
const (
	outBlockSize = 1 << 20 // bytes per block write
	outAlign     = 4096    // file offset, length and memory alignment for O_DIRECT
	outBuffers   = 2       // the block being filled plus one in flight
	// outSyncEvery is how much the block writer writes between two
	// fdatasync calls. Commit must fsync before the header goes in, and a
	// single fsync at the end waits for the whole file to reach stable
	// storage; syncing as we go does the same work while the capture is
	// still busy reading and compressing.
	outSyncEvery = 64 << 20
)

// directIO says whether new outputs try O_DIRECT; tests turn it off to
// cover the page-cache path.
var directIO = true

// output writes the WIM file sequentially and knows its position.
type output struct {
	f   *os.File
	pos int64 // logical end of the data

	// cur holds the bytes from file offset base (always aligned) to pos.
	base int64
	cur  []byte

	// written is the end of what has been handed to the file so far.
	written int64

	dfd     int // O_DIRECT descriptor, -1 when not used
	free    chan []byte
	jobs    chan outJob
	pending sync.WaitGroup // jobs not yet written
	stopped chan struct{}
	closed  bool

	mu  sync.Mutex
	err error // first error of the block writer

	// failAt, when positive, makes writes past that file offset fail; tests
	// use it to simulate a full disk.
	failAt int64

	// With check set, the block writer reads every block back from the
	// disk right after writing it and compares, and the bytes that go
	// through the page cache instead are kept in late for checkLate
	// (readback.go).
	check     bool
	path      string
	rfd       int    // O_DIRECT read descriptor of the block writer, -1 when not used
	rbuf      []byte // its read buffer
	unchecked atomic.Bool
	// checkedTo is the end of the blocks read back and found equal so
	// far (blocks go out in order); nothing below it that is not in late
	// can fail a check any more.
	checkedTo atomic.Int64
	late      []lateWrite
}

type outJob struct {
	buf []byte
	off int64
}

// errDiskFull is what the failAt hook reports.
var errDiskFull = fmt.Errorf("simulated disk full")

// newOutput starts writing f (whose name is path) at offset pos; the bytes
// before pos are kept.
func newOutput(f *os.File, path string, pos int64) (*output, error) {
	return newCheckedOutput(f, path, pos, false)
}

// newCheckedOutput is newOutput that, with check, reads back what it
// writes (see output.check).
func newCheckedOutput(f *os.File, path string, pos int64, check bool) (*output, error) {
	o := &output{f: f, pos: pos, written: pos, dfd: -1, rfd: -1, check: check, path: path,
		free: make(chan []byte, outBuffers), jobs: make(chan outJob, outBuffers), stopped: make(chan struct{})}
	for range outBuffers - 1 {
		o.free <- alignedBuffer()
	}
	o.cur = alignedBuffer()
	if directIO {
		for {
			fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_DIRECT|syscall.O_CLOEXEC, 0)
			if err == syscall.EINTR {
				continue
			}
			if err == nil {
				o.dfd = fd
			}
			break
		}
	}
	if check {
		if o.dfd >= 0 {
			o.rfd = openDirectRead(path)
			o.rbuf = alignedPiece()
		}
		if o.rfd < 0 {
			o.unchecked.Store(true)
		}
	}
	go o.run()
	if err := o.reload(pos); err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

// alignedBuffer returns outBlockSize bytes whose address is aligned for
// O_DIRECT.
func alignedBuffer() []byte {
	b := make([]byte, outBlockSize+outAlign)
	skip := (outAlign - int(uintptr(unsafe.Pointer(&b[0]))%outAlign)) % outAlign
	return b[skip : skip+outBlockSize : skip+outBlockSize]
}

func alignDown(n int64) int64 { return n &^ (outAlign - 1) }

// run is the block writer.
func (o *output) run() {
	defer close(o.stopped)
	unsynced := 0
	for j := range o.jobs {
		if o.firstErr() == nil {
			direct, err := o.writeBlock(j.buf, j.off)
			o.setErr(err)
			if err == nil && o.check {
				err = o.readBack(j.buf, j.off, direct)
				o.setErr(err)
				if err == nil && !o.unchecked.Load() {
					o.checkedTo.Store(j.off + int64(len(j.buf)))
				}
			}
			if unsynced += len(j.buf); unsynced >= outSyncEvery {
				unsynced = 0
				o.setErr(fdatasync(o.f))
			}
		}
		o.free <- j.buf[:cap(j.buf)]
		o.pending.Done()
	}
	if o.dfd >= 0 {
		syscall.Close(o.dfd)
		o.dfd = -1
	}
	if o.rfd >= 0 {
		syscall.Close(o.rfd)
		o.rfd = -1
	}
}

// writeBlock writes b (aligned in memory, offset and length) at off and
// reports whether all of it went to the disk directly.
func (o *output) writeBlock(b []byte, off int64) (direct bool, err error) {
	direct = o.dfd >= 0
	for o.dfd >= 0 && len(b) > 0 {
		n, err := pwriteBlock(o.dfd, b, off)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EINVAL:
			// The file system takes O_DIRECT at open but not these
			// writes: go through the page cache from now on.
			syscall.Close(o.dfd)
			o.dfd = -1
			direct = false
		case err != nil:
			return false, fmt.Errorf("write %d bytes at offset %d: %w", len(b), off, err)
		case n%outAlign != 0:
			// A short direct write that leaves an unaligned rest:
			// finish through the page cache.
			b, off = b[n:], off+int64(n)
			syscall.Close(o.dfd)
			o.dfd = -1
			direct = false
		default:
			b, off = b[n:], off+int64(n)
		}
	}
	if len(b) == 0 {
		return direct, nil
	}
	if _, err := pwriteCached(o.f, b, off); err != nil {
		return false, err
	}
	return false, nil
}

func (o *output) setErr(err error) {
	if err == nil {
		return
	}
	o.mu.Lock()
	if o.err == nil {
		o.err = err
	}
	o.mu.Unlock()
}

func (o *output) firstErr() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// submit hands cur[:n] (n aligned) to the block writer and keeps the bytes
// after it, up to pos, in a fresh buffer.
func (o *output) submit(n int) {
	next := <-o.free
	copy(next, o.cur[n:o.pos-o.base])
	o.forgetLate(o.base, o.base+int64(n))
	o.pending.Add(1)
	o.jobs <- outJob{buf: o.cur[:n], off: o.base}
	o.base += int64(n)
	o.written = max(o.written, o.base)
	o.cur = next
}

// drain waits until every submitted block is written.
func (o *output) drain() error {
	o.pending.Wait()
	return o.firstErr()
}

func (o *output) Write(p []byte) (int, error) {
	if o.failAt > 0 && o.pos+int64(len(p)) > o.failAt {
		return 0, errDiskFull
	}
	if err := o.firstErr(); err != nil {
		return 0, err
	}
	done := 0
	for len(p) > 0 {
		n := copy(o.cur[o.pos-o.base:], p)
		o.pos += int64(n)
		p = p[n:]
		done += n
		if o.pos-o.base == outBlockSize {
			o.submit(outBlockSize)
		}
	}
	return done, nil
}

// space returns the free part of the block being filled (never empty), for
// a caller that reads data straight into it and then calls advance.
func (o *output) space() []byte { return o.cur[o.pos-o.base:] }

// advance adds n bytes that the caller put at the start of space().
func (o *output) advance(n int) error {
	if o.failAt > 0 && o.pos+int64(n) > o.failAt {
		return errDiskFull
	}
	if err := o.firstErr(); err != nil {
		return err
	}
	o.pos += int64(n)
	if o.pos-o.base == outBlockSize {
		o.submit(outBlockSize)
	}
	return nil
}

// flush makes the file hold every byte up to pos: whole aligned blocks
// through the block writer, the unaligned tail through the page cache (it
// stays buffered too, to be rewritten with the next block).
func (o *output) flush() error {
	if full := alignDown(o.pos - o.base); full > 0 {
		o.submit(int(full))
	}
	if err := o.drain(); err != nil {
		return err
	}
	if tail := o.pos - o.base; tail > 0 {
		if _, err := pwriteCached(o.f, o.cur[:tail], o.base); err != nil {
			return err
		}
		o.noteLate(o.base, o.cur[:tail])
	}
	o.written = max(o.written, o.pos)
	return nil
}

// writeAt writes p at off; the range must lie below pos. Bytes still in the
// buffer are patched there; bytes already handed to the file are written
// through the page cache once the block writer has drained.
func (o *output) writeAt(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > o.pos {
		return fmt.Errorf("internal error: write of %d bytes at %d past the end %d", len(p), off, o.pos)
	}
	if off < o.base {
		lo := p[:min(int64(len(p)), o.base-off)]
		if err := o.drain(); err != nil {
			return err
		}
		if _, err := pwriteCached(o.f, lo, off); err != nil {
			return err
		}
		o.noteLate(off, lo)
		p, off = p[len(lo):], off+int64(len(lo))
		if len(p) == 0 {
			return nil
		}
	}
	copy(o.cur[off-o.base:], p)
	return nil
}

// rewind drops everything from off on.
func (o *output) rewind(off int64) error {
	if off < 0 || off > o.pos {
		return fmt.Errorf("internal error: rewind to %d, past the end %d", off, o.pos)
	}
	if off < o.written {
		if err := o.drain(); err != nil {
			return err
		}
		if err := o.f.Truncate(off); err != nil {
			return err
		}
		o.written = off
	}
	o.forgetLate(off, o.pos)
	if off >= o.base {
		o.pos = off
		return nil
	}
	return o.reload(off)
}

// reload makes cur start at the aligned offset below pos, holding the
// file's bytes up to pos; the block writer must be idle.
func (o *output) reload(pos int64) error {
	o.base = alignDown(pos)
	o.pos = pos
	if n := pos - o.base; n > 0 {
		if _, err := o.f.ReadAt(o.cur[:n], o.base); err != nil {
			return fmt.Errorf("read back bytes %d-%d: %w", o.base, pos, err)
		}
	}
	return nil
}

// close stops the block writer after it has written what it was given and
// returns its first error. The caller still owns f.
func (o *output) close() error {
	if o.closed {
		return o.firstErr()
	}
	o.closed = true
	close(o.jobs)
	<-o.stopped
	// Let the spare blocks go: what follows a capture (its verification)
	// reuses their memory. cur stays, for checkLate.
	for len(o.free) > 0 {
		<-o.free
	}
	o.rbuf = nil
	return o.firstErr()
}

// direct reports whether the block writer still bypasses the page cache
// (for tests).
func (o *output) direct() (bool, error) {
	if err := o.drain(); err != nil {
		return false, err
	}
	return o.dfd >= 0, nil
}

// fdatasync flushes f's data (and the metadata needed to read it back) to
// stable storage.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
