package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/wdscapture/wdscapture/images"
)

// HasStreams reports for each SHA-1 whether the group's res.rwm holds the
// stream: the dedup query of an upload, whose client then sends only the
// others. The all-zero hash (the empty stream) is always held. A group
// without res.rwm holds nothing.
func (s *Store) HasStreams(group string, hashes [][20]byte) ([]bool, error) {
	g, err := s.resolveGroup(group)
	if err != nil {
		return nil, err
	}
	res, err := s.openResources(g)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(hashes))
	for i, h := range hashes {
		if h == ([20]byte{}) {
			out[i] = true
		} else if res != nil {
			_, out[i] = res.Blob(h)
		}
	}
	if res != nil {
		res.Close()
	}
	return out, nil
}

// FreeSpace returns the bytes the group's files may still grow by.
func (s *Store) FreeSpace(group string) (uint64, error) {
	g, err := s.resolveGroup(group)
	if err != nil {
		return 0, err
	}
	return s.st.Free(g)
}

// Delete removes image (a file name or image name) from the group
// (WDSUTIL /Remove-Image) and returns its file name. Its data stays in
// res.rwm until Optimize; readers that opened it go on reading it.
func (s *Store) Delete(ctx context.Context, group, image string) (string, error) {
	g, err := s.resolveGroup(group)
	if err != nil {
		return "", err
	}
	unlock, err := s.lock(ctx, g)
	if err != nil {
		return "", err
	}
	defer unlock()
	s.removeStale(g)
	recs, err := s.readImages(g)
	if err != nil {
		return "", err
	}
	rec, ok := findImage(recs, image)
	if !ok {
		return "", fmt.Errorf("%w: group %q has no image %q", ErrNotFound, g, image)
	}
	if err := s.st.Remove(g, rec.FileName); err != nil {
		return "", fmt.Errorf("delete %s: %w", s.st.Where(g, rec.FileName), err)
	}
	crashPoint("delete:removed")
	// The read filter goes after the image; a filter left behind by a
	// crash is dropped by the next add of that file name.
	set, err := s.loadSettings(g)
	if err == nil {
		err = s.setImageFilter(g, set, rec.FileName, []string{}, false)
	}
	if err != nil {
		s.log.Warn("image deleted, but its read filter stays in the settings", "group", g, "file", rec.FileName, "err", err)
	}
	s.log.Info("image deleted", "group", g, "file", rec.FileName)
	return rec.FileName, nil
}

// groupSnapshot is every image of a group and its res.rwm, opened in that
// order (see openImage).
type groupSnapshot struct {
	images []snapImage
	res    *wimFile
}

type snapImage struct {
	rec     imageRecord
	w       *wimFile
	streams map[[20]byte]images.StreamUse
	err     error // why the image cannot be read
}

func (gs *groupSnapshot) close() {
	for _, im := range gs.images {
		if im.w != nil {
			im.w.Close()
		}
	}
	if gs.res != nil {
		gs.res.Close()
	}
}

func (s *Store) snapshot(g string) (*groupSnapshot, error) {
	files, err := s.imageFiles(g)
	if err != nil {
		return nil, err
	}
	gs := &groupSnapshot{}
	for _, fi := range files {
		im := snapImage{rec: imageRecord{FileName: fi.Name, Size: fi.Size, ModTime: fi.ModTime}}
		im.w, im.err = s.openWIM(g, fi.Name)
		if errors.Is(im.err, fs.ErrNotExist) {
			continue
		}
		if im.err == nil {
			im.err = s.readSnapImage(&im)
		}
		gs.images = append(gs.images, im)
	}
	gs.res, err = s.openResources(g)
	if err != nil {
		gs.close()
		return nil, err
	}
	return gs, nil
}

func (s *Store) readSnapImage(im *snapImage) error {
	ims := im.w.Images()
	if len(ims) != 1 {
		return fmt.Errorf("an image's metadata WIM must hold one image, this one has %d", len(ims))
	}
	im.rec.Info, im.rec.Comp = ims[0], im.w.Compression()
	img, err := im.w.Image(1)
	if err != nil {
		return err
	}
	im.streams = images.ImageStreams(img)
	return nil
}

