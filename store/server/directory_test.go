package server

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wdscapture/wdscapture/internal/slapdtest"
	"github.com/wdscapture/wdscapture/store/auth"
	"github.com/wdscapture/wdscapture/store/auth/ldapauth"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// TestDirectory: with a directory in serve.json, domain accounts log in
// beside the users file's, their nested groups and the users file's
// groups (which name directory groups) decide what they may do, and a
// directory that goes down answers 503 to new logins while sessions go
// on.
func TestDirectory(t *testing.T) {
	if _, err := slapdtest.Path(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ldap, err := slapdtest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ldap.Close()
	root := t.TempDir()
	writeUsers(t, root, map[string]string{`LAB\alice`: "alice pw"}, map[string][]string{`LAB\Imaging`: {`CONTOSO\Imaging Techs`, `LAB\alice`}})
	pwFile := filepath.Join(t.TempDir(), "bind-password")
	if err := os.WriteFile(pwFile, []byte(slapdtest.ServicePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, root, map[string]any{"token_refresh": "1s", "directory": ldapauth.Config{
		URLs: []string{ldap.LDAPSURL}, CAFile: ldap.CAFile, BaseDN: slapdtest.ContosoBase, Domain: "CONTOSO",
		BindDN: slapdtest.ServiceDN, BindPasswordFile: pwFile}})
	newGroup(t, root, "Lab", []string{`LAB\Imaging`}, []string{`CONTOSO\Deployment Admins`})
	newGroup(t, root, "Everyone", nil, nil)
	ts := startServer(t, root, "")

	jdoe, eve, alice := newClient(t, ts), newClient(t, ts), newClient(t, ts)
	r := jdoe.login("jdoe@contoso.test", slapdtest.Password("jdoe"))
	if r.status != http.StatusOK {
		t.Fatalf("directory login: %s\n%s", r, ts.logs)
	}
	var lr protocol.LoginResponse
	parseJSON(r.body, &lr)
	for _, g := range []string{`CONTOSO\Imaging Techs`, `CONTOSO\Deployment Admins`, `LAB\Imaging`, auth.AuthenticatedUsers} {
		if !slices.Contains(lr.Groups, g) {
			t.Errorf("jdoe's token %q lacks %s", lr.Groups, g)
		}
	}
	gs := jdoe.groups()
	if len(gs) != 2 || gs[1].Name != "Lab" || !gs[1].MayWrite {
		t.Errorf("jdoe's groups: %+v", gs)
	}
	eve.mustLogin(`CONTOSO\eve`, slapdtest.Password("eve"))
	if gs := eve.groups(); len(gs) != 1 || gs[0].Name != "Everyone" {
		t.Errorf("eve's groups: %+v", gs)
	}
	if r := eve.login(`CONTOSO\olduser`, slapdtest.Password("olduser")); r.status != http.StatusUnauthorized {
		t.Errorf("disabled directory account: %s", r)
	}
	if r := eve.login(`CONTOSO\jdoe`, "wrong-Pw-1"); r.status != http.StatusUnauthorized {
		t.Errorf("wrong directory password: %s", r)
	}
	alice.mustLogin("alice", "alice pw")

	ldap.Stop()
	if r := eve.login(`CONTOSO\eve`, slapdtest.Password("eve")); r.status != http.StatusServiceUnavailable || r.apiError().Code != protocol.CodeUnavailable {
		t.Errorf("login while the directory is down: %s", r)
	}
	if r := alice.login("alice", "alice pw"); r.status != http.StatusOK {
		t.Errorf("users-file login while the directory is down: %s", r)
	}
	// Sessions outlive the outage (their refresh keeps the old token).
	if gs := jdoe.groups(); len(gs) != 2 {
		t.Errorf("jdoe during the outage: %+v", gs)
	}
	checkNoSecrets(t, ts.logs.String(), slapdtest.Password("jdoe"), slapdtest.Password("eve"), slapdtest.ServicePassword, "wrong-Pw-1", jdoe.token)
}

// TestSessionRefresh: a user taken out of a group loses its access within
// token_refresh, and a deleted user's session ends.
func TestSessionRefresh(t *testing.T) {
	root := t.TempDir()
	writeUsers(t, root, map[string]string{`LAB\alice`: "pw", `LAB\bob`: "pw"}, map[string][]string{`LAB\Techs`: {`LAB\alice`, `LAB\bob`}})
	writeConfig(t, root, map[string]any{"token_refresh": "1s"})
	newGroup(t, root, "G", []string{`LAB\Techs`}, []string{`LAB\Techs`})
	ts := startServer(t, root, "")
	alice, bob := newClient(t, ts), newClient(t, ts)
	alice.mustLogin("alice", "pw")
	bob.mustLogin("bob", "pw")
	if len(alice.groups()) != 1 {
		t.Fatal("alice does not see G")
	}
	err := auth.UpdateUsers(auth.UsersPath(root), "", func(u *auth.Users) error {
		g, _ := u.Group(`LAB\Techs`)
		g.Members = []string{`LAB\bob`}
		u.Users = slices.DeleteFunc(u.Users, func(x auth.User) bool { return x.Name == `LAB\bob` })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(alice.groups()) == 0 })
	waitFor(t, func() bool { return bob.must("GET", protocol.PathGroups, nil, nil).status == http.StatusUnauthorized })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 40 {
		if cond() {
			return
		}
		sleep()
	}
	t.Fatal("condition not met within 10 s")
}
