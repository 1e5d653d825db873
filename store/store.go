package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strings"

	"github.com/wdscapture/wdscapture/images"
)

// ResourceFile is the name of a group's shared resource WIM.
const ResourceFile = "res.rwm"

// Errors a caller branches on (with errors.Is).
var (
	// ErrNotFound: the group or image does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a group or image of that name exists already.
	ErrConflict = errors.New("already exists")
	// ErrAccessDenied: the token may not do this.
	ErrAccessDenied = errors.New("access denied")
	// ErrDamaged: a WIM given to the store, or data the store keeps,
	// fails verification.
	ErrDamaged = errors.New("damaged data")
)

// Store is an image store: the groups its Storage keeps.
type Store struct {
	st  Storage
	log *slog.Logger
	// OnWait, when set, is called when an operation has to wait for
	// another one (in this or another process) to release a group.
	OnWait func(group string)
}

// Open opens the store whose root folder is root (groups live in
// ROOT/Images), creating ROOT/Images if needed.
func Open(root string) (*Store, error) {
	ls, err := NewLocalStorage(root)
	if err != nil {
		return nil, err
	}
	return New(ls, nil), nil
}

// New returns a store kept by st; log receives warnings (nil discards
// them).
func New(st Storage, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{st: st, log: log}
}

// Storage returns the store's storage.
func (s *Store) Storage() Storage { return s.st }

func (s *Store) lock(ctx context.Context, group string) (func(), error) {
	return s.st.Lock(ctx, group, func() {
		if s.OnWait != nil {
			s.OnWait(group)
		}
	})
}

// resolveGroup validates name and returns the group's name as stored
// (group names match case-insensitively).
func (s *Store) resolveGroup(name string) (string, error) {
	if err := CheckGroupName(name); err != nil {
		return "", err
	}
	groups, err := s.st.Groups()
	if err != nil {
		return "", fmt.Errorf("list groups: %w", err)
	}
	if slices.Contains(groups, name) {
		return name, nil
	}
	for _, g := range groups {
		if strings.EqualFold(g, name) {
			return g, nil
		}
	}
	return "", fmt.Errorf("%w: no image group %q", ErrNotFound, name)
}

// loadSettings reads a group's settings; a group without a settings file
// has DefaultSettings.
func (s *Store) loadSettings(group string) (*Settings, error) {
	f, err := s.st.Open(group, SettingsFile)
	if errors.Is(err, fs.ErrNotExist) {
		d := DefaultSettings()
		return &d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", group, err)
	}
	defer f.Close()
	if f.Size() > maxSettingsSize {
		return nil, fmt.Errorf("%s: %w: %d bytes, more than the %d allowed", s.st.Where(group, SettingsFile), ErrSettings, f.Size(), maxSettingsSize)
	}
	data := make([]byte, f.Size())
	if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", s.st.Where(group, SettingsFile), err)
	}
	set, err := ParseSettings(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.st.Where(group, SettingsFile), err)
	}
	return set, nil
}

// saveSettings replaces a group's settings file atomically.
func (s *Store) saveSettings(group string, set *Settings) error {
	if err := set.Validate(); err != nil {
		return err
	}
	f, err := s.st.Create(group, SettingsFile)
	if err != nil {
		return fmt.Errorf("write %s: %w", s.st.Where(group, SettingsFile), err)
	}
	if _, err := f.WriteAt(set.Marshal(), 0); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", s.st.Where(group, SettingsFile), err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("write %s: %w", s.st.Where(group, SettingsFile), err)
	}
	return nil
}

// GroupOptions are the settings of a new group.
type GroupOptions struct {
	// Read and Write are the group's ACL; nil means the default
	// (DefaultSettings), an empty non-nil list means nobody.
	Read, Write []string
	// Compression, when set, fixes the type of the group's images before
	// the first one is added.
	Compression *images.Compression
}

// CreateGroup creates an empty image group.
func (s *Store) CreateGroup(ctx context.Context, name string, opts GroupOptions) error {
	if err := CheckGroupName(name); err != nil {
		return err
	}
	set := DefaultSettings()
	if opts.Read != nil {
		set.Read = opts.Read
	}
	if opts.Write != nil {
		set.Write = opts.Write
	}
	if opts.Compression != nil {
		set.Compression = opts.Compression.String()
	}
	if err := set.Validate(); err != nil {
		return err
	}
	unlock, err := s.lock(ctx, "")
	if err != nil {
		return err
	}
	defer unlock()
	return s.createGroupLocked(name, &set)
}

