package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	xslog "golang.org/x/exp/slog"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/auth"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// Staged uploads live in ROOT/Server/uploads as tusd's file store keeps
// them: ID (the bytes) and ID.info (tusd's JSON: size, metadata). The
// server adds ID.state once a finalize starts. Upload IDs are 32 random
// hex digits, checked before any of them touches a path.
const uploadsDir = "uploads"

// metaOwner is the metadata key under which the server records who
// created an upload (never taken from the client).
const metaOwner = "owner"

var validID = regexp.MustCompile(`^[0-9a-f]{32}$`)

type uploads struct {
	dir    string
	fs     filestore.FileStore
	locker *memorylocker.MemoryLocker
	tus    *handler.UnroutedHandler

	mu   sync.Mutex
	jobs map[string]*finalizeJob
	sem  chan struct{}
	// creating serializes the limit checks of upload creation.
	creating sync.Mutex
}

func (s *Server) initUploads() error {
	dir := filepath.Join(s.cfg.Root, auth.ServerDir, uploadsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	u := &uploads{dir: dir, jobs: map[string]*finalizeJob{}, sem: make(chan struct{}, s.cfg.FinalizeWorkers)}
	u.fs = filestore.New(dir)
	u.fs.DirModePerm, u.fs.FileModePerm = 0o700, 0o600
	u.locker = memorylocker.New()
	composer := handler.NewStoreComposer()
	st := &stagingStore{fs: u.fs, s: s}
	composer.UseCore(st)
	composer.UseTerminater(st)
	composer.UseLengthDeferrer(st)
	u.locker.UseIn(composer)
	h, err := handler.NewUnroutedHandler(handler.Config{
		StoreComposer:           composer,
		BasePath:                protocol.PathUploads,
		MaxSize:                 s.cfg.MaxUploadBytes,
		DisableDownload:         true,
		DisableConcatenation:    true,
		Cors:                    &handler.CorsConfig{Disable: true},
		PreUploadCreateCallback: s.preCreate,
		PreUploadTerminateCallback: func(ev handler.HookEvent) (handler.HTTPResponse, error) {
			return handler.HTTPResponse{}, s.preTerminate(ev)
		},
		// tusd logs through golang.org/x/exp/slog; the server logs every
		// request itself (without headers), so tusd's own lines, which
		// may carry header values, are dropped.
		Logger:         xslog.New(xslog.NewTextHandler(io.Discard, nil)),
		NetworkTimeout: 60 * time.Second,
	})
	if err != nil {
		return err
	}
	u.tus = h
	s.uploads = u
	return nil
}

// tusError is an error answer from inside tusd, with the server's JSON
// error body.
func tusError(status int, e *protocol.Error) handler.Error {
	b, _ := json.Marshal(e)
	hdr := handler.HTTPHeader{"Content-Type": "application/json"}
	if e.RetryAfterSeconds > 0 {
		hdr["Retry-After"] = fmt.Sprint(e.RetryAfterSeconds)
	}
	return handler.Error{ErrorCode: e.Code, Message: e.Message,
		HTTPResponse: handler.HTTPResponse{StatusCode: status, Body: string(b) + "\n", Header: hdr}}
}

func tusErrorf(status int, code, format string, args ...any) handler.Error {
	return tusError(status, &protocol.Error{Code: code, Message: fmt.Sprintf(format, args...)})
}

func (s *Server) routeUploads(mux *http.ServeMux) {
	u := s.uploads
	mux.Handle("OPTIONS "+protocol.PathUploads, u.tus.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	mux.Handle("POST "+protocol.PathUploads+"{$}", s.authed(func(w http.ResponseWriter, r *http.Request, _ store.Token) {
		u.tus.Middleware(http.HandlerFunc(u.tus.PostFile)).ServeHTTP(w, stripTo(r, "/"))
	}))
	for method, h := range map[string]http.HandlerFunc{
		"HEAD":   u.tus.HeadFile,
		"PATCH":  u.tus.PatchFile,
		"DELETE": u.tus.DelFile,
	} {
		mux.Handle(method+" "+protocol.PathUploads+"{id}", s.authed(func(w http.ResponseWriter, r *http.Request, tok store.Token) {
			id := r.PathValue("id")
			if !s.ownUpload(w, r, id, tok) {
				return
			}
			if method == "PATCH" && !s.roomForPatch(w, r) {
				return
			}
			u.tus.Middleware(h).ServeHTTP(w, stripTo(r, "/"+id))
		}))
	}
	mux.Handle("POST "+protocol.PathFinalize, s.authed(s.handleFinalize))
}

// stripTo returns r with its URL path set to path, as tusd's handlers
// want it (the ID relative to the base path).
func stripTo(r *http.Request, path string) *http.Request {
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = path, ""
	return r2
}

// ownUpload checks that id is a valid upload ID of an upload tok's user
// made; anything else is answered 404 (another user's uploads do not
// exist for this one).
func (s *Server) ownUpload(w http.ResponseWriter, r *http.Request, id string, tok store.Token) bool {
	notFound := func() bool {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNotFound)
		} else {
			writeError(w, http.StatusNotFound, protocol.CodeNotFound, "no upload %q of yours (finished, expired or never made)", id)
		}
		return false
	}
	if !validID.MatchString(id) {
		return notFound()
	}
	info, err := s.uploadInfo(id)
	if err != nil || !strings.EqualFold(info.MetaData[metaOwner], tok.User) {
		return notFound()
	}
	return true
}

