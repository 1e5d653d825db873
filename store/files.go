package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/wdscapture/wdscapture/images"
)

// wimFile is a WIM of a group opened for reading.
type wimFile struct {
	*images.Reader
	f File
}

func (w *wimFile) Close() error {
	w.Reader.Close()
	return w.f.Close()
}

// openWIM opens a WIM of a group that is only ever replaced whole (an
// image's metadata WIM).
func (s *Store) openWIM(g, name string) (*wimFile, error) {
	f, err := s.st.Open(g, name)
	if err != nil {
		return nil, err
	}
	r, err := images.NewReader(f, f.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", s.st.Where(g, name), err)
	}
	return &wimFile{Reader: r, f: f}, nil
}

// openResources opens the group's res.rwm for reading; (nil, nil) when
// the group has none. res.rwm is updated in place (new data past the end,
// then a new header), so the header is read again after the tables: when
// it changed meanwhile, the read is repeated.
func (s *Store) openResources(g string) (*wimFile, error) {
	var lastErr error
	for attempt := range 5 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
		}
		f, err := s.st.Open(g, ResourceFile)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", s.st.Where(g, ResourceFile), err)
		}
		h1, err1 := images.ReadHeaderBytes(f)
		r, err := images.NewReader(f, f.Size())
		h2, err2 := images.ReadHeaderBytes(f)
		if err1 == nil && err2 == nil && bytes.Equal(h1, h2) {
			if err == nil {
				return &wimFile{Reader: r, f: f}, nil
			}
			// The same header twice: unless the file was opened (and its
			// size taken) just before an update, the error is real.
			lastErr = err
		}
		f.Close()
	}
	return nil, &DamagedError{File: s.st.Where(g, ResourceFile), Err: lastErr}
}

// imageRecord is one image of a group as enumeration sees it.
type imageRecord struct {
	FileName string
	Size     int64
	ModTime  time.Time
	Info     images.ImageInfo
	Comp     images.Compression
	// Err is set (and Info empty) when the metadata WIM cannot be read.
	Err error
}

// readImages reads the XML of every image of the group.
func (s *Store) readImages(g string) ([]imageRecord, error) {
	files, err := s.imageFiles(g)
	if err != nil {
		return nil, err
	}
	out := make([]imageRecord, 0, len(files))
	for _, fi := range files {
		rec := imageRecord{FileName: fi.Name, Size: fi.Size, ModTime: fi.ModTime}
		w, err := s.openWIM(g, fi.Name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since the listing
		}
		if err == nil {
			if ims := w.Images(); len(ims) != 1 {
				err = fmt.Errorf("%s: an image's metadata WIM must hold one image, this one has %d", s.st.Where(g, fi.Name), len(ims))
			} else {
				rec.Info, rec.Comp = ims[0], w.Compression()
			}
			w.Close()
		}
		rec.Err = err
		out = append(out, rec)
	}
	return out, nil
}

// findImage returns the image of the group whose file name or image name
// is name (case-insensitive; the file name wins).
func findImage(recs []imageRecord, name string) (*imageRecord, bool) {
	if i := slices.IndexFunc(recs, func(r imageRecord) bool { return strings.EqualFold(r.FileName, name) }); i >= 0 {
		return &recs[i], true
	}
	if i := slices.IndexFunc(recs, func(r imageRecord) bool { return r.Err == nil && strings.EqualFold(r.Info.Name, name) }); i >= 0 {
		return &recs[i], true
	}
	return nil, false
}

// removeStale deletes the temporary files writers that were killed left
// in a group folder. The caller holds the group's lock, so no writer is
// using them.
func (s *Store) removeStale(g string) {
	removed, err := s.st.Cleanup(g)
	for _, name := range removed {
		s.log.Info("removed a temporary file an interrupted write left", "group", g, "file", name)
	}
	if err != nil {
		s.log.Warn("cannot remove the temporary files of interrupted writes", "group", g, "err", err)
	}
}