// VerifyResult is what Verify found in one group.
type VerifyResult struct {
	Group  string
	Images int
	// Streams and Bytes count res.rwm's streams and stored bytes checked.
	Streams int
	Bytes   uint64
	// Unreferenced streams are in res.rwm but used by no image (left by
	// deleted images or interrupted adds); Optimize removes them.
	Unreferenced      int
	UnreferencedBytes uint64
	// Problems are the damage found, each naming a file.
	Problems []error
}

// Verify re-checks what the store keeps, in one group or (group "") all:
// every stream in res.rwm against its SHA-1, and every image's metadata
// WIM (integrity table, metadata SHA-1, that it parses and that res.rwm
// holds every stream it uses). It returns an error wrapping ErrDamaged
// when any group has problems; the results list them.
func (s *Store) Verify(ctx context.Context, group string, progress func(group string, p Progress)) ([]VerifyResult, error) {
	var groups []string
	if group != "" {
		g, err := s.resolveGroup(group)
		if err != nil {
			return nil, err
		}
		groups = []string{g}
	} else {
		gs, err := s.st.Groups()
		if err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		sort.Slice(gs, func(i, j int) bool { return strings.ToLower(gs[i]) < strings.ToLower(gs[j]) })
		groups = gs
	}
	var out []VerifyResult
	bad := 0
	for _, g := range groups {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r := s.verifyGroup(ctx, g, func(p Progress) {
			if progress != nil {
				progress(g, p)
			}
		})
		if len(r.Problems) > 0 {
			bad++
		}
		out = append(out, r)
	}
	if bad > 0 {
		return out, fmt.Errorf("%w: %d of %d image groups have problems", ErrDamaged, bad, len(groups))
	}
	return out, nil
}

func (s *Store) verifyGroup(ctx context.Context, g string, progress func(Progress)) VerifyResult {
	r := VerifyResult{Group: g}
	problem := func(err error) { r.Problems = append(r.Problems, err) }
	if _, err := s.loadSettings(g); err != nil {
		problem(err)
	}
	gs, err := s.snapshot(g)
	if err != nil {
		problem(err)
		return r
	}
	defer gs.close()
	r.Images = len(gs.images)
	used := map[[20]byte][]string{}
	for _, im := range gs.images {
		where := s.st.Where(g, im.rec.FileName)
		if im.err != nil {
			problem(&DamagedError{File: where, Err: im.err})
			continue
		}
		if _, err := im.w.CheckIntegrity(nil); err != nil {
			problem(&DamagedError{File: where, Err: err})
		}
		if err := im.w.CheckMetadata(1); err != nil {
			problem(&DamagedError{File: where, Err: err})
		}
		if gs.res != nil && im.w.Compression() != gs.res.Compression() {
			problem(&DamagedError{File: where, Err: fmt.Errorf("it is %v-compressed, %s %v-compressed",
				im.w.Compression(), ResourceFile, gs.res.Compression())})
		}
		var missing []string
		for h, u := range im.streams {
			used[h] = append(used[h], im.rec.FileName+":"+u.Path)
			if gs.res == nil {
				missing = append(missing, u.Path)
			} else if _, ok := gs.res.Blob(h); !ok {
				missing = append(missing, u.Path)
			}
		}
		if len(missing) > 0 && s.stillThere(g, im.rec) {
			sort.Strings(missing)
			problem(&DamagedError{File: s.st.Where(g, ResourceFile), Paths: missing,
				Err: fmt.Errorf("it lacks %d streams that image %s uses", len(missing), im.rec.FileName)})
		}
	}
	if gs.res == nil {
		return r
	}
	for _, b := range gs.res.Blobs() {
		r.Streams++
		r.Bytes += b.StoredSize
		if _, ok := used[b.Hash]; !ok {
			r.Unreferenced++
			r.UnreferencedBytes += b.StoredSize
		}
	}
	err = gs.res.Verify(images.VerifyOptions{Progress: func(done, total uint64) {
		progress(Progress{Phase: "verify", Done: done, Total: total})
	}})
	var ve *images.VerifyError
	switch {
	case errors.As(err, &ve):
		if ve.Integrity != nil {
			problem(&DamagedError{File: s.st.Where(g, ResourceFile), Err: ve.Integrity})
		}
		for _, b := range ve.Bad {
			problem(&DamagedError{File: s.st.Where(g, ResourceFile), Paths: used[b.Hash], Err: b.Err})
		}
	case err != nil:
		problem(&DamagedError{File: s.st.Where(g, ResourceFile), Err: err})
	}
	return r
}

