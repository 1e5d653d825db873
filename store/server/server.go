package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/auth"
	"github.com/wdscapture/wdscapture/store/auth/authconfig"
	"github.com/wdscapture/wdscapture/store/protocol"
)

var errTooManySessions = errors.New("too many sessions")

// Server is a running image store server.
type Server struct {
	cfg      Config
	store    *store.Store
	auth     auth.Authenticator
	log      *slog.Logger
	sessions *sessions
	throttle *throttle
	certs    *certSource
	// closeAuth releases the authenticator's connections.
	closeAuth func()

	// base is cancelled at shutdown; background work (finalize) runs
	// under it rather than under a request.
	base   context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup

	uploads *uploads
	// dedupSlots bounds dedup queries decoded at once (each may hold
	// tens of megabytes of blob list).
	dedupSlots chan struct{}
}

// NewAuthenticator returns the authenticator of the store at cfg.Root, as
// the admin commands build it too (package authconfig: the directory of
// cfg.Directory when one is configured, then the users file, whose groups
// every token gets). close releases the directory's connections.
func NewAuthenticator(cfg *Config, log *slog.Logger) (a auth.Authenticator, close func(), err error) {
	ac, err := authconfig.Open(cfg.Root, cfg.Directory, log)
	if err != nil {
		return nil, nil, err
	}
	return ac, func() { ac.Close() }, nil
}

// New prepares a server for cfg: opens the store, the users file and the
// certificate (making a self-signed one on first start) and the staging
// area. It does not listen yet.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Root == "" {
		return nil, errors.New("no store root")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := store.Open(cfg.Root)
	if err != nil {
		return nil, err
	}
	if _, err := auth.EnsureServerDir(cfg.Root); err != nil {
		return nil, err
	}
	a, closeAuth, err := NewAuthenticator(&cfg, log)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: st, auth: a, closeAuth: closeAuth, log: log,
		sessions: newSessions(cfg.SessionIdle.D(), cfg.SessionMax.D()), throttle: newThrottle(&cfg),
		dedupSlots: make(chan struct{}, 2)}
	s.base, s.cancel = context.WithCancel(context.Background())
	certs, created, err := loadCertSource(&s.cfg)
	if err != nil {
		closeAuth()
		return nil, err
	}
	s.certs = certs
	if created {
		log.Info("made a self-signed certificate", "fingerprint", certs.fingerprint())
	}
	if err := s.initUploads(); err != nil {
		closeAuth()
		return nil, err
	}
	return s, nil
}

// Fingerprint returns the SHA-256 fingerprint of the server's certificate.
func (s *Server) Fingerprint() string { return s.certs.fingerprint() }

// Handler returns the server's HTTP handler (without TLS).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+protocol.PathInfo, s.handleInfo)
	mux.HandleFunc("POST "+protocol.PathLogin, s.handleLogin)
	mux.Handle("POST "+protocol.PathLogout, s.authed(s.handleLogout))
	mux.Handle("GET "+protocol.PathGroups, s.authed(s.handleGroups))
	mux.Handle("GET "+protocol.PathGroup, s.authed(s.handleGroup))
	mux.Handle("POST "+protocol.PathDedup, s.authed(s.handleDedup))
	mux.Handle("GET "+protocol.PathImages, s.authed(s.handleImages))
	s.routeUploads(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, protocol.CodeNotFound, "no such endpoint")
	})
	return s.logRequests(mux)
}

// Serve accepts connections on ln (TLS is added here) until ctx ends,
// then shuts down gracefully: no new connections, requests in flight get
// up to grace to finish, running finalizes are cancelled (the store rolls
// them back; they are resumed at the next start).
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         s.certs.tlsConfig(),
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    protocol.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return s.base },
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.housekeeping()
	}()
	s.resumeFinalizes()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(tls.NewListener(newLimitListener(ln, s.cfg.MaxConnections), hs.TLSConfig)) }()
	select {
	case err := <-errc:
		s.stop()
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		hs.Close()
	}
	s.stop()
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // connections cut after the grace period; uploads resume
	}
	return err
}

// stop cancels background work and waits for it.
func (s *Server) stop() {
	s.cancel()
	s.bg.Wait()
	s.closeAuth()
}

// housekeeping expires sessions, throttle entries and abandoned uploads.
func (s *Server) housekeeping() {
	every := min(time.Minute, max(s.cfg.UploadExpiry.D()/4, time.Second))
	t := time.NewTicker(every)
	defer t.Stop()
	s.expireUploads()
	for {
		select {
		case <-s.base.Done():
			return
		case <-t.C:
			s.sessions.expire()
			s.throttle.expire()
			s.expireUploads()
		}
	}
}

// NewLogger returns the server's logger writing to w in format ("text"
// or "json").
func NewLogger(w io.Writer, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// Run is imagestore serve: it listens on cfg.Listen, prints the address
// and the certificate fingerprint to out, and serves until ctx ends.
func Run(ctx context.Context, cfg Config, out io.Writer, log *slog.Logger) error {
	s, err := New(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		s.stop()
		return err
	}
	fmt.Fprintf(out, "imagestore: serving %s on https://%s\n", cfg.Root, ln.Addr())
	fmt.Fprintf(out, "imagestore: certificate SHA-256 fingerprint %s\n", s.Fingerprint())
	if f, ok := out.(*os.File); ok {
		f.Sync()
	}
	s.log.Info("serving", "root", cfg.Root, "addr", ln.Addr().String(), "fingerprint", s.Fingerprint())
	return s.Serve(ctx, ln, 30*time.Second)
}
