package images

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"syscall"
	"unsafe"
)

// Reading back what the output wrote (Options.Verify). Every block the
// block writer hands to the disk with O_DIRECT is read back at once with
// O_DIRECT, from the device and not from a cache, and compared byte for
// byte with the buffer it came from, before that buffer is reused. The few
// bytes that go through the page cache instead (chunk tables patched
// behind the block being filled, the tail at a flush, the header) are kept
// as latePages and read back the same way by checkLate once they are
// synced. The read-back happens on the block writer's goroutine, while the
// capture goes on reading and compressing.

// Test hooks: the writes of the output, so that a test can damage what
// reaches the disk (a bit flipped between the writer and the medium).
var (
	pwriteBlock  = syscall.Pwrite
	pwriteCached = func(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }
)

// readBackError is a byte of the file that, read back from the disk,
// differs from the byte written there.
type readBackError struct {
	off       int64
	got, want byte
	short     bool // the file ends before off
}

func (e *readBackError) Error() string {
	if e.short {
		return fmt.Sprintf("read back from the disk, the file ends before offset %d, which was written", e.off)
	}
	return fmt.Sprintf("read back from the disk, the byte at offset %d is %#02x where %#02x was written", e.off, e.got, e.want)
}

// openDirectRead opens path for reading with O_DIRECT, or returns -1.
func openDirectRead(path string) int {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_DIRECT|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1
		}
		return fd
	}
}

// preadFull reads len(b) bytes at off from fd, fewer only at the end of
// the file.
func preadFull(fd int, b []byte, off int64) (int, error) {
	done := 0
	for done < len(b) {
		n, err := syscall.Pread(fd, b[done:], off+int64(done))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		if n == 0 {
			break
		}
		done += n
	}
	return done, nil
}

// readBack compares the block b just written at off with the disk. A block
// that went (partly) through the page cache cannot be read back from the
// disk here: the output is then marked unchecked and the writer verifies
// the finished file the long way.
func (o *output) readBack(b []byte, off int64, direct bool) error {
	if !direct || o.rfd < 0 {
		o.unchecked.Store(true)
		return nil
	}
	for len(b) > 0 {
		got := o.rbuf[:min(len(b), len(o.rbuf))]
		n, err := preadFull(o.rfd, got, off)
		if err == syscall.EINVAL {
			// O_DIRECT reads refused after all.
			o.unchecked.Store(true)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read back %d bytes at offset %d: %w", len(got), off, err)
		}
		if n != len(got) || !bytes.Equal(got, b[:len(got)]) {
			return firstDifference(got[:n], b[:len(got)], off)
		}
		b, off = b[len(got):], off+int64(len(got))
	}
	return nil
}

// readBackPiece is the read size of readBack: the block is compared in
// pieces, so that its buffer costs little memory.
const readBackPiece = 256 << 10

// alignedPiece returns readBackPiece bytes aligned for O_DIRECT.
func alignedPiece() []byte {
	b := make([]byte, readBackPiece+outAlign)
	skip := (outAlign - int(uintptr(unsafe.Pointer(&b[0]))%outAlign)) % outAlign
	return b[skip : skip+readBackPiece : skip+readBackPiece]
}

// firstDifference describes the first byte where got (read at off)
// differs from want.
func firstDifference(got, want []byte, off int64) error {
	for i := range want {
		if i >= len(got) {
			return &readBackError{off: off + int64(i), short: true}
		}
		if got[i] != want[i] {
			return &readBackError{off: off + int64(i), got: got[i], want: want[i]}
		}
	}
	return nil
}

// latePage is what the page cache was given for one aligned page of the
// file: the bytes whose bit is set.
type latePage struct {
	data [outAlign]byte
	set  [outAlign / 64]uint64
}

func (lp *latePage) isSet(i int) bool { return lp.set[i/64]&(1<<(i%64)) != 0 }

// mark sets (or, with on false, clears) the bits of bytes lo to hi-1.
func (lp *latePage) mark(lo, hi int, on bool) {
	for k := lo; k < hi; k++ {
		if on {
			lp.set[k/64] |= 1 << (k % 64)
		} else {
			lp.set[k/64] &^= 1 << (k % 64)
		}
	}
}

func (lp *latePage) empty() bool {
	for _, w := range lp.set {
		if w != 0 {
			return false
		}
	}
	return true
}

// noteLate records that p was written at off through the page cache.
func (o *output) noteLate(off int64, p []byte) {
	if !o.check {
		return
	}
	for len(p) > 0 {
		page := alignDown(off)
		lp := o.late[page]
		if lp == nil {
			lp = &latePage{}
			o.late[page] = lp
		}
		i := int(off - page)
		n := copy(lp.data[i:], p)
		lp.mark(i, i+n, true)
		p, off = p[n:], off+int64(n)
	}
}

// forgetLate drops what noteLate recorded for [from, to): a later block
// write covers it, or the file was cut there.
func (o *output) forgetLate(from, to int64) {
	if !o.check || len(o.late) == 0 || from >= to {
		return
	}
	for page, lp := range o.late {
		if page+outAlign <= from || page >= to {
			continue
		}
		lp.mark(int(max(from, page)-page), int(min(to, page+outAlign)-page), false)
		if lp.empty() {
			delete(o.late, page)
		}
	}
}

// errNoDirectRead says that checkLate could not read the file from the
// disk, bypassing the page cache.
var errNoDirectRead = fmt.Errorf("the file system refuses direct reads")

// checkLate reads back, from the disk, every page that went through the
// page cache (the file must be synced) and compares the bytes written.
func (o *output) checkLate() error {
	if len(o.late) == 0 {
		return nil
	}
	fd := openDirectRead(o.path)
	if fd < 0 {
		return errNoDirectRead
	}
	defer syscall.Close(fd)
	pages := make([]int64, 0, len(o.late))
	for p := range o.late {
		pages = append(pages, p)
	}
	slices.Sort(pages)
	buf := o.cur // the block writer has stopped
	if len(buf) < outBlockSize {
		buf = alignedBuffer()
	}
	for i := 0; i < len(pages); {
		// One read for a run of consecutive pages.
		j := i + 1
		for j < len(pages) && pages[j] == pages[j-1]+outAlign && (j-i+1)*outAlign <= outBlockSize {
			j++
		}
		start := pages[i]
		got := buf[:(j-i)*outAlign]
		n, err := preadFull(fd, got, start)
		if err == syscall.EINVAL {
			return errNoDirectRead
		}
		if err != nil {
			return fmt.Errorf("read back %d bytes at offset %d: %w", len(got), start, err)
		}
		for k := i; k < j; k++ {
			lp := o.late[pages[k]]
			base := int(pages[k] - start)
			for b := range outAlign {
				if !lp.isSet(b) {
					continue
				}
				if base+b >= n {
					return &readBackError{off: pages[k] + int64(b), short: true}
				}
				if got[base+b] != lp.data[b] {
					return &readBackError{off: pages[k] + int64(b), got: got[base+b], want: lp.data[b]}
				}
			}
		}
		i = j
	}
	return nil
}
