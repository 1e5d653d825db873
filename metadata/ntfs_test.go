package metadata

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wdscapture/wdscapture/volume"
	"github.com/wdscapture/wdscapture/volume/ntfs"
)

// TestReadFromNTFSImage puts a generated Windows tree on an unmounted NTFS
// image (wimcapture of the directory, wimapply onto a fresh mkntfs image),
// reads it through volume/ntfs and volume.FS, and compares with wimlib's
// own capture of the image (NTFS-3G mode).
func TestReadFromNTFSImage(t *testing.T) {
	mkntfs := needTool(t, "mkntfs")
	wimcapture := needTool(t, "wimcapture")
	wimapply := needTool(t, "wimapply")

	src := t.TempDir()
	writeFiles(t, src, std(t, "Windows", goPE(t, "arm64"), win11Software, clientSystem))
	work := t.TempDir()
	wim := filepath.Join(work, "tree.wim")
	img := filepath.Join(work, "ntfs.img")
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
		}
	}
	run(wimcapture, src, wim, "--compress=none")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	run(mkntfs, "-F", "-q", "-f", img)
	run(wimapply, wim, "1", img)

	wantWin, wantImg := wimlibXML(t, img)
	if wantWin == "" {
		t.Fatal("wimlib found no WINDOWS info on the NTFS image")
	}
	v, err := ntfs.OpenFile(img, ntfs.Options{})
	if err != nil {
		t.Fatalf("ntfs.OpenFile: %v", err)
	}
	defer v.Close()
	info, warnings, err := Read(volume.FS(v))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got := info.WindowsXML(); got != wantWin {
		t.Errorf("WINDOWS from NTFS\n ours:   %s\n wimlib: %s\nwarnings %q", got, wantWin, warnings)
	}
	if got := info.ImageElementsXML(); got != wantImg {
		t.Errorf("image elements from NTFS\n ours:   %s\n wimlib: %s", got, wantImg)
	}
}