// stillThere reports whether the image file rec describes is still in the
// group unchanged (a verify that finds data missing checks the image was
// not deleted, and res.rwm optimized, meanwhile).
func (s *Store) stillThere(g string, rec imageRecord) bool {
	files, err := s.st.Files(g)
	if err != nil {
		return true
	}
	for _, f := range files {
		if f.Name == rec.FileName {
			return f.Size == rec.Size && f.ModTime.Equal(rec.ModTime)
		}
	}
	return false
}

// OptimizeResult describes what Optimize did.
type OptimizeResult struct {
	Group string
	// Before and After are the sizes of res.rwm.
	Before, After int64
	// Removed streams (and their stored bytes) were used by no image.
	Removed      int
	RemovedBytes uint64
}

// Optimize rewrites the group's res.rwm with only the streams its images
// use (each checked against its SHA-1 as it is copied), dropping what
// deleted images and interrupted adds left. The new file replaces the old
// in one step; readers that opened the old one go on reading it.
func (s *Store) Optimize(ctx context.Context, group string, progress func(Progress)) (*OptimizeResult, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	g, err := s.resolveGroup(group)
	if err != nil {
		return nil, err
	}
	unlock, err := s.lock(ctx, g)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.removeStale(g)
	gs, err := s.snapshot(g)
	if err != nil {
		return nil, err
	}
	defer gs.close()
	out := &OptimizeResult{Group: g}
	if gs.res == nil {
		return out, nil
	}
	out.Before = gs.res.Size()
	refs := map[[20]byte]images.StreamUse{}
	for _, im := range gs.images {
		if im.err != nil {
			return nil, fmt.Errorf("cannot tell which data %s uses, so optimize keeps everything: %w",
				s.st.Where(g, im.rec.FileName), &DamagedError{File: s.st.Where(g, im.rec.FileName), Err: im.err})
		}
		for h, u := range im.streams {
			r := refs[h]
			if r.Path == "" {
				r.Path = im.rec.FileName + ":" + u.Path
			}
			r.Refs += u.Refs
			refs[h] = r
		}
	}
	var list []images.BlobCopy
	var need uint64
	for _, b := range gs.res.Blobs() {
		r, ok := refs[b.Hash]
		if !ok {
			out.Removed++
			out.RemovedBytes += b.StoredSize
			continue
		}
		need += b.StoredSize
		list = append(list, images.BlobCopy{Hash: b.Hash, Refs: r.Refs})
	}
	for h, u := range refs {
		if _, ok := gs.res.Blob(h); !ok {
			return nil, &DamagedError{File: s.st.Where(g, ResourceFile), Paths: []string{u.Path},
				Err: fmt.Errorf("it lacks stream %x", h)}
		}
	}
	if err := s.checkSpace(g, need+uint64(len(list))*64+1<<20); err != nil {
		return nil, err
	}
	nf, err := s.st.Create(g, ResourceFile)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", s.st.Where(g, ResourceFile), err)
	}
	defer nf.Abort()
	known, kept := s.loadDigests(g), digests{}
	w, err := images.NewRawWriter(nf, gs.res.Compression(), images.RawOptions{
		Progress:   func(done, total uint64) { progress(Progress{Phase: "copy", Done: done, Total: total}) },
		Known:      known.known,
		TableSlack: true,
		Copied:     func(h [20]byte, stored uint64, d [32]byte) { kept[digestKey{h, stored}] = d },
	})
	if err != nil {
		return nil, err
	}
	if err := w.CopyBlobs(ctx, gs.res.Reader, list); err != nil {
		return nil, s.storeError(err, s.st.Where(g, ResourceFile), refs)
	}
	progress(Progress{Phase: "write"})
	if err := w.Commit(); err != nil {
		return nil, fmt.Errorf("write %s: %w", s.st.Where(g, ResourceFile), err)
	}
	crashPoint("optimize:written")
	if err := nf.Commit(); err != nil {
		return nil, fmt.Errorf("replace %s: %w", s.st.Where(g, ResourceFile), err)
	}
	s.recordDigests(g, kept, true)
	if f, err := s.st.Open(g, ResourceFile); err == nil {
		out.After = f.Size()
		f.Close()
	}
	s.log.Info("res.rwm optimized", "group", g, "before", out.Before, "after", out.After, "removed_streams", out.Removed)
	return out, nil
}
