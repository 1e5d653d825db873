package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bin is the imagestore binary the tests run as a real process.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imagestore-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "imagestore")
	// Built without the race detector even under -race: the processes are
	// checked by what they leave on disk (package store's own tests run
	// its concurrency under the detector), and a race-enabled binary
	// costs every one of the many short runs a slower start.
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one imagestore run printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// runStore runs imagestore with args (and env added to the environment).
func runStore(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
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

// mustRun runs imagestore and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := runStore(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("imagestore %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func TestUsage(t *testing.T) {
	r := runStore(t, nil)
	if r.code != exitUsage || !strings.Contains(r.stderr, "group add") {
		t.Errorf("no arguments: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runStore(t, nil, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Commands:") {
		t.Errorf("--help: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runStore(t, nil, "frobnicate")
	if r.code != exitUsage || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runStore(t, []string{rootEnv + "="}, "group", "list")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--root") {
		t.Errorf("no root: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runStore(t, nil, "group", "add", "--help")
	if r.code != 0 || !strings.Contains(r.stderr, "--read") {
		t.Errorf("group add --help: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestGroupCommands(t *testing.T) {
	root := t.TempDir()
	mustRun(t, "group", "add", "Win11", "--root", root)
	mustRun(t, "group", "add", "--root", root, "Servers", "--read", `LAB\Techs,LAB\Ops`, "--write", `LAB\Admins`, "--compress", "lzx")
	if r := runStore(t, nil, "group", "add", "win11", "--root", root); r.code != exitConflict {
		t.Errorf("duplicate group: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runStore(t, nil, "group", "add", "a/b", "--root", root); r.code != exitFailure || !strings.Contains(r.stderr, `"a/b"`) {
		t.Errorf("bad group name: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runStore(t, nil, "group", "add", "x", "--read", `a\b\c`, "--root", root); r.code != exitUsage {
		t.Errorf("bad principal: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runStore(t, nil, "group", "set", "nope", "--read", "Everyone", "--root", root); r.code != exitNotFound {
		t.Errorf("group set of a missing group: exit %d, stderr %q", r.code, r.stderr)
	}
	mustRun(t, "group", "set", "WIN11", "--write", `LAB\Deploy`, "--root", root)
	var groups []groupJSON
	r := runStore(t, []string{rootEnv + "=" + root}, "group", "list", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &groups); err != nil {
		t.Fatalf("group list --json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	want := []groupJSON{
		{Name: "Servers", Compression: "LZX", Read: []string{`LAB\Techs`, `LAB\Ops`}, Write: []string{`LAB\Admins`}},
		{Name: "Win11", Compression: "", Read: []string{`NT AUTHORITY\Authenticated Users`}, Write: []string{`LAB\Deploy`}},
	}
	if fmt.Sprint(groups) != fmt.Sprint(want) {
		t.Errorf("group list --json = %+v, want %+v", groups, want)
	}
	r = mustRun(t, "group", "list", "--root", root)
	if !strings.Contains(r.stdout, "(not set)") || !strings.Contains(r.stdout, `LAB\Techs, LAB\Ops`) {
		t.Errorf("group list:\n%s", r.stdout)
	}
}
