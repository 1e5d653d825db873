package ldapauth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/wdscapture/wdscapture/internal/slapdtest"
	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/auth"
)

// contosoConfig points at the Active Directory model over LDAPS with the
// service account's password in a file.
func contosoConfig(t *testing.T) Config {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "bind-password")
	if err := os.WriteFile(pwFile, []byte(slapdtest.ServicePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return Config{
		URLs:             []string{srv.LDAPSURL},
		CAFile:           srv.CAFile,
		BaseDN:           slapdtest.ContosoBase,
		Domain:           "CONTOSO",
		UPNSuffixes:      []string{"corp.contoso.test"},
		BindDN:           slapdtest.ServiceDN,
		BindPasswordFile: pwFile,
	}
}

// exampleConfig points at the OpenLDAP directory over plain LDAP on
// loopback, searching anonymously.
func exampleConfig() Config {
	return Config{
		URLs:   []string{srv.LDAPURL},
		BaseDN: slapdtest.ExampleBase,
		Domain: "EXAMPLE",
		Kind:   KindOpenLDAP,
	}
}

func openBackend(t *testing.T, cfg Config) *Backend {
	t.Helper()
	b, err := Open(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// ops returns how many binds and searches slapd has started.
func ops(t *testing.T) (binds, searches int) {
	t.Helper()
	var err error
	if binds, err = srv.Operations("Bind"); err == nil {
		searches, err = srv.Operations("Search")
	}
	if err != nil {
		t.Fatal(err)
	}
	return binds, searches
}

// noSecret fails the test when err's text holds a password.
func noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		if p := secretIn(err.Error()); p != "" {
			t.Errorf("error %q holds a password", err)
		}
	}
}

var (
	jdoeGroups = []string{`BUILTIN\Administrators`, `CONTOSO\Cycle A`, `CONTOSO\Cycle B`, `CONTOSO\Deployment Admins`,
		`CONTOSO\Domain Users`, `CONTOSO\Imaging Techs`, `CONTOSO\Ops (EU)`, `CONTOSO\Ops All`}
	asmithGroups  = []string{`CONTOSO\Domain Users`, `CONTOSO\Family Readers`, `CONTOSO\Secret Project`, `CONTOSO\Smith, Family`}
	labtechGroups = []string{`CONTOSO\Lab Readers`, `CONTOSO\Lab Staff`}
	eveGroups     = []string{`CONTOSO\Domain Users`}
)

func TestNameForms(t *testing.T) {
	needSlapd(t)
	b := openBackend(t, contosoConfig(t))
	ctx := context.Background()
	for _, tc := range []struct {
		name, login string
		want        store.Token
	}{
		{`CONTOSO\jdoe`, "jdoe", store.Token{User: `CONTOSO\jdoe`, Groups: jdoeGroups}},
		{`contoso\JDOE`, "jdoe", store.Token{User: `CONTOSO\jdoe`, Groups: jdoeGroups}},
		{`jdoe@contoso.test`, "jdoe", store.Token{User: `CONTOSO\jdoe`, Groups: jdoeGroups}},
		{`jdoe`, "jdoe", store.Token{User: `CONTOSO\jdoe`, Groups: jdoeGroups}},
		{`contoso.test\jdoe`, "jdoe", store.Token{User: `CONTOSO\jdoe`, Groups: jdoeGroups}},
		// An alternative UPN suffix, and the implicit UPN sAMAccountName@dnsdomain.
		{`alice.smith@corp.contoso.test`, "asmith", store.Token{User: `CONTOSO\asmith`, Groups: asmithGroups}},
		{`asmith@contoso.test`, "asmith", store.Token{User: `CONTOSO\asmith`, Groups: asmithGroups}},
		{`asmith`, "asmith", store.Token{User: `CONTOSO\asmith`, Groups: asmithGroups}},
		{`CONTOSO\labtech`, "labtech", store.Token{User: `CONTOSO\labtech`, Groups: labtechGroups}},
		{`eve`, "eve", store.Token{User: `CONTOSO\eve`, Groups: eveGroups}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.Authenticate(ctx, tc.name, slapdtest.Password(tc.login))
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			checkToken(t, "Authenticate", got, tc.want)
			b.FlushCache()
			got, err = b.Lookup(ctx, tc.name)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			checkToken(t, "Lookup", got, tc.want)
		})
	}
}

