package ldapauth

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/internal/slapdtest"
	"github.com/wdscapture/wdscapture/store/auth"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestDirectoryStopped stops slapd in the middle of a session: cached
// tokens keep working for cache_ttl, then every call reports the
// directory unavailable (never "unknown user" or "wrong password", which
// would look like "no images"), and all is well again once slapd is back.
func TestDirectoryStopped(t *testing.T) {
	needSlapd(t)
	ctx := context.Background()
	cfg := contosoConfig(t)
	cfg.CacheTTL = Duration(time.Minute)
	b := openBackend(t, cfg)
	clock := &fakeClock{t: time.Now()}
	b.now = clock.Now

	usersPath := filepath.Join(t.TempDir(), "users")
	hash, err := auth.HashPasswordWith("local pw", auth.HashParams{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.SaveUsers(usersPath, &auth.Users{Domains: []auth.Domain{{Name: "STORE"}},
		Users: []auth.User{{Name: `STORE\admin`, Hash: hash}}}); err != nil {
		t.Fatal(err)
	}
	file, err := auth.NewFileBackend(usersPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	chain := &auth.Chain{Backends: []auth.Authenticator{b, file}, Groups: file}

	before, err := b.Authenticate(ctx, `CONTOSO\jdoe`, slapdtest.Password("jdoe"))
	if err != nil {
		t.Fatal(err)
	}
	logStart := len(logs.String())

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			srv.Resume()
		}
	})

	// Within cache_ttl the session's token is served from the cache.
	tok, err := b.Lookup(ctx, `CONTOSO\jdoe`)
	if err != nil {
		t.Fatalf("cached Lookup while the directory is down: %v", err)
	}
	checkToken(t, "cached Lookup", tok, before)

	clock.Advance(61 * time.Second)
	unavailable := func(what string, err error) {
		t.Helper()
		var ue *auth.UnavailableError
		if !errors.As(err, &ue) {
			t.Errorf("%s with the directory down: %v, want an *auth.UnavailableError", what, err)
		} else if errors.Is(err, auth.ErrUnknownUser) || errors.Is(err, auth.ErrBadPassword) {
			t.Errorf("%s: %v also says unknown user or wrong password", what, err)
		}
		noSecret(t, err)
	}
	_, err = b.Lookup(ctx, `CONTOSO\jdoe`)
	unavailable("Lookup", err)
	_, err = b.Authenticate(ctx, `CONTOSO\jdoe`, slapdtest.Password("jdoe"))
	unavailable("Authenticate", err)
	_, err = chain.Lookup(ctx, `CONTOSO\jdoe`)
	unavailable("Chain.Lookup", err)
	_, err = chain.Authenticate(ctx, `jdoe`, slapdtest.Password("jdoe"))
	unavailable("Chain.Authenticate of a bare name", err)
	// The users file's accounts still log in.
	if tok, err := chain.Authenticate(ctx, `STORE\admin`, "local pw"); err != nil || tok.User != `STORE\admin` {
		t.Errorf("users file login with the directory down: %v %v", tok, err)
	}

	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	tok, err = b.Lookup(ctx, `CONTOSO\jdoe`)
	if err != nil {
		t.Fatalf("Lookup once the directory is back: %v", err)
	}
	checkToken(t, "Lookup after the outage", tok, before)
	if _, err := b.Authenticate(ctx, `CONTOSO\jdoe`, slapdtest.Password("jdoe")); err != nil {
		t.Errorf("Authenticate once the directory is back: %v", err)
	}

	log := logs.String()[logStart:]
	if n := strings.Count(log, "directory unavailable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, log)
	}
	if !strings.Contains(log, "directory reachable again") {
		t.Errorf("the recovery was not logged:\n%s", log)
	}
}
