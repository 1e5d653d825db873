package server

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/wdscapture/wdscapture/store"
)

func TestThrottleUnit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LoginFreeFailures, cfg.LoginFreeFailuresAddr = 2, 4
	cfg.LoginDelay, cfg.LoginMaxDelay = Duration(time.Second), Duration(4*time.Second)
	th := newThrottle(&cfg)
	for i := range 2 {
		th.fail("jdoe", "10.0.0.1:1000")
		if d := th.wait(`LAB\jdoe`, "10.0.0.2:1"); d != 0 {
			t.Fatalf("barred after %d failures", i+1)
		}
	}
	wantDelays := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	for i, want := range wantDelays {
		th.fail("jdoe@lab.example.com", "10.0.0.3:1")
		d := th.wait(`lab\JDOE`, "10.0.0.4:1")
		if d > want || d < want-100*time.Millisecond {
			t.Errorf("after %d failures over the free ones: delay %v, want %v", i+1, d, want)
		}
	}
	th.succeed("jdoe")
	if d := th.wait("jdoe", "10.0.0.5:1"); d != 0 {
		t.Errorf("barred after a success: %v", d)
	}
	// Addresses: an IPv6 /64 is one key.
	for range 5 {
		th.fail("u", "[2001:db8:1:2::5]:443")
	}
	if d := th.wait("other", "[2001:db8:1:2:ffff::1]:1"); d == 0 {
		t.Error("another address of the same /64 is not barred")
	}
	if d := th.wait("other", "[2001:db8:1:3::1]:1"); d != 0 {
		t.Error("another /64 is barred")
	}
}

func TestSessions(t *testing.T) {
	s := newSessions(50*time.Millisecond, time.Hour)
	s.perUser = 3
	tok := store.Token{User: `LAB\a`}
	var tokens []string
	for range 4 {
		tk, _, err := s.create(tok)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tk)
	}
	if _, _, ok := s.get(tokens[0], 0); ok {
		t.Error("the oldest of 4 sessions (3 allowed) is still valid")
	}
	if got, stale, ok := s.get(tokens[3], time.Hour); !ok || stale || got.User != tok.User {
		t.Error("the newest session is not valid")
	}
	for _, bad := range []string{"", "x", tokens[3] + "x", strings.ToUpper(tokens[3])} {
		if _, _, ok := s.get(bad, 0); ok {
			t.Errorf("token %q accepted", bad)
		}
	}
	if _, stale, _ := s.get(tokens[2], time.Nanosecond); !stale {
		t.Error("a session not refreshed for longer than the refresh time is not stale")
	}
	s.update(tokens[2], store.Token{User: `LAB\a`, Groups: []string{"G"}})
	if got, stale, _ := s.get(tokens[2], time.Hour); stale || !got.Has("G") {
		t.Errorf("after update: %+v, stale %v", got, stale)
	}
	s.end(tokens[3])
	if _, _, ok := s.get(tokens[3], 0); ok {
		t.Error("session valid after end")
	}
	time.Sleep(80 * time.Millisecond)
	if _, _, ok := s.get(tokens[2], 0); ok {
		t.Error("session valid after the idle time")
	}
}

func TestConfig(t *testing.T) {
	var cfg Config
	cfg = DefaultConfig()
	if err := parseConfig([]byte(`{"listen":"127.0.0.1:9","session_idle":"5m","upload_expiry":"1h","reserve_bytes":0}`), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9" || cfg.SessionIdle.D() != 5*time.Minute || cfg.UploadExpiry.D() != time.Hour || cfg.SessionMax.D() != 12*time.Hour {
		t.Errorf("config %+v", cfg)
	}
	for _, bad := range []string{`{"listen":""}`, `{"bogus":1}`, `{"session_idle":"-1m"}`, `{"session_idle":5}`, `{"tls_cert":"x"}`,
		`{"max_uploads":1,"max_uploads_per_user":2}`, `{"log_format":"xml"}`, `{} {}`, `[`} {
		cfg = DefaultConfig()
		if err := parseConfig([]byte(bad), &cfg); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "none.json"), true); err != nil {
		t.Errorf("missing optional config: %v", err)
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "none.json"), false); err == nil {
		t.Error("missing config given by --config accepted")
	}
}

func TestSelfSigned(t *testing.T) {
	root := t.TempDir()
	c, created, err := EnsureSelfSigned(root, []string{"imagestore.lab.example.com", "10.1.2.3"})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	cert, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"imagestore.lab.example.com", "localhost", "127.0.0.1", "10.1.2.3"} {
		if err := cert.VerifyHostname(h); err != nil {
			t.Errorf("certificate not valid for %s: %v", h, err)
		}
	}
	_, keyPath := SelfSignedPaths(root)
	if st, _ := os.Stat(keyPath); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %04o", st.Mode().Perm())
	}
	c2, created, err := EnsureSelfSigned(root, nil)
	if err != nil || created || Fingerprint(c2.Certificate[0]) != Fingerprint(c.Certificate[0]) {
		t.Errorf("second call: created %v, %v, same %v", created, err, Fingerprint(c2.Certificate[0]) == Fingerprint(c.Certificate[0]))
	}
	os.Chmod(keyPath, 0o644)
	if _, _, err := EnsureSelfSigned(root, nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a readable key: %v", err)
	}
	fp := Fingerprint([]byte("x"))
	if len(fp) != 95 || strings.Count(fp, ":") != 31 {
		t.Errorf("fingerprint form %q", fp)
	}
}

func TestParseUploadMeta(t *testing.T) {
	ok := handler.MetaData{"group": "Win 11", "name": "Reference: 2026/12"}
	m, err := parseUploadMeta(ok)
	if err != nil || m.File != "Reference_ 2026_12.wim" {
		t.Errorf("parseUploadMeta(%v) = %+v, %v", ok, m, err)
	}
	for _, bad := range []handler.MetaData{
		{"name": "x"},
		{"group": "G"},
		{"group": "G", "name": " x"},
		{"group": "..", "name": "x"},
		{"group": "G/H", "name": "x"},
		{"group": "G", "name": "x", "file": "a/b.wim"},
		{"group": "G", "name": "x", "file": "x.rwm"},
		{"group": "G", "name": "x", "extra": "1"},
		{"group": "G", "name": "x\ny"},
		{"group": "G", "name": "\xff"},
		{"group": "G", "name": strings.Repeat("n", 300)},
		{"group": "G", "name": "x", "description": strings.Repeat("d", 1025)},
		{"group": "G", "name": "x", "compression": "LZMS"},
	} {
		if _, err := parseUploadMeta(bad); err == nil {
			t.Errorf("parseUploadMeta(%q) accepted", bad)
		}
	}
}
