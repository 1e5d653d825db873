package upload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// Config says how to reach and log in to an image store.
type Config struct {
	// Server is WDSServerName: host, host:port or an https URL (see
	// ParseServer).
	Server string
	// Trust says which certificate the server may present.
	Trust Trust
	// User is DOMAIN\user, user@domain or a bare name.
	User string
	// Password is kept in memory for the Client's life (to log in again
	// when the session ends or the server restarts), never written.
	Password inf.Secret

	// ConnectTimeout bounds the TCP connect and the TLS handshake
	// (default 10 s).
	ConnectTimeout time.Duration
	// IOTimeout is how long a write may block and how long the server may
	// take to start answering a request (default 2 min; the server waits
	// up to 20 s for a finalize before it answers "ask again").
	IOTimeout time.Duration
	// Retries is how many failed attempts in a row (transport errors,
	// 5xx, a server restarting) an upload survives; the count starts
	// again whenever data moves (default 8). Connect tries twice.
	Retries int
	// RetryMin and RetryMax bound the backoff between attempts (default
	// 1 s doubling up to 30 s).
	RetryMin, RetryMax time.Duration
	// ChunkSize is the most one PATCH sends (default 64 MiB).
	ChunkSize int64
	// Logger receives what the client does (never a password or token).
	Logger *slog.Logger
	// DialContext, when set, opens the TCP connections instead of
	// net.Dialer (tests route them through a proxy).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c Config) withDefaults() Config {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.IOTimeout <= 0 {
		c.IOTimeout = 2 * time.Minute
	}
	if c.Retries <= 0 {
		c.Retries = 8
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 30 * time.Second
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Client is a logged-in session with an image store. It is safe for
// concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	hc   *http.Client
	// wire counts the bytes written to the network (TLS records included).
	wire atomic.Int64

	mu    sync.Mutex
	token string
	login protocol.LoginResponse
	info  protocol.Info
}

// Connect checks the server (TLS 1.3, its certificate as cfg.Trust says,
// that it is an image store speaking this protocol) and logs in. Errors
// are *Error: ErrUnreachable, ErrPinMismatch, ErrUntrusted, ErrAuth,
// ErrThrottled, ...
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	base, host, err := ParseServer(cfg.Server)
	if err != nil {
		return nil, &Error{Kind: ErrUnreachable, Op: "connect", Err: err}
	}
	tlsCfg, err := cfg.Trust.tlsConfig(host)
	if err != nil {
		return nil, &Error{Kind: ErrUntrusted, Op: "connect", Server: cfg.Server, Err: err}
	}
	c := &Client{cfg: cfg, base: base}
	dial := cfg.DialContext
	if dial == nil {
		d := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tuneConn(conn)
			return &countingConn{Conn: conn, n: &c.wire, timeout: cfg.IOTimeout}, nil
		},
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.IOTimeout,
		ForceAttemptHTTP2:     false,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		// Uploads are already compressed: no transparent gzip.
		DisableCompression: true,
	}
	c.hc = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // the protocol has no redirects
	}}
	if err := c.connect(ctx); err != nil {
		c.hc.CloseIdleConnections()
		return nil, err
	}
	return c, nil
}

// connect reads the server's info and logs in, trying twice.
func (c *Client) connect(ctx context.Context) error {
	var info protocol.Info
	p := retryPolicy{tries: 2, min: c.cfg.RetryMin, max: c.cfg.RetryMin}
	err := p.run(ctx, c.cfg.Logger, func() error {
		return c.getJSON(ctx, "connect", protocol.PathInfo, nil, false, &info)
	})
	if err != nil {
		return err
	}
	if info.Server != "imagestore" || info.Protocol != protocol.Version {
		return c.errorf(ErrUnreachable, "connect", 0, nil, "the server answers as %q protocol %d, not an image store speaking protocol %d", info.Server, info.Protocol, protocol.Version)
	}
	c.mu.Lock()
	c.info = info
	c.mu.Unlock()
	return p.run(ctx, c.cfg.Logger, func() error { return c.logIn(ctx) })
}

// Server returns the server's base URL.
func (c *Client) Server() string { return c.base.String() }

// User returns the account as the server knows it (DOMAIN\user).
func (c *Client) User() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.login.User
}

// Info returns what the server said about itself.
func (c *Client) Info() protocol.Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// WireBytes returns the bytes written to the network so far (TLS records,
// headers and bodies, including what a dropped connection lost).
func (c *Client) WireBytes() int64 { return c.wire.Load() }

// Close logs out and closes the connections.
func (c *Client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.mu.Lock()
	tok := c.token
	c.mu.Unlock()
	var err error
	if tok != "" {
		_, _, err = c.send(ctx, request{method: http.MethodPost, path: protocol.PathLogout, auth: true})
	}
	c.hc.CloseIdleConnections()
	return err
}

