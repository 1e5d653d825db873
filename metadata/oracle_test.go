package metadata

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"github.com/wdscapture/wdscapture/internal/regf"
)

// needTool skips the test when an external tool is missing, unless CI is
// set, in which case a missing tool fails the test.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found but CI is set: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// peStub returns a minimal PE header with the given COFF machine type.
func peStub(machine uint16) []byte {
	b := make([]byte, 0x40+24)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3C:], 0x40)
	copy(b[0x40:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[0x44:], machine)
	return b
}

var (
	goPEOnce sync.Once
	goPEDir  string
	goPEErr  error
)

// goPE returns a real Windows executable built by the Go toolchain for
// goarch (built once per test run).
func goPE(t *testing.T, goarch string) []byte {
	t.Helper()
	goPEOnce.Do(func() {
		goPEDir, goPEErr = os.MkdirTemp("", "metadata-gope-")
		if goPEErr != nil {
			return
		}
		src := filepath.Join(goPEDir, "main.go")
		if goPEErr = os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); goPEErr != nil {
			return
		}
		gobin, err := exec.LookPath("go")
		if err != nil {
			goPEErr = fmt.Errorf("no go toolchain in PATH: %w", err)
			return
		}
		for _, arch := range []string{"amd64", "386", "arm64"} {
			cmd := exec.Command(gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(goPEDir, arch+".exe"), src)
			cmd.Dir = goPEDir
			cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH="+arch, "CGO_ENABLED=0", "GOFLAGS=", "GO111MODULE=off")
			if out, err := cmd.CombinedOutput(); err != nil {
				goPEErr = fmt.Errorf("go build windows/%s: %v\n%s", arch, err, out)
				return
			}
		}
	})
	if goPEErr != nil {
		t.Fatalf("building Go PE: %v", goPEErr)
	}
	b, err := os.ReadFile(filepath.Join(goPEDir, goarch+".exe"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMain(m *testing.M) {
	code := m.Run()
	if goPEDir != "" {
		os.RemoveAll(goPEDir)
	}
	os.Exit(code)
}

// hiveBytes builds a hive with fn.
func hiveBytes(t *testing.T, fn func(h *regf.Hive)) []byte {
	t.Helper()
	h := regf.New()
	fn(h)
	b, err := h.Bytes()
	if err != nil {
		t.Fatalf("hive: %v", err)
	}
	return b
}

// writeFiles creates files (slash-separated paths relative to dir).
func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for p, b := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if b == nil { // a directory
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	reWindows = regexp.MustCompile(`(?s)<WINDOWS>.*</WINDOWS>`)
	reImage   = []*regexp.Regexp{
		regexp.MustCompile(`(?s)<FLAGS>.*?</FLAGS>`),
		regexp.MustCompile(`(?s)<DISPLAYNAME>.*?</DISPLAYNAME>`),
		regexp.MustCompile(`(?s)<DISPLAYDESCRIPTION>.*?</DISPLAYDESCRIPTION>`),
	}
)

// wimlibXML captures dir with wimcapture and returns the WINDOWS element and
// the FLAGS/DISPLAYNAME/DISPLAYDESCRIPTION elements wimlib wrote.
func wimlibXML(t *testing.T, dir string) (windows, image string) {
	t.Helper()
	wimcapture := needTool(t, "wimcapture")
	wiminfo := needTool(t, "wiminfo")
	wim := filepath.Join(t.TempDir(), "x.wim")
	if out, err := exec.Command(wimcapture, dir, wim, "--compress=none", "--no-acls").CombinedOutput(); err != nil {
		t.Fatalf("wimcapture: %v\n%s", err, out)
	}
	raw, err := exec.Command(wiminfo, "--xml", wim).Output()
	if err != nil {
		t.Fatalf("wiminfo --xml: %v", err)
	}
	if !bytes.HasPrefix(raw, []byte{0xFF, 0xFE}) || len(raw)%2 != 0 {
		t.Fatalf("wiminfo --xml output is not UTF-16LE with BOM (%d bytes)", len(raw))
	}
	u := make([]uint16, len(raw)/2-1)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(raw[2+2*i:])
	}
	xml := string(utf16.Decode(u))
	windows = reWindows.FindString(xml)
	for _, re := range reImage {
		image += re.FindString(xml)
	}
	return windows, image
}

const (
	cvKey  = `Microsoft\Windows NT\CurrentVersion`
	poKey  = `ControlSet001\Control\ProductOptions`
	winKey = `ControlSet001\Control\Windows`
	uiKey  = `ControlSet001\Control\MUI\UILanguages`
	nlsKey = `ControlSet001\Control\Nls\Language`
	halKey = `ControlSet001\Control\Class\{4D36E966-E325-11CE-BFC1-08002BE10318}\0000`
)

func win11Software(h *regf.Hive) {
	k := h.Key(cvKey)
	k.SetString("ProductName", "Windows 11 Enterprise")
	k.SetString("EditionID", "Enterprise")
	k.SetString("InstallationType", "Client")
	k.SetDWORD("CurrentMajorVersionNumber", 10)
	k.SetDWORD("CurrentMinorVersionNumber", 0)
	k.SetString("CurrentVersion", "6.3")
	k.SetString("CurrentBuild", "22631")
	k.SetString("CurrentBuildNumber", "22631")
	h.Key(`Microsoft\Windows\CurrentVersion\Setup\State`).SetString("ImageState", "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE")
}

func clientSystem(h *regf.Hive) {
	h.Key(poKey).SetString("ProductType", "WinNT")
	h.Key(poKey).SetMultiString("ProductSuite", []string{"Terminal Server"})
	h.Key(winKey).SetDWORD("CSDBuildNumber", 0)
	h.Key(winKey).SetDWORD("CSDVersion", 0)
	h.Key(halKey).SetString("MatchingDeviceId", "acpiapic")
	h.Key(uiKey + `\de-DE`)
	h.Key(uiKey + `\en-US`)
	h.Key(nlsKey).SetString("InstallLanguage", "0407")
}

// lists makes fn's hive with subkey lists of kind.
func lists(kind regf.ListKind, fn func(*regf.Hive)) func(*regf.Hive) {
	return func(h *regf.Hive) {
		h.Lists = kind
		fn(h)
	}
}

// treeCase is one generated Windows tree.
type treeCase struct {
	name  string
	files func(t *testing.T) map[string][]byte
}

// std returns the files of a tree whose system root is root.
func std(t *testing.T, root string, kernel32 []byte, software, system func(*regf.Hive)) map[string][]byte {
	m := map[string][]byte{}
	if kernel32 != nil {
		m[root+"/System32/kernel32.dll"] = kernel32
	}
	if software != nil {
		m[root+"/System32/config/SOFTWARE"] = hiveBytes(t, software)
	}
	if system != nil {
		m[root+"/System32/config/SYSTEM"] = hiveBytes(t, system)
	}
	m[root+"/System32/drivers/etc/hosts"] = []byte("127.0.0.1 localhost\n")
	return m
}

func oracleCases() []treeCase {
	return []treeCase{
		{"x64 stub client de-DE", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), win11Software, clientSystem)
		}},
		{"x64 go-built PE", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", goPE(t, "amd64"), win11Software, clientSystem)
		}},
		{"x86 go-built PE server multi-suite", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", goPE(t, "386"), func(h *regf.Hive) {
				k := h.Key(cvKey)
				k.SetString("ProductName", "Windows Server 2008 Enterprise")
				k.SetString("EditionID", "ServerEnterprise")
				k.SetString("InstallationType", "Server")
				k.SetString("CurrentVersion", "6.0")
				k.SetString("CurrentBuild", "6002")
			}, func(h *regf.Hive) {
				h.Key(poKey).SetString("ProductType", "ServerNT")
				h.Key(poKey).SetMultiString("ProductSuite", []string{"Enterprise", "Terminal Server", "Blade"})
				h.Key(winKey).SetDWORD("CSDBuildNumber", 1621)
				h.Key(winKey).SetDWORD("CSDVersion", 0x200)
				h.Key(halKey).SetString("MatchingDeviceId", "acpiapic_mp")
				h.Key(uiKey + `\en-US`)
				h.Key(nlsKey).SetString("InstallLanguage", "0409")
			})
		}},
		{"arm64 go-built PE, REG_SZ suite, es-ES LCID 0c0a", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", goPE(t, "arm64"), win11Software, func(h *regf.Hive) {
				h.Key(poKey).SetString("ProductType", "LanmanNT")
				h.Key(poKey).SetString("ProductSuite", "Terminal Server")
				h.Key(halKey).SetString("MatchingDeviceId", "acpi\\vid_1234")
				h.Key(uiKey + `\es-ES`)
				h.Key(uiKey + `\en-US`)
				h.Key(uiKey + `\fr-FR`)
				h.Key(nlsKey).SetString("InstallLanguage", "0c0a")
			})
		}},
		{"windows 7 CurrentVersion 6.1 SP1", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x14C), func(h *regf.Hive) {
				k := h.Key(cvKey)
				k.SetString("ProductName", "Windows 7 Professional")
				k.SetString("EditionID", "Professional")
				k.SetString("InstallationType", "Client")
				k.SetString("CurrentVersion", "6.1")
				k.SetString("CurrentBuild", "7601")
				k.SetString("CurrentBuildNumber", "7601")
			}, func(h *regf.Hive) {
				clientSystem(h)
				h.Key(winKey).SetDWORD("CSDBuildNumber", 1130)
				h.Key(winKey).SetDWORD("CSDVersion", 0x100)
			})
		}},
		{"XP-style CurrentBuild with dot", func(t *testing.T) map[string][]byte {
			return std(t, "WINDOWS", peStub(0x14C), func(h *regf.Hive) {
				k := h.Key(cvKey)
				k.SetString("ProductName", "Microsoft Windows XP")
				k.SetString("CurrentVersion", "5.1")
				k.SetString("CurrentBuild", "1.511.1 () (Obsolete data - do not use)")
				k.SetString("CurrentBuildNumber", "2600")
			}, clientSystem)
		}},
		{"CurrentBuild with dot and no CurrentBuildNumber", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x14C), func(h *regf.Hive) {
				h.Key(cvKey).SetString("CurrentBuild", "1.2")
			}, nil)
		}},
		{"major DWORD without minor falls back to CurrentVersion", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), func(h *regf.Hive) {
				k := h.Key(cvKey)
				k.SetDWORD("CurrentMajorVersionNumber", 10)
				k.SetString("CurrentVersion", "6.3")
			}, nil)
		}},
		{"odd CurrentVersion strings", func(t *testing.T) map[string][]byte {
			m := std(t, "Windows", peStub(0x8664), func(h *regf.Hive) {
				h.Key(cvKey).SetString("CurrentVersion", " 010.0x1F trailing")
			}, nil)
			return m
		}},
		{"CurrentVersion major only", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), func(h *regf.Hive) {
				h.Key(cvKey).SetString("CurrentVersion", "7")
				h.Key(cvKey).SetDWORD("CurrentMinorVersionNumber", 4)
			}, nil)
		}},
		{"negative version numbers", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), func(h *regf.Hive) {
				h.Key(cvKey).SetString("CurrentVersion", "-3.-2")
			}, func(h *regf.Hive) {
				h.Key(winKey).SetQWORD("CSDBuildNumber", 1<<64-1)
				h.Key(winKey).SetQWORD("CSDVersion", 1<<64-0x300)
			})
		}},
		{"DWORD big endian and QWORD", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), func(h *regf.Hive) {
				h.Key(cvKey).SetBinary("CurrentMajorVersionNumber", regf.TypeDWORDBigEndian, []byte{0, 0, 0, 10})
				h.Key(cvKey).SetQWORD("CurrentMinorVersionNumber", 3)
			}, func(h *regf.Hive) {
				h.Key(winKey).SetQWORD("CSDBuildNumber", 5000000000)
			})
		}},
		{"wrong value types", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), func(h *regf.Hive) {
				k := h.Key(cvKey)
				k.SetDWORD("EditionID", 4)
				k.SetExpandString("ProductName", "Expand %x%")
				k.SetBinary("InstallationType", regf.TypeBinary, []byte("C\x00l\x00\x00\x00"))
				k.SetString("CurrentMajorVersionNumber", "10")
				k.SetBinary("CurrentMinorVersionNumber", regf.TypeDWORD, []byte{1, 0, 0})
				k.SetDWORD("CurrentBuild", 22000)
			}, func(h *regf.Hive) {
				h.Key(poKey).SetDWORD("ProductType", 1)
				h.Key(poKey).SetBinary("ProductSuite", regf.TypeSZ, []byte{'A', 0, 'B'})
				h.Key(winKey).SetString("CSDBuildNumber", "1234")
				h.Key(winKey).SetBinary("CSDVersion", regf.TypeQWORD, []byte{1, 2, 3, 4})
				h.Key(nlsKey).SetDWORD("InstallLanguage", 0x409)
				h.Key(uiKey + `\en-US`)
			})
		}},
		{"missing values and missing SYSTEM", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), func(h *regf.Hive) {
				h.Key(cvKey).SetString("ProductName", "Only a name")
			}, nil)
		}},
		{"only SYSTEM, no kernel32", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", nil, nil, clientSystem)
		}},
		{"empty strings and embedded NUL", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), func(h *regf.Hive) {
				k := h.Key(cvKey)
				k.SetString("EditionID", "")
				k.SetString("ProductName", "Windows 10 Pro\x00junk after NUL")
				k.SetString("InstallationType", "")
				k.SetString("CurrentBuild", "")
			}, func(h *regf.Hive) {
				h.Key(poKey).SetMultiString("ProductSuite", []string{"", "Second"})
				h.Key(poKey).SetString("ProductType", "ServerNT\x00x")
			})
		}},
		{"XML escaping and non-ASCII", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), func(h *regf.Hive) {
				k := h.Key(cvKey)
				k.SetString("ProductName", "Windows 11 Pro für Workstations <&> \"q\" 'a' \r\n\tx ü€😀 日本語")
				k.SetString("EditionID", "Pro&<Edition>")
			}, func(h *regf.Hive) {
				h.Key(halKey).SetString("MatchingDeviceId", "acpi\\x>&y")
			})
		}},
		{"InstallLanguage variants", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), nil, func(h *regf.Hive) {
				h.Key(nlsKey).SetString("InstallLanguage", " 0x10407zz")
			})
		}},
		{"InstallLanguage unknown", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), nil, func(h *regf.Hive) {
				h.Key(nlsKey).SetString("InstallLanguage", "abcd")
			})
		}},
		{"lower-case keys and file names", func(t *testing.T) map[string][]byte {
			m := map[string][]byte{
				"windows/system32/KERNEL32.DLL": peStub(0xAA64),
				"windows/system32/CONFIG/software": hiveBytes(t, func(h *regf.Hive) {
					h.Key(strings.ToLower(cvKey)).SetString("productname", "lower")
					h.Key(strings.ToLower(cvKey)).SetString("EDITIONID", "UPPER")
				}),
				"windows/system32/CONFIG/system": hiveBytes(t, func(h *regf.Hive) {
					h.Key(strings.ToUpper(poKey)).SetString("PRODUCTTYPE", "WinNT")
					h.Key(strings.ToLower(uiKey) + `\ja-JP`)
				}),
			}
			return m
		}},
		{"system root WINNT", func(t *testing.T) map[string][]byte {
			return std(t, "WINNT", peStub(0x14C), win11Software, clientSystem)
		}},
		{"tie prefers Windows", func(t *testing.T) map[string][]byte {
			m := std(t, "Windows", peStub(0x8664), win11Software, clientSystem)
			for k, v := range std(t, "AAA", peStub(0x14C), win11Software, nil) {
				m[k] = v
			}
			for k, v := range std(t, "ZZZ", peStub(0xAA64), nil, clientSystem) {
				m[k] = v
			}
			m["AAA/System32/config/SYSTEM"] = hiveBytes(t, clientSystem)
			m["ZZZ/System32/config/SOFTWARE"] = hiveBytes(t, win11Software)
			return m
		}},
		{"tie without Windows takes first", func(t *testing.T) map[string][]byte {
			m := std(t, "osB", peStub(0x8664), win11Software, nil)
			for k, v := range std(t, "OSa", peStub(0x14C), nil, clientSystem) {
				m[k] = v
			}
			return m
		}},
		{"higher score beats Windows", func(t *testing.T) map[string][]byte {
			m := std(t, "Windows", peStub(0x8664), nil, nil)
			for k, v := range std(t, "Other", peStub(0x14C), win11Software, clientSystem) {
				m[k] = v
			}
			return m
		}},
		{"non-ASCII system root name", func(t *testing.T) map[string][]byte {
			return std(t, "Wïndöws", peStub(0x8664), win11Software, nil)
		}},
		{"damaged hives", func(t *testing.T) map[string][]byte {
			m := std(t, "Windows", peStub(0x8664), nil, nil)
			m["Windows/System32/config/SOFTWARE"] = bytes.Repeat([]byte("not a hive "), 500)
			sys := hiveBytes(t, clientSystem)
			m["Windows/System32/config/SYSTEM"] = sys[:5000]
			return m
		}},
		{"PE variants: unknown machine", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x1234), nil, clientSystem)
		}},
		{"PE variants: misaligned e_lfanew", func(t *testing.T) map[string][]byte {
			b := peStub(0x8664)
			b = append(b[:0x42:0x42], b[0x40:]...)
			binary.LittleEndian.PutUint32(b[0x3C:], 0x42)
			return std(t, "Windows", b, nil, clientSystem)
		}},
		{"PE variants: ARM thumb and IA64", func(t *testing.T) map[string][]byte {
			m := std(t, "Windows", peStub(0x1C4), nil, nil)
			for k, v := range std(t, "IA64", peStub(0x200), nil, nil) {
				m[k] = v
			}
			return m
		}},
		{"empty kernel32 and directory SOFTWARE", func(t *testing.T) map[string][]byte {
			m := std(t, "Windows", []byte{}, nil, clientSystem)
			m["Windows/System32/config/SOFTWARE/inner"] = []byte("x")
			return m
		}},
		{"big data value is skipped, 16344 bytes is read", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), func(h *regf.Hive) {
				k := h.Key(cvKey)
				k.SetString("ProductName", strings.Repeat("P", 9000))    // 18002 bytes: db cell
				k.SetString("EditionID", strings.Repeat("E", 16344/2-1)) // exactly 16344 bytes
			}, nil)
		}},
		{"ambiguous case-insensitive hive names", func(t *testing.T) map[string][]byte {
			m := std(t, "Windows", peStub(0x8664), nil, nil)
			for _, n := range []string{"a", "sOftware", "Software", "softWare", "system", "System"} {
				name := n
				m["Windows/System32/config/"+n] = hiveBytes(t, func(h *regf.Hive) {
					h.Key(cvKey).SetString("ProductName", name)
					h.Key(poKey).SetString("ProductType", name)
				})
			}
			return m
		}},
		{"lf subkey lists (NT 4 and 2000 hives)", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), lists(regf.ListLF, win11Software), lists(regf.ListLF, clientSystem))
		}},
		{"li subkey lists, 600 languages under an ri list", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x14C), lists(regf.ListLI, win11Software), lists(regf.ListLI, func(h *regf.Hive) {
				clientSystem(h)
				for i := 0; i < 600; i++ {
					h.Key(fmt.Sprintf(`%s\y%03d-ZZ`, uiKey, i))
				}
			}))
		}},
		{"many languages (ri list)", func(t *testing.T) map[string][]byte {
			return std(t, "Windows", peStub(0x8664), nil, func(h *regf.Hive) {
				for i := 0; i < 600; i++ {
					h.Key(fmt.Sprintf(`%s\x%03d-ZZ`, uiKey, i))
				}
			})
		}},
	}
}

