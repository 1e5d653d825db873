package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/store/auth"
)

// runWithStdin runs imagestore with stdin.
func runWithStdin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("imagestore %s: %v", strings.Join(args, " "), err)
	}
	return r
}

func TestUserCommands(t *testing.T) {
	root := t.TempDir()
	mustStdin := func(stdin string, args ...string) result {
		t.Helper()
		r := runWithStdin(t, stdin, append(args, "--root", root)...)
		if r.code != 0 {
			t.Fatalf("imagestore %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r
	}
	mustStdin("", "user", "domain", "LAB", "lab.example.com")
	mustStdin("s3cret pass\n", "user", "add", "jdoe", "--group", "Imaging")
	mustStdin("other\r\n", "user", "add", `CONTOSO\kim`) // CRLF from a Windows pipe
	mustStdin("", "user", "join", `CONTOSO\Deployment Admins`, `Imaging`)
	mustStdin("", "user", "join", `LAB\Imaging`, `BUILTIN\Administrators`)

	path := auth.UsersPath(root)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("users file mode %04o, want 0600", st.Mode().Perm())
	}
	if dst, _ := os.Stat(filepath.Dir(path)); dst.Mode().Perm() != 0o700 {
		t.Errorf("server folder mode %04o, want 0700", dst.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	for _, secret := range []string{"s3cret", "other"} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("the users file holds the password %q in clear", secret)
		}
	}

	b, err := auth.NewFileBackend(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	chain := &auth.Chain{Backends: []auth.Authenticator{b}, Groups: b}
	tok, err := chain.Authenticate(context.Background(), "jdoe@lab.example.com", "s3cret pass")
	if err != nil {
		t.Fatal(err)
	}
	if tok.User != `LAB\jdoe` || !tok.Has(`LAB\Imaging`) || !tok.Has(`BUILTIN\Administrators`) {
		t.Errorf("token %+v", tok)
	}

	var list usersJSON
	if err := json.Unmarshal([]byte(mustStdin("", "user", "list", "--json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	if list.DefaultDomain != "LAB" || len(list.Users) != 2 || len(list.Groups) != 2 {
		t.Errorf("user list: %+v", list)
	}
	if out := mustStdin("", "user", "list").stdout; !strings.Contains(out, `LAB\jdoe`) || strings.Contains(out, "argon2") {
		t.Errorf("user list shows %q", out)
	}

	mustStdin("new one\n", "user", "passwd", "jdoe")
	if _, err := chain.Authenticate(context.Background(), "jdoe", "s3cret pass"); !errors.Is(err, auth.ErrBadPassword) {
		t.Errorf("old password after passwd: %v", err)
	}
	if _, err := chain.Authenticate(context.Background(), "jdoe", "new one"); err != nil {
		t.Errorf("new password after passwd: %v", err)
	}
	// The CRLF of a Windows pipe is not part of the password.
	u, err := auth.LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	kim, _ := u.User(`CONTOSO\kim`)
	if ok, err := auth.VerifyPassword(context.Background(), kim.Hash, "other"); !ok || err != nil {
		t.Errorf("password piped with CRLF: %v, %v", ok, err)
	}
	mustStdin("", "user", "leave", `CONTOSO\Deployment Admins`, "Imaging")
	mustStdin("", "user", "del", "jdoe")
	u, err = auth.LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.User(`LAB\jdoe`); ok {
		t.Error("user del left the user")
	}
	if _, ok := u.Group(`LAB\Imaging`); ok {
		t.Error("user del left an empty group")
	}

	for _, tc := range []struct {
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"\n", []string{"user", "add", "x"}, exitFailure, "empty"},
		{"", []string{"user", "add", "x"}, exitFailure, "stdin"},
		{"pw\n", []string{"user", "add", `CONTOSO\kim`}, exitFailure, "exists already"},
		{"pw\n", []string{"user", "add", `a\b\c`}, exitUsage, `more than one`},
		{"pw\n", []string{"user", "add", "x@y.com"}, exitUsage, `DOMAIN\name`},
		{"pw\n", []string{"user", "passwd", "nobody"}, exitFailure, "unknown user"},
		{"", []string{"user", "del", "nobody"}, exitFailure, "unknown user"},
		{"", []string{"user", "leave", `CONTOSO\kim`, "NoSuch"}, exitFailure, "no group"},
		{"", []string{"user", "add"}, exitUsage, "one user NAME"},
		{strings.Repeat("x", 2000) + "\n", []string{"user", "add", "long"}, exitFailure, "longer than"},
	} {
		r := runWithStdin(t, tc.stdin, append(tc.args, "--root", root)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("imagestore %s: exit %d, stderr %q; want exit %d with %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.msg)
		}
	}
}
