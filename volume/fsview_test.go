package volume_test

import (
	"io"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/volume"
)

func TestFSCaseInsensitive(t *testing.T) {
	src := memsource.New(
		memsource.Dir("Windows", memsource.Dir("System32", memsource.Dir("config", memsource.Text("SOFTWARE", "hive")))),
		memsource.Text("readme.TXT", "hello"),
	)
	fsys := volume.FS(src)
	for _, tc := range []struct{ path, want string }{
		{"windows/system32/CONFIG/software", "hive"},
		{"README.txt", "hello"},
	} {
		f, err := fsys.Open(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != tc.want {
			t.Errorf("%s = %q, want %q", tc.path, b, tc.want)
		}
	}
	if _, err := fsys.Open("Windows/nope"); err == nil {
		t.Error("a missing file opened")
	}
	if err := fstest.TestFS(fsys, "Windows/System32/config/SOFTWARE", "readme.TXT"); err != nil {
		t.Error(err)
	}
	ents, err := fs.ReadDir(fsys, "windows")
	if err != nil || len(ents) != 1 || ents[0].Name() != "System32" {
		t.Errorf("ReadDir = %v, %v", ents, err)
	}
}
