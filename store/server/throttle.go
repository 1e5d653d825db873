package server

import (
	"net"
	"strings"
	"sync"
	"time"
)

// throttle slows down password guessing. Each user name and each client
// address has a count of recent failed logins; past a free number, every
// further failure bars that key for a delay that doubles up to a maximum.
// A barred attempt is answered 429 with Retry-After before any password
// is checked (so guessing during the delay is pointless and costs the
// server nothing). Failures are forgotten after a quiet period, and a
// successful login clears the user's count.
//
// Keys: the user part of the name, lower-cased (DOMAIN\jdoe, jdoe@x and
// jdoe share a count, so the name forms do not multiply the guesses), and
// the client's IP address (an IPv6 client's /64, which one host
// controls).
type throttle struct {
	userFree, addrFree int
	delay, maxDelay    time.Duration
	forget             time.Duration
	limit              int

	mu      sync.Mutex
	entries map[string]*failures
}

type failures struct {
	count int
	last  time.Time
	until time.Time
}

func newThrottle(cfg *Config) *throttle {
	return &throttle{
		userFree: cfg.LoginFreeFailures, addrFree: cfg.LoginFreeFailuresAddr,
		delay: cfg.LoginDelay.D(), maxDelay: cfg.LoginMaxDelay.D(), forget: cfg.LoginForget.D(),
		limit: 200000, entries: map[string]*failures{},
	}
}

func userKey(name string) string {
	u := name
	if _, after, ok := strings.Cut(u, `\`); ok {
		u = after
	} else if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[:i]
	}
	return "u:" + strings.ToLower(u)
}

func addrKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return "a:" + host
	}
	if ip4 := ip.To4(); ip4 != nil {
		return "a:" + ip4.String()
	}
	return "a:" + ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// wait returns how long the user or address must still wait (0: go
// ahead).
func (t *throttle) wait(user, remote string) time.Duration {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	for _, k := range []string{userKey(user), addrKey(remote)} {
		if f, ok := t.entries[k]; ok && f.until.After(now) {
			d = max(d, f.until.Sub(now))
		}
	}
	return d
}

// fail records a failed login.
func (t *throttle) fail(user, remote string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.entries) >= t.limit {
		t.expireLocked(now)
	}
	for _, k := range []struct {
		key  string
		free int
	}{{userKey(user), t.userFree}, {addrKey(remote), t.addrFree}} {
		f, ok := t.entries[k.key]
		if !ok {
			if len(t.entries) >= t.limit {
				continue // the table is full of live entries: a flood; the others still count
			}
			f = &failures{}
			t.entries[k.key] = f
		}
		if now.Sub(f.last) > t.forget {
			f.count = 0
		}
		f.count++
		f.last = now
		if over := f.count - k.free; over > 0 {
			d := t.delay
			for i := 1; i < over && d < t.maxDelay; i++ {
				d *= 2
			}
			f.until = now.Add(min(d, t.maxDelay))
		}
	}
}

// succeed clears the user's failures.
func (t *throttle) succeed(user string) {
	t.mu.Lock()
	delete(t.entries, userKey(user))
	t.mu.Unlock()
}

func (t *throttle) expire() {
	t.mu.Lock()
	t.expireLocked(time.Now())
	t.mu.Unlock()
}

func (t *throttle) expireLocked(now time.Time) {
	for k, f := range t.entries {
		if now.Sub(f.last) > t.forget && now.After(f.until) {
			delete(t.entries, k)
		}
	}
}
