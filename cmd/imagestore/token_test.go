package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/slapdtest"
	"github.com/wdscapture/wdscapture/internal/tooltest"
	"github.com/wdscapture/wdscapture/store/auth"
)

// TestTokenDirectory runs `imagestore token` against a real slapd through
// the directory section of ROOT/Server/serve.json.
func TestTokenDirectory(t *testing.T) {
	tooltest.Require(t, "slapd")
	srv, err := slapdtest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	root := t.TempDir()
	serverDir, err := auth.EnsureServerDir(root)
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(serverDir, "ldap-password")
	if err := os.WriteFile(pwFile, []byte(slapdtest.ServicePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{"directory": map[string]any{
		"urls": []string{srv.LDAPSURL}, "ca_file": srv.CAFile, "base_dn": slapdtest.ContosoBase, "domain": "CONTOSO",
		"bind_dn": slapdtest.ServiceDN, "bind_password_file": pwFile,
	}}
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(serverDir, "serve.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	var outputs []string
	run := func(stdin string, want int, args ...string) result {
		t.Helper()
		r := runWithStdin(t, stdin, append(args, "--root", root)...)
		outputs = append(outputs, r.stdout, r.stderr)
		if r.code != want {
			t.Fatalf("imagestore %s: exit %d, want %d\n%s%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
		}
		return r
	}
	run("", 0, "user", "domain", "STORE")
	run("", 0, "user", "join", `CONTOSO\Imaging Techs`, `STORE\Imaging Crew`)

	r := run("", 0, "token", `CONTOSO\jdoe`)
	for _, want := range []string{"user   CONTOSO\\jdoe\n", "group  BUILTIN\\Administrators\n", "group  CONTOSO\\Deployment Admins\n",
		"group  CONTOSO\\Domain Users\n", "group  STORE\\Imaging Crew\n", "group  NT AUTHORITY\\Authenticated Users\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("token CONTOSO\\jdoe lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run("", 0, "token", "jdoe@contoso.test", "--json")
	var tok struct {
		User   string   `json:"user"`
		Groups []string `json:"groups"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil || tok.User != `CONTOSO\jdoe` || !slices.Contains(tok.Groups, `CONTOSO\Ops All`) {
		t.Errorf("token --json: %+v %v\n%s", tok, err, r.stdout)
	}
	run(slapdtest.Password("eve")+"\n", 0, "token", "--login", "eve")
	r = run("wrong password here\n", 1, "token", "--login", `CONTOSO\eve`)
	if !strings.Contains(r.stderr, "wrong password") {
		t.Errorf("wrong password: %s", r.stderr)
	}
	r = run("", 1, "token", `CONTOSO\olduser`)
	if !strings.Contains(r.stderr, "disabled") {
		t.Errorf("disabled account: %s", r.stderr)
	}
	run("", exitNotFound, "token", `CONTOSO\nobody`)

	srv.Stop()
	r = run("", 1, "token", `CONTOSO\jdoe`)
	if !strings.Contains(r.stderr, "directory CONTOSO is unavailable") {
		t.Errorf("directory down: %s", r.stderr)
	}
	for _, out := range outputs {
		for _, pw := range []string{slapdtest.ServicePassword, slapdtest.Password("eve"), "wrong password here"} {
			if strings.Contains(out, pw) {
				t.Errorf("a password was printed: %q", out)
			}
		}
	}
}