// uploadInfo reads tusd's record of upload id (a valid ID).
func (s *Server) uploadInfo(id string) (handler.FileInfo, error) {
	var info handler.FileInfo
	data, err := os.ReadFile(filepath.Join(s.uploads.dir, id+".info"))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return info, err
	}
	if info.ID != id {
		return info, fmt.Errorf("upload %s: info file names %q", id, info.ID)
	}
	st, err := os.Stat(filepath.Join(s.uploads.dir, id))
	if err != nil {
		return info, err
	}
	info.Offset = st.Size()
	return info, nil
}

// roomForPatch refuses a PATCH whose body would leave less than the
// reserve free.
func (s *Server) roomForPatch(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength <= 0 {
		return true
	}
	free, err := freeBytes(s.uploads.dir)
	if err != nil {
		s.internalError(w, "free space", err)
		return false
	}
	need := uint64(r.ContentLength) + uint64(s.cfg.ReserveBytes)
	if free < need {
		writeErr(w, http.StatusInsufficientStorage, &protocol.Error{Code: protocol.CodeNoSpace,
			Message: fmt.Sprintf("the server has %d bytes free, this part needs %d (with the reserve); retry later", free, need),
			Need:    need, Free: free})
		return false
	}
	return true
}

// freeBytes returns the free space of the file system holding dir.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// uploadMeta is the validated metadata of a new upload.
type uploadMeta struct {
	Group, Name, File, Description string
	// Compression is the type the client declares ("" if it did not).
	Compression string
}

// parseUploadMeta validates the client's Upload-Metadata (as tusd
// decoded it): group and name required, file and description optional,
// no other keys, every value valid UTF-8 without control characters.
func parseUploadMeta(m handler.MetaData) (uploadMeta, error) {
	var u uploadMeta
	for k, v := range m {
		if len(v) > protocol.MaxMetadataLen {
			return u, fmt.Errorf("metadata %q is longer than %d bytes", k, protocol.MaxMetadataLen)
		}
		if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return u, fmt.Errorf("metadata %q is not text (invalid UTF-8 or control characters)", k)
		}
		switch k {
		case protocol.MetaGroup:
			u.Group = v
		case protocol.MetaName:
			u.Name = v
		case protocol.MetaFile:
			u.File = v
		case protocol.MetaDescription:
			u.Description = v
		case protocol.MetaCompression:
			c, err := images.ParseCompression(v)
			if err != nil {
				return u, err
			}
			u.Compression = c.String()
		default:
			return u, fmt.Errorf("unknown metadata %q (want group, name, file, description, compression)", k)
		}
	}
	if err := store.CheckGroupName(u.Group); err != nil {
		return u, err
	}
	if err := checkImageName(u.Name); err != nil {
		return u, err
	}
	if u.File == "" {
		u.File = store.FileNameFor(u.Name)
	}
	if err := store.CheckImageFileName(u.File); err != nil {
		return u, err
	}
	if len(u.Description) > protocol.MaxDescLen {
		return u, fmt.Errorf("description longer than %d bytes", protocol.MaxDescLen)
	}
	return u, nil
}

func checkImageName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("the image name is empty")
	case len(name) > protocol.MaxImageNameLen:
		return fmt.Errorf("the image name is longer than %d bytes", protocol.MaxImageNameLen)
	case strings.TrimSpace(name) != name:
		return errors.New("the image name starts or ends with white space")
	}
	return nil
}

