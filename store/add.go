package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"github.com/wdscapture/wdscapture/images"
)

// Progress reports how far a long operation has come.
type Progress struct {
	// Phase is "check" (the source's integrity table), "copy" (data into
	// res.rwm or the export), "verify" (re-reading stored data) or
	// "write" (tables and headers).
	Phase string
	// Done and Total count bytes of the phase.
	Done, Total uint64
}

// AddOptions describes an image to add (WDSUTIL /Add-Image) or the new
// content of an image to replace (/Replace-Image).
type AddOptions struct {
	// Index selects the image of the source WIM (1-based); 0 takes the
	// only one, and is an error when the WIM holds several.
	Index int
	// Name and Description, when set, replace the image's NAME and
	// DESCRIPTION (every other XML element is kept as it was).
	Name, Description string
	// FileName is the image's file name in the group; "" derives it from
	// the image name (FileNameFor). Replace ignores it.
	FileName string
	// ReadFilter, when not nil, restricts who sees the image; nil keeps an
	// image's filter on replace and sets none on add.
	ReadFilter []string
	// CreateGroup creates the group (with the default settings) when it
	// does not exist, as WDSUTIL /Add-Image does.
	CreateGroup bool
	// Token, when set, must be allowed to write the group; nil is the
	// store's administrator (the CLI).
	Token *Token
	// Progress, when set, receives progress reports.
	Progress func(Progress)
}

// AddResult describes an image added or replaced.
type AddResult struct {
	Group, FileName string
	Info            images.ImageInfo
	// NewStreams and NewBytes are the streams (and their stored bytes)
	// copied into res.rwm; SharedStreams those the group had already.
	NewStreams, SharedStreams int
	NewBytes                  uint64
	// GroupCreated reports that the add created the group.
	GroupCreated bool
}

// Add adds image opts.Index of the WIM src (named srcName in messages) to
// the group: its streams that the group lacks are copied into res.rwm as
// they are stored (no recompression) and checked on the copied bytes, its
// metadata goes into a new metadata WIM, and the image appears in the
// group in one step, or not at all when anything fails or the process
// dies. src may lack streams the group's res.rwm holds (a "delta WIM", as
// an upload client sends): those are taken from the group.
//
// Before anything is written Add checks src's integrity table (when it
// has one) and parses the image's metadata; every stream it stores is
// checked against its SHA-1 as it is copied. Damage is a *DamagedError
// naming srcName (and the image's files whose data is bad), data in
// neither place a *MissingDataError, another compression type than the
// group's a *CompressionError, an image or file name the group has
// already ErrConflict.
func (s *Store) Add(ctx context.Context, group string, src *images.Reader, srcName string, opts AddOptions) (*AddResult, error) {
	return s.add(ctx, group, src, srcName, opts, "")
}

// Replace replaces the content of image (a file name or image name of the
// group) with image opts.Index of src, as Add adds one; the image keeps
// its file name, its name and description unless opts sets them, and its
// read filter unless opts.ReadFilter is set. Readers that opened the old
// image go on reading it.
func (s *Store) Replace(ctx context.Context, group, image string, src *images.Reader, srcName string, opts AddOptions) (*AddResult, error) {
	if image == "" {
		return nil, fmt.Errorf("replace: no image named")
	}
	return s.add(ctx, group, src, srcName, opts, image)
}

