package wizard

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/wdscapture/wdscapture/internal/regf"
	"github.com/wdscapture/wdscapture/internal/tooltest"
	"github.com/wdscapture/wdscapture/scan"
)

// windowsTree writes a small offline Windows tree in the given image state:
// a PE kernel32.dll (x86-64), SOFTWARE and SYSTEM hives and State.ini.
func windowsTree(t *testing.T, dir, state string) {
	t.Helper()
	pe := make([]byte, 0x40+24)
	copy(pe, "MZ")
	binary.LittleEndian.PutUint32(pe[0x3C:], 0x40)
	copy(pe[0x40:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(pe[0x44:], 0x8664)

	sw := regf.New()
	cv := sw.Key(`Microsoft\Windows NT\CurrentVersion`)
	cv.SetString("ProductName", "Windows 11 Enterprise")
	cv.SetString("EditionID", "Enterprise")
	cv.SetString("InstallationType", "Client")
	cv.SetDWORD("CurrentMajorVersionNumber", 10)
	cv.SetDWORD("CurrentMinorVersionNumber", 0)
	cv.SetString("CurrentBuild", "22631")
	sw.Key(`Microsoft\Windows\CurrentVersion\Setup\State`).SetString("ImageState", state)
	software, err := sw.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	sy := regf.New()
	sy.Key(`ControlSet001\Control\ProductOptions`).SetString("ProductType", "WinNT")
	sy.Key(`ControlSet001\Control\MUI\UILanguages\en-US`)
	sy.Key(`ControlSet001\Control\Nls\Language`).SetString("InstallLanguage", "0409")
	system, err := sy.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"Windows/System32/kernel32.dll":    pe,
		"Windows/System32/config/SOFTWARE": software,
		"Windows/System32/config/SYSTEM":   system,
		"Windows/Setup/State/State.ini":    []byte("[State]\r\nImageState=" + state + "\r\n"),
		"Users/Public/desktop.ini":         []byte("[.ShellClassInfo]\r\n"),
		"Program Files/App/readme.txt":     []byte("hello from the reference machine\r\n"),
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// labDisk builds a superfloppy disk image (a bare NTFS volume, drive C:)
// holding a Windows tree in the given image state, filled unmounted by
// wimapply, and returns its path.
func labDisk(t *testing.T, dir, name, state string) string {
	t.Helper()
	tooltest.Require(t, "mkntfs", "wimcapture", "wimapply")
	tree := filepath.Join(dir, name+".tree")
	windowsTree(t, tree, state)
	wim := filepath.Join(dir, name+".tree.wim")
	tooltest.Run(t, "wimcapture", tree, wim, "--compress=none", "--config=/dev/null")
	img := filepath.Join(dir, name)
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(16 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	tooltest.Run(t, "mkntfs", "-F", "-Q", "-q", "-L", "Windows", img)
	tooltest.Run(t, "wimapply", wim, "1", img)
	return img
}

var generalized = scan.ImageStateGeneralizeResealOOBE
