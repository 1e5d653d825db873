package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/internal/slapdtest"
	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/auth"
)

// TestTokenDirectory runs `imagestore token` and `imagestore list --as`
// against a real slapd through the directory section of
// ROOT/Server/serve.json.
func TestTokenDirectory(t *testing.T) {
	slapdtest.Require(t)
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
		"bind_dn": slapdtest.ServiceDN, "bind_password_file": pwFile, "upn_suffixes": []string{"corp.contoso.test"},
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

	// list --as: what a directory user would see. Each group holds one
	// image and is readable by one principal (writers may read too: not
	// BUILTIN\Administrators, the default, which jdoe is in).
	wim := capture(t, t.TempDir(), "ref", 0, images.CompressXPRESS)
	for group, reader := range map[string]string{"Admins": `CONTOSO\Deployment Admins`, "Secret": `CONTOSO\Secret Project`,
		"Crew": `STORE\Imaging Crew`, "Lab": `CONTOSO\Lab Readers`} {
		run("", 0, "group", "add", group, "--read", reader, "--write", `STORE\Store Admins`)
		run("", 0, "add", wim, "--group", group, "--quiet")
	}
	for user, want := range map[string][]string{
		`CONTOSO\jdoe`:                  {"Admins", "Crew"}, // nested: Imaging Techs ⊂ Deployment Admins
		`alice.smith@corp.contoso.test`: {"Secret"},
		`labtech`:                       {"Lab"}, // through the primary group
		`CONTOSO\eve`:                   {},
	} {
		var l []store.ImageEntry
		r := run("", 0, "list", "--json", "--as", user)
		if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
			t.Fatalf("list --as %s: %v\n%s", user, err, r.stdout)
		}
		var got []string
		for _, e := range l {
			got = append(got, e.Group)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("list --as %s sees the images of %q, want %q", user, got, want)
		}
	}

	srv.Stop()
	r = run("", 1, "token", `CONTOSO\jdoe`)
	if !strings.Contains(r.stderr, "directory CONTOSO is unavailable") {
		t.Errorf("directory down: %s", r.stderr)
	}
	// Not "no images": the admin is told the directory cannot answer.
	r = run("", 1, "list", "--as", `CONTOSO\jdoe`)
	if !strings.Contains(r.stderr, "directory CONTOSO is unavailable") || strings.Contains(r.stdout, "no images") {
		t.Errorf("list --as with the directory down: %s%s", r.stdout, r.stderr)
	}
	for _, out := range outputs {
		for _, pw := range []string{slapdtest.ServicePassword, slapdtest.Password("eve"), "wrong password here"} {
			if strings.Contains(out, pw) {
				t.Errorf("a password was printed: %q", out)
			}
		}
	}
}
