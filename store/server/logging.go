package server

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/wdscapture/wdscapture/store/protocol"
)

// statusWriter records the status and size of a response. It implements
// Unwrap, so http.ResponseController (which tusd uses for read deadlines)
// reaches the connection through it.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap returns the wrapped ResponseWriter.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type logUserKey struct{}

func contextWithUser(r *http.Request, user *string) context.Context {
	return context.WithValue(r.Context(), logUserKey{}, user)
}

// setLogUser names the request's user in its log line.
func setLogUser(r *http.Request, user string) {
	if p, ok := r.Context().Value(logUserKey{}).(*string); ok {
		*p = user
	}
}

// logRequests logs one line per request: method, path (never the query,
// never a header), status, bytes, the user once known, and time. No
// request header or body is logged, so no password or token can be.
// A panic in a handler is logged and answered 500.
func (s *Server) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		user := new(string)
		r = r.WithContext(contextWithUser(r, user))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic in handler", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, http.StatusInternalServerError, protocol.CodeInternal, "internal error")
				}
			}
			args := []any{"method", r.Method, "path", r.URL.Path, "status", sw.status, "bytes_in", r.ContentLength,
				"bytes_out", sw.bytes, "addr", r.RemoteAddr, "ms", time.Since(start).Milliseconds()}
			if *user != "" {
				args = append(args, "user", *user)
			}
			s.log.Info("request", args...)
		}()
		h.ServeHTTP(sw, r)
	})
}
