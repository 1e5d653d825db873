package debpkg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFields(t *testing.T) {
	f := parseFields([]byte("Package: linux-image-6.12-cloud-amd64\nVersion: 6.12.117-1~deb12u1\nDepends: linux-image-6.12.117+deb12-cloud-amd64 (= 6.12.117-1~deb12u1), foo | bar:any (>= 1)\nDescription: a\n continued\n\nPackage: second\n"))
	if f["Package"] != "linux-image-6.12-cloud-amd64" || f["Version"] != "6.12.117-1~deb12u1" || f["Description"] != "a\ncontinued" {
		t.Errorf("fields %v", f)
	}
	if got := strings.Join(f.Depends(), " "); got != "linux-image-6.12.117+deb12-cloud-amd64 foo bar" {
		t.Errorf("depends %q", got)
	}
}

func TestNewestCachedAndNames(t *testing.T) {
	dir := t.TempDir()
	c := &Cache{Dir: dir}
	for _, v := range []string{"1:1.0-1", "1:1.1-1"} {
		root := filepath.Join(dir, dirName("busybox-static", v))
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, ".complete"), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if p := c.newestCached("busybox-static"); p == nil || p.Version != "1:1.1-1" {
		t.Errorf("newest cached: %+v", p)
	}
	if p := c.newestCached("other"); p != nil {
		t.Errorf("found %+v for a package never fetched", p)
	}
	if _, err := c.Show(t.Context(), "Bad Name;rm"); err == nil {
		t.Error("a bad package name reached apt-cache")
	}
	kdir := filepath.Join(dir, dirName("linux-image-6.12.99+deb12-cloud-amd64", "6.12.99-1"))
	os.MkdirAll(kdir, 0o755)
	os.WriteFile(filepath.Join(kdir, ".complete"), []byte("6.12.99-1\n"), 0o644)
	if p := c.newestCachedKernel("linux-image-6.12-cloud-amd64"); p == nil || p.Name != "linux-image-6.12.99+deb12-cloud-amd64" {
		t.Errorf("cached kernel: %+v", p)
	}
	if p := c.newestCachedKernel("linux-image-6.12-amd64"); p != nil {
		t.Errorf("the cloud kernel was taken for the generic one: %+v", p)
	}
}
