package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Storage keeps the files of the store's image groups: each group's
// res.rwm, its images' metadata WIMs and its settings file. LocalStorage
// (folders on a file system, the layout WDS uses) is the default; an
// object-storage backend implements the same few operations.
//
// Group and file names reaching a Storage have been validated by the
// store (CheckGroupName, CheckImageFileName or one of the store's fixed
// names). A Storage must make Create's Commit and CreateGroup atomic (the
// new content appears whole or not at all) and Update's WriteAt past the
// end invisible to readers until the file's header (its first bytes)
// names it.
type Storage interface {
	// Groups returns the names of the groups, in any order.
	Groups() ([]string, error)
	// CreateGroup makes a new group appear at once, holding a settings
	// file with the given content. It fails with fs.ErrExist if the
	// group exists.
	CreateGroup(group string, settings []byte) error
	// RemoveGroup deletes a group and everything in it at once (the
	// caller has checked that it holds nothing of value).
	RemoveGroup(group string) error
	// Files lists the group's first-level files (never its subfolders
	// or their contents, and never the storage's own temporary files).
	Files(group string) ([]FileInfo, error)
	// Open opens a file for reading. A missing file is fs.ErrNotExist.
	Open(group, name string) (File, error)
	// Create starts a new file that replaces name (if it exists) only
	// when committed.
	Create(group, name string) (NewFile, error)
	// Update opens an existing file to add data after its end and then
	// rewrite its first bytes in place.
	Update(group, name string) (UpdateFile, error)
	// Remove deletes a file; a missing file is fs.ErrNotExist.
	Remove(group, name string) error
	// Lock takes the group's writer lock, shared with every process that
	// uses the same storage; group "" is the store-wide lock that
	// serializes group creation. It calls waiting (if not nil) once when
	// another holder makes it wait.
	Lock(ctx context.Context, group string, waiting func()) (unlock func(), err error)
	// Cleanup removes what interrupted writes left in the group (files
	// Create made that were never committed or aborted) and returns their
	// names. The caller holds the group's lock.
	Cleanup(group string) ([]string, error)
	// Free returns the bytes a group's files may still grow by.
	Free(group string) (uint64, error)
	// Where names a file (or, with name "", a group) in messages: a path
	// for local storage.
	Where(group, name string) string
}

// FileInfo describes a file of a group.
type FileInfo struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// File is a file opened for reading; Size is its size when it was opened.
type File interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// NewFile is a file being written. Commit makes it durable and visible
// under its name in one step, replacing any file of that name; Abort (or
// a crash) leaves no trace under the name.
type NewFile interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Commit() error
	Abort() error
}

// UpdateFile is an existing file opened to grow it: new data goes past
// the end, then the header is rewritten in place.
type UpdateFile interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}

// errLockCanceled wraps the context's error when waiting for a lock ends.
var errLockCanceled = errors.New("stopped waiting for the group lock")