func (s *Store) add(ctx context.Context, group string, src *images.Reader, srcName string, opts AddOptions, replace string) (res *AddResult, err error) {
	progress := func(p Progress) {
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	// What to add.
	index := opts.Index
	srcImages := src.Images()
	switch {
	case len(srcImages) == 0:
		return nil, fmt.Errorf("%s holds no image (a resource-only WIM such as a res.rwm?)", srcName)
	case index == 0 && len(srcImages) == 1:
		index = 1
	case index == 0:
		return nil, fmt.Errorf("%s holds %d images: say which one to add", srcName, len(srcImages))
	case index < 0 || index > len(srcImages):
		return nil, fmt.Errorf("%s has no image %d (it holds %d)", srcName, index, len(srcImages))
	}
	info := srcImages[index-1]
	if opts.Name != "" {
		info.SetName(opts.Name)
	}
	if opts.Description != "" {
		info.SetDescription(opts.Description)
	}
	if opts.ReadFilter != nil {
		if err := checkPrincipals(opts.ReadFilter); err != nil {
			return nil, err
		}
	}
	fileName := opts.FileName
	if replace == "" {
		if info.Name == "" {
			return nil, fmt.Errorf("image %d of %s has no name: give it one", index, srcName)
		}
		if fileName == "" {
			fileName = FileNameFor(info.Name)
		}
		if err := CheckImageFileName(fileName); err != nil {
			return nil, err
		}
	}

	// The group: it must exist, or (CreateGroup) at least have a valid
	// name; it is created only once the source has passed the checks
	// below, so that a damaged WIM leaves no empty group behind.
	res = &AddResult{}
	create := opts.CreateGroup && replace == ""
	g, err := s.resolveGroup(group)
	if err != nil && !(create && errors.Is(err, ErrNotFound)) {
		return nil, err
	}

	// Checks that need no lock: the source's integrity and metadata.
	if src.HasIntegrity() {
		progress(Progress{Phase: "check"})
		if _, err := src.CheckIntegrity(func(done, total uint64) {
			progress(Progress{Phase: "check", Done: done, Total: total})
		}); err != nil {
			return nil, &DamagedError{File: srcName, Err: err}
		}
	}
	img, err := src.Image(index)
	if err != nil {
		return nil, &DamagedError{File: srcName, Err: err}
	}
	streams := images.ImageStreams(img)

	if create {
		if g, res.GroupCreated, err = s.ensureGroup(ctx, group); err != nil {
			return nil, err
		}
		if res.GroupCreated {
			// Runs after the group lock below is released.
			defer func() {
				if err != nil {
					s.dropEmptyGroup(g)
				}
			}()
		}
	}
	res.Group = g

	unlock, err := s.lock(ctx, g)
	if err != nil {
		return nil, err
	}
	defer unlock()
	crashPoint("add:locked")
	s.removeStale(g)
	set, err := s.loadSettings(g)
	if err != nil {
		return nil, err
	}
	if opts.Token != nil && !set.CanWrite(*opts.Token) {
		return nil, fmt.Errorf("%w: %s may not add images to group %q", ErrAccessDenied, opts.Token.User, g)
	}
	recs, err := s.readImages(g)
	if err != nil {
		return nil, err
	}
	if replace != "" {
		old, ok := findImage(recs, replace)
		if !ok {
			return nil, fmt.Errorf("%w: group %q has no image %q", ErrNotFound, g, replace)
		}
		fileName = old.FileName
		if old.Err == nil {
			if opts.Name == "" {
				info.SetName(old.Info.Name)
			}
			if opts.Description == "" {
				info.SetDescription(old.Info.Description)
			}
		}
	}
	res.FileName = fileName
	for _, r := range recs {
		if strings.EqualFold(r.FileName, fileName) {
			if replace != "" {
				continue
			}
			return nil, fmt.Errorf("%w: group %q has an image file %q already", ErrConflict, g, r.FileName)
		}
		if r.Err == nil && info.Name != "" && strings.EqualFold(r.Info.Name, info.Name) {
			return nil, fmt.Errorf("%w: group %q has an image named %q already (%s)", ErrConflict, g, r.Info.Name, r.FileName)
		}
	}

	// The group's compression type. (An image being replaced counts: it
	// uses res.rwm until the new one is published.)
	inUse := len(recs) > 0
	comp, _, err := s.groupCompression(g, set, inUse)
	if err != nil {
		return nil, err
	}
	if comp != nil && *comp != src.Compression() {
		return nil, &CompressionError{Group: g, GroupType: *comp, File: srcName, SourceType: src.Compression()}
	}

	// res.rwm: appended to, or made new when the group has none (or one
	// of another type that no image uses).
	rw, err := s.openResourceWriter(g, src.Compression(), inUse, progress)
	if err != nil {
		return nil, err
	}
	defer rw.abort()

	// Every stream must be in src or in the group.
	var list []images.BlobCopy
	var missing []MissingStream
	var need uint64
	for h, u := range streams {
		list = append(list, images.BlobCopy{Hash: h, Refs: u.Refs})
		if rw.w.Has(h) {
			res.SharedStreams++
			continue
		}
		b, ok := src.Blob(h)
		if !ok {
			missing = append(missing, MissingStream{Hash: h, Path: u.Path})
			continue
		}
		res.NewStreams++
		res.NewBytes += b.StoredSize
	}
	if len(missing) > 0 {
		sort.Slice(missing, func(i, j int) bool { return missing[i].Path < missing[j].Path })
		return nil, &MissingDataError{File: srcName, Group: g, Missing: missing}
	}
	meta, err := src.MetadataBlob(index)
	if err != nil {
		return nil, err
	}
	need = res.NewBytes + meta.StoredSize + uint64(len(rw.w.Images())+len(list)+64)*64 + 1<<20
	if err := s.checkSpace(g, need); err != nil {
		return nil, err
	}

	// Copy the new streams.
	if err := rw.w.CopyBlobs(ctx, src, list); err != nil {
		return nil, s.sourceError(err, srcName, streams)
	}
	crashPoint("add:blobs")

	// The image's metadata WIM, complete under a temporary name.
	mf, err := s.st.Create(g, fileName)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", s.st.Where(g, fileName), err)
	}
	defer mf.Abort()
	mw, err := images.NewRawWriter(mf, src.Compression(), images.RawOptions{Integrity: true})
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", s.st.Where(g, fileName), err)
	}
	if err := mw.CopyImage(ctx, src, index, info); err != nil {
		return nil, s.sourceError(err, srcName, streams)
	}
	if err := mw.Commit(); err != nil {
		return nil, fmt.Errorf("write %s: %w", s.st.Where(g, fileName), err)
	}
	crashPoint("add:metadata")

	// res.rwm's new header names the new streams. From here on the group
	// holds them, used by no image until the metadata WIM is published.
	progress(Progress{Phase: "write"})
	if err := rw.commit(); err != nil {
		return nil, err
	}
	s.recordDigests(g, rw.digests, rw.nf != nil)

	// The image's read filter goes in before the image appears, so that
	// it is never visible without it.
	if err := s.setImageFilter(g, set, fileName, opts.ReadFilter, replace != ""); err != nil {
		return nil, err
	}
	crashPoint("add:settings")

	if err := mf.Commit(); err != nil {
		return nil, fmt.Errorf("publish %s: %w", s.st.Where(g, fileName), err)
	}
	crashPoint("add:published")
	infos := mw.Images()
	res.Info = infos[0]
	verb := "added"
	if replace != "" {
		verb = "replaced"
	}
	s.log.Info("image "+verb, "group", g, "file", fileName, "name", res.Info.Name,
		"new_streams", res.NewStreams, "new_bytes", res.NewBytes, "shared_streams", res.SharedStreams)
	return res, nil
}

