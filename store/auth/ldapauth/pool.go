package ldapauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wdscapture/wdscapture/store/auth"
)

// maxIdleAge is how long an idle connection is kept: less than Active
// Directory's default MaxConnIdleTime (15 minutes), after which the
// server drops it.
const maxIdleAge = 4 * time.Minute

// dialer opens connections to the first directory server that answers,
// starting with the one that answered last.
type dialer struct {
	urls     []*url.URL
	tls      []*tls.Config // per URL
	startTLS bool
	timeout  time.Duration

	mu   sync.Mutex
	last int
}

func newDialer(r *resolved) (*dialer, error) {
	d := &dialer{urls: r.urls, startTLS: r.StartTLS, timeout: r.Timeout.D()}
	for _, u := range r.urls {
		tc, err := r.tlsConfig(u.Hostname())
		if err != nil {
			return nil, err
		}
		d.tls = append(d.tls, tc)
	}
	return d, nil
}

// dial connects to a server, upgraded to TLS as configured. Its error
// names every server tried.
func (d *dialer) dial(ctx context.Context) (*ldap.Conn, error) {
	d.mu.Lock()
	first := d.last
	d.mu.Unlock()
	var errs []string
	for i := range d.urls {
		k := (first + i) % len(d.urls)
		c, err := d.dialOne(ctx, k)
		if err == nil {
			d.mu.Lock()
			d.last = k
			d.mu.Unlock()
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, fmt.Sprintf("%s: %v", d.urls[k].Redacted(), err))
	}
	return nil, errors.New(strings.Join(errs, "; "))
}

func (d *dialer) dialOne(ctx context.Context, k int) (*ldap.Conn, error) {
	nd := &net.Dialer{Timeout: d.timeout}
	if dl, ok := ctx.Deadline(); ok {
		nd.Deadline = dl
	}
	u := d.urls[k]
	addr := u.String()
	if u.Port() == "" {
		// go-ldap fills in 389/636 itself; say it for the messages.
		port := "389"
		if u.Scheme == "ldaps" {
			port = "636"
		}
		addr = u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
	}
	c, err := ldap.DialURL(addr, ldap.DialWithDialer(nd), ldap.DialWithTLSConfig(d.tls[k]))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(d.timeout)
	if d.startTLS {
		if err := c.StartTLS(d.tls[k]); err != nil {
			c.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	return c, nil
}

// pool keeps idle connections for reuse and bounds how many are open.
type pool struct {
	d       *dialer
	backend string // for UnavailableError
	// prepare runs on a new connection (the service account's bind);
	// nil for none.
	prepare func(*ldap.Conn) error
	now     func() time.Time
	sem     chan struct{}

	mu     sync.Mutex
	idle   []idleConn
	closed bool
}

type idleConn struct {
	c     *ldap.Conn
	since time.Time
}

func newPool(d *dialer, backend string, max int, prepare func(*ldap.Conn) error, now func() time.Time) *pool {
	return &pool{d: d, backend: backend, prepare: prepare, now: now, sem: make(chan struct{}, max)}
}

// errPoolClosed is returned once the backend is closed.
var errPoolClosed = errors.New("the directory backend is closed")

// get returns a connection and whether it was idle in the pool (it may
// then have been dropped by the server meanwhile).
func (p *pool) get(ctx context.Context) (*ldap.Conn, bool, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return nil, false, errPoolClosed
	}
	now := p.now()
	for len(p.idle) > 0 {
		ic := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if ic.c.IsClosing() || now.Sub(ic.since) > maxIdleAge {
			ic.c.Close()
			continue
		}
		p.mu.Unlock()
		return ic.c, true, nil
	}
	p.mu.Unlock()
	c, err := p.d.dial(ctx)
	if err == nil && p.prepare != nil {
		if err = p.prepare(c); err != nil {
			c.Close()
		}
	}
	if err != nil {
		<-p.sem
		return nil, false, err
	}
	return c, false, nil
}

// put returns a healthy connection to the pool.
func (p *pool) put(c *ldap.Conn) {
	p.mu.Lock()
	if p.closed || c.IsClosing() {
		c.Close()
	} else {
		p.idle = append(p.idle, idleConn{c: c, since: p.now()})
	}
	p.mu.Unlock()
	<-p.sem
}

// discard closes a connection that is broken or in an unknown state.
func (p *pool) discard(c *ldap.Conn) {
	c.Close()
	<-p.sem
}

// close closes the idle connections; those in use close when they come
// back.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	for _, ic := range p.idle {
		ic.c.Close()
	}
	p.idle = nil
	p.mu.Unlock()
}

// do runs fn on a connection of the pool. A connection error is reported
// as an *auth.UnavailableError; when it happens on a connection that sat
// idle, fn is tried once more on a new one (the server may have dropped
// the idle one). Cancelling ctx closes the connection under fn.
func (p *pool) do(ctx context.Context, fn func(*ldap.Conn) error) error {
	for attempt := 0; ; attempt++ {
		c, reused, err := p.get(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, errPoolClosed) {
				return err
			}
			var le *ldap.Error
			if errors.As(err, &le) && !isConnError(err) {
				// The connection stands, but preparing it failed: the
				// service account was refused.
				return &auth.UnavailableError{Backend: p.backend, Err: fmt.Errorf("the service account's bind was refused (check bind_dn and its password): %w", err)}
			}
			return &auth.UnavailableError{Backend: p.backend, Err: err}
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err = fn(c)
		if !stop() || ctx.Err() != nil {
			p.discard(c)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return context.Canceled
		}
		if err != nil && isConnError(err) {
			p.discard(c)
			if reused && attempt == 0 {
				continue
			}
			return &auth.UnavailableError{Backend: p.backend, Err: err}
		}
		p.put(c)
		return err
	}
}

// isConnError reports whether err means the connection or the server
// failed (rather than the server answering the request).
func isConnError(err error) bool {
	var ue *auth.UnavailableError
	if errors.As(err, &ue) {
		return true
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultServerDown,
			ldap.LDAPResultTimeout, ldap.LDAPResultConnectError, ldap.LDAPResultTimeLimitExceeded:
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, ldap.ErrNilConnection)
}
