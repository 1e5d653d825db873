package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/wdscapture/wdscapture/images"
)

// ExportOptions configures Export.
type ExportOptions struct {
	// Name and Description, when set, replace the exported image's.
	Name, Description string
	// Overwrite lets Export replace an existing file (only once the new
	// one is complete and verified).
	Overwrite bool
	// Token, when set, must see the image; nil is the administrator.
	Token *Token
	// Progress, when set, receives progress reports.
	Progress func(Progress)
}

// ExportResult describes an exported image.
type ExportResult struct {
	Path        string
	Info        images.ImageInfo
	Compression images.Compression
	Size        int64
}

// Export writes image (a file name or image name of the group) as a
// standalone WIM at path (WDSUTIL /Export-Image): one image, an integrity
// table, the group's compression type, every resource copied as the group
// stores it. The file appears under path only once it is complete and
// verified: each stream's SHA-1 is checked on the bytes copied, and the
// written file is read back (header, blob table, XML data, the image's
// metadata and that it holds every stream the image uses) and checked
// against its integrity table.
func (s *Store) Export(ctx context.Context, group, image, path string, opts ExportOptions) (*ExportResult, error) {
	progress := func(p Progress) {
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	g, err := s.resolveGroup(group)
	if err != nil {
		return nil, err
	}
	if !opts.Overwrite {
		if _, err := os.Lstat(path); err == nil {
			return nil, fmt.Errorf("%w: %s exists (overwrite it with --overwrite)", ErrConflict, path)
		}
	}
	snap, err := s.openImage(g, image, opts.Token)
	if err != nil {
		return nil, err
	}
	defer snap.close()
	info := snap.info
	if opts.Name != "" {
		info.SetName(opts.Name)
	}
	if opts.Description != "" {
		info.SetDescription(opts.Description)
	}
	var list []images.BlobCopy
	var need uint64
	for h, u := range snap.streams {
		b, ok := snap.res.Blob(h)
		if !ok {
			return nil, &DamagedError{File: s.st.Where(g, ResourceFile), Paths: []string{u.Path},
				Err: fmt.Errorf("it lacks stream %x of image %s", h, snap.file)}
		}
		need += b.StoredSize
		list = append(list, images.BlobCopy{Hash: h, Refs: u.Refs})
	}
	dir := filepath.Dir(path)
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil {
		if free := st.Bavail * uint64(st.Bsize); free < need+1<<20 {
			return nil, &NoSpaceError{Where: dir, Need: need + 1<<20, Free: free}
		}
	}

	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	comp := snap.meta.Compression()
	known := s.loadDigests(g)
	w, err := images.NewRawWriter(f, comp, images.RawOptions{Integrity: true, Known: known.known,
		Progress: func(done, total uint64) { progress(Progress{Phase: "copy", Done: done, Total: total}) }})
	if err != nil {
		return nil, fmt.Errorf("export to %s: %w", path, err)
	}
	progress(Progress{Phase: "copy", Total: need})
	if err := w.CopyBlobs(ctx, snap.res.Reader, list); err != nil {
		return nil, s.storeError(err, s.st.Where(g, ResourceFile), snap.streams)
	}
	if err := w.CopyImage(ctx, snap.meta.Reader, 1, info); err != nil {
		return nil, s.storeError(err, s.st.Where(g, snap.file), snap.streams)
	}
	progress(Progress{Phase: "write"})
	if err := w.Commit(); err != nil {
		return nil, fmt.Errorf("export to %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return nil, fmt.Errorf("export to %s: %w", path, err)
	}
	size, err := f.Seek(0, 2)
	if err != nil {
		return nil, err
	}
	progress(Progress{Phase: "verify"})
	if err := verifyExport(f, size, snap.streams, snap.res.Reader); err != nil {
		return nil, fmt.Errorf("the exported WIM %s does not verify: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	f = nil
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("export to %s: %w", path, err)
	}
	syncDir(dir)
	out := w.Images()[0]
	s.log.Info("image exported", "group", g, "file", snap.file, "to", path, "bytes", size)
	return &ExportResult{Path: path, Info: out, Compression: comp, Size: size}, nil
}

// verifyExport reads an exported WIM back: it must parse, hold one image
// whose metadata parses and matches its SHA-1, and hold every stream that
// image uses at the size the group stores it. (Its integrity table was
// computed from the file as read back after the copy, as wimlib computes
// it; the streams were checked as they were copied.)
func verifyExport(f *os.File, size int64, want map[[20]byte]images.StreamUse, from *images.Reader) error {
	r, err := images.NewReader(f, size)
	if err != nil {
		return err
	}
	if n := len(r.Images()); n != 1 {
		return fmt.Errorf("it holds %d images, not 1", n)
	}
	img, err := r.Image(1)
	if err != nil {
		return err
	}
	got := images.ImageStreams(img)
	if len(got) != len(want) {
		return fmt.Errorf("its image uses %d streams, the group's %d", len(got), len(want))
	}
	for h, u := range got {
		if _, ok := want[h]; !ok {
			return fmt.Errorf("its image uses stream %x (%s) that the group's does not", h, u.Path)
		}
		b, ok := r.Blob(h)
		if !ok {
			return fmt.Errorf("stream %x of %s is not in its blob table", h, u.Path)
		}
		if sb, _ := from.Blob(h); b.Size != sb.Size || b.StoredSize != sb.StoredSize || b.Compressed != sb.Compressed {
			return fmt.Errorf("stream %x of %s is stored as %+v, the group's as %+v", h, u.Path, b, sb)
		}
	}
	if err := r.CheckMetadata(1); err != nil {
		return err
	}
	if !r.HasIntegrity() {
		return errors.New("it has no integrity table")
	}
	return nil
}

// storeError turns a copy error from a file of the store into a
// DamagedError naming it.
func (s *Store) storeError(err error, file string, streams map[[20]byte]images.StreamUse) error {
	var be *images.BlobError
	if !errors.As(err, &be) {
		return err
	}
	var paths []string
	if u, ok := streams[be.Hash]; ok && !be.Metadata {
		paths = append(paths, u.Path)
	}
	return &DamagedError{File: file, Paths: paths, Err: be}
}

// imageSnapshot is an image opened for reading with the res.rwm that holds
// its data.
type imageSnapshot struct {
	file      string
	set       *Settings
	meta, res *wimFile
	info      images.ImageInfo
	img       *images.Image
	streams   map[[20]byte]images.StreamUse
}

func (sn *imageSnapshot) close() {
	if sn.meta != nil {
		sn.meta.Close()
	}
	if sn.res != nil {
		sn.res.Close()
	}
}

// openImage opens image (file or image name) of group g and the group's
// res.rwm. The metadata WIM is opened first: res.rwm always holds the data
// of every image published before it is opened (the header that names new
// data is written before the image appears), and a file kept open keeps
// its content even if the image is deleted and optimize rewrites res.rwm.
func (s *Store) openImage(g, image string, tok *Token) (*imageSnapshot, error) {
	set, err := s.loadSettings(g)
	if err != nil {
		return nil, err
	}
	if tok != nil && !set.CanRead(*tok) {
		return nil, fmt.Errorf("%w: %s may not read group %q", ErrAccessDenied, tok.User, g)
	}
	recs, err := s.readImages(g)
	if err != nil {
		return nil, err
	}
	rec, ok := findImage(recs, image)
	if !ok || (tok != nil && !set.CanSee(*tok, rec.FileName)) {
		return nil, fmt.Errorf("%w: group %q has no image %q", ErrNotFound, g, image)
	}
	if rec.Err != nil {
		return nil, &DamagedError{File: s.st.Where(g, rec.FileName), Err: rec.Err}
	}
	sn := &imageSnapshot{file: rec.FileName, set: set}
	sn.meta, err = s.openWIM(g, rec.FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: image %q of group %q was deleted meanwhile", ErrNotFound, image, g)
	}
	if err != nil {
		return nil, &DamagedError{File: s.st.Where(g, rec.FileName), Err: err}
	}
	if len(sn.meta.Images()) != 1 {
		sn.close()
		return nil, &DamagedError{File: s.st.Where(g, rec.FileName), Err: fmt.Errorf("it holds %d images, not 1", len(sn.meta.Images()))}
	}
	sn.info = sn.meta.Images()[0]
	sn.img, err = sn.meta.Image(1)
	if err != nil {
		sn.close()
		return nil, &DamagedError{File: s.st.Where(g, rec.FileName), Err: err}
	}
	sn.streams = images.ImageStreams(sn.img)
	sn.res, err = s.openResources(g)
	if err != nil {
		sn.close()
		return nil, err
	}
	if sn.res == nil {
		sn.close()
		return nil, fmt.Errorf("group %q has images but no %s", g, ResourceFile)
	}
	if sn.res.Compression() != sn.meta.Compression() {
		sn.close()
		return nil, &DamagedError{File: s.st.Where(g, rec.FileName), Err: fmt.Errorf("it is %v-compressed, the group's %s %v-compressed",
			sn.meta.Compression(), ResourceFile, sn.res.Compression())}
	}
	return sn, nil
}
