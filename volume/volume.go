// Package volume opens a volume or a directory as a tree of Windows-style
// file entries for capture. It knows nothing about WIM files: the images
// package consumes a Source and writes what it yields.
package volume

import (
	"io"
)

// Windows file attribute bits (FILE_ATTRIBUTE_*), as stored in NTFS and WIM.
const (
	AttrReadOnly          = 0x00000001
	AttrHidden            = 0x00000002
	AttrSystem            = 0x00000004
	AttrDirectory         = 0x00000010
	AttrArchive           = 0x00000020
	AttrDevice            = 0x00000040
	AttrNormal            = 0x00000080
	AttrTemporary         = 0x00000100
	AttrSparseFile        = 0x00000200
	AttrReparsePoint      = 0x00000400
	AttrCompressed        = 0x00000800
	AttrOffline           = 0x00001000
	AttrNotContentIndexed = 0x00002000
	AttrEncrypted         = 0x00004000
)

// Common reparse tags.
const (
	ReparseTagMountPoint = 0xA0000003 // junction
	ReparseTagSymlink    = 0xA000000C
)

// Entry is one file or directory of a source tree. Times are Windows
// FILETIMEs: 100 ns intervals since 1601-01-01 UTC.
type Entry struct {
	// Name is the long file name; empty for the root directory.
	Name string
	// ShortName is the DOS 8.3 name, empty when the file has none.
	ShortName string
	// Attributes holds FILE_ATTRIBUTE_* bits; AttrDirectory marks a directory.
	Attributes uint32
	// CreationTime, LastWriteTime and LastAccessTime are FILETIMEs.
	CreationTime, LastWriteTime, LastAccessTime uint64
	// Security is a self-relative security descriptor, nil when none.
	Security []byte
	// ReparseTag is the reparse point tag when Attributes has AttrReparsePoint.
	ReparseTag uint32
	// ReparseData is the reparse buffer after its 8-byte header
	// (tag, data length, reserved); nil when the entry is not a reparse point.
	ReparseData []byte
	// LinkID groups hard links: entries with the same non-zero LinkID are
	// names of one file and share streams, times and attributes.
	LinkID uint64
	// Streams lists the data streams. The unnamed data stream, when present,
	// has Name "". Directories normally have no unnamed data stream.
	Streams []Stream
	// Handle is private to the Source that made the entry.
	Handle any
}

// IsDir reports whether the entry is a directory.
func (e *Entry) IsDir() bool { return e.Attributes&AttrDirectory != 0 }

// Stream is one data stream of an entry.
type Stream struct {
	// Name is "" for the unnamed (default) data stream.
	Name string
	// Size is the logical size in bytes.
	Size int64
}

// Source is a tree of entries that can be captured.
//
// ReadDir is called from one goroutine at a time; OpenStream must be safe for
// concurrent use by several goroutines.
type Source interface {
	// Root returns the root directory.
	Root() (*Entry, error)
	// ReadDir returns the children of dir in a stable order.
	ReadDir(dir *Entry) ([]*Entry, error)
	// OpenStream opens stream index i of e (an index into e.Streams).
	// The reader yields exactly e.Streams[i].Size bytes.
	OpenStream(e *Entry, i int) (io.ReadCloser, error)
	// Close releases the source.
	Close() error
}
