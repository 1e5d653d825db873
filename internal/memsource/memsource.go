// Package memsource is an in-memory volume.Source for tests and fixtures:
// it can hold everything a Windows volume can (security descriptors, named
// streams, short names, reparse points, hard links) and generated streams
// of any size without storing them.
package memsource

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/wdscapture/wdscapture/volume"
)

// Content produces a stream's bytes on demand.
type Content interface {
	Size() int64
	Open() io.Reader
}

// Bytes is content held in memory.
type Bytes []byte

// Size implements Content.
func (b Bytes) Size() int64 { return int64(len(b)) }

// Open implements Content.
func (b Bytes) Open() io.Reader { return bytes.NewReader(b) }

// Pattern is N bytes of a repeating seeded pseudo-random pattern, cheap to
// produce at any size (for files larger than 4 GiB).
type Pattern struct {
	N    int64
	Seed uint32
	// Zero makes every byte zero (a sparse-looking file).
	Zero bool
}

// Size implements Content.
func (p Pattern) Size() int64 { return p.N }

// Open implements Content.
func (p Pattern) Open() io.Reader { return &patternReader{left: p.N, state: p.Seed | 1, zero: p.Zero} }

type patternReader struct {
	left  int64
	state uint32
	zero  bool
}

func (r *patternReader) Read(b []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > r.left {
		b = b[:r.left]
	}
	if r.zero {
		clear(b)
	} else {
		for i := range b {
			r.state ^= r.state << 13
			r.state ^= r.state >> 17
			r.state ^= r.state << 5
			b[i] = byte(r.state >> 24)
		}
	}
	r.left -= int64(len(b))
	return len(b), nil
}

// File is one node of the tree. Directories have Children.
type File struct {
	volume.Entry
	// Data holds one Content per entry of Entry.Streams (same order).
	Data     []Content
	Children []*File
}

// Source serves a File tree as a volume.Source.
type Source struct {
	Root_ *File
}

// New returns a Source whose root is a directory with the given children.
func New(children ...*File) *Source {
	return &Source{Root_: &File{Entry: volume.Entry{Attributes: volume.AttrDirectory}, Children: children}}
}

// Root implements volume.Source.
func (s *Source) Root() (*volume.Entry, error) { return s.entry(s.Root_), nil }

func (s *Source) entry(f *File) *volume.Entry {
	e := f.Entry
	e.Handle = f
	e.Streams = nil
	for i, st := range f.Streams {
		st.Size = f.Data[i].Size()
		e.Streams = append(e.Streams, st)
	}
	return &e
}

// ReadDir implements volume.Source.
func (s *Source) ReadDir(dir *volume.Entry) ([]*volume.Entry, error) {
	f := dir.Handle.(*File)
	out := make([]*volume.Entry, 0, len(f.Children))
	for _, c := range f.Children {
		out = append(out, s.entry(c))
	}
	return out, nil
}

// OpenStream implements volume.Source.
func (s *Source) OpenStream(e *volume.Entry, i int) (io.ReadCloser, error) {
	f := e.Handle.(*File)
	if i < 0 || i >= len(f.Data) {
		return nil, fmt.Errorf("%s: no stream %d", e.Name, i)
	}
	return io.NopCloser(f.Data[i].Open()), nil
}

// Close implements volume.Source.
func (s *Source) Close() error { return nil }

// Dir makes a directory.
func Dir(name string, children ...*File) *File {
	return &File{Entry: volume.Entry{Name: name, Attributes: volume.AttrDirectory}, Children: children}
}

// Regular makes a file with an unnamed data stream.
func Regular(name string, data Content) *File {
	return &File{Entry: volume.Entry{Name: name, Attributes: volume.AttrArchive, Streams: []volume.Stream{{}}}, Data: []Content{data}}
}

// Text makes a file holding s.
func Text(name, s string) *File { return Regular(name, Bytes(s)) }

// WithStream adds a named stream to f and returns f.
func (f *File) WithStream(name string, data Content) *File {
	f.Streams = append(f.Streams, volume.Stream{Name: name})
	f.Data = append(f.Data, data)
	return f
}

// Find returns the file at a `\`- or `/`-separated path below root.
func (s *Source) Find(path string) *File {
	f := s.Root_
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return r == '/' || r == '\\' }) {
		var next *File
		for _, c := range f.Children {
			if c.Name == part {
				next = c
			}
		}
		if next == nil {
			return nil
		}
		f = next
	}
	return f
}
