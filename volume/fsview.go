package volume

import (
	"errors"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"
)

// FS returns a read-only fs.FS view of src whose path lookups are
// case-insensitive, as on Windows (an exact-case match wins). Files read
// their unnamed data stream. Directory listings are cached.
func FS(src Source) fs.FS {
	return &fsView{src: src, dirs: map[*Entry][]*Entry{}}
}

type fsView struct {
	src  Source
	mu   sync.Mutex
	root *Entry
	dirs map[*Entry][]*Entry
}

func (v *fsView) children(dir *Entry) ([]*Entry, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if kids, ok := v.dirs[dir]; ok {
		return kids, nil
	}
	kids, err := v.src.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	v.dirs[dir] = kids
	return kids, nil
}

func (v *fsView) lookup(name string) (*Entry, error) {
	v.mu.Lock()
	if v.root == nil {
		r, err := v.src.Root()
		if err != nil {
			v.mu.Unlock()
			return nil, err
		}
		v.root = r
	}
	e := v.root
	v.mu.Unlock()
	if name == "." {
		return e, nil
	}
	for _, part := range strings.Split(name, "/") {
		if !e.IsDir() || e.Attributes&AttrReparsePoint != 0 {
			return nil, fs.ErrNotExist
		}
		kids, err := v.children(e)
		if err != nil {
			return nil, err
		}
		var found *Entry
		for _, k := range kids {
			if k.Name == part {
				found = k
				break
			}
			if found == nil && strings.EqualFold(k.Name, part) {
				found = k
			}
		}
		if found == nil {
			return nil, fs.ErrNotExist
		}
		e = found
	}
	return e, nil
}

// Open implements fs.FS.
func (v *fsView) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	e, err := v.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f := &fsFile{v: v, e: e, name: name}
	if !e.IsDir() {
		for i, s := range e.Streams {
			if s.Name == "" {
				rc, err := v.src.OpenStream(e, i)
				if err != nil {
					return nil, &fs.PathError{Op: "open", Path: name, Err: err}
				}
				f.rc = rc
			}
		}
	}
	return f, nil
}

type fsFile struct {
	v    *fsView
	e    *Entry
	name string
	rc   io.ReadCloser
	off  int
}

func (f *fsFile) Stat() (fs.FileInfo, error) { return entryInfo{f.e}, nil }

func (f *fsFile) Read(p []byte) (int, error) {
	if f.e.IsDir() {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: errors.New("is a directory")}
	}
	if f.rc == nil {
		return 0, io.EOF
	}
	return f.rc.Read(p)
}

func (f *fsFile) Close() error {
	if f.rc != nil {
		return f.rc.Close()
	}
	return nil
}

// ReadDir implements fs.ReadDirFile.
func (f *fsFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !f.e.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: f.name, Err: errors.New("not a directory")}
	}
	kids, err := f.v.children(f.e)
	if err != nil {
		return nil, err
	}
	rest := kids[f.off:]
	if n > 0 && len(rest) > n {
		rest = rest[:n]
	}
	f.off += len(rest)
	out := make([]fs.DirEntry, len(rest))
	for i, k := range rest {
		out[i] = fs.FileInfoToDirEntry(entryInfo{k})
	}
	if n > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

type entryInfo struct{ e *Entry }

func (i entryInfo) Name() string { return i.e.Name }
func (i entryInfo) Size() int64 {
	for _, s := range i.e.Streams {
		if s.Name == "" {
			return s.Size
		}
	}
	return 0
}
func (i entryInfo) Mode() fs.FileMode {
	if i.e.IsDir() {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i entryInfo) ModTime() time.Time {
	t := int64(i.e.LastWriteTime) - filetimeEpochDiff
	return time.Unix(t/10000000, t%10000000*100)
}
func (i entryInfo) IsDir() bool { return i.e.IsDir() }
func (i entryInfo) Sys() any    { return i.e }