func checkToken(t *testing.T, what string, got, want store.Token) {
	t.Helper()
	if got.User != want.User || !slices.Equal(got.Groups, want.Groups) {
		t.Errorf("%s = %s %q\nwant %s %q", what, got.User, got.Groups, want.User, want.Groups)
	}
}

func TestOtherDomainAsksNothing(t *testing.T) {
	needSlapd(t)
	b := openBackend(t, contosoConfig(t))
	binds, searches := ops(t)
	for _, name := range []string{`FABRIKAM\jdoe`, `jdoe@fabrikam.test`, `BUILTIN\Administrators`} {
		if _, err := b.Authenticate(context.Background(), name, slapdtest.Password("jdoe")); !errors.Is(err, auth.ErrUnknownUser) {
			t.Errorf("Authenticate(%s) = %v, want ErrUnknownUser", name, err)
		}
		if _, err := b.Lookup(context.Background(), name); !errors.Is(err, auth.ErrUnknownUser) {
			t.Errorf("Lookup(%s) = %v, want ErrUnknownUser", name, err)
		}
	}
	if b2, s2 := ops(t); b2 != binds || s2 != searches {
		t.Errorf("names of other domains cost %d binds and %d searches", b2-binds, s2-searches)
	}
}

func TestRefusedLogins(t *testing.T) {
	needSlapd(t)
	ad := openBackend(t, contosoConfig(t))
	ol := openBackend(t, exampleConfig())
	ctx := context.Background()
	for _, tc := range []struct {
		b        *Backend
		name, pw string
		want     error
		// binds is how many binds slapd may see for the attempt.
		binds int
	}{
		{ad, `CONTOSO\jdoe`, wrongPassword, auth.ErrBadPassword, 1},
		{ad, `jdoe@contoso.test`, "", auth.ErrBadPassword, 0},
		{ad, `CONTOSO\nobody`, wrongPassword, auth.ErrUnknownUser, 0},
		{ad, `CONTOSO\olduser`, slapdtest.Password("olduser"), auth.ErrDisabled, 0},
		{ad, `contractor`, slapdtest.Password("contractor"), auth.ErrDisabled, 0},
		{ol, `EXAMPLE\alice`, wrongPassword, auth.ErrBadPassword, 1},
		{ol, `alice`, "", auth.ErrBadPassword, 0},
		{ol, `locked`, slapdtest.Password("locked"), auth.ErrDisabled, 0},
		{ol, `expired@example.org`, slapdtest.Password("expired"), auth.ErrDisabled, 0},
	} {
		t.Run(tc.name+"/"+tc.want.Error(), func(t *testing.T) {
			// Warm the search pool so that its service bind is not counted.
			if _, err := tc.b.Check(ctx); err != nil {
				t.Fatal(err)
			}
			binds, searches := ops(t)
			_, err := tc.b.Authenticate(ctx, tc.name, tc.pw)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Authenticate = %v, want %v", err, tc.want)
			}
			noSecret(t, err)
			b2, s2 := ops(t)
			if b2-binds > tc.binds {
				t.Errorf("%d binds reached slapd, want at most %d", b2-binds, tc.binds)
			}
			if tc.pw == "" && s2 != searches {
				t.Errorf("an empty password cost %d searches; it must be refused before the directory is asked", s2-searches)
			}
			if tc.want == auth.ErrDisabled {
				if _, err := tc.b.Lookup(ctx, tc.name); !errors.Is(err, auth.ErrDisabled) {
					t.Errorf("Lookup = %v, want ErrDisabled", err)
				}
			}
		})
	}
}

