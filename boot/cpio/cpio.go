// Package cpio writes and reads the "newc" cpio archives that Linux
// unpacks as its initramfs.
//
// Why our own instead of u-root's pkg/cpio: the initramfs needs only the
// newc format, about 150 lines with the reader the tests use, while
// u-root's package would bring the whole u-root module (some fifty
// requirements) into go.mod. The writer is checked against the kernel
// itself (the lab boots what it writes) and against GNU cpio in the tests.
package cpio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

const (
	magic      = "070701"
	headerSize = 110
	trailer    = "TRAILER!!!"
	// MaxNameLen bounds a name in the reader.
	MaxNameLen = 4096
)

// Mode bits of the newc header (the st_mode of the file).
const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
	modeType    = 0o170000
)

// Writer writes a newc archive. Permissions are Unix mode bits (0o7777,
// with setuid, setgid and sticky). Parent directories are written
// automatically before the first entry inside them. Every entry gets the
// same modification time (MTime), so that the same input gives the same
// archive.
type Writer struct {
	w     io.Writer
	n     int64
	ino   uint32
	dirs  map[string]bool
	names map[string]bool
	// MTime is the modification time written for every entry (Unix
	// seconds).
	MTime  int64
	closed bool
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, dirs: map[string]bool{".": true, "": true}, names: map[string]bool{}}
}

// Len returns the bytes written so far.
func (w *Writer) Len() int64 { return w.n }

func cleanName(name string) (string, error) {
	c := path.Clean("/" + name)[1:]
	if c == "" || c == "." || strings.ContainsRune(c, 0) {
		return "", fmt.Errorf("cpio: bad entry name %q", name)
	}
	if c == trailer {
		return "", fmt.Errorf("cpio: entry name %q is the trailer's", name)
	}
	return c, nil
}

func (w *Writer) header(name string, mode uint32, size int64, rmajor, rminor uint32) error {
	if w.closed {
		return errors.New("cpio: write after Close")
	}
	if size < 0 || size > 0xFFFFFFFF {
		return fmt.Errorf("cpio: %s: size %d does not fit the newc format (4 GiB)", name, size)
	}
	w.ino++
	nlink := uint32(1)
	if mode&modeType == modeDir {
		nlink = 2
	}
	fields := []uint32{w.ino, mode, 0, 0, nlink, uint32(w.MTime), uint32(size), 0, 0, rmajor, rminor, uint32(len(name) + 1), 0}
	var b bytes.Buffer
	b.WriteString(magic)
	for _, f := range fields {
		fmt.Fprintf(&b, "%08X", f)
	}
	b.WriteString(name)
	b.WriteByte(0)
	for (b.Len())%4 != 0 {
		b.WriteByte(0)
	}
	return w.write(b.Bytes())
}

func (w *Writer) write(p []byte) error {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return err
}

func (w *Writer) pad() error {
	if r := w.n % 4; r != 0 {
		return w.write(make([]byte, 4-r))
	}
	return nil
}

// parents writes the missing parent directories of name (mode 0755).
func (w *Writer) parents(name string) error {
	dir := path.Dir(name)
	if w.dirs[dir] {
		return nil
	}
	if err := w.parents(dir); err != nil {
		return err
	}
	w.dirs[dir] = true
	w.names[dir] = true
	return w.header(dir, modeDir|0o755, 0, 0, 0)
}

func (w *Writer) begin(name string) (string, error) {
	c, err := cleanName(name)
	if err != nil {
		return "", err
	}
	if w.names[c] {
		return "", fmt.Errorf("cpio: %s written twice", c)
	}
	if err := w.parents(c); err != nil {
		return "", err
	}
	w.names[c] = true
	return c, nil
}

// Dir writes a directory.
func (w *Writer) Dir(name string, perm uint32) error {
	c, err := cleanName(name)
	if err != nil {
		return err
	}
	if w.dirs[c] {
		return nil
	}
	if c, err = w.begin(c); err != nil {
		return err
	}
	w.dirs[c] = true
	return w.header(c, modeDir|perm&0o7777, 0, 0, 0)
}

// File writes a regular file of size bytes read from r.
func (w *Writer) File(name string, perm uint32, r io.Reader, size int64) error {
	c, err := w.begin(name)
	if err != nil {
		return err
	}
	if err := w.header(c, modeRegular|perm&0o7777, size, 0, 0); err != nil {
		return err
	}
	n, err := io.Copy(writerFunc(w.write), io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("cpio: %s: %w", c, err)
	}
	if n != size {
		return fmt.Errorf("cpio: %s: %d bytes instead of %d", c, n, size)
	}
	return w.pad()
}

