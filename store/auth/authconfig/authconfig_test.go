package authconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/store/auth"
)

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if c, err := LoadDirectory(filepath.Join(dir, "missing"), true); c != nil || err != nil {
		t.Errorf("missing optional file: %v %v", c, err)
	}
	if _, err := LoadDirectory(filepath.Join(dir, "missing"), false); err == nil {
		t.Error("missing required file: no error")
	}
	if c, err := LoadDirectory(write("none.json", `{"listen":":8443"}`), false); c != nil || err != nil {
		t.Errorf("no directory section: %v %v", c, err)
	}
	c, err := LoadDirectory(write("ok.json", `{"listen":":8443","directory":{"urls":["ldaps://dc1.contoso.com"],
		"base_dn":"DC=contoso,DC=com","domain":"CONTOSO","bind_dn":"CN=svc,DC=contoso,DC=com","bind_password_env":"PW"}}`), false)
	if err != nil || c == nil || c.Domain != "CONTOSO" {
		t.Fatalf("directory section: %+v %v", c, err)
	}
	for name, s := range map[string]string{
		"unknown.json": `{"directory":{"urls":["ldaps://x"],"base_dn":"DC=a","domain":"A","kind":"openldap","colour":"red"}}`,
		"bad.json":     `{"directory":{"urls":[],"base_dn":"DC=a","domain":"A"}}`,
		"trail.json":   `{"directory":null} {}`,
		"array.json":   `[]`,
	} {
		if _, err := LoadDirectory(write(name, s), false); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
}

func TestOpenWithoutDirectory(t *testing.T) {
	root := t.TempDir()
	if _, err := auth.EnsureServerDir(root); err != nil {
		t.Fatal(err)
	}
	a, err := OpenStore(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Directory != nil || len(a.Backends) != 1 || a.Groups == nil {
		t.Errorf("users file only: %+v", a)
	}
	var _ auth.Authenticator = a
}
