package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// finalizeJob is a finalize in progress; whoever asks waits on done.
type finalizeJob struct {
	done   chan struct{}
	status int
	resp   protocol.FinalizeResponse
}

// handleFinalize is POST /api/v1/uploads/{id}/finalize: it publishes a
// complete upload through store.Add (which verifies every stream) or
// reports how an earlier finalize ended. It is idempotent: a client that
// lost the answer asks again.
func (s *Server) handleFinalize(w http.ResponseWriter, r *http.Request, tok store.Token) {
	id := r.PathValue("id")
	var req protocol.FinalizeRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		writeBodyError(w, err)
		return
	}
	notFound := func() {
		writeError(w, http.StatusNotFound, protocol.CodeNotFound, "no upload %q of yours (expired, deleted or never made)", id)
	}
	if !validID.MatchString(id) {
		notFound()
		return
	}
	u := s.uploads
	u.mu.Lock()
	job, running := u.jobs[id]
	u.mu.Unlock()
	st, err := s.readState(id)
	if err != nil {
		s.internalError(w, "finalize: read state", err)
		return
	}
	if st != nil && !strings.EqualFold(st.Owner, tok.User) {
		notFound()
		return
	}
	if !running && st != nil && st.Result != nil && st.State != protocol.StateFinalizing {
		writeJSON(w, st.Status, st.Result)
		return
	}
	if !running {
		job, err = s.startFinalize(r.Context(), id, tok, req)
		if err != nil {
			var he *httpError
			if errors.As(err, &he) {
				writeErr(w, he.status, he.e)
			} else {
				s.internalError(w, "finalize", err)
			}
			return
		}
	}
	wait := time.NewTimer(s.cfg.FinalizeWait.D())
	defer wait.Stop()
	select {
	case <-job.done:
		writeJSON(w, job.status, job.resp)
	case <-wait.C:
		w.Header().Set("Retry-After", "2")
		writeJSON(w, http.StatusAccepted, protocol.FinalizeResponse{State: protocol.StateFinalizing})
	case <-r.Context().Done():
	}
}

// httpError is an error answer decided before a finalize starts.
type httpError struct {
	status int
	e      *protocol.Error
}

func (e *httpError) Error() string { return e.e.Message }

// startFinalize checks that upload id is tok's and complete, records
// that it is being finalized and starts the job.
func (s *Server) startFinalize(ctx context.Context, id string, tok store.Token, req protocol.FinalizeRequest) (*finalizeJob, error) {
	u := s.uploads
	// The upload's tus lock keeps PATCH and DELETE out while the checks
	// run; once the state file says finalizing, DELETE is refused and a
	// complete upload takes no more bytes.
	lock, err := u.locker.NewLock(id)
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := lock.Lock(lctx, func() {}); err != nil {
		return nil, &httpError{http.StatusConflict, &protocol.Error{Code: protocol.CodeIncomplete,
			Message: "a PATCH of this upload is still running; finalize after it ends", RetryAfterSeconds: 5}}
	}
	defer lock.Unlock()
	// A finalize that ended while this one waited for the lock.
	if st, err := s.readState(id); err == nil && st != nil && st.Result != nil && st.State != protocol.StateFinalizing &&
		strings.EqualFold(st.Owner, tok.User) {
		job := &finalizeJob{done: make(chan struct{}), status: st.Status, resp: *st.Result}
		close(job.done)
		return job, nil
	}
	info, err := s.uploadInfo(id)
	if err != nil || !strings.EqualFold(info.MetaData[metaOwner], tok.User) {
		return nil, &httpError{http.StatusNotFound, &protocol.Error{Code: protocol.CodeNotFound,
			Message: fmt.Sprintf("no upload %q of yours (expired, deleted or never made)", id)}}
	}
	if info.SizeIsDeferred || info.Offset != info.Size {
		return nil, &httpError{http.StatusConflict, &protocol.Error{Code: protocol.CodeIncomplete,
			Message: fmt.Sprintf("the upload has %d of %d bytes: send the rest (HEAD gives the offset), then finalize", info.Offset, info.Size)}}
	}
	meta := uploadMeta{Group: info.MetaData[protocol.MetaGroup], Name: info.MetaData[protocol.MetaName],
		File: info.MetaData[protocol.MetaFile], Description: info.MetaData[protocol.MetaDescription]}
	if req.Name != "" {
		meta.Name = req.Name
		if req.File == "" {
			meta.File = store.FileNameFor(req.Name)
		}
	}
	if req.File != "" {
		meta.File = req.File
	}
	if req.Description != "" {
		meta.Description = req.Description
	}
	if err := checkImageName(meta.Name); err != nil {
		return nil, &httpError{http.StatusBadRequest, &protocol.Error{Code: protocol.CodeBadRequest, Message: err.Error()}}
	}
	if err := store.CheckImageFileName(meta.File); err != nil {
		return nil, &httpError{http.StatusBadRequest, &protocol.Error{Code: protocol.CodeBadRequest, Message: err.Error()}}
	}
	if len(meta.Description) > protocol.MaxDescLen {
		return nil, &httpError{http.StatusBadRequest, &protocol.Error{Code: protocol.CodeBadRequest, Message: "description too long"}}
	}
	st := &uploadState{State: protocol.StateFinalizing, Owner: info.MetaData[metaOwner], User: tok.User, Groups: tok.Groups,
		Group: meta.Group, Name: meta.Name, File: meta.File, Description: meta.Description}
	u.mu.Lock()
	defer u.mu.Unlock()
	if job, ok := u.jobs[id]; ok {
		return job, nil
	}
	if err := s.writeState(id, st); err != nil {
		return nil, err
	}
	return s.launch(id, st, false), nil
}

