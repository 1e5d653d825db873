// Package fileopen opens input files (disk images, WIMs, settings files,
// capture sources) without ever blocking in open(2): opening a FIFO for
// reading waits for a writer, which no signal handler can interrupt, so a
// FIFO given where a file belongs would hang the program. Files are opened
// with O_NONBLOCK and their type is checked on the open descriptor; the
// flag is then cleared, so reads behave as usual.
package fileopen

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// TypeError reports a file whose type does not fit: a directory, a FIFO,
// a device, a socket where a regular file (or block device) belongs.
type TypeError struct {
	Path string
	Mode fs.FileMode
	Want string // "a regular file", "a WIM file", ...
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("%s is %s, not %s", e.Path, Kind(e.Mode), e.Want)
}

// Kind names the type of a file for messages: "a directory", "a FIFO
// (named pipe)", "a character device", ...
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsRegular():
		return "a regular file"
	}
	return "an unusual file"
}

// IsBlockDevice reports whether m is a block device.
func IsBlockDevice(m fs.FileMode) bool {
	return m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0
}

// Open opens path read-only without blocking and returns the file with its
// information. allowBlock also accepts block devices; anything else but a
// regular file gives a *TypeError naming want.
func Open(path, want string, allowBlock bool) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() && !(allowBlock && IsBlockDevice(st.Mode())) {
		f.Close()
		return nil, nil, &TypeError{Path: path, Mode: st.Mode(), Want: want}
	}
	if err := clearNonblock(f); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, st, nil
}

func clearNonblock(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = sc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) })
	if err != nil {
		return err
	}
	return serr
}
