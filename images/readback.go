package images

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sort"
	"syscall"
	"unsafe"
)

// Reading back what the output wrote (Options.Verify). Every block the
// block writer hands to the disk with O_DIRECT is read back at once with
// O_DIRECT, from the device and not from a cache, and compared byte for
// byte with the buffer it came from, before that buffer is reused. The few
// bytes that go through the page cache instead (chunk tables patched
// behind the block being filled, the tail at a flush, the header) are kept
// as lateWrites and read back the same way by checkLate once they are
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

// lateWrite is bytes written at off through the page cache. The output
// keeps them sorted by offset and not overlapping (a later write replaces
// the bytes of an earlier one): a chunk table patch takes a record of its
// own size, not a page.
type lateWrite struct {
	off  int64
	data []byte
}

func (r lateWrite) end() int64 { return r.off + int64(len(r.data)) }

// noteLate records that p was written at off through the page cache.
func (o *output) noteLate(off int64, p []byte) {
	if !o.check || len(p) == 0 {
		return
	}
	o.forgetLate(off, off+int64(len(p)))
	i := sort.Search(len(o.late), func(i int) bool { return o.late[i].off >= off })
	o.late = slices.Insert(o.late, i, lateWrite{off: off, data: bytes.Clone(p)})
}

// forgetLate drops what noteLate recorded for [from, to): a later write
// covers it, or the file was cut there.
func (o *output) forgetLate(from, to int64) {
	if !o.check || len(o.late) == 0 || from >= to {
		return
	}
	// Sorted and not overlapping, the records' ends are sorted too.
	i := sort.Search(len(o.late), func(i int) bool { return o.late[i].end() > from })
	j := i
	for j < len(o.late) && o.late[j].off < to {
		j++
	}
	if i == j {
		return
	}
	var rest []lateWrite // the parts of records i..j-1 outside [from, to)
	for _, r := range o.late[i:j] {
		if r.off < from {
			rest = append(rest, lateWrite{off: r.off, data: r.data[:from-r.off]})
		}
		if r.end() > to {
			rest = append(rest, lateWrite{off: to, data: r.data[to-r.off:]})
		}
	}
	o.late = slices.Replace(o.late, i, j, rest...)
}

// errNoDirectRead says that checkLate could not read the file from the
// disk, bypassing the page cache.
var errNoDirectRead = fmt.Errorf("the file system refuses direct reads")

// checkLate reads back, from the disk, every byte that went through the
// page cache (the file must be synced) and compares it with the byte
// written. Records on neighbouring pages share one read.
func (o *output) checkLate() error {
	if len(o.late) == 0 {
		return nil
	}
	fd := openDirectRead(o.path)
	if fd < 0 {
		return errNoDirectRead
	}
	defer syscall.Close(fd)
	buf := o.cur // the block writer has stopped
	if len(buf) < outBlockSize {
		buf = alignedBuffer()
	}
	alignUp := func(n int64) int64 { return alignDown(n + outAlign - 1) }
	var winStart int64 // buf[:n] holds the file from winStart
	n := 0
	for i, r := range o.late {
		for k := 0; k < len(r.data); {
			off := r.off + int64(k)
			if off < winStart || off >= winStart+int64(n) {
				winStart = alignDown(off)
				end := alignUp(r.end())
				for j := i + 1; j < len(o.late) && alignDown(o.late[j].off) <= end && end-winStart < int64(len(buf)); j++ {
					end = max(end, alignUp(o.late[j].end()))
				}
				got := buf[:min(end-winStart, int64(len(buf)))]
				var err error
				n, err = preadFull(fd, got, winStart)
				if err == syscall.EINVAL {
					return errNoDirectRead
				}
				if err != nil {
					return fmt.Errorf("read back %d bytes at offset %d: %w", len(got), winStart, err)
				}
				if off >= winStart+int64(n) {
					return &readBackError{off: off, short: true}
				}
			}
			m := min(len(r.data)-k, int(winStart+int64(n)-off))
			got := buf[off-winStart : off-winStart+int64(m)]
			if !bytes.Equal(got, r.data[k:k+m]) {
				return firstDifference(got, r.data[k:k+m], off)
			}
			k += m
		}
	}
	return nil
}
