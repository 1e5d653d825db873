package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/store"
)

func TestMain(m *testing.M) {
	// Cheap parameters keep the race-detector run fast; the format and the
	// code path are the same.
	hashParams = HashParams{Memory: 64, Time: 1, Threads: 1}
	os.Exit(m.Run())
}

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Name
		err  bool
	}{
		{in: `CONTOSO\jdoe`, want: Name{Domain: "CONTOSO", User: "jdoe"}},
		{in: `jdoe@contoso.com`, want: Name{Realm: "contoso.com", User: "jdoe"}},
		{in: `jdoe`, want: Name{User: "jdoe"}},
		{in: `CONTOSO\Deployment Admins`, want: Name{Domain: "CONTOSO", User: "Deployment Admins"}},
		{in: `NT AUTHORITY\Authenticated Users`, want: Name{Domain: "NT AUTHORITY", User: "Authenticated Users"}},
		{in: ``, err: true},
		{in: `\jdoe`, err: true},
		{in: `CONTOSO\`, err: true},
		{in: `A\B\C`, err: true},
		{in: `jdoe@`, err: true},
		{in: `@contoso.com`, err: true},
		{in: `a@b@c`, err: true},
		{in: `CONTOSO\j@doe`, err: true},
		{in: " jdoe", err: true},
		{in: "jd\x00oe", err: true},
		{in: "jd\noe", err: true},
		{in: `../../etc/passwd`, err: true},
		{in: "C\tX\\y", err: true},
		{in: "\xff\xfe", err: true},
		{in: strings.Repeat("a", MaxNameLen+1), err: true},
		{in: strings.Repeat("D", MaxDomainLen+1) + `\u`, err: true},
		{in: `jdoe@con toso`, err: true},
	} {
		got, err := ParseName(tc.in)
		if tc.err {
			var ne *NameError
			if !errors.As(err, &ne) {
				t.Errorf("ParseName(%q) = %+v, %v; want a *NameError", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseName(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("ParseName(%q).String() = %q", tc.in, got.String())
		}
	}
	if _, err := ParsePrincipal("jdoe"); err == nil {
		t.Error("ParsePrincipal accepted a bare name")
	}
}

func TestHashPassword(t *testing.T) {
	ctx := context.Background()
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not in PHC argon2id form", h)
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct hors": false, "": false, "Correct horse": false} {
		ok, err := VerifyPassword(ctx, h, pw)
		if err != nil || ok != want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	if _, err := HashPassword(""); err == nil {
		t.Error("empty password hashed")
	}
	if _, err := HashPassword(strings.Repeat("x", MaxPasswordLen+1)); err == nil {
		t.Error("overlong password hashed")
	}
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43),
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43), // 4 GiB
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHQ$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1,p=1$!!$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdHNhbHQ$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$AAAA",
	} {
		if _, err := VerifyPassword(ctx, bad, "x"); !errors.Is(err, ErrHashFormat) {
			t.Errorf("VerifyPassword with hash %q: err %v, want ErrHashFormat", bad, err)
		}
	}
}

func mustHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func testUsers(t testing.TB) *Users {
	return &Users{
		Domains: []Domain{{Name: "STORE", DNS: []string{"store.example.com"}}, {Name: "LAB"}},
		Users: []User{
			{Name: `STORE\jdoe`, Hash: mustHash(t, "pw-jdoe")},
			{Name: `STORE\ann`, Hash: mustHash(t, "pw-ann")},
			{Name: `LAB\ann`, Hash: mustHash(t, "pw-lab-ann")},
			{Name: `LAB\bob`, Hash: mustHash(t, "pw-bob"), Disabled: true},
			{Name: `OTHER\zed`, Hash: mustHash(t, "pw-zed")},
		},
		Groups: []Group{
			{Name: `STORE\Imaging`, Members: []string{`STORE\jdoe`, `CONTOSO\Deployment Admins`}},
			{Name: `STORE\All Techs`, Members: []string{`STORE\Imaging`, `LAB\ann`}},
			{Name: `STORE\Loop A`, Members: []string{`STORE\Loop B`, `STORE\ann`}},
			{Name: `STORE\Loop B`, Members: []string{`STORE\Loop A`}},
		},
	}
}

func TestUsersRoundTrip(t *testing.T) {
	u := testUsers(t)
	data := u.Marshal()
	got, err := ParseUsers(data, "users")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Marshal()) != string(data) {
		t.Errorf("round trip changed the file:\n%s\nvs\n%s", got.Marshal(), data)
	}
}

func TestParseUsersErrors(t *testing.T) {
	h := mustHash(t, "x")
	for _, tc := range []struct {
		in   string
		line int
		msg  string
	}{
		{"# c\nbogus\tx\n", 2, "unknown record"},
		{"user\tjdoe\t" + h + "\n", 1, "DOMAIN"},
		{"user\tS\\jdoe\tplain\n", 1, "malformed password hash"},
		{"user\tS\\jdoe\t" + h + "\tlocked\n", 1, "unknown user flag"},
		{"user\tS\\jdoe\t" + h + "\nuser\ts\\JDOE\t" + h + "\n", 2, "already a user"},
		{"group\tS\\g\tS\\a\tS\\A\n", 1, "twice"},
		{"group\tS\\g\tbare\n", 1, "DOMAIN"},
		{"user\tS\\g\t" + h + "\ngroup\tS\\g\n", 2, "already a user"},
		{"domain\n", 1, "without a name"},
		{"domain\tA\ndomain\ta\n", 2, "twice"},
		{"domain\tA\tbad name\n", 1, "DNS"},
	} {
		_, err := ParseUsers([]byte(tc.in), "u")
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != tc.line || !strings.Contains(pe.Msg, tc.msg) {
			t.Errorf("ParseUsers(%q) = %v; want line %d with %q", tc.in, err, tc.line, tc.msg)
		}
	}
}

func TestResolve(t *testing.T) {
	u := testUsers(t)
	for _, tc := range []struct{ in, want string }{
		{`STORE\jdoe`, `STORE\jdoe`},
		{`store\JDOE`, `STORE\jdoe`},
		{`jdoe`, `STORE\jdoe`},
		{`jdoe@store.example.com`, `STORE\jdoe`},
		{`jdoe@STORE`, `STORE\jdoe`},
		{`ann`, `STORE\ann`}, // the default domain wins over LAB\ann
		{`ann@lab`, `LAB\ann`},
		{`ann@lab.example.org`, `LAB\ann`},
		{`zed`, `OTHER\zed`}, // the only zed
		{`zed@other.example.net`, `OTHER\zed`},
	} {
		usr, err := u.Resolve(tc.in)
		if err != nil || usr.Name != tc.want {
			t.Errorf("Resolve(%q) = %v, %v; want %s", tc.in, usr, err, tc.want)
		}
	}
	for _, in := range []string{`nobody`, `LAB\jdoe`, `jdoe@elsewhere.com`, `STORE\Imaging`} {
		if _, err := u.Resolve(in); !errors.Is(err, ErrUnknownUser) {
			t.Errorf("Resolve(%q): err %v, want ErrUnknownUser", in, err)
		}
	}
	u.Domains = nil
	var ae *AmbiguousNameError
	if _, err := u.Resolve("ann"); !errors.As(err, &ae) || len(ae.Matches) != 2 {
		t.Errorf("Resolve(ann) without a default domain: %v, want ambiguous", err)
	}
}

func TestGroupsOf(t *testing.T) {
	u := testUsers(t)
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{[]string{`STORE\jdoe`}, []string{`STORE\Imaging`, `STORE\All Techs`}},
		{[]string{`CONTOSO\x`, `contoso\deployment admins`}, []string{`STORE\Imaging`, `STORE\All Techs`}},
		{[]string{`LAB\ann`}, []string{`STORE\All Techs`}},
		{[]string{`STORE\ann`}, []string{`STORE\Loop A`, `STORE\Loop B`}},
		{[]string{`OTHER\zed`}, nil},
	} {
		got := u.GroupsOf(tc.in...)
		slices.Sort(got)
		slices.Sort(tc.want)
		if !slices.Equal(got, tc.want) {
			t.Errorf("GroupsOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func writeUsers(t testing.TB, path string, u *Users) {
	t.Helper()
	if err := SaveUsers(path, u); err != nil {
		t.Fatal(err)
	}
}

func TestFileBackend(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users")
	b, err := NewFileBackend(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(ctx, "jdoe", "pw-jdoe"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("no users file yet: %v, want ErrUnknownUser", err)
	}
	writeUsers(t, path, testUsers(t))
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("users file mode %o, want 600", st.Mode().Perm())
	}
	tok, err := b.Authenticate(ctx, "jdoe@store.example.com", "pw-jdoe")
	if err != nil {
		t.Fatal(err)
	}
	if tok.User != `STORE\jdoe` || !tok.Has(`STORE\All Techs`) || !tok.Has(`STORE\Imaging`) {
		t.Errorf("token %+v", tok)
	}
	if _, err := b.Authenticate(ctx, "jdoe", "pw-ann"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := b.Authenticate(ctx, `LAB\bob`, "pw-bob"); !errors.Is(err, ErrDisabled) {
		t.Errorf("disabled user: %v", err)
	}
	if _, err := b.Authenticate(ctx, `LAB\bob`, "wrong"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("disabled user, wrong password: %v (must not reveal the account is disabled)", err)
	}
	if tok, err := b.Lookup(ctx, `ann@lab`); err != nil || tok.User != `LAB\ann` || !tok.Has(`STORE\All Techs`) {
		t.Errorf("Lookup: %+v, %v", tok, err)
	}

	// A change on disk is picked up; a broken file keeps the last good one.
	err = UpdateUsers(path, "", func(u *Users) error {
		usr, _ := u.User(`STORE\jdoe`)
		usr.Hash = mustHash(t, "new")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(ctx, "jdoe", "new"); err != nil {
		t.Errorf("changed password not picked up: %v", err)
	}
	if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	os.Chtimes(path, future, future)
	if _, err := b.Authenticate(ctx, "jdoe", "new"); err != nil {
		t.Errorf("a broken users file dropped the last good one: %v", err)
	}

	// An insecure mode is refused.
	writeUsers(t, path, testUsers(t))
	os.Chmod(path, 0o644)
	if _, err := NewFileBackend(path, nil); !errors.Is(err, ErrInsecureMode) {
		t.Errorf("mode 644: %v, want ErrInsecureMode", err)
	}
}

func TestUpdateUsersConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	h := mustHash(t, "x")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := UpdateUsers(path, "STORE", func(u *Users) error {
				u.Users = append(u.Users, User{Name: `STORE\u` + string(rune('a'+i)), Hash: h})
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	u, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Users) != 8 || u.DefaultDomain() != "STORE" {
		t.Errorf("after 8 concurrent adds: %d users, domain %q", len(u.Users), u.DefaultDomain())
	}
	err = UpdateUsers(path, "", func(u *Users) error {
		u.Users = append(u.Users, User{Name: "bare", Hash: h})
		return nil
	})
	if err == nil {
		t.Error("UpdateUsers saved an invalid file")
	}
}

// backend is a scripted Authenticator standing in for a directory server,
// which issue 19 adds; here it checks Chain's routing only.
type backend struct {
	users map[string]string // canonical name -> password
	err   error             // returned for every call when set
}

func (b backend) Authenticate(_ context.Context, name, pw string) (store.Token, error) {
	if b.err != nil {
		return store.Token{}, b.err
	}
	want, ok := b.users[name]
	if !ok {
		return store.Token{}, ErrUnknownUser
	}
	if pw != want {
		return store.Token{}, ErrBadPassword
	}
	return store.Token{User: name, Groups: []string{`CONTOSO\Deployment Admins`}}, nil
}

func (b backend) Lookup(ctx context.Context, name string) (store.Token, error) {
	if b.err != nil {
		return store.Token{}, b.err
	}
	return b.Authenticate(ctx, name, b.users[name])
}

func TestChain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users")
	writeUsers(t, path, testUsers(t))
	file, err := NewFileBackend(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := backend{users: map[string]string{`CONTOSO\kim`: "pw-kim", `STORE\jdoe`: "dir-pw"}}
	down := backend{err: &UnavailableError{Backend: "ldap://dc1", Err: errors.New("connection refused")}}

	c := &Chain{Backends: []Authenticator{file, dir}, Groups: file}
	tok, err := c.Authenticate(ctx, `CONTOSO\kim`, "pw-kim")
	if err != nil {
		t.Fatal(err)
	}
	// The directory's group is in the file's STORE\Imaging, which is in STORE\All Techs.
	for _, g := range []string{`CONTOSO\Deployment Admins`, `STORE\Imaging`, `STORE\All Techs`, AuthenticatedUsers} {
		if !tok.Has(g) {
			t.Errorf("token %+v lacks %s", tok, g)
		}
	}
	// The first backend that knows a name decides.
	if _, err := c.Authenticate(ctx, `STORE\jdoe`, "dir-pw"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("file user with the directory's password: %v", err)
	}
	if _, err := c.Authenticate(ctx, `CONTOSO\kim`, ""); !errors.Is(err, ErrBadPassword) {
		t.Errorf("empty password: %v", err)
	}
	if _, err := c.Authenticate(ctx, `CONTOSO\nobody`, "x"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("unknown everywhere: %v", err)
	}
	c = &Chain{Backends: []Authenticator{file, down}, Groups: file}
	var ue *UnavailableError
	if _, err := c.Authenticate(ctx, `CONTOSO\kim`, "pw-kim"); !errors.As(err, &ue) {
		t.Errorf("directory down: %v, want *UnavailableError", err)
	}
	if tok, err := c.Authenticate(ctx, `jdoe`, "pw-jdoe"); err != nil || !tok.Has(AuthenticatedUsers) {
		t.Errorf("file user while the directory is down: %+v, %v", tok, err)
	}
	if tok, err := c.Lookup(ctx, `ann@lab`); err != nil || tok.User != `LAB\ann` {
		t.Errorf("Lookup: %+v, %v", tok, err)
	}
}
