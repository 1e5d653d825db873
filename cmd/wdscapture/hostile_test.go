package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/internal/syncbuf"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

// runIn runs the binary in dir with extra environment and a time limit:
// a command that hangs fails the test instead of the whole run.
func runIn(t *testing.T, dir string, env []string, limit time.Duration, args ...string) result {
	t.Helper()
	return runCmd(t, dir, env, limit, binary, args...)
}

// runCmd is runIn for any command.
func runCmd(t *testing.T, dir string, env []string, limit time.Duration, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v: still running after %v (it hangs)\n%s", args, limit, e.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, o.String(), e.String()}
}

// TestNumericFlags: every numeric flag is bounded and validated before
// anything is done (--threads 100000 once ran to 24 GB and the OOM killer).
func TestNumericFlags(t *testing.T) {
	dir := t.TempDir()
	src := makeSource(t, dir)
	dst := filepath.Join(dir, "x.wim")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"capture", src, dst, "--name", "x", "--threads", "100000"}, "--threads 100000"},
		{[]string{"capture", src, dst, "--name", "x", "--threads", "-1"}, "--threads -1"},
		{[]string{"capture", src, dst, "--name", "x", "--level", "999"}, "--level 999"},
		{[]string{"capture", src, dst, "--name", "x", "--level", "-5"}, "--level -5"},
		{[]string{"capture", src, dst, "--name", "x", "--level", "2", "--compress", "none"}, "needs compression"},
		{[]string{"capture", src, dst, "--name", "x", "--threads", "1e9"}, "invalid value"},
		{[]string{"verify", dst, "--threads", "65"}, "--threads 65"},
		{[]string{"optimize", dst, "--threads", "-3"}, "--threads -3"},
		{[]string{"--threads", "100000", "--inf", filepath.Join(dir, "none.inf")}, "--threads 100000"},
		{[]string{"--upload-retries", "0", "--inf", filepath.Join(dir, "none.inf")}, "--upload-retries 0"},
		{[]string{"--upload-retries", "-1", "--inf", filepath.Join(dir, "none.inf")}, "--upload-retries -1"},
		{[]string{"upload", src, "--server", "127.0.0.1:1", "--user", `CORP\u`, "--group", "g", "--retries", "1000000"}, "--retries 1000000"},
	} {
		r := runIn(t, dir, nil, time.Minute, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit %d mentioning %q", tc.args, r.code, r.stderr, exitUsage, tc.want)
		}
	}
	if _, err := os.Stat(dst); err == nil {
		t.Errorf("a refused command wrote %s", dst)
	}
}

// TestOutOfMemoryIsNotUsage runs a capture that runs out of memory (an
// address-space limit, LZX with 64 threads): the Go runtime's exit code 2
// must not be the one that means "bad command line", and nothing may be
// left that looks like a WIM.
func TestOutOfMemoryIsNotUsage(t *testing.T) {
	tooltest.Require(t, "prlimit")
	dir := t.TempDir()
	src := bigSource(t, dir)
	dst := filepath.Join(dir, "oom.wim")
	r := runCmd(t, dir, nil, 5*time.Minute, "prlimit", "--as="+fmt.Sprint(800<<20), "--", binary, "capture", src, dst, "--name", "x", "--compress", "lzx", "--threads", "64", "--quiet")
	if r.code == 0 {
		t.Fatalf("the capture fit in 800 MiB of address space; lower the limit so that it runs out of memory")
	}
	if r.code == exitUsage || !strings.Contains(r.stderr, "out of memory") {
		t.Errorf("exit %d (usage is %d), stderr:\n%.500s", r.code, exitUsage, r.stderr)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if bytes.HasPrefix(b, []byte("MSWIM\x00\x00\x00")) {
			t.Errorf("%s looks like a WIM after the crash", e.Name())
		}
	}
}

