package metadata

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/regf"
)

const hiveDataDir = "/work/shared/data/hives"

// realHives unpacks every SYSTEM*.xz test hive into a temporary directory
// and returns name → path.
func realHives(t *testing.T) map[string]string {
	t.Helper()
	xz := needTool(t, "xz")
	dir := os.Getenv("WDS_HIVE_DIR")
	if dir == "" {
		dir = hiveDataDir
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "SYSTEM*.xz"))
	if len(matches) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("no SYSTEM*.xz hives in %s", dir)
		}
		t.Skipf("no SYSTEM*.xz hives in %s", dir)
	}
	out := map[string]string{}
	tmp := t.TempDir()
	for _, m := range matches {
		name := strings.TrimSuffix(filepath.Base(m), ".xz")
		b, err := exec.Command(xz, "-dc", m).Output()
		if err != nil {
			t.Fatalf("xz -dc %s: %v", m, err)
		}
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out[name] = p
	}
	return out
}

// hivexValue returns hivexget's output for key\value, lines without the
// trailing empty ones.
func hivexValue(t *testing.T, hive, key, value string) []string {
	t.Helper()
	hivexget := needTool(t, "hivexget")
	out, err := exec.Command(hivexget, hive, key, value).Output()
	if err != nil {
		t.Fatalf("hivexget %s %s: %v", key, value, err)
	}
	lines := strings.Split(string(out), "\n")
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func TestRealSystemHivesMatchHivex(t *testing.T) {
	hivexsh := needTool(t, "hivexsh")
	for name, p := range realHives(t) {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			h, err := regf.NewReader(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			get := func(key, name string) (uint32, []byte) {
				t.Helper()
				tp, d, err := value(h, key, name)
				if err != nil {
					t.Fatalf("%s\\%s: %v", key, name, err)
				}
				return tp, d
			}
			tests := []struct {
				key, value string
			}{
				{poKey, "ProductType"},
				{poKey, "ProductSuite"},
				{nlsKey, "InstallLanguage"},
				{halKey, "MatchingDeviceId"},
				{winKey, "CSDVersion"},
				{winKey, "CSDBuildNumber"},
			}
			for _, tt := range tests {
				want := hivexValue(t, p, tt.key, tt.value)
				tp, d := get(tt.key, tt.value)
				var got []string
				switch tp {
				case regf.TypeSZ, regf.TypeExpandSZ:
					got = []string{regf.String(d)}
				case regf.TypeMultiSZ:
					got = regf.MultiString(d)
				case regf.TypeDWORD:
					got = []string{strconv.FormatUint(uint64(binary.LittleEndian.Uint32(d)), 10)}
				default:
					t.Fatalf("%s: unexpected type %d", tt.value, tp)
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s\\%s = %q, hivexget says %q", tt.key, tt.value, got, want)
				}
			}

			// UILanguages subkeys, in hive order.
			cmd := exec.Command(hivexsh, p)
			cmd.Stdin = strings.NewReader(`cd ` + uiKey + "\nls\n")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("hivexsh ls: %v", err)
			}
			want := strings.Fields(string(out))
			k, err := h.Key(uiKey)
			if err != nil {
				t.Fatal(err)
			}
			subs, err := k.Subkeys()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range subs {
				got = append(got, s.Name())
			}
			if len(want) == 0 || strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("UILanguages = %q, hivexsh says %q", got, want)
			}
		})
	}
}

// TestRealSystemHivesMatchWimlib captures a tree holding each real SYSTEM
// hive and compares the whole WINDOWS element.
func TestRealSystemHivesMatchWimlib(t *testing.T) {
	needTool(t, "wimcapture")
	for name, p := range realHives(t) {
		t.Run(name, func(t *testing.T) {
			sys, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			writeFiles(t, dir, map[string][]byte{
				"Windows/System32/kernel32.dll":    peStub(0xAA64),
				"Windows/System32/config/SYSTEM":   sys,
				"Windows/System32/config/SOFTWARE": hiveBytes(t, win11Software),
			})
			wantWin, wantImg := wimlibXML(t, dir)
			info, warnings, err := Read(os.DirFS(dir))
			if err != nil {
				t.Fatal(err)
			}
			if got := info.WindowsXML(); got != wantWin {
				t.Errorf("WINDOWS differs\n ours:   %s\n wimlib: %s\nwarnings: %q", got, wantWin, warnings)
			}
			if got := info.ImageElementsXML(); got != wantImg {
				t.Errorf("image elements differ\n ours:   %s\n wimlib: %s", got, wantImg)
			}
			if info.Windows.ProductType != "WinNT" || info.Windows.HAL != "acpiapic" {
				t.Errorf("ProductType %q HAL %q, want WinNT acpiapic (README of the hive set)", info.Windows.ProductType, info.Windows.HAL)
			}
			t.Logf("%s", wantWin)
		})
	}
}
