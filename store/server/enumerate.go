package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// imageView is an image as the protocol shows it (the server's paths
// left out).
func imageView(e *store.ImageEntry) protocol.Image {
	return protocol.Image{Group: e.Group, FileName: e.FileName, Index: e.Index, Name: e.Name, Description: e.Description,
		Architecture: e.Architecture, HAL: e.HAL, ProductName: e.ProductName, EditionID: e.EditionID,
		InstallationType: e.InstallationType, ProductType: e.ProductType, Version: e.Version,
		Languages: e.Languages, DefaultLanguage: e.DefaultLanguage, Compression: e.Compression,
		TotalBytes: e.TotalBytes, FileCount: e.FileCount, DirCount: e.DirCount, MetadataBytes: e.MetadataBytes,
		Created: e.Created, Modified: e.Modified, Added: e.Added,
		GroupRead: nonNil(e.GroupRead), GroupWrite: nonNil(e.GroupWrite), ReadFilter: e.ReadFilter}
}

// handleImages is GET /api/v1/images[?group=G]: the images the user may
// see, filtered by the group ACLs and the images' read filters.
func (s *Server) handleImages(w http.ResponseWriter, r *http.Request, tok store.Token) {
	var (
		es  []store.ImageEntry
		err error
	)
	if g := r.URL.Query().Get("group"); g != "" {
		es, err = s.store.ListGroup(g, &tok)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrBadName) {
			es, err = nil, nil // an unknown group and an unreadable one look the same: empty
		}
	} else {
		es, err = s.store.List(&tok)
	}
	if err != nil {
		s.internalError(w, "enumerate images", err)
		return
	}
	out := protocol.ImagesResponse{Images: make([]protocol.Image, 0, len(es))}
	for i := range es {
		out.Images = append(out.Images, imageView(&es[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// nameFree refuses an upload whose image name or file name the group has
// already (the same check store.Add makes at finalize, made early so a
// client learns it before sending gigabytes).
func (s *Server) nameFree(group string, meta uploadMeta) error {
	es, err := s.store.ListGroup(group, nil)
	if err != nil {
		return s.tusInternal("upload: list the group", err)
	}
	for _, e := range es {
		if e.Name == meta.Name || strings.EqualFold(e.FileName, meta.File) {
			return tusErrorf(http.StatusConflict, protocol.CodeConflict, "image group %s has an image named %q already (file %s)", group, e.Name, e.FileName)
		}
	}
	return nil
}

// handleDedup is POST /api/v1/groups/{group}/dedup: the client's list of
// the image's streams in, a bitmap of those the group lacks out.
func (s *Server) handleDedup(w http.ResponseWriter, r *http.Request, tok store.Token) {
	name := r.PathValue("group")
	g, err := s.store.Group(name)
	if err == nil && !g.Settings.CanRead(tok) {
		err = store.ErrNotFound
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrBadName) {
			writeError(w, http.StatusNotFound, protocol.CodeNotFound, "no image group %q that you may read", name)
		} else {
			s.internalError(w, "dedup: group", err)
		}
		return
	}
	if !g.Settings.CanWrite(tok) {
		writeError(w, http.StatusForbidden, protocol.CodeForbidden, "%s may not add images to group %s", tok.User, g.Name)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != protocol.ContentTypeBlobList {
		writeError(w, http.StatusUnsupportedMediaType, protocol.CodeBadRequest, "Content-Type must be %s", protocol.ContentTypeBlobList)
		return
	}
	const maxBody = protocol.MaxDedupBlobs * protocol.BlobRecordSize
	if r.ContentLength > maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "at most %d blobs in one query", protocol.MaxDedupBlobs)
		return
	}
	select {
	case s.dedupSlots <- struct{}{}:
		defer func() { <-s.dedupSlots }()
	case <-r.Context().Done():
		return
	}
	// 112 MiB at most; ten minutes is 190 KiB/s.
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(10 * time.Minute))
	refs, err := protocol.ReadBlobList(http.MaxBytesReader(w, r.Body, maxBody), r.ContentLength, protocol.MaxDedupBlobs)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "at most %d blobs in one query", protocol.MaxDedupBlobs)
		} else {
			writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, "%v", err)
		}
		return
	}
	hashes := make([][20]byte, len(refs))
	for i, ref := range refs {
		hashes[i] = ref.Hash
	}
	has, err := s.store.HasStreams(g.Name, hashes)
	if err != nil {
		s.internalError(w, "dedup", err)
		return
	}
	bm := protocol.NewBitmap(len(refs))
	var n int
	var bytes uint64
	for i, ok := range has {
		if !ok {
			bm.Set(i)
			n++
			bytes += uint64(refs[i].Size)
		}
	}
	w.Header().Set("Content-Type", protocol.ContentTypeBitmap)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set(protocol.HeaderMissingCount, strconv.Itoa(n))
	w.Header().Set(protocol.HeaderMissingBytes, strconv.FormatUint(bytes, 10))
	w.Header().Set("Content-Length", strconv.Itoa(len(bm)))
	w.WriteHeader(http.StatusOK)
	w.Write(bm)
}