func (s *Store) createGroupLocked(name string, set *Settings) error {
	if g, err := s.resolveGroup(name); err == nil {
		return fmt.Errorf("%w: image group %q (as %q)", ErrConflict, name, g)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := s.st.CreateGroup(name, set.Marshal()); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: image group %q", ErrConflict, name)
		}
		return err
	}
	s.log.Info("image group created", "group", name)
	return nil
}

// ensureGroup returns the group named name, creating it with the default
// settings when there is none (WDSUTIL /Add-Image does the same).
func (s *Store) ensureGroup(ctx context.Context, name string) (string, bool, error) {
	g, err := s.resolveGroup(name)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return g, false, err
	}
	unlock, err := s.lock(ctx, "")
	if err != nil {
		return "", false, err
	}
	defer unlock()
	if g, err := s.resolveGroup(name); err == nil {
		return g, false, nil
	}
	set := DefaultSettings()
	if err := s.createGroupLocked(name, &set); err != nil {
		return "", false, err
	}
	return name, true, nil
}

// GroupInfo describes an image group.
type GroupInfo struct {
	Name string
	// Compression is the type every image of the group has: "none",
	// "XPRESS" or "LZX", or "" while the group has no type yet.
	Compression string
	Settings    Settings
	// Images is the number of images; ResourceBytes the size of res.rwm.
	Images        int
	ResourceBytes int64
}

// Groups describes every group, sorted by name.
func (s *Store) Groups() ([]GroupInfo, error) {
	names, err := s.st.Groups()
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	out := make([]GroupInfo, 0, len(names))
	for _, g := range names {
		info, err := s.groupInfo(g)
		if err != nil {
			return nil, err
		}
		out = append(out, *info)
	}
	return out, nil
}

// Group describes one group.
func (s *Store) Group(name string) (*GroupInfo, error) {
	g, err := s.resolveGroup(name)
	if err != nil {
		return nil, err
	}
	return s.groupInfo(g)
}

func (s *Store) groupInfo(g string) (*GroupInfo, error) {
	set, err := s.loadSettings(g)
	if err != nil {
		return nil, err
	}
	files, err := s.imageFiles(g)
	if err != nil {
		return nil, err
	}
	info := &GroupInfo{Name: g, Settings: *set, Images: len(files)}
	comp, size, err := s.groupCompression(g, set, len(files) > 0)
	if err != nil {
		return nil, err
	}
	info.ResourceBytes = size
	if comp != nil {
		info.Compression = comp.String()
	}
	return info, nil
}

// groupCompression returns the group's compression type (nil: not set
// yet) and the size of its res.rwm (0 if none). A group with images has
// the type of its res.rwm; one without has the type its settings pin, or
// none yet.
func (s *Store) groupCompression(g string, set *Settings, hasImages bool) (*images.Compression, int64, error) {
	var size int64
	if hasImages {
		f, err := s.st.Open(g, ResourceFile)
		if err != nil {
			return nil, 0, fmt.Errorf("group %s has images but its %s cannot be opened: %w", g, ResourceFile, err)
		}
		defer f.Close()
		size = f.Size()
		c, err := images.HeaderCompression(f, f.Size())
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", s.st.Where(g, ResourceFile), err)
		}
		return &c, size, nil
	}
	if f, err := s.st.Open(g, ResourceFile); err == nil {
		size = f.Size()
		f.Close()
	}
	if set.Compression != "" {
		c, err := images.ParseCompression(set.Compression)
		if err != nil {
			return nil, 0, err
		}
		return &c, size, nil
	}
	return nil, size, nil
}

// imageFiles lists the group's images: its first-level .wim files.
func (s *Store) imageFiles(g string) ([]FileInfo, error) {
	files, err := s.st.Files(g)
	if err != nil {
		return nil, fmt.Errorf("list group %s: %w", g, err)
	}
	var out []FileInfo
	for _, f := range files {
		if CheckImageFileName(f.Name) == nil {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out, nil
}

// SetGroupACL replaces a group's read and/or write list (nil leaves a
// list as it is).
func (s *Store) SetGroupACL(ctx context.Context, name string, read, write []string) error {
	g, err := s.resolveGroup(name)
	if err != nil {
		return err
	}
	unlock, err := s.lock(ctx, g)
	if err != nil {
		return err
	}
	defer unlock()
	set, err := s.loadSettings(g)
	if err != nil {
		return err
	}
	if read != nil {
		set.Read = read
	}
	if write != nil {
		set.Write = write
	}
	return s.saveSettings(g, set)
}