// TestRefuseSpecialSources: a FIFO (which blocked open() forever), a
// character device and files that hold no NTFS are refused quickly with a
// message saying what they are, never "context canceled" or a doubled
// "ntfs:" prefix.
func TestRefuseSpecialSources(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.img")
	os.WriteFile(empty, nil, 0o644)
	junk := filepath.Join(dir, "junk.img")
	os.WriteFile(junk, bytes.Repeat([]byte{0}, 1<<20), 0o644)
	inf := writeINF(t, t.TempDir(), fmt.Sprintf("[Capture]\nUnattended=Yes\nVolumeToCapture=%s\nImageName=x\nDestinationFile=%s\n", fifo, filepath.Join(dir, "i.wim")))
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"capture", fifo, filepath.Join(dir, "a.wim"), "--name", "x"}, exitNothing, "is a FIFO (named pipe)"},
		{[]string{"capture", "/dev/zero", filepath.Join(dir, "b.wim"), "--name", "x"}, exitNothing, "is a character device"},
		{[]string{"capture", empty, filepath.Join(dir, "c.wim"), "--name", "x"}, exitNothing, "is empty"},
		{[]string{"capture", junk, filepath.Join(dir, "d.wim"), "--name", "x"}, exitNothing, "holds no NTFS file system"},
		{[]string{"--inf", inf, "--no-devices"}, exitNothing, "FIFO"},
		{[]string{"--inf", fifo, "--no-devices"}, exitUsage, "is a FIFO (named pipe), not a settings file"},
		{[]string{"info", fifo}, exitFailure, "is a FIFO (named pipe), not a WIM file"},
		{[]string{"verify", fifo}, exitFailure, "not a WIM file"},
	} {
		r := runIn(t, dir, nil, time.Minute, tc.args...)
		out := r.stdout + r.stderr
		if r.code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit %d mentioning %q", tc.args, r.code, out, tc.code, tc.want)
		}
		for _, bad := range []string{"context canceled", "invalid partition range", "ntfs: " + junk + ": ntfs:"} {
			if strings.Contains(out, bad) {
				t.Errorf("%v: %q in %q", tc.args, bad, out)
			}
		}
	}
}

// TestRelativeDestination: a bare relative destination is written beside
// itself, never in $TMPDIR (on another file system the rename failed after
// the whole capture), and a killed run's partial file is removed by the
// next run instead of piling up.
func TestRelativeDestination(t *testing.T) {
	work, tmp := t.TempDir(), t.TempDir()
	src := bigSource(t, t.TempDir())
	env := []string{"TMPDIR=" + tmp}
	// A run killed in the middle of writing.
	cmd := exec.Command(binary, "capture", src, "rel.wim", "--name", "x", "--compress", "lzx", "--threads", "1")
	cmd.Dir, cmd.Env = work, append(os.Environ(), env...)
	e := &syncbuf.Buffer{}
	cmd.Stderr = e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(e.String(), "[write]") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Kill()
	cmd.Wait()
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("the capture wrote into $TMPDIR: %v", ents)
	}
	partials, _ := filepath.Glob(filepath.Join(work, ".rel.wim.partial-*"))
	if len(partials) != 1 {
		t.Fatalf("partial files beside rel.wim after the kill: %v", partials)
	}
	// The next run completes and leaves only rel.wim.
	small := makeSource(t, t.TempDir())
	if r := runIn(t, work, env, 5*time.Minute, "capture", small, "rel.wim", "--name", "y", "--quiet"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	ents, _ := os.ReadDir(work)
	if len(ents) != 1 || ents[0].Name() != "rel.wim" {
		t.Errorf("left in the working directory: %v", ents)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("left in $TMPDIR: %v", ents)
	}
}

// TestScanExitCodes: a disk image that cannot be read makes scan fail,
// and a directory is not reported as an 8.0 EiB disk.
func TestScanExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		arg, want string
	}{
		{"/does/not/exist", "no such file or directory"},
		{dir, "is a directory"},
	} {
		r := runIn(t, dir, nil, time.Minute, "scan", "--no-devices", tc.arg)
		if r.code == 0 || !strings.Contains(r.stdout+r.stderr, tc.want) || strings.Contains(r.stdout, "EiB") {
			t.Errorf("scan %s: exit %d\n%s%s", tc.arg, r.code, r.stdout, r.stderr)
		}
	}
}