// dropEmptyGroup removes a group that an add created and then failed to
// add to, if it still holds nothing but its settings.
func (s *Store) dropEmptyGroup(g string) {
	ctx := context.Background()
	unlockStore, err := s.lock(ctx, "")
	if err != nil {
		return
	}
	defer unlockStore()
	unlock, err := s.lock(ctx, g)
	if err != nil {
		return
	}
	files, err := s.st.Files(g)
	if err != nil {
		unlock()
		return
	}
	for _, f := range files {
		if f.Name != SettingsFile {
			unlock()
			return
		}
	}
	defer unlock()
	if err := s.st.RemoveGroup(g); err != nil {
		s.log.Warn("cannot remove the group a failed add created", "group", g, "err", err)
		return
	}
	s.log.Info("removed the group a failed add created", "group", g)
}

// recordDigests adds the digests of streams just stored in res.rwm to the
// group's record (replacing it when res.rwm is new). A failure only costs
// later exports time, so it is logged, not returned.
func (s *Store) recordDigests(g string, added digests, fresh bool) {
	d := digests{}
	if !fresh {
		d = s.loadDigests(g)
	}
	for k, v := range added {
		d[k] = v
	}
	if err := s.saveDigests(g, d); err != nil {
		s.log.Warn("cannot record the new streams' digests; exports will check their data instead", "group", g, "err", err)
	}
}

// setImageFilter records the read filter of the image fileName: filter
// when set, else (on add) no filter, removing one a crashed add may have
// left; on replace a nil filter keeps the image's.
func (s *Store) setImageFilter(g string, set *Settings, fileName string, filter []string, replace bool) error {
	var key string
	for k := range set.Images {
		if strings.EqualFold(k, fileName) {
			key = k
		}
	}
	switch {
	case filter == nil && replace:
		return nil
	case filter == nil && key == "":
		return nil
	case len(filter) == 0:
		delete(set.Images, key)
	default:
		if key != "" {
			delete(set.Images, key)
		}
		if set.Images == nil {
			set.Images = map[string]ImageSettings{}
		}
		set.Images[fileName] = ImageSettings{Read: slices.Clone(filter)}
	}
	return s.saveSettings(g, set)
}

