package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/auth"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// writeJSON sends v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":"internal","error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeError sends a protocol.Error.
func writeError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeErr(w, status, &protocol.Error{Code: code, Message: fmt.Sprintf(format, args...)})
}

func writeErr(w http.ResponseWriter, status int, e *protocol.Error) {
	if e.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfterSeconds))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="imagestore"`)
	}
	writeJSON(w, status, e)
}

// errBody is a request body that cannot be decoded.
type errBody struct {
	status int
	code   string
	msg    string
}

func (e *errBody) Error() string { return e.msg }

// decodeJSON reads a JSON body of at most protocol.MaxJSONBody bytes into
// v: one object, no unknown fields, nothing after it. An empty body is
// allowed when emptyOK (v keeps its zero value).
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) error {
	if r.ContentLength > protocol.MaxJSONBody {
		return &errBody{http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, fmt.Sprintf("body of %d bytes; at most %d", r.ContentLength, protocol.MaxJSONBody)}
	}
	// A body that trickles in is cut off (the server has no global read
	// timeout: uploads are long).
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Minute))
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, protocol.MaxJSONBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &errBody{http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, fmt.Sprintf("body over %d bytes", protocol.MaxJSONBody)}
	}
	if err != nil {
		return &errBody{http.StatusBadRequest, protocol.CodeBadRequest, "read body: " + err.Error()}
	}
	if len(bytes.TrimSpace(data)) == 0 && emptyOK {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &errBody{http.StatusUnsupportedMediaType, protocol.CodeBadRequest, "Content-Type must be application/json"}
	}
	if err := parseJSON(data, v); err != nil {
		return &errBody{http.StatusBadRequest, protocol.CodeBadRequest, "malformed JSON body: " + err.Error()}
	}
	return nil
}

// parseJSON decodes exactly one JSON value without unknown fields.
func parseJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

func writeBodyError(w http.ResponseWriter, err error) {
	var eb *errBody
	if errors.As(err, &eb) {
		writeError(w, eb.status, eb.code, "%s", eb.msg)
		return
	}
	writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, "%v", err)
}

type tokenKey struct{}

// tokenFrom returns the token the authed middleware put in ctx.
func tokenFrom(ctx context.Context) (store.Token, bool) {
	t, ok := ctx.Value(tokenKey{}).(store.Token)
	return t, ok
}

// bearer returns the session token of a request's Authorization header.
func bearer(r *http.Request) string {
	h := r.Header.Get(protocol.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// authed wraps h so that it runs only with a live session; the user's
// token is in the request's context.
func (s *Server) authed(h func(w http.ResponseWriter, r *http.Request, tok store.Token)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearer(r)
		tok, stale, ok := s.sessions.get(token, s.cfg.TokenRefresh.D())
		if ok && stale {
			tok, ok = s.refreshToken(r.Context(), token, tok)
		}
		if !ok {
			writeError(w, http.StatusUnauthorized, protocol.CodeUnauthorized, "no valid session: log in (sessions end after %s idle, at restarts and at logout)", s.cfg.SessionIdle.D())
			return
		}
		setLogUser(r, tok.User)
		h(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)), tok)
	})
}

// refreshToken looks a session's user up again: new groups take effect,
// and a user who was deleted or disabled loses the session. When the
// directory cannot be asked, the session keeps its token (the user keeps
// working through a directory outage).
func (s *Server) refreshToken(ctx context.Context, token string, tok store.Token) (store.Token, bool) {
	fresh, err := s.auth.Lookup(ctx, tok.User)
	var ue *auth.UnavailableError
	switch {
	case err == nil:
		s.sessions.update(token, fresh)
		return fresh, true
	case errors.As(err, &ue) || errors.Is(err, context.Canceled):
		return tok, true
	case errors.Is(err, auth.ErrUnknownUser) || errors.Is(err, auth.ErrDisabled):
		s.log.Info("sessions ended: the account is gone or disabled", "user", tok.User)
		s.sessions.endUser(tok.User)
		return store.Token{}, false
	}
	s.log.Error("refresh a session's groups", "user", tok.User, "err", err)
	return tok, true
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, protocol.Info{
		Server: "imagestore", Protocol: protocol.Version,
		MaxUploadBytes: s.cfg.MaxUploadBytes, MaxDedupBlobs: protocol.MaxDedupBlobs,
		UploadExpirySeconds: int64(s.cfg.UploadExpiry.D() / time.Second),
	})
}

func retrySeconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req protocol.LoginRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		writeBodyError(w, err)
		return
	}
	if _, err := auth.ParseName(req.User); err != nil {
		writeError(w, http.StatusBadRequest, protocol.CodeBadRequest, "user name: %s", err.(*auth.NameError).Reason)
		return
	}
	if d := s.throttle.wait(req.User, r.RemoteAddr); d > 0 {
		s.log.Warn("login refused: too many failures", "addr", r.RemoteAddr, "wait", d.Round(time.Second))
		writeErr(w, http.StatusTooManyRequests, &protocol.Error{Code: protocol.CodeThrottled,
			Message: fmt.Sprintf("too many failed logins; try again in %d s", retrySeconds(d)), RetryAfterSeconds: retrySeconds(d)})
		return
	}
	tok, err := s.auth.Authenticate(r.Context(), req.User, req.Password)
	var ue *auth.UnavailableError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		s.log.Error("login: authentication backend unavailable", "err", ue.Backend)
		writeErr(w, http.StatusServiceUnavailable, &protocol.Error{Code: protocol.CodeUnavailable,
			Message: "the account directory cannot be reached; try again later", RetryAfterSeconds: 10})
		return
	case errors.Is(err, auth.ErrUnknownUser), errors.Is(err, auth.ErrBadPassword), errors.Is(err, auth.ErrDisabled),
		isAmbiguous(err):
		s.throttle.fail(req.User, r.RemoteAddr)
		// A name that matches no account is not logged: people type
		// passwords into the user field.
		if errors.Is(err, auth.ErrUnknownUser) {
			s.log.Warn("login failed: unknown user", "addr", r.RemoteAddr)
		} else {
			s.log.Warn("login failed", "user", req.User, "addr", r.RemoteAddr, "reason", loginReason(err))
		}
		writeError(w, http.StatusUnauthorized, protocol.CodeUnauthorized, "wrong user name or password")
		return
	case errors.Is(err, context.Canceled):
		return
	default:
		s.log.Error("login: authentication error", "err", err)
		writeError(w, http.StatusInternalServerError, protocol.CodeInternal, "authentication failed on the server; see its log")
		return
	}
	s.throttle.succeed(req.User)
	token, expires, err := s.sessions.create(tok)
	if err != nil {
		s.log.Error("login: no session", "err", err)
		writeErr(w, http.StatusServiceUnavailable, &protocol.Error{Code: protocol.CodeUnavailable, Message: "the server has too many sessions", RetryAfterSeconds: 30})
		return
	}
	setLogUser(r, tok.User)
	s.log.Info("login", "user", tok.User, "addr", r.RemoteAddr)
	writeJSON(w, http.StatusOK, protocol.LoginResponse{Token: token, User: tok.User, Groups: nonNil(tok.Groups),
		IdleSeconds: int64(s.cfg.SessionIdle.D() / time.Second), ExpiresAt: expires.UTC()})
}

func isAmbiguous(err error) bool {
	var ae *auth.AmbiguousNameError
	return errors.As(err, &ae)
}

func loginReason(err error) string {
	switch {
	case errors.Is(err, auth.ErrBadPassword):
		return "wrong password"
	case errors.Is(err, auth.ErrDisabled):
		return "account disabled"
	case isAmbiguous(err):
		return "ambiguous name"
	}
	return "refused"
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, tok store.Token) {
	s.sessions.end(bearer(r))
	s.log.Info("logout", "user", tok.User)
	w.WriteHeader(http.StatusNoContent)
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// freeFor returns the bytes an upload to group may use.
func (s *Server) freeFor(group string) uint64 {
	free, err := s.store.Storage().Free(group)
	if err != nil {
		return 0
	}
	if free < uint64(s.cfg.ReserveBytes) {
		return 0
	}
	return free - uint64(s.cfg.ReserveBytes)
}

// groupView returns how tok sees group g, and false when tok may not
// read it.
func (s *Server) groupView(g *store.GroupInfo, tok store.Token) (protocol.Group, bool) {
	if !g.Settings.CanRead(tok) {
		return protocol.Group{}, false
	}
	visible := g.Images
	for file := range g.Settings.Images {
		if !g.Settings.CanSee(tok, file) {
			visible--
		}
	}
	return protocol.Group{Name: g.Name, Compression: g.Compression, MayWrite: g.Settings.CanWrite(tok),
		Images: max(visible, 0), FreeBytes: s.freeFor(g.Name)}, true
}

func (s *Server) handleGroups(w http.ResponseWriter, r *http.Request, tok store.Token) {
	groups, err := s.store.Groups()
	if err != nil {
		s.internalError(w, "list groups", err)
		return
	}
	out := protocol.GroupsResponse{Groups: []protocol.Group{}}
	for i := range groups {
		if v, ok := s.groupView(&groups[i], tok); ok {
			out.Groups = append(out.Groups, v)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGroup(w http.ResponseWriter, r *http.Request, tok store.Token) {
	name := r.PathValue("group")
	g, err := s.store.Group(name)
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrBadName) {
		s.internalError(w, "group info", err)
		return
	}
	var v protocol.Group
	ok := err == nil
	if ok {
		v, ok = s.groupView(g, tok)
	}
	if !ok {
		// Not there and not readable look the same.
		writeError(w, http.StatusNotFound, protocol.CodeNotFound, "no image group %q that you may read", name)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// internalError logs err and answers 500 without details.
func (s *Server) internalError(w http.ResponseWriter, what string, err error) {
	s.log.Error(what, "err", err)
	writeError(w, http.StatusInternalServerError, protocol.CodeInternal, "%s failed on the server; see its log", what)
}