func TestWindowsXMLMatchesWimlib(t *testing.T) {
	needTool(t, "wimcapture")
	for _, tc := range oracleCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files(t))
			wantWin, wantImg := wimlibXML(t, dir)
			if wantWin == "" {
				t.Fatal("wimlib wrote no WINDOWS element; the case does not test anything")
			}
			info, warnings, err := Read(os.DirFS(dir))
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got := info.WindowsXML(); got != wantWin {
				t.Errorf("WINDOWS differs\n ours:   %s\n wimlib: %s\nwarnings: %q", got, wantWin, warnings)
			}
			if got := info.ImageElementsXML(); got != wantImg {
				t.Errorf("image elements differ\n ours:   %s\n wimlib: %s", got, wantImg)
			}
			t.Logf("%s%s", wantWin, wantImg)
		})
	}
}

func TestNoSystemRootLikeWimlib(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]byte{
		"Windows/notes.txt":            []byte("x"),
		"Program Files/System32/x.dll": []byte("x"),
		"System32/config/SYSTEM":       []byte("x"), // not inside a top-level dir
	})
	win, img := wimlibXML(t, dir)
	if win != "" || img != "" {
		t.Fatalf("wimlib found Windows info in a tree without a system root: %q %q", win, img)
	}
	if _, _, err := Read(os.DirFS(dir)); err != ErrNoSystemRoot {
		t.Errorf("Read err = %v, want ErrNoSystemRoot", err)
	}
	if _, err := FindSystemRoot(os.DirFS(dir)); err != ErrNoSystemRoot {
		t.Errorf("FindSystemRoot err = %v, want ErrNoSystemRoot", err)
	}
}