func newUploadID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// preCreate is tusd's pre-create hook: it checks the user's right to
// write the group, the name, the limits and the free space before an
// upload exists, and records the owner.
func (s *Server) preCreate(ev handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
	none := handler.FileInfoChanges{}
	tok, ok := tokenFrom(ev.Context)
	if !ok {
		return handler.HTTPResponse{}, none, tusErrorf(http.StatusUnauthorized, protocol.CodeUnauthorized, "no session")
	}
	meta, err := parseUploadMeta(ev.Upload.MetaData)
	if err != nil {
		return handler.HTTPResponse{}, none, tusErrorf(http.StatusBadRequest, protocol.CodeBadRequest, "Upload-Metadata: %v", err)
	}
	g, err := s.store.Group(meta.Group)
	if err == nil && !g.Settings.CanRead(tok) {
		err = store.ErrNotFound
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return handler.HTTPResponse{}, none, tusErrorf(http.StatusNotFound, protocol.CodeNotFound, "no image group %q that you may read", meta.Group)
		}
		return handler.HTTPResponse{}, none, s.tusInternal("upload: group", err)
	}
	if !g.Settings.CanWrite(tok) {
		return handler.HTTPResponse{}, none, tusErrorf(http.StatusForbidden, protocol.CodeForbidden, "%s may not add images to group %s", tok.User, g.Name)
	}
	if meta.Compression != "" && g.Compression != "" && meta.Compression != g.Compression {
		return handler.HTTPResponse{}, none, tusError(http.StatusConflict, &protocol.Error{Code: protocol.CodeCompression,
			Message: fmt.Sprintf("image group %s holds %s-compressed images; this upload is %s-compressed: capture or export it with the group's type",
				g.Name, g.Compression, meta.Compression), Compression: g.Compression})
	}
	if err := s.nameFree(g.Name, meta); err != nil {
		return handler.HTTPResponse{}, none, err
	}
	u := s.uploads
	u.creating.Lock()
	defer u.creating.Unlock()
	active, err := s.activeUploads()
	if err != nil {
		return handler.HTTPResponse{}, none, s.tusInternal("upload: list staged uploads", err)
	}
	mine, outstanding := 0, int64(0)
	for _, a := range active {
		if strings.EqualFold(a.MetaData[metaOwner], tok.User) {
			mine++
		}
		if !a.SizeIsDeferred {
			outstanding += max(a.Size-a.Offset, 0)
		}
	}
	if mine >= s.cfg.MaxUploadsPerUser || len(active) >= s.cfg.MaxUploads {
		return handler.HTTPResponse{}, none, tusError(http.StatusTooManyRequests, &protocol.Error{Code: protocol.CodeTooMany,
			Message: fmt.Sprintf("%s has %d unfinished uploads (at most %d; the server %d of %d): finish or DELETE one, or wait for them to expire",
				tok.User, mine, s.cfg.MaxUploadsPerUser, len(active), s.cfg.MaxUploads), RetryAfterSeconds: 60})
	}
	free, err := freeBytes(u.dir)
	if err != nil {
		return handler.HTTPResponse{}, none, s.tusInternal("upload: free space", err)
	}
	// Staged, then copied into res.rwm before the staged copy goes: twice
	// the size, besides what other uploads still have to send.
	need := uint64(s.cfg.ReserveBytes) + uint64(outstanding)
	if !ev.Upload.SizeIsDeferred {
		need += 2 * uint64(ev.Upload.Size)
	}
	if free < need {
		return handler.HTTPResponse{}, none, tusError(http.StatusInsufficientStorage, &protocol.Error{Code: protocol.CodeNoSpace,
			Message: fmt.Sprintf("the store has %d bytes free; this upload needs %d (twice its size while staged and published, the reserve, and what other uploads still send)", free, need),
			Need:    need, Free: free})
	}
	id, err := newUploadID()
	if err != nil {
		return handler.HTTPResponse{}, none, s.tusInternal("upload: id", err)
	}
	s.log.Info("upload created", "id", id, "user", tok.User, "group", g.Name, "name", meta.Name, "size", ev.Upload.Size)
	return handler.HTTPResponse{}, handler.FileInfoChanges{ID: id, MetaData: handler.MetaData{
		protocol.MetaGroup: g.Name, protocol.MetaName: meta.Name, protocol.MetaFile: meta.File,
		protocol.MetaDescription: meta.Description, metaOwner: tok.User,
	}}, nil
}

