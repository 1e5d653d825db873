package fileopen

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "f")
	os.WriteFile(reg, []byte("data"), 0o644)
	fifo := filepath.Join(dir, "p")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	f, st, err := Open(reg, "a file", false)
	if err != nil || st.Size() != 4 {
		t.Fatalf("regular file: %v", err)
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(b) != "data" {
		t.Errorf("read %q, %v", b, err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "is a FIFO (named pipe), not a file"}, // returns at once: open(2) would wait for a writer
		{dir, "is a directory, not a file"},
		{"/dev/null", "is a character device, not a file"},
	} {
		_, _, err := Open(tc.path, "a file", true)
		var te *TypeError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a TypeError saying it %s", tc.path, err, tc.want)
		}
	}
	if _, _, err := Open(filepath.Join(dir, "none"), "a file", false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