// TestAppendSummaryAndOptimize: the summary of an append says what the
// image added, not the whole file over the image's data (once "WIM 199.2
// MiB = 3481237266.7%"); optimize removes the dead space an interrupted
// append leaves and keeps the WIM valid.
func TestAppendSummaryAndOptimize(t *testing.T) {
	tooltest.Require(t, "wimverify", "wiminfo")
	dir := t.TempDir()
	wim := filepath.Join(dir, "a.wim")
	if r := runIn(t, dir, nil, 5*time.Minute, "capture", bigSource(t, dir), wim, "--name", "big", "--compress", "xpress", "--check", "--quiet"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	tiny := filepath.Join(dir, "tiny")
	os.MkdirAll(tiny, 0o755)
	os.WriteFile(filepath.Join(tiny, "t.txt"), []byte("tiny"), 0o644)
	r := runIn(t, dir, nil, 5*time.Minute, "capture", tiny, wim, "--name", "tiny", "--append", "--check", "--quiet")
	if r.code != 0 || !strings.Contains(r.stdout, "added") || strings.Contains(r.stdout, "%") {
		t.Errorf("append summary: exit %d %q", r.code, r.stdout)
	}
	// What a killed append leaves: data past the end of the WIM.
	f, _ := os.OpenFile(wim, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(bytes.Repeat([]byte("partial"), 1<<20))
	f.Close()
	before, _ := os.Stat(wim)
	r = runIn(t, dir, nil, 5*time.Minute, "optimize", wim)
	if r.code != 0 || !strings.Contains(r.stdout, "dead space removed") {
		t.Fatalf("optimize: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	after, _ := os.Stat(wim)
	if after.Size() > before.Size()-7<<20 {
		t.Errorf("optimize: %d -> %d bytes", before.Size(), after.Size())
	}
	tooltest.Run(t, "wimverify", wim)
	if out := tooltest.Run(t, "wiminfo", wim); !strings.Contains(out, "Image Count:    2") {
		t.Errorf("wiminfo after optimize:\n%s", out)
	}
	// A damaged WIM is refused and left alone.
	b, _ := os.ReadFile(wim)
	b[len(b)/3] ^= 0x20
	os.WriteFile(wim, b, 0o644)
	r = runIn(t, dir, nil, time.Minute, "optimize", wim)
	if now, _ := os.ReadFile(wim); r.code != exitVerifyFailed || !bytes.Equal(now, b) {
		t.Errorf("optimize of a damaged WIM: exit %d (want %d), file changed %v", r.code, exitVerifyFailed, !bytes.Equal(now, b))
	}
}

// TestAppendRefusesBadName: a control character in --name or
// --description is refused before anything is written (it once made the
// XML unparsable and the existing WIM unreadable).
func TestAppendRefusesBadName(t *testing.T) {
	tooltest.Require(t, "wiminfo")
	dir := t.TempDir()
	src := makeSource(t, dir)
	wim := filepath.Join(dir, "n.wim")
	if r := runIn(t, dir, nil, time.Minute, "capture", src, wim, "--name", "one", "--quiet"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	orig, _ := os.ReadFile(wim)
	for _, args := range [][]string{{"--name", "two\x01"}, {"--name", "two", "--description", "bad\uFFFE"}} {
		r := runIn(t, dir, nil, time.Minute, append([]string{"capture", src, wim, "--append"}, args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "XML cannot hold") {
			t.Errorf("%q: exit %d %q", args, r.code, r.stderr)
		}
		if now, _ := os.ReadFile(wim); !bytes.Equal(now, orig) {
			t.Fatalf("%q: the WIM changed", args)
		}
	}
	tooltest.Run(t, "wiminfo", wim)
}

// TestInterruptMessage: Ctrl-C during a capture says what was left, not
// "context canceled".
func TestInterruptMessage(t *testing.T) {
	dir := t.TempDir()
	src := bigSource(t, dir)
	cmd := exec.Command(binary, "capture", src, filepath.Join(dir, "i.wim"), "--name", "x", "--compress", "lzx", "--threads", "1")
	e := &syncbuf.Buffer{}
	cmd.Stderr = e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(e.String(), "[write]") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v, want %d", err, exitInterrupted)
	}
	if out := e.String(); strings.Contains(out, "context canceled") || !strings.Contains(out, "interrupted: the capture was stopped; "+filepath.Join(dir, "i.wim")+" was not written") {
		t.Errorf("stderr:\n%s", out)
	}
}
