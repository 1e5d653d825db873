package ldapauth

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/slapdtest"
	"github.com/wdscapture/wdscapture/internal/syncbuf"
)

// srv is the one slapd of this package's tests (nil when slapd is not
// installed outside CI: those tests skip).
var srv *slapdtest.Server

// logs collects what every backend of the tests logs, at debug level:
// TestMain checks at the end that no password reached it.
var logs = &syncbuf.Buffer{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ldapauth-slapd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	flag.Parse()
	if fuzzing() {
		// Fuzz targets need no directory; every fuzz worker runs TestMain.
		os.RemoveAll(dir)
		os.Exit(m.Run())
	}
	if _, err := slapdtest.Path(); err != nil && os.Getenv("CI") == "" {
		fmt.Fprintf(os.Stderr, "%v: the directory tests skip\n", err)
	} else if srv, err = slapdtest.Start(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if srv != nil {
		srv.Close()
	}
	if code == 0 {
		if leak := secretIn(logs.String()); leak != "" {
			fmt.Fprintf(os.Stderr, "a password reached the logs: %q\n%s", leak, logs.String())
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	w := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() != "" || w != nil && w.Value.String() == "true"
}

// secrets are every password the tests use.
func secrets() []string {
	s := []string{slapdtest.ServicePassword, slapdtest.AdminPassword, wrongPassword}
	for _, u := range []string{"jdoe", "asmith", "labtech", "olduser", "contractor", "eve", "alice", "bob", "locked", "expired"} {
		s = append(s, slapdtest.Password(u))
	}
	return s
}

const wrongPassword = "not-the-password-7Yt"

// secretIn returns the first password that occurs in s.
func secretIn(s string) string {
	for _, p := range secrets() {
		if strings.Contains(s, p) {
			return p
		}
	}
	return ""
}

func needSlapd(t *testing.T) {
	t.Helper()
	if srv == nil {
		t.Skip("slapd is not installed")
	}
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
