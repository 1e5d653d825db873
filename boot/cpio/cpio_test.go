package cpio

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/tooltest"
)

func sample(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewWriter(&b)
	w.MTime = 1700000000
	steps := []error{
		w.CharDev("dev/console", 0o600, 5, 1),
		w.Bytes("etc/wdscapture/hello.txt", 0o644, []byte("hello, initramfs\n")),
		w.Bytes("bin/odd", 0o755, []byte("abc")), // 3 bytes: padding
		w.Symlink("bin/sh", "busybox"),
		w.Dir("tmp", 0o1777),
		w.Bytes("/Windows/System32/WDSCapture.inf", 0o644, []byte("[Capture]\r\n")),
		w.Close(),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if w.Len() != int64(b.Len()) || b.Len()%4 != 0 {
		t.Fatalf("Len %d, buffer %d", w.Len(), b.Len())
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	ents, err := ReadAll(bytes.NewReader(sample(t)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	byName := map[string]Entry{}
	for _, e := range ents {
		got = append(got, e.Name)
		byName[e.Name] = e
		if e.MTime != 1700000000 {
			t.Errorf("%s: mtime %d", e.Name, e.MTime)
		}
	}
	want := "dev dev/console etc etc/wdscapture etc/wdscapture/hello.txt bin bin/odd bin/sh tmp Windows Windows/System32 Windows/System32/WDSCapture.inf"
	if strings.Join(got, " ") != want {
		t.Fatalf("entries\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if e := byName["dev/console"]; !e.IsCharDev() || e.RMajor != 5 || e.RMinor != 1 || e.Perm() != 0o600 {
		t.Errorf("dev/console: %+v", e)
	}
	if e := byName["bin/sh"]; !e.IsSymlink() || string(e.Data) != "busybox" {
		t.Errorf("bin/sh: %+v", e)
	}
	if e := byName["bin/odd"]; !e.IsRegular() || string(e.Data) != "abc" || e.Perm() != 0o755 {
		t.Errorf("bin/odd: %+v", e)
	}
	if e := byName["tmp"]; !e.IsDir() || e.Perm() != 0o1777 {
		t.Errorf("tmp: %+v", e)
	}
}

func TestWriterErrors(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	if err := w.Bytes("a", 0o644, nil); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"duplicate": w.Bytes("a", 0o644, nil),
		"empty":     w.Bytes("/", 0o644, nil),
		"trailer":   w.Bytes(trailer, 0o644, nil),
		"short":     w.File("b", 0o644, strings.NewReader("x"), 2),
		"symlink":   w.Symlink("c", ""),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestReadAllRejectsDamage(t *testing.T) {
	good := sample(t)
	cases := map[string][]byte{
		"truncated":  good[:len(good)-20],
		"bad magic":  append([]byte("070707"), good[6:]...),
		"hex":        append(append([]byte{}, good[:10]...), append([]byte("zz"), good[12:]...)...),
		"no trailer": good[:200],
	}
	for name, data := range cases {
		if _, err := ReadAll(bytes.NewReader(data), 1<<20); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := ReadAll(bytes.NewReader(good), 4); err == nil {
		t.Error("data limit not enforced")
	}
}

// TestGNUCpio extracts the archive with GNU cpio, an independent reader.
func TestGNUCpio(t *testing.T) {
	tooltest.Require(t, "cpio")
	dir := t.TempDir()
	// Device nodes need privileges GNU cpio may lack; list them, extract the rest.
	cmd := exec.Command("cpio", "-t", "-v", "--quiet")
	cmd.Stdin = bytes.NewReader(sample(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	for _, want := range []string{"crw-------", "5,", "dev/console", "bin/sh -> busybox", "drwxrwxrwt", "Windows/System32/WDSCapture.inf"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cpio -tv lacks %q:\n%s", want, out)
		}
	}
	var noDev bytes.Buffer
	w := NewWriter(&noDev)
	if err := w.Bytes("etc/a.txt", 0o640, []byte("payload")); err != nil {
		t.Fatal(err)
	}
	if err := w.Symlink("etc/b", "a.txt"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("cpio", "-i", "-d", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = &noDev
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc/b")); err != nil || string(b) != "payload" {
		t.Fatalf("extracted etc/b: %q, %v", b, err)
	}
}

func FuzzReadAll(f *testing.F) {
	var b bytes.Buffer
	w := NewWriter(&b)
	_ = w.Bytes("x/y", 0o644, []byte("data"))
	_ = w.Close()
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		ents, err := ReadAll(bytes.NewReader(data), 1<<20)
		if err != nil {
			return
		}
		// What reads back must write and read back the same.
		var out bytes.Buffer
		w := NewWriter(&out)
		for _, e := range ents {
			if !e.IsRegular() {
				continue
			}
			if w.Bytes(e.Name, e.Perm(), e.Data) != nil {
				return // names the writer refuses (duplicates, "..")
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadAll(&out, 1<<20); err != nil {
			t.Fatalf("rewritten archive does not read: %v", err)
		}
	})
}
