package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCreateRefusesDirectory: an existing directory as the destination is
// refused by Create, with overwrite too, before anything is written (issue
// 14 item 12: `wdscapture capture SRC DIR.wim --overwrite` found it only at
// the rename after the whole capture, as "rename …: file exists").
func TestCreateRefusesDirectory(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "d.wim")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, overwrite := range []bool{false, true} {
		w, err := Create(dest, Options{Compression: CompressXPRESS, Overwrite: overwrite})
		if err == nil {
			w.Abort()
			t.Fatalf("overwrite %v: Create accepted a directory", overwrite)
		}
		if !strings.Contains(err.Error(), "is a directory") {
			t.Errorf("overwrite %v: %v, want it to say the destination is a directory", overwrite, err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("%d entries in the directory, want only d.wim (no partial file)", len(ents))
	}
}
