package volume_test

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/volume"
)

// TestDirStreamSize checks that a stream yields exactly the size recorded
// when the directory was read: a file that grew is cut at that size, one
// that shrank is an error naming it.
func TestDirStreamSize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		initial string
		later   string // contents by the time the stream is read
		want    string
		wantErr string
	}{
		{name: "unchanged", initial: "hello world", later: "hello world", want: "hello world"},
		{name: "grew", initial: "hello", later: "hello world", want: "hello"},
		{name: "shrank", initial: "hello world", later: "hello", wantErr: "shrank"},
		{name: "emptied", initial: "hello", later: "", wantErr: "shrank"},
		{name: "large", initial: strings.Repeat("0123456789", 100000), later: strings.Repeat("0123456789", 100000), want: strings.Repeat("0123456789", 100000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			p := filepath.Join(root, "f.bin")
			if err := os.WriteFile(p, []byte(tc.initial), 0o644); err != nil {
				t.Fatal(err)
			}
			d, err := volume.OpenDir(root, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			rootEntry, err := d.Root()
			if err != nil {
				t.Fatal(err)
			}
			kids, err := d.ReadDir(rootEntry)
			if err != nil || len(kids) != 1 {
				t.Fatalf("ReadDir = %v, %v", kids, err)
			}
			if err := os.WriteFile(p, []byte(tc.later), 0o644); err != nil {
				t.Fatal(err)
			}
			rc, err := d.OpenStream(kids[0], 0)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			_, err = io.CopyBuffer(&got, rc, make([]byte, 4096))
			if cerr := rc.Close(); cerr != nil {
				t.Errorf("Close: %v", cerr)
			}
			if err := rc.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), p) {
					t.Fatalf("error = %v, want one containing %q and the path", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want {
				t.Errorf("read %d bytes, want %d", got.Len(), len(tc.want))
			}
		})
	}
}

// TestDirStreamKeepsAccessTime checks that reading a file for capture
// leaves its access time alone where the kernel lets us (owner or root).
func TestDirStreamKeepsAccessTime(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "f.txt")
	if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(p, old, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The control: a plain read of a file like it must move its access
	// time, or this file system (noatime) has nothing for the test to see.
	control := filepath.Join(t.TempDir(), "control.txt")
	if err := os.WriteFile(control, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(control, old, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(control); err != nil {
		t.Fatal(err)
	}
	if atime(t, control).Equal(old) {
		t.Skipf("the file system of %s does not update access times on reads (noatime): nothing to test", root)
	}
	d, err := volume.OpenDir(root, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rootEntry, _ := d.Root()
	kids, err := d.ReadDir(rootEntry)
	if err != nil || len(kids) != 1 {
		t.Fatalf("ReadDir = %v, %v", kids, err)
	}
	rc, err := d.OpenStream(kids[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); err != nil || string(b) != "data" {
		t.Fatalf("read %q, %v", b, err)
	}
	rc.Close()
	if got := atime(t, p); !got.Equal(old) {
		t.Errorf("access time changed to %v by the capture read (was %v)", got, old)
	}
}

// atime returns the access time of the file at p.
func atime(t *testing.T, p string) time.Time {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return time.Unix(st.Atim.Sec, st.Atim.Nsec).UTC()
}
