package volume

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"unicode/utf16"
)

// filetimeEpochDiff is the number of 100 ns intervals between 1601-01-01 and
// 1970-01-01.
const filetimeEpochDiff = 116444736000000000

// FiletimeFromUnix converts seconds and nanoseconds since 1970 to a FILETIME.
func FiletimeFromUnix(sec, nsec int64) uint64 {
	return uint64(sec*10000000 + nsec/100 + filetimeEpochDiff)
}

// Dir is a Source over a Linux directory tree, captured the way wimlib's
// UNIX mode captures it: regular files get FILE_ATTRIBUTE_NORMAL (or
// SPARSE_FILE when they use fewer blocks than their size), creation and
// last-write time are the mtime, symbolic links become symlink reparse
// points, and files with several hard links share one LinkID. Sockets,
// FIFOs and device nodes are skipped with a warning.
type Dir struct {
	root string
	log  *slog.Logger
}

// dirHandle locates an entry by its parent's handle and its name, not by
// a path string of its own: a tree of a hundred thousand entries would
// otherwise hold every directory's path once per child.
type dirHandle struct {
	parent *dirHandle
	name   string // the root's path for the root
}

func (h *dirHandle) path() string {
	if h.parent == nil {
		return h.name
	}
	return filepath.Join(h.parent.path(), h.name)
}

// OpenDir opens the directory tree at root. log receives warnings; nil
// discards them.
func OpenDir(root string, log *slog.Logger) (*Dir, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", root)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dir{root: root, log: log}, nil
}

// Root implements Source.
func (d *Dir) Root() (*Entry, error) {
	e, _, err := d.entry(&dirHandle{name: d.root}, "")
	return e, err
}

// ReadDir implements Source.
func (d *Dir) ReadDir(dir *Entry) ([]*Entry, error) {
	h := dir.Handle.(*dirHandle)
	dirPath := h.path()
	f, err := os.Open(dirPath)
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dirPath, err)
	}
	sort.Strings(names)
	out := make([]*Entry, 0, len(names))
	for _, n := range names {
		e, ok, err := d.entryIn(dirPath, &dirHandle{parent: h, name: n}, n)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, e)
		}
	}
	return out, nil
}

func (d *Dir) entry(h *dirHandle, name string) (*Entry, bool, error) {
	return d.entryIn("", h, name)
}

// entryIn makes the entry of h, whose parent directory's path is dir ("" for
// the root).
func (d *Dir) entryIn(dir string, h *dirHandle, name string) (*Entry, bool, error) {
	p := h.name
	if h.parent != nil {
		p = filepath.Join(dir, h.name)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return nil, false, fmt.Errorf("stat %s: %w", p, err)
	}
	e := &Entry{
		Name:           name,
		CreationTime:   FiletimeFromUnix(st.Mtim.Sec, st.Mtim.Nsec),
		LastWriteTime:  FiletimeFromUnix(st.Mtim.Sec, st.Mtim.Nsec),
		LastAccessTime: FiletimeFromUnix(st.Atim.Sec, st.Atim.Nsec),
		Handle:         h,
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		e.Attributes = AttrDirectory
	case syscall.S_IFREG:
		e.Attributes = AttrNormal
		if st.Blocks < (st.Size+511)/512 {
			e.Attributes = AttrSparseFile
		}
		e.Streams = []Stream{{Size: st.Size}}
		if st.Nlink > 1 {
			e.LinkID = uint64(st.Dev)<<48 ^ st.Ino
		}
	case syscall.S_IFLNK:
		target, err := os.Readlink(p)
		if err != nil {
			return nil, false, fmt.Errorf("read link %s: %w", p, err)
		}
		data, err := SymlinkReparseData(target)
		if err != nil {
			return nil, false, fmt.Errorf("symbolic link %s: %w", p, err)
		}
		e.Attributes = AttrReparsePoint
		e.ReparseTag = ReparseTagSymlink
		e.ReparseData = data
		if t, err := os.Stat(p); err == nil && t.IsDir() {
			e.Attributes |= AttrDirectory
		} else {
			e.Streams = []Stream{{Size: 0}}
		}
	default:
		d.log.Warn("skipping special file (socket, FIFO or device)", "path", p)
		return nil, false, nil
	}
	return e, true, nil
}