func (s *Server) tusInternal(what string, err error) error {
	s.log.Error(what, "err", err)
	return tusErrorf(http.StatusInternalServerError, protocol.CodeInternal, "%s failed on the server; see its log", what)
}

// activeUploads returns the staged uploads that are not finished.
func (s *Server) activeUploads() ([]handler.FileInfo, error) {
	ents, err := os.ReadDir(s.uploads.dir)
	if err != nil {
		return nil, err
	}
	var out []handler.FileInfo
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".info")
		if !ok || !validID.MatchString(id) {
			continue
		}
		info, err := s.uploadInfo(id)
		if err != nil {
			continue
		}
		if st, _ := s.readState(id); st != nil && st.State != protocol.StateFinalizing {
			continue
		}
		out = append(out, info)
	}
	return out, nil
}

// preTerminate refuses to delete an upload that is being finalized, and
// drops the state of one that is deleted.
func (s *Server) preTerminate(ev handler.HookEvent) error {
	id := ev.Upload.ID
	s.uploads.mu.Lock()
	_, running := s.uploads.jobs[id]
	s.uploads.mu.Unlock()
	if running {
		return tusErrorf(http.StatusConflict, protocol.CodeConflict, "upload %s is being finalized", id)
	}
	if st, _ := s.readState(id); st != nil && st.State == protocol.StateFinalizing {
		return tusErrorf(http.StatusConflict, protocol.CodeConflict, "upload %s is being finalized", id)
	}
	os.Remove(filepath.Join(s.uploads.dir, id+".state"))
	s.log.Info("upload deleted by its owner", "id", id)
	return nil
}

// stagingStore is tusd's file store with the server's checks: it refuses
// to fill the disk past the reserve (507 rather than a half-written
// chunk and a 500).
type stagingStore struct {
	fs filestore.FileStore
	s  *Server
}

func (st *stagingStore) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	if !validID.MatchString(info.ID) {
		return nil, tusErrorf(http.StatusBadRequest, protocol.CodeBadRequest, "invalid upload ID")
	}
	up, err := st.fs.NewUpload(ctx, info)
	if err != nil {
		return nil, st.mapErr(err)
	}
	return &stagedUpload{Upload: up, st: st}, nil
}

func (st *stagingStore) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	if !validID.MatchString(id) {
		return nil, handler.ErrNotFound
	}
	up, err := st.fs.GetUpload(ctx, id)
	if err != nil {
		return nil, err
	}
	return &stagedUpload{Upload: up, st: st}, nil
}

func (st *stagingStore) AsTerminatableUpload(up handler.Upload) handler.TerminatableUpload {
	return st.fs.AsTerminatableUpload(up.(*stagedUpload).Upload)
}

func (st *stagingStore) AsLengthDeclarableUpload(up handler.Upload) handler.LengthDeclarableUpload {
	return st.fs.AsLengthDeclarableUpload(up.(*stagedUpload).Upload)
}

func (st *stagingStore) mapErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, errLowSpace) {
		free, _ := freeBytes(st.s.uploads.dir)
		return tusError(http.StatusInsufficientStorage, &protocol.Error{Code: protocol.CodeNoSpace,
			Message: "the server ran out of space; what arrived is kept: resume when space is freed", Free: free})
	}
	return err
}

type stagedUpload struct {
	handler.Upload
	st *stagingStore
}

var errLowSpace = errors.New("free space below the reserve")

func (u *stagedUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	g := &spaceGuard{r: src, dir: u.st.s.uploads.dir, reserve: uint64(u.st.s.cfg.ReserveBytes)}
	n, err := u.Upload.WriteChunk(ctx, offset, g)
	if err != nil {
		return n, u.st.mapErr(err)
	}
	return n, nil
}

// spaceGuard stops a body when the disk's free space falls below the
// reserve (checked every 16 MiB), for uploads whose size was not known
// up front.
type spaceGuard struct {
	r       io.Reader
	dir     string
	reserve uint64
	since   int64
}

func (g *spaceGuard) Read(p []byte) (int, error) {
	if g.since == 0 || g.since >= 16<<20 {
		g.since = 1
		if free, err := freeBytes(g.dir); err == nil && free < g.reserve {
			return 0, errLowSpace
		}
	}
	n, err := g.r.Read(p)
	g.since += int64(n)
	return n, err
}