// launch starts the job of upload id; u.mu is held.
func (s *Server) launch(id string, st *uploadState, recovering bool) *finalizeJob {
	job := &finalizeJob{done: make(chan struct{})}
	s.uploads.jobs[id] = job
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.runFinalize(id, st, job, recovering)
		s.uploads.mu.Lock()
		delete(s.uploads.jobs, id)
		s.uploads.mu.Unlock()
		close(job.done)
	}()
	return job
}

// resumeFinalizes restarts the finalizes a crash or shutdown interrupted.
func (s *Server) resumeFinalizes() {
	ents, err := os.ReadDir(s.uploads.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".state")
		if !ok || !validID.MatchString(id) {
			continue
		}
		st, err := s.readState(id)
		if err != nil || st == nil || st.State != protocol.StateFinalizing {
			continue
		}
		s.log.Info("resuming an interrupted finalize", "id", id, "group", st.Group, "name", st.Name)
		s.uploads.mu.Lock()
		if _, ok := s.uploads.jobs[id]; !ok {
			s.launch(id, st, true)
		}
		s.uploads.mu.Unlock()
	}
}

// runFinalize opens the staged WIM and adds it to its group. recovering
// says that an earlier run was interrupted: it may have published the
// image already, so a clash with an identical image is that success.
func (s *Server) runFinalize(id string, st *uploadState, job *finalizeJob, recovering bool) {
	select {
	case s.uploads.sem <- struct{}{}:
		defer func() { <-s.uploads.sem }()
	case <-s.base.Done():
		job.status, job.resp = http.StatusServiceUnavailable, protocol.FinalizeResponse{State: protocol.StateFinalizing,
			Error: &protocol.Error{Code: protocol.CodeShuttingDown, Message: "the server is stopping; the finalize resumes when it starts again"}}
		return
	}
	start := time.Now()
	path := filepath.Join(s.uploads.dir, id)
	r, err := images.Open(path)
	var res *store.AddResult
	if err == nil {
		if n := len(r.Images()); n != 1 {
			err = fmt.Errorf("%w: the upload holds %d images, not one", errNotOneImage, n)
		} else {
			tok := st.token()
			srcName := fmt.Sprintf("uploaded image %q", st.Name)
			res, err = s.store.Add(s.base, st.Group, r, srcName, store.AddOptions{
				Index: 1, Name: st.Name, Description: st.Description, FileName: st.File, Token: &tok})
			if recovering && errors.Is(err, store.ErrConflict) {
				if e, ok := s.samePublished(st, r); ok {
					s.log.Info("finalize had published the image before the interruption", "id", id, "group", st.Group, "file", e.FileName)
					res, err = &store.AddResult{Group: e.Group, FileName: e.FileName}, nil
				}
			}
		}
		r.Close()
	} else {
		err = fmt.Errorf("%w: %v", errNotOneImage, err)
	}
	if errors.Is(err, context.Canceled) && s.base.Err() != nil {
		job.status, job.resp = http.StatusServiceUnavailable, protocol.FinalizeResponse{State: protocol.StateFinalizing,
			Error: &protocol.Error{Code: protocol.CodeShuttingDown, Message: "the server is stopping; the finalize resumes when it starts again", RetryAfterSeconds: 5}}
		return
	}
	status, resp, final := s.finalizeOutcome(st, res, err)
	job.status, job.resp = status, resp
	log := s.log.With("id", id, "user", st.User, "group", st.Group, "name", st.Name, "ms", time.Since(start).Milliseconds())
	switch {
	case resp.State == protocol.StatePublished:
		log.Info("upload published", "file", resp.Image.FileName, "new_streams", resp.NewStreams, "new_bytes", resp.NewBytes)
	case final:
		log.Warn("upload refused", "code", resp.Error.Code, "err", resp.Error.Message)
	default:
		log.Warn("finalize failed; the upload is kept for another try", "code", resp.Error.Code, "err", resp.Error.Message)
	}
	if !final {
		os.Remove(s.statePath(id))
		return
	}
	done := *st
	done.State, done.Status, done.Result = resp.State, status, &resp
	if err := s.writeState(id, &done); err != nil {
		log.Error("record the finalize result", "err", err)
	}
	s.removeStaged(id)
}

