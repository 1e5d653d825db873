package metadata

import (
	"os"
	"testing"

	"github.com/wdscapture/wdscapture/volume"
)

// TestReadThroughVolumeFS reads a generated tree through volume.FS over a
// directory source, the way the capture wires it, and compares with
// wimcapture of the same directory.
func TestReadThroughVolumeFS(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, std(t, "Windows", peStub(0x8664), win11Software, clientSystem))
	src, err := volume.OpenDir(dir, nil)
	if err != nil {
		t.Fatalf("volume.OpenDir: %v", err)
	}
	defer src.Close()
	info, warnings, err := Read(volume.FS(src))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	wantWin, wantImg := wimlibXML(t, dir)
	if got := info.WindowsXML(); got != wantWin {
		t.Errorf("WINDOWS via volume.FS\n ours:   %s\n wimlib: %s\nwarnings %q", got, wantWin, warnings)
	}
	if got := info.ImageElementsXML(); got != wantImg {
		t.Errorf("image elements via volume.FS\n ours:   %s\n wimlib: %s", got, wantImg)
	}
	direct, _, err := Read(os.DirFS(dir))
	if err != nil || direct.WindowsXML() != info.WindowsXML() {
		t.Errorf("os.DirFS and volume.FS disagree: %v", err)
	}
}