// Bytes writes a regular file holding data.
func (w *Writer) Bytes(name string, perm uint32, data []byte) error {
	return w.File(name, perm, bytes.NewReader(data), int64(len(data)))
}

// Symlink writes a symbolic link to target.
func (w *Writer) Symlink(name, target string) error {
	c, err := w.begin(name)
	if err != nil {
		return err
	}
	if target == "" {
		return fmt.Errorf("cpio: symlink %s has no target", c)
	}
	if err := w.header(c, modeSymlink|0o777, int64(len(target)), 0, 0); err != nil {
		return err
	}
	if err := w.write([]byte(target)); err != nil {
		return err
	}
	return w.pad()
}

// CharDev writes a character device node.
func (w *Writer) CharDev(name string, perm uint32, major, minor uint32) error {
	c, err := w.begin(name)
	if err != nil {
		return err
	}
	return w.header(c, modeCharDev|perm&0o7777, 0, major, minor)
}

// Close writes the trailer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	if err := w.header(trailer, 0, 0, 0, 0); err != nil {
		return err
	}
	w.closed = true
	return nil
}

type writerFunc func([]byte) error

func (f writerFunc) Write(p []byte) (int, error) {
	if err := f(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Entry is one member of an archive, as Reader returns it.
type Entry struct {
	Name   string
	Mode   uint32 // st_mode: type and permission bits
	Size   int64
	MTime  int64
	RMajor uint32
	RMinor uint32
	Data   []byte // file contents or symlink target
}

// IsDir, IsRegular, IsSymlink and IsCharDev report the entry's type.
func (e *Entry) IsDir() bool     { return e.Mode&modeType == modeDir }
func (e *Entry) IsRegular() bool { return e.Mode&modeType == modeRegular }
func (e *Entry) IsSymlink() bool { return e.Mode&modeType == modeSymlink }
func (e *Entry) IsCharDev() bool { return e.Mode&modeType == modeCharDev }

// Perm returns the permission bits (0o7777: with setuid, setgid, sticky).
func (e *Entry) Perm() uint32 { return e.Mode & 0o7777 }

// ReadAll reads every entry of a newc archive up to its trailer. Data
// larger than maxData in total is refused, so that a hostile archive
// cannot exhaust memory.
func ReadAll(r io.Reader, maxData int64) ([]Entry, error) {
	var out []Entry
	var off, total int64
	hdr := make([]byte, headerSize)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return out, fmt.Errorf("cpio: header at %d: %w", off, unexpected(err))
		}
		if string(hdr[:6]) != magic {
			return out, fmt.Errorf("cpio: bad magic %q at %d (want newc %s)", hdr[:6], off, magic)
		}
		var f [13]uint32
		for i := range f {
			v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return out, fmt.Errorf("cpio: header at %d: field %d: %w", off, i, err)
			}
			f[i] = uint32(v)
		}
		nameSize := int64(f[11])
		if nameSize < 1 || nameSize > MaxNameLen {
			return out, fmt.Errorf("cpio: header at %d: name size %d", off, nameSize)
		}
		namePad := (4 - (headerSize+nameSize)%4) % 4
		name := make([]byte, nameSize+namePad)
		if _, err := io.ReadFull(r, name); err != nil {
			return out, fmt.Errorf("cpio: name at %d: %w", off, unexpected(err))
		}
		if name[nameSize-1] != 0 {
			return out, fmt.Errorf("cpio: name at %d is not NUL-terminated", off)
		}
		e := Entry{Name: string(name[:nameSize-1]), Mode: f[1], Size: int64(f[6]), MTime: int64(f[5]), RMajor: f[9], RMinor: f[10]}
		off += headerSize + nameSize + namePad
		if e.Name == trailer {
			return out, nil
		}
		total += e.Size
		if total > maxData {
			return out, fmt.Errorf("cpio: more than %d bytes of data (entry %s)", maxData, e.Name)
		}
		dataPad := (4 - e.Size%4) % 4
		data := make([]byte, e.Size+dataPad)
		if _, err := io.ReadFull(r, data); err != nil {
			return out, fmt.Errorf("cpio: data of %s: %w", e.Name, unexpected(err))
		}
		e.Data = data[:e.Size]
		off += e.Size + dataPad
		out = append(out, e)
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