var errNotOneImage = errors.New("not a WIM with one image")

// finalizeOutcome turns store.Add's result into the answer, and says
// whether it is final (published or failed for good: the staged data
// goes) or retryable (the upload stays complete).
func (s *Server) finalizeOutcome(st *uploadState, res *store.AddResult, err error) (int, protocol.FinalizeResponse, bool) {
	if err == nil {
		resp := protocol.FinalizeResponse{State: protocol.StatePublished, Group: res.Group,
			NewStreams: res.NewStreams, SharedStreams: res.SharedStreams, NewBytes: res.NewBytes}
		img := protocol.Image{Group: res.Group, FileName: res.FileName, Index: 1, Name: st.Name}
		if es, lerr := s.store.ListGroup(res.Group, nil); lerr == nil {
			for i := range es {
				if strings.EqualFold(es[i].FileName, res.FileName) {
					img = imageView(&es[i])
				}
			}
		}
		resp.Image = &img
		return http.StatusOK, resp, true
	}
	fail := func(status int, e *protocol.Error) (int, protocol.FinalizeResponse, bool) {
		return status, protocol.FinalizeResponse{State: protocol.StateFailed, Group: st.Group, Error: e}, true
	}
	retry := func(status int, e *protocol.Error) (int, protocol.FinalizeResponse, bool) {
		return status, protocol.FinalizeResponse{State: protocol.StateComplete, Group: st.Group, Error: e}, false
	}
	var (
		de *store.DamagedError
		me *store.MissingDataError
		ce *store.CompressionError
		ne *store.NoSpaceError
	)
	switch {
	case errors.Is(err, errNotOneImage):
		return fail(http.StatusUnprocessableEntity, &protocol.Error{Code: protocol.CodeInvalidWIM, Message: "the upload is not a WIM with one image: " + err.Error()})
	case errors.As(err, &de):
		return fail(http.StatusUnprocessableEntity, &protocol.Error{Code: protocol.CodeDamaged, Message: de.Error()})
	case errors.As(err, &me):
		e := &protocol.Error{Code: protocol.CodeMissingData, Message: me.Error() + "; ask the dedup query again and upload what it says"}
		for i, m := range me.Missing {
			if i == 1000 {
				break
			}
			e.Missing = append(e.Missing, hex.EncodeToString(m.Hash[:]))
		}
		return fail(http.StatusUnprocessableEntity, e)
	case errors.As(err, &ce):
		return fail(http.StatusConflict, &protocol.Error{Code: protocol.CodeCompression, Message: ce.Error(), Compression: ce.GroupType.String()})
	case errors.Is(err, store.ErrConflict):
		return retry(http.StatusConflict, &protocol.Error{Code: protocol.CodeConflict,
			Message: err.Error() + "; finalize again with another name (the upload is kept)"})
	case errors.As(err, &ne):
		return retry(http.StatusInsufficientStorage, &protocol.Error{Code: protocol.CodeNoSpace, Message: ne.Error(), Need: ne.Need, Free: ne.Free})
	case errors.Is(err, store.ErrAccessDenied):
		return retry(http.StatusForbidden, &protocol.Error{Code: protocol.CodeForbidden, Message: err.Error()})
	case errors.Is(err, store.ErrNotFound):
		return retry(http.StatusNotFound, &protocol.Error{Code: protocol.CodeNotFound, Message: err.Error()})
	case errors.Is(err, store.ErrBadName):
		return retry(http.StatusBadRequest, &protocol.Error{Code: protocol.CodeBadRequest, Message: err.Error()})
	}
	s.log.Error("finalize", "group", st.Group, "name", st.Name, "err", err)
	return retry(http.StatusInternalServerError, &protocol.Error{Code: protocol.CodeInternal,
		Message: "the finalize failed on the server (see its log); the upload is kept: finalize again"})
}

// samePublished looks for the image an interrupted finalize of st may
// have published: one with st's file name or name whose XML matches the
// staged image's (name, times and counts).
func (s *Server) samePublished(st *uploadState, r *images.Reader) (*store.ImageEntry, bool) {
	es, err := s.store.ListGroup(st.Group, nil)
	if err != nil {
		return nil, false
	}
	info := r.Images()[0]
	for i := range es {
		e := &es[i]
		if !strings.EqualFold(e.FileName, st.File) && e.Name != st.Name {
			continue
		}
		if e.Name == st.Name && e.TotalBytes == info.TotalBytes && e.FileCount == info.FileCount &&
			e.DirCount == info.DirCount && sameFiletime(e.Created, info.CreationTime) {
			return e, true
		}
	}
	return nil, false
}

// sameFiletime compares a time with a FILETIME.
func sameFiletime(t time.Time, ft uint64) bool {
	if ft == 0 {
		return t.IsZero()
	}
	const epochDiff = 116444736000000000 // 1601 to 1970 in 100 ns units
	return !t.IsZero() && uint64(t.UnixNano()/100)+epochDiff == ft
}
