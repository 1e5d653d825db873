package ldapauth

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/wdscapture/wdscapture/store"
)

// tokenCache keeps users' tokens for a short time so that a server that
// checks a session's token on every request asks the directory at most
// once per ttl and user. It holds at most max tokens; when it is full the
// expired ones go, then the oldest.
type tokenCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.Mutex
	m  map[string]cached
}

type cached struct {
	tok     store.Token
	expires time.Time
}

func newTokenCache(ttl time.Duration, max int, now func() time.Time) *tokenCache {
	return &tokenCache{ttl: ttl, max: max, now: now, m: map[string]cached{}}
}

// get returns a copy of the token cached under key, if it is fresh.
func (c *tokenCache) get(key string) (store.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return store.Token{}, false
	}
	if !c.now().Before(e.expires) {
		delete(c.m, key)
		return store.Token{}, false
	}
	return cloneToken(e.tok), true
}

// put caches a copy of tok under every key.
func (c *tokenCache) put(tok store.Token, keys ...string) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m)+len(keys) > c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		for len(c.m)+len(keys) > c.max && len(c.m) > 0 {
			var oldest string
			var at time.Time
			for k, e := range c.m {
				if oldest == "" || e.expires.Before(at) {
					oldest, at = k, e.expires
				}
			}
			delete(c.m, oldest)
		}
	}
	e := cached{tok: cloneToken(tok), expires: now.Add(c.ttl)}
	for _, k := range keys {
		c.m[k] = e
	}
}

// clear forgets every token.
func (c *tokenCache) clear() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// cloneToken copies tok so that a caller that appends to its groups (as
// auth.Chain does) cannot change a cached token.
func cloneToken(tok store.Token) store.Token {
	return store.Token{User: tok.User, Groups: slices.Clip(slices.Clone(tok.Groups))}
}

// flight makes concurrent lookups of one user share one directory query.
type flight struct {
	mu    sync.Mutex
	calls map[string]*flightCall
}

type flightCall struct {
	done chan struct{}
	tok  store.Token
	err  error
}

// do runs fn for key unless a call for key is under way, in which case it
// waits for that call's result. A waiter whose leader was cancelled (but
// which is not) runs fn itself.
func (f *flight) do(ctx context.Context, key string, fn func() (store.Token, error)) (store.Token, error) {
	for {
		f.mu.Lock()
		if f.calls == nil {
			f.calls = map[string]*flightCall{}
		}
		if c, ok := f.calls[key]; ok {
			f.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				return store.Token{}, ctx.Err()
			}
			if c.err != nil && (errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded)) && ctx.Err() == nil {
				continue
			}
			return cloneToken(c.tok), c.err
		}
		c := &flightCall{done: make(chan struct{})}
		f.calls[key] = c
		f.mu.Unlock()

		c.tok, c.err = fn()
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
		return cloneToken(c.tok), c.err
	}
}