// TestDisabledNeedsTheCheck shows that slapd itself accepts the binds of
// the accounts the backend refuses: the refusals above are the backend's.
func TestDisabledNeedsTheCheck(t *testing.T) {
	needSlapd(t)
	for _, dn := range []struct{ dn, login string }{
		{"cn=olduser,ou=Users,dc=contoso,dc=test", "olduser"},
		{"cn=contractor,ou=Users,dc=contoso,dc=test", "contractor"},
		{"uid=expired,ou=People,dc=example,dc=org", "expired"},
	} {
		c, err := ldap.DialURL(srv.LDAPURL)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Bind(dn.dn, slapdtest.Password(dn.login)); err != nil {
			t.Errorf("slapd refused %s itself: %v", dn.dn, err)
		}
		c.Close()
	}
}

func TestOpenLDAPKind(t *testing.T) {
	needSlapd(t)
	b := openBackend(t, exampleConfig())
	want := store.Token{User: `EXAMPLE\alice`, Groups: []string{`EXAMPLE\deployers`, `EXAMPLE\imaging`}}
	for _, name := range []string{`EXAMPLE\alice`, `alice@example.org`, `alice`} {
		tok, err := b.Authenticate(context.Background(), name, slapdtest.Password("alice"))
		if err != nil {
			t.Fatalf("Authenticate(%s): %v", name, err)
		}
		checkToken(t, name, tok, want)
	}
	tok, err := b.Lookup(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, "bob", tok, store.Token{User: `EXAMPLE\bob`, Groups: []string{}})
}