// logIn gets a new session token.
func (c *Client) logIn(ctx context.Context) error {
	body, _ := json.Marshal(protocol.LoginRequest{User: c.cfg.User, Password: c.cfg.Password.Reveal()})
	resp, data, err := c.send(ctx, request{method: http.MethodPost, path: protocol.PathLogin, body: body, contentType: "application/json"})
	op := "log in as " + c.cfg.User
	if err != nil {
		return c.transportError(ctx, op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return c.apiError(op, resp, data)
	}
	var lr protocol.LoginResponse
	if err := json.Unmarshal(data, &lr); err != nil || lr.Token == "" {
		return c.errorf(ErrServer, op, resp.StatusCode, nil, "the login answer is not a session")
	}
	c.mu.Lock()
	c.token, c.login = lr.Token, lr
	c.login.Token = ""
	c.mu.Unlock()
	c.cfg.Logger.Info("logged in", "server", c.base.Host, "user", lr.User)
	return nil
}

// request is one HTTP request of the protocol.
type request struct {
	method, path string
	query        url.Values
	body         []byte
	// bodyReader, when set, is sent instead of body (PATCH data) with
	// bodyLen bytes.
	bodyReader  io.Reader
	bodyLen     int64
	contentType string
	header      map[string]string
	auth        bool
	// limit bounds the answer's body (default 4 MiB).
	limit int64
}

// send makes one attempt of r and reads the answer's body.
func (c *Client) send(ctx context.Context, r request) (*http.Response, []byte, error) {
	u := *c.base
	if strings.HasPrefix(r.path, "https://") {
		pu, err := url.Parse(r.path)
		if err != nil {
			return nil, nil, err
		}
		u = *pu
	} else {
		u.Path, u.RawPath = r.path, ""
		if esc := escapedPath(r.path); esc != r.path {
			u.RawPath = esc
		}
	}
	if r.query != nil {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	if r.bodyReader != nil {
		body = r.bodyReader
	} else if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, nil, err
	}
	if r.bodyReader != nil {
		req.ContentLength = r.bodyLen
		if r.bodyLen == 0 {
			req.Body = http.NoBody
		}
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if r.auth {
		c.mu.Lock()
		tok := c.token
		c.mu.Unlock()
		req.Header.Set(protocol.HeaderAuthorization, "Bearer "+tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	limit := r.limit
	if limit <= 0 {
		limit = 4 << 20
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(data)) > limit {
		return nil, nil, fmt.Errorf("%s %s: answer longer than %d bytes", r.method, r.path, limit)
	}
	return resp, data, nil
}

// escapedPath escapes each segment of an API path (group names may hold
// spaces and other characters).
func escapedPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// call runs an authenticated request of the API (not tus data), logging
// in again once when the session has ended. It returns the answer of
// any status; transport failures are errors.
func (c *Client) call(ctx context.Context, r request) (*http.Response, []byte, error) {
	r.auth = true
	resp, data, err := c.send(ctx, r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		c.cfg.Logger.Info("session ended; logging in again", "server", c.base.Host)
		if err := c.logIn(ctx); err != nil {
			return nil, nil, err
		}
		if r.bodyReader != nil {
			return resp, data, nil // the caller resends a body it cannot rewind
		}
		resp, data, err = c.send(ctx, r)
	}
	return resp, data, err
}

// getJSON GETs path into v; 200 is success, anything else an *Error.
func (c *Client) getJSON(ctx context.Context, op, path string, q url.Values, auth bool, v any) error {
	var resp *http.Response
	var data []byte
	var err error
	r := request{method: http.MethodGet, path: path, query: q}
	if auth {
		resp, data, err = c.call(ctx, r)
	} else {
		resp, data, err = c.send(ctx, r)
	}
	if err != nil {
		return c.transportError(ctx, op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return c.apiError(op, resp, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return c.errorf(ErrServer, op, resp.StatusCode, err, "the answer is not the expected JSON")
	}
	return nil
}

// errorf makes an *Error.
func (c *Client) errorf(kind error, op string, status int, cause error, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	if cause != nil {
		err = fmt.Errorf("%s: %w", err, cause)
	}
	return &Error{Kind: kind, Op: op, Server: c.cfg.Server, Status: status, Err: err}
}

// transportError classifies an error with no HTTP answer: a refused
// certificate, the caller's cancellation, or the server unreachable.
func (c *Client) transportError(ctx context.Context, op string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
	var ce *certError
	if errors.As(err, &ce) {
		return &Error{Kind: ce.kind, Op: op, Server: c.cfg.Server, Fingerprint: ce.fp, Err: ce.err}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the operation says what was asked; the URL adds nothing
	}
	return &Error{Kind: ErrUnreachable, Op: op, Server: c.cfg.Server, Err: err}
}

// apiError turns a non-success answer into an *Error.
func (c *Client) apiError(op string, resp *http.Response, data []byte) error {
	var api protocol.Error
	var apip *protocol.Error
	if json.Unmarshal(data, &api) == nil && api.Code != "" {
		apip = &api
	}
	e := &Error{Kind: kindOfAPI(resp.StatusCode, apip), Op: op, Server: c.cfg.Server, Status: resp.StatusCode, API: apip}
	if apip == nil {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		if msg == "" {
			msg = resp.Status
		}
		e.Err = fmt.Errorf("HTTP %s: %s", resp.Status, msg)
	} else {
		e.GroupCompression = apip.Compression
	}
	return e
}

// retryable reports whether an error may go away by itself: no answer
// (but a refused certificate), a 5xx, a 423/409 of a tus upload that a
// dead connection still holds, a throttle on anything but login.
func retryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Kind {
	case ErrUnreachable:
		return true
	case ErrServer:
		return e.Status == 0 || e.Status >= 500 || e.Status == http.StatusLocked
	}
	return false
}

// retryAfter returns the server's Retry-After (seconds), 0 when none.
func retryAfter(h http.Header) time.Duration {
	n, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, 5*time.Minute)
}

// retryPolicy runs an operation up to tries times with exponential
// backoff while its error is retryable.
type retryPolicy struct {
	tries    int
	min, max time.Duration
}

func (p retryPolicy) run(ctx context.Context, log *slog.Logger, f func() error) error {
	wait := p.min
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !retryable(err) || attempt >= p.tries {
			return err
		}
		log.Warn("retrying", "attempt", attempt, "wait", wait, "err", err)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, p.max)
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// countingConn counts the bytes written and gives every write a deadline,
// so that a link that stops taking data fails instead of hanging.
type countingConn struct {
	net.Conn
	n       *atomic.Int64
	timeout time.Duration
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}
