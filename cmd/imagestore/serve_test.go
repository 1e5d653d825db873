package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCert: imagestore cert makes the self-signed certificate once and
// prints the same fingerprint every time; serve refuses bad settings.
func TestCert(t *testing.T) {
	root := t.TempDir()
	r1 := mustRun(t, "cert", "--root", root, "--host", "imagestore.lab.example.com")
	r2 := mustRun(t, "cert", "--root", root)
	fp := regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}\n$`)
	if !fp.MatchString(r1.stdout) || r1.stdout != r2.stdout {
		t.Errorf("cert printed %q then %q", r1.stdout, r2.stdout)
	}
	if !strings.Contains(r1.stderr, "made a self-signed certificate") || r2.stderr != "" {
		t.Errorf("cert stderr %q then %q", r1.stderr, r2.stderr)
	}
	st, err := os.Stat(filepath.Join(root, "Server", "tls", "key.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key: %v %v", err, st)
	}
	if err := os.WriteFile(filepath.Join(root, "Server", "serve.json"), []byte(`{"listen": ":1", "bogus": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runStore(t, nil, "serve", "--root", root); r.code != exitFailure || !strings.Contains(r.stderr, "bogus") {
		t.Errorf("serve with an unknown setting: exit %d, %q", r.code, r.stderr)
	}
	if r := runStore(t, nil, "serve", "--root", root, "--tls-cert", "x.pem"); r.code != exitUsage {
		t.Errorf("serve --tls-cert without --tls-key: exit %d, %q", r.code, r.stderr)
	}
}