// TestStoreACL checks what the tokens are for: a user in a nested group
// that may read a store group reads it, one who is not does not; a users
// file group naming a directory group adds to the directory user's token.
func TestStoreACL(t *testing.T) {
	needSlapd(t)
	dir := openBackend(t, contosoConfig(t))
	usersPath := filepath.Join(t.TempDir(), "users")
	u := &auth.Users{Domains: []auth.Domain{{Name: "STORE"}},
		Groups: []auth.Group{{Name: `STORE\Imaging Crew`, Members: []string{`CONTOSO\Imaging Techs`}}}}
	if err := auth.SaveUsers(usersPath, u); err != nil {
		t.Fatal(err)
	}
	file, err := auth.NewFileBackend(usersPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The directory first, as authconfig chains them: the users file would
	// spend an argon2 hash on every directory user's login.
	chain := &auth.Chain{Backends: []auth.Authenticator{dir, file}, Groups: file}
	admins := store.Settings{Read: []string{`CONTOSO\Deployment Admins`}, Write: []string{`BUILTIN\Administrators`}}
	secret := store.Settings{Read: []string{`CONTOSO\Secret Project`}}
	crew := store.Settings{Read: []string{`STORE\Imaging Crew`}}
	lab := store.Settings{Read: []string{`CONTOSO\Lab Readers`}}
	for _, tc := range []struct {
		user                     string
		admins, write, sec, crew bool
		lab                      bool
	}{
		{user: `CONTOSO\jdoe`, admins: true, write: true, crew: true},
		{user: `asmith@corp.contoso.test`, sec: true},
		{user: `labtech`, lab: true},
		{user: `CONTOSO\eve`},
	} {
		tok, err := chain.Authenticate(context.Background(), tc.user, slapdtest.Password(loginOf(tc.user)))
		if err != nil {
			t.Fatalf("%s: %v", tc.user, err)
		}
		got := []bool{admins.CanRead(tok), admins.CanWrite(tok), secret.CanRead(tok), crew.CanRead(tok), lab.CanRead(tok)}
		want := []bool{tc.admins, tc.write, tc.sec, tc.crew, tc.lab}
		if !slices.Equal(got, want) {
			t.Errorf("%s (%q): read admins, write admins, read secret, read crew, read lab = %v, want %v", tc.user, tok.Groups, got, want)
		}
		if !tok.Has(auth.AuthenticatedUsers) {
			t.Errorf("%s: the chain's token lacks %s", tc.user, auth.AuthenticatedUsers)
		}
	}
}

// loginOf returns the fixture login of a name in any form.
func loginOf(name string) string {
	if _, u, ok := strings.Cut(name, `\`); ok {
		name = u
	}
	name, _, _ = strings.Cut(name, "@")
	if name == "alice.smith" {
		return "asmith"
	}
	return name
}

func TestTLS(t *testing.T) {
	needSlapd(t)
	ctx := context.Background()
	starttls := contosoConfig(t)
	starttls.URLs = []string{srv.LDAPURL}
	starttls.StartTLS = true
	b := openBackend(t, starttls)
	if _, err := b.Authenticate(ctx, `CONTOSO\eve`, slapdtest.Password("eve")); err != nil {
		t.Errorf("StartTLS: %v", err)
	}

	// A CA that did not issue the server's certificate: refused, and
	// reported as the directory being unavailable, not a bad password.
	other := filepath.Join(t.TempDir(), "other")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	otherCA, err := slapdtest.NewCA(other)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{contosoConfig(t), starttls} {
		c.CAFile = otherCA
		b := openBackend(t, c)
		_, err := b.Authenticate(ctx, `CONTOSO\eve`, slapdtest.Password("eve"))
		var ue *auth.UnavailableError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s with the wrong CA: %v, want an UnavailableError about the certificate", c.URLs[0], err)
		}
		noSecret(t, err)
	}
}

func TestServiceAccountRefused(t *testing.T) {
	needSlapd(t)
	cfg := contosoConfig(t)
	cfg.BindPasswordFile = ""
	cfg.BindPasswordEnv = "LDAPAUTH_TEST_BIND_PASSWORD"
	t.Setenv(cfg.BindPasswordEnv, wrongPassword)
	b := openBackend(t, cfg)
	_, err := b.Lookup(context.Background(), `CONTOSO\jdoe`)
	var ue *auth.UnavailableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "service account") {
		t.Errorf("Lookup with a wrong service password: %v, want an UnavailableError about the service account", err)
	}
	noSecret(t, err)
	t.Setenv(cfg.BindPasswordEnv, slapdtest.ServicePassword)
	b = openBackend(t, cfg)
	if _, err := b.Lookup(context.Background(), `CONTOSO\jdoe`); err != nil {
		t.Errorf("password from the environment: %v", err)
	}
}

// TestCache checks that a fresh token costs the directory nothing and
// that concurrent lookups of one user share one query.
func TestCache(t *testing.T) {
	needSlapd(t)
	b := openBackend(t, contosoConfig(t))
	ctx := context.Background()
	if _, err := b.Check(ctx); err != nil {
		t.Fatal(err)
	}
	_, s0 := ops(t)
	if _, err := b.Lookup(ctx, `CONTOSO\jdoe`); err != nil {
		t.Fatal(err)
	}
	_, s1 := ops(t)
	one := s1 - s0
	if one < 2 {
		t.Fatalf("a lookup took %d searches", one)
	}
	for range 100 {
		if _, err := b.Lookup(ctx, `CONTOSO\jdoe`); err != nil {
			t.Fatal(err)
		}
	}
	if _, s2 := ops(t); s2 != s1 {
		t.Errorf("100 cached lookups cost %d searches", s2-s1)
	}

	// One lookup of asmith costs n searches; twenty at once cost the same.
	_, s2 := ops(t)
	b.FlushCache()
	if _, err := b.Lookup(ctx, `CONTOSO\asmith`); err != nil {
		t.Fatal(err)
	}
	_, s3 := ops(t)
	n := s3 - s2
	b.FlushCache()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			tok, err := b.Lookup(ctx, `CONTOSO\asmith`)
			if err == nil && tok.User != `CONTOSO\asmith` {
				err = fmt.Errorf("token of %s", tok.User)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, s4 := ops(t); s4-s3 != n {
		t.Errorf("20 concurrent lookups cost %d searches, one costs %d", s4-s3, n)
	}
}

// TestConnectionReuse checks that logins reuse pooled connections and
// that max_connections bounds them under load.
func TestConnectionReuse(t *testing.T) {
	needSlapd(t)
	cfg := contosoConfig(t)
	cfg.MaxConnections = 3
	b := openBackend(t, cfg)
	ctx := context.Background()
	off := len(srv.Log())
	users := []string{"jdoe", "eve", "asmith", "labtech"}
	for i := range 12 {
		u := users[i%len(users)]
		if _, err := b.Authenticate(ctx, `CONTOSO\`+u, slapdtest.Password(u)); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(srv.Log()[off:], " ACCEPT from "); n != 2 {
		t.Errorf("12 logins one after the other opened %d connections, want 2 (one to search, one to bind)", n)
	}
	off = len(srv.Log())
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := range 8 {
		wg.Go(func() {
			for i := range 5 {
				u := users[(g+i)%len(users)]
				b.FlushCache()
				_, err := b.Authenticate(ctx, u+"@contoso.test", slapdtest.Password(u))
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Two pools of at most 3, of which one of each was open already.
	if n := strings.Count(srv.Log()[off:], " ACCEPT from "); n > 4 {
		t.Errorf("40 concurrent logins opened %d more connections, want at most 4 (max_connections 3 per pool)", n)
	}
}

// TestInChainQuery runs the Active Directory nesting query against slapd,
// which does not know LDAP_MATCHING_RULE_IN_CHAIN (it matches nothing and
// logs each such assertion as "?=undefined"): one search with one
// in-chain assertion for the user and one for the primary group reaches
// the server, and the backend warns that this server will find no nested
// groups that way. The assertions' content is checked by
// TestInChainFilter.
func TestInChainQuery(t *testing.T) {
	needSlapd(t)
	cfg := contosoConfig(t)
	cfg.Nesting = NestingInChain
	b := openBackend(t, cfg)
	logOff, srvOff := len(logs.String()), len(srv.Log())
	tok, err := b.Lookup(context.Background(), `CONTOSO\jdoe`)
	if err != nil {
		t.Fatal(err)
	}
	// slapd matched nothing; the primary group comes from its own search.
	checkToken(t, "in-chain on slapd", tok, store.Token{User: `CONTOSO\jdoe`, Groups: []string{`CONTOSO\Domain Users`}})
	want := `filter="(&(objectClass=group)(|(?=undefined)(?=undefined)))"`
	if got, ok := srv.WaitLog(srvOff, want); !ok {
		t.Errorf("slapd did not receive %s:\n%s", want, got)
	}
	if !strings.Contains(logs.String()[logOff:], "does not announce Active Directory") {
		t.Errorf("no warning that in-chain needs Active Directory:\n%s", logs.String()[logOff:])
	}
}

func TestInChainFilter(t *testing.T) {
	dns := []string{`CN=Smith\, John (EU),OU=Users,DC=contoso,DC=com`, `CN=Domain Users,CN=Users,DC=contoso,DC=com`}
	f := inChainFilter("(objectClass=group)", "member", dns)
	p, err := ldap.CompileFilter(f)
	if err != nil {
		t.Fatalf("%s: %v", f, err)
	}
	or := p.Children[1]
	if p.Tag != ldap.FilterAnd || or.Tag != ldap.FilterOr || len(or.Children) != len(dns) {
		t.Fatalf("%s is not (&groups(|in-chain...))", f)
	}
	for i, m := range or.Children {
		// MatchingRuleAssertion: [1] matchingRule, [2] type, [3] matchValue.
		if m.Tag != ldap.FilterExtensibleMatch || len(m.Children) != 3 {
			t.Fatalf("assertion %d of %s is not an extensible match", i, f)
		}
		rule, typ, val := m.Children[0].Data.String(), m.Children[1].Data.String(), m.Children[2].Data.String()
		if rule != "1.2.840.113556.1.4.1941" || typ != "member" || val != dns[i] {
			t.Errorf("assertion %d: rule %s type %s value %q", i, rule, typ, val)
		}
	}
}