// sourceError turns a copy error into one naming the source and the
// image's files whose data is bad.
func (s *Store) sourceError(err error, srcName string, streams map[[20]byte]images.StreamUse) error {
	var be *images.BlobError
	if !errors.As(err, &be) {
		return err
	}
	if be.Metadata {
		return &DamagedError{File: srcName, Paths: []string{"(the image's metadata)"}, Err: be.Err}
	}
	var paths []string
	if u, ok := streams[be.Hash]; ok {
		paths = append(paths, u.Path)
	}
	return &DamagedError{File: srcName, Paths: paths, Err: be}
}

// checkSpace refuses a write of need bytes when the group's disk has less.
func (s *Store) checkSpace(g string, need uint64) error {
	free, err := s.st.Free(g)
	if err != nil {
		return err
	}
	if free < need {
		return &NoSpaceError{Where: s.st.Where(g, ""), Need: need, Free: free}
	}
	return nil
}

// resourceWriter is res.rwm opened for an add: appended to in place, or
// written new under a temporary name.
type resourceWriter struct {
	s     *Store
	g     string
	w     *images.RawWriter
	upd   UpdateFile // when appending
	nf    NewFile    // when making a new one
	done  bool
	where string
	// digests are those of the streams copied (see DigestsFile).
	digests digests
}

func (s *Store) openResourceWriter(g string, comp images.Compression, inUse bool, progress func(Progress)) (*resourceWriter, error) {
	rw := &resourceWriter{s: s, g: g, where: s.st.Where(g, ResourceFile), digests: digests{}}
	opts := images.RawOptions{
		Progress:   func(done, total uint64) { progress(Progress{Phase: "copy", Done: done, Total: total}) },
		Stage:      func(st string) { crashPoint(stageName(st)) },
		TableSlack: true,
		Copied: func(h [20]byte, stored uint64, d [32]byte) {
			rw.digests[digestKey{h, stored}] = d
		},
	}
	upd, err := s.st.Update(g, ResourceFile)
	switch {
	case err == nil:
		size, err := upd.Size()
		if err == nil {
			var c images.Compression
			c, err = images.HeaderCompression(upd, size)
			if err == nil && c == comp {
				rw.w, err = images.AppendRaw(upd, size, opts)
				if err == nil {
					rw.upd = upd
					return rw, nil
				}
			} else if err == nil && inUse {
				err = fmt.Errorf("internal error: res.rwm is %v-compressed, the images %v", c, comp)
			} else if !inUse {
				// No image uses this res.rwm (left by deletes, or by a
				// first add that was interrupted): start a new one.
				s.log.Info("replacing a res.rwm that no image uses", "group", g, "err", err)
				err = nil
			}
		}
		upd.Close()
		if err != nil {
			return nil, &DamagedError{File: rw.where, Err: err}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open %s: %w", rw.where, err)
	case inUse:
		return nil, fmt.Errorf("group %q has images but no %s", g, ResourceFile)
	}
	nf, err := s.st.Create(g, ResourceFile)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", rw.where, err)
	}
	rw.w, err = images.NewRawWriter(nf, comp, opts)
	if err != nil {
		nf.Abort()
		return nil, fmt.Errorf("create %s: %w", rw.where, err)
	}
	rw.nf = nf
	return rw, nil
}

// stageName maps a RawWriter stage of res.rwm to a crash stage.
func stageName(st string) string {
	switch st {
	case "blob":
		return "add:blob"
	case "tables":
		return "rwm:tables"
	case "header":
		return "rwm:header"
	}
	return "rwm:" + st
}

// commit makes the new res.rwm content durable and visible.
func (rw *resourceWriter) commit() error {
	rw.done = true
	if err := rw.w.Commit(); err != nil {
		rw.w.Abort()
		rw.close()
		return fmt.Errorf("write %s: %w", rw.where, err)
	}
	if rw.nf != nil {
		if err := rw.nf.Commit(); err != nil {
			return fmt.Errorf("write %s: %w", rw.where, err)
		}
		return nil
	}
	return rw.upd.Close()
}

// abort drops what was added, unless commit ran.
func (rw *resourceWriter) abort() {
	if rw.done {
		return
	}
	rw.done = true
	rw.w.Abort()
	rw.close()
}

func (rw *resourceWriter) close() {
	if rw.nf != nil {
		rw.nf.Abort()
	}
	if rw.upd != nil {
		rw.upd.Close()
	}
}
