package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LocalStorage keeps groups as folders ROOT/Images/<Group> on a local file
// system. New files are written as hidden temporary files beside their
// target and renamed over it; the folder is synced after every rename.
// Locks are flock(2) locks on a hidden file in the group folder (and
// ROOT/Images/.lock for the store-wide one), so the CLI and a running
// server exclude each other, plus an in-process lock so goroutines of one
// process queue without each holding a thread.
type LocalStorage struct {
	images string // ROOT/Images
}

// lockFile is the name of a group's lock file.
const lockFile = ".lock"

// NewLocalStorage returns the storage under root, creating ROOT/Images if
// needed. root itself must exist.
func NewLocalStorage(root string) (*LocalStorage, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("store root: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("store root %s is not a directory", root)
	}
	dir := filepath.Join(root, "Images")
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("store root: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return &LocalStorage{images: abs}, nil
}

func (l *LocalStorage) dir(group string) string { return filepath.Join(l.images, group) }

// Where implements Storage.
func (l *LocalStorage) Where(group, name string) string {
	if name == "" {
		return l.dir(group)
	}
	return filepath.Join(l.dir(group), name)
}

// Groups implements Storage: every folder of ROOT/Images whose name is a
// valid group name.
func (l *LocalStorage) Groups() ([]string, error) {
	ents, err := os.ReadDir(l.images)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && CheckGroupName(e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// CreateGroup implements Storage: the folder is made under a hidden name
// with its settings file and renamed into place.
func (l *LocalStorage) CreateGroup(group string, settings []byte) error {
	final := l.dir(group)
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("create group %s: %w", final, fs.ErrExist)
	}
	tmp, err := os.MkdirTemp(l.images, ".new-group-*")
	if err != nil {
		return fmt.Errorf("create group %s: %w", final, err)
	}
	if err := writeFileSync(filepath.Join(tmp, SettingsFile), settings); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("create group %s: %w", final, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("create group %s: %w", final, err)
	}
	syncDir(tmp)
	// rename(2) onto an existing empty folder would succeed: the caller
	// holds the store lock, and the check above ran under it.
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("create group %s: %w", final, err)
	}
	return syncDir(l.images)
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// RemoveGroup implements Storage: the folder is renamed to a hidden name
// (so it disappears at once), then removed.
func (l *LocalStorage) RemoveGroup(group string) error {
	tmp, err := os.MkdirTemp(l.images, ".del-group-*")
	if err != nil {
		return err
	}
	gone := filepath.Join(tmp, "g")
	if err := os.Rename(l.dir(group), gone); err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(l.images)
	return os.RemoveAll(tmp)
}

// Files implements Storage.
func (l *LocalStorage) Files(group string) ([]FileInfo, error) {
	ents, err := os.ReadDir(l.dir(group))
	if err != nil {
		return nil, err
	}
	var out []FileInfo
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since ReadDir
			}
			return nil, err
		}
		out = append(out, FileInfo{Name: e.Name(), Size: info.Size(), ModTime: info.ModTime()})
	}
	return out, nil
}

type localFile struct {
	*os.File
	size int64
}

func (f *localFile) Size() int64 { return f.size }

// Open implements Storage.
func (l *LocalStorage) Open(group, name string) (File, error) {
	f, err := os.Open(l.Where(group, name))
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", f.Name())
	}
	return &localFile{File: f, size: st.Size()}, nil
}

type localNewFile struct {
	*os.File
	final string
	done  bool
}

// Create implements Storage.
func (l *LocalStorage) Create(group, name string) (NewFile, error) {
	final := l.Where(group, name)
	f, err := os.CreateTemp(l.dir(group), "."+name+".partial-*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &localNewFile{File: f, final: final}, nil
}

func (f *localNewFile) Commit() error {
	if f.done {
		return errors.New("internal error: file already committed or aborted")
	}
	f.done = true
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.File.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	crashPoint("storage:before-rename")
	if err := os.Rename(f.Name(), f.final); err != nil {
		os.Remove(f.Name())
		return err
	}
	return syncDir(filepath.Dir(f.final))
}

func (f *localNewFile) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	f.File.Close()
	return os.Remove(f.Name())
}

type localUpdateFile struct{ *os.File }

func (f localUpdateFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Update implements Storage.
func (l *LocalStorage) Update(group, name string) (UpdateFile, error) {
	f, err := os.OpenFile(l.Where(group, name), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return localUpdateFile{f}, nil
}

// Remove implements Storage.
func (l *LocalStorage) Remove(group, name string) error {
	if err := os.Remove(l.Where(group, name)); err != nil {
		return err
	}
	return syncDir(l.dir(group))
}

// Cleanup implements Storage: it removes the group folder's hidden
// ".NAME.partial-*" files.
func (l *LocalStorage) Cleanup(group string) ([]string, error) {
	ents, err := os.ReadDir(l.dir(group))
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, ".") || !strings.Contains(n, ".partial-") || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(l.dir(group), n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, n)
	}
	return removed, errors.Join(errs...)
}

// Free implements Storage.
func (l *LocalStorage) Free(group string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(l.dir(group), &st); err != nil {
		return 0, &os.PathError{Op: "statfs", Path: l.dir(group), Err: err}
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// processLocks holds one in-process lock per lock file path, shared by
// every LocalStorage of the process.
var processLocks sync.Map // path -> chan struct{} (capacity 1)

// Lock implements Storage.
func (l *LocalStorage) Lock(ctx context.Context, group string, waiting func()) (func(), error) {
	path := filepath.Join(l.images, lockFile)
	if group != "" {
		path = filepath.Join(l.dir(group), lockFile)
	}
	v, _ := processLocks.LoadOrStore(path, make(chan struct{}, 1))
	sem := v.(chan struct{})
	warned := false
	warn := func() {
		if !warned && waiting != nil {
			warned = true
			waiting()
		}
	}
	select {
	case sem <- struct{}{}:
	default:
		warn()
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w %s: %w", errLockCanceled, path, ctx.Err())
		}
	}
	release := func() { <-sem }
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		release()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	delay := 5 * time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			release()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		warn()
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			f.Close()
			release()
			return nil, fmt.Errorf("%w %s: %w", errLockCanceled, path, ctx.Err())
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			f.Close() // closing the descriptor drops the flock
			release()
		})
	}, nil
}
