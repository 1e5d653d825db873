package scan_test

import (
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/internal/regf"
	"github.com/wdscapture/wdscapture/scan"
)

// windowsTree writes a small offline Windows tree: a PE kernel32.dll
// (x86-64), SOFTWARE and SYSTEM hives made with internal/regf, State.ini,
// and the extra files given.
func windowsTree(t *testing.T, dir, regState, iniState string, extra map[string][]byte) {
	t.Helper()
	pe := make([]byte, 0x40+24)
	copy(pe, "MZ")
	binary.LittleEndian.PutUint32(pe[0x3C:], 0x40)
	copy(pe[0x40:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(pe[0x44:], 0x8664)

	sw := regf.New()
	cv := sw.Key(`Microsoft\Windows NT\CurrentVersion`)
	cv.SetString("ProductName", "Windows 11 Pro")
	cv.SetString("EditionID", "Professional")
	cv.SetString("InstallationType", "Client")
	cv.SetDWORD("CurrentMajorVersionNumber", 10)
	cv.SetDWORD("CurrentMinorVersionNumber", 0)
	cv.SetString("CurrentBuild", "22631")
	if regState != "" {
		sw.Key(`Microsoft\Windows\CurrentVersion\Setup\State`).SetString("ImageState", regState)
	}
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
		"Users/Public/desktop.ini":         []byte("[.ShellClassInfo]\r\n"),
	}
	if iniState != "" {
		files["Windows/Setup/State/State.ini"] = []byte("[State]\r\nImageState=" + iniState + "\r\n")
	}
	for k, v := range extra {
		files[k] = v
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

// TestEndToEndWithNTFSReader builds real GPT disks whose Windows partition
// is an NTFS volume filled by wimapply (unmounted) from a generated
// Windows tree, and scans them through agent.ScanOptions: the raw NTFS
// reader and the metadata package, as `wdscapture scan` does.
func TestEndToEndWithNTFSReader(t *testing.T) {
	scan.RequireTools(t, "sgdisk", "sfdisk", "mkntfs", "mkfs.vfat", "mkfs.exfat", "wimcapture", "wimapply")
	gen := scan.ImageStateGeneralizeResealOOBE
	hiber := make([]byte, 8192)
	copy(hiber, "HIBR")
	cases := []struct {
		name     string
		reg, ini string
		extra    map[string][]byte
		want     scan.State
		detail   string
	}{
		{"generalized", gen, gen, nil, scan.StateReady, "OOBE"},
		{"not generalized", scan.ImageStateComplete, scan.ImageStateComplete, nil, scan.StateNotGeneralized, "COMPLETE"},
		{"sources disagree", gen, scan.ImageStateComplete, nil, scan.StateMismatch, "State.ini says IMAGE_STATE_COMPLETE"},
		{"no State.ini", gen, "", nil, scan.StateMismatch, "State.ini has no ImageState"},
		{"fast startup", gen, gen, map[string][]byte{"hiberfil.sys": hiber}, scan.StateHibernated, "HIBR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			img := scan.MakeGPTDisk(t, dir, "disk.img")
			tree := filepath.Join(dir, "tree")
			windowsTree(t, tree, tc.reg, tc.ini, tc.extra)
			wim := filepath.Join(dir, "tree.wim")
			// --config=/dev/null: wimlib otherwise leaves out \hiberfil.sys.
			scan.Run(t, "wimcapture", tree, wim, "--compress=none", "--config=/dev/null")
			// Partition 3 is the Windows partition of MakeGPTDisk.
			var start, size int64
			for _, p := range scan.SfdiskJSON(t, img).PartitionTable.Partitions {
				if strings.HasSuffix(p.Node, "3") {
					start, size = p.Start*512, p.Size*512
				}
			}
			part := scan.NewImage(t, dir, "win.part", size)
			scan.Run(t, "mkntfs", "-F", "-Q", "-q", "-L", "Windows", "-p", strconv.FormatInt(start/512, 10), part)
			scan.Run(t, "wimapply", wim, "1", part)
			scan.PlaceAt(t, img, start, part)

			before := scan.FileDigest(t, img)
			rep, err := scan.Scan(t.Context(), agent.ScanOptions(false, []string{img}, slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			if scan.FileDigest(t, img) != before {
				t.Error("scanning changed the disk image")
			}
			var win *scan.Volume
			for _, v := range rep.Volumes() {
				if v.Partition.Index == 3 {
					win = v.Volume
				}
			}
			if win == nil || win.Letter != "C" || win.FS != scan.FSNTFS || win.Label != "Windows" {
				t.Fatalf("Windows volume %+v", win)
			}
			if win.State != tc.want || !strings.Contains(win.Detail, tc.detail) {
				t.Errorf("state %v detail %q, want %v mentioning %q", win.State, win.Detail, tc.want, tc.detail)
			}
			w := win.Windows
			if w == nil || w.SystemRoot != "WINDOWS" || w.ProductName != "Windows 11 Pro" || w.Arch != "x86_64" ||
				!strings.HasPrefix(w.Version, "10.0.22631") || w.DefaultLanguage != "en-US" {
				t.Errorf("windows info %+v", w)
			}
			if w != nil && w.RegistryImageState != tc.reg {
				t.Errorf("registry image state %q, want %q", w.RegistryImageState, tc.reg)
			}
			// The other NTFS volume (recovery) holds no Windows.
			for _, v := range rep.Volumes() {
				if v.Partition.Index == 4 && v.Volume.State != scan.StateNoWindows {
					t.Errorf("recovery volume state %v (%s)", v.Volume.State, v.Volume.Detail)
				}
			}
			if n := len(rep.Ready()); (n == 1) != (tc.want == scan.StateReady) {
				t.Errorf("Ready() = %d volumes", n)
			}
		})
	}
}