// OpenStream implements Source.
func (d *Dir) OpenStream(e *Entry, i int) (io.ReadCloser, error) {
	if i != 0 || len(e.Streams) == 0 || e.Attributes&AttrReparsePoint != 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	p := e.Handle.(*dirHandle).path()
	fd, err := openRaw(p)
	if err != nil {
		return nil, err
	}
	return &exactReader{fd: fd, left: e.Streams[0].Size, path: p}, nil
}

// Close implements Source.
func (d *Dir) Close() error { return nil }

// openRaw opens a file for reading by its descriptor alone. os.Open would
// try to register every file with the runtime's network poller, which
// costs four fcntl calls and a failing epoll_ctl per file: on a capture of
// tens of thousands of small files, more than reading them. O_NOATIME keeps
// the capture from touching access times where the kernel allows it (the
// file's owner or root).
func openRaw(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOATIME, 0)
		if err == syscall.EPERM {
			fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// exactReader yields exactly the size recorded at scan time, so a file
// that grows or shrinks during capture is an error, not a corrupt stream.
type exactReader struct {
	fd   int
	left int64
	path string
}

func (r *exactReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := syscall.Read(r.fd, p)
	for err == syscall.EINTR {
		n, err = syscall.Read(r.fd, p)
	}
	if err != nil {
		return 0, &os.PathError{Op: "read", Path: r.path, Err: err}
	}
	r.left -= int64(n)
	if n == 0 {
		return 0, fmt.Errorf("%s: file shrank during capture (%d bytes missing)", r.path, r.left)
	}
	return n, nil
}

func (r *exactReader) Close() error {
	if r.fd < 0 {
		return nil
	}
	err := syscall.Close(r.fd)
	r.fd = -1
	if err != nil {
		return &os.PathError{Op: "close", Path: r.path, Err: err}
	}
	return nil
}

// SymlinkReparseData builds the data of a symlink reparse point (after the
// 8-byte reparse header) for a UNIX link target, as wimlib does: '/' and
// '\' are swapped, a relative target sets SYMLINK_FLAG_RELATIVE, and an
// absolute one gets the substitute name "\??\C:" + target.
func SymlinkReparseData(target string) ([]byte, error) {
	t := []rune(target)
	for i, c := range t {
		switch c {
		case '/':
			t[i] = '\\'
		case '\\':
			t[i] = '/'
		}
	}
	u := utf16.Encode(t)
	var subst, print []uint16
	var flags uint32
	if len(u) == 0 || u[0] == '\\' {
		subst = append(utf16.Encode([]rune(`\??\C:`)), u...)
		print = subst[4:]
	} else {
		flags = 1
		subst, print = u, u
	}
	if 12+2*len(subst)+2*len(print)+4 > 16*1024 {
		return nil, fmt.Errorf("link target of %d characters is too long for a reparse point", len(t))
	}
	b := make([]byte, 12, 12+2*len(subst)+2*len(print)+4)
	binary.LittleEndian.PutUint16(b[0:], 0)
	binary.LittleEndian.PutUint16(b[2:], uint16(2*len(subst)))
	binary.LittleEndian.PutUint16(b[4:], uint16(2*len(subst)+2))
	binary.LittleEndian.PutUint16(b[6:], uint16(2*len(print)))
	binary.LittleEndian.PutUint32(b[8:], flags)
	for _, c := range subst {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	b = append(b, 0, 0)
	for _, c := range print {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	b = append(b, 0, 0)
	return b, nil
}
