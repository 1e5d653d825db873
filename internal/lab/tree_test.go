package lab

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/regf"
	"github.com/wdscapture/wdscapture/metadata"
	"github.com/wdscapture/wdscapture/volume"
)

// quiet is a logger for tests that drops everything below warnings.
func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func readAll(t *testing.T, src *memsource.Source, path string) []byte {
	t.Helper()
	f := src.Find(path)
	if f == nil {
		t.Fatalf("%s missing from the tree", path)
	}
	if len(f.Data) == 0 {
		t.Fatalf("%s has no data stream", path)
	}
	b, err := io.ReadAll(f.Data[0].Open())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// regValue reads a value from hive bytes with the regf reader.
func regValue(t *testing.T, hive []byte, key, name string) (uint32, []byte) {
	t.Helper()
	r, err := regf.NewReader(bytes.NewReader(hive), int64(len(hive)))
	if err != nil {
		t.Fatal(err)
	}
	k, err := r.Key(key)
	if err != nil {
		t.Fatalf("key %s: %v", key, err)
	}
	v, err := k.Value(name)
	if err != nil {
		t.Fatalf("value %s\\%s: %v", key, name, err)
	}
	d, err := v.Data()
	if err != nil {
		t.Fatal(err)
	}
	return v.Type, d
}

func TestTree(t *testing.T) {
	cache := t.TempDir()
	tests := []struct {
		name       string
		o          Options
		arch       int // wimlib ARCH number
		curVersion string
		major      bool // CurrentMajorVersionNumber present
		lcid       string
		langs      []string
		state, ini string
		tag        bool // Sysprep_succeeded.tag
		setupType  uint32
		x86Dir     bool
	}{
		{name: "default", o: Options{}, arch: 9, curVersion: "6.3", major: true, lcid: "0409", langs: []string{"en-US"},
			state: StateGeneralizeOOBE, ini: StateGeneralizeOOBE, tag: true, setupType: 2, x86Dir: true},
		{name: "arm64 server de-DE", o: Options{Arch: "arm64", InstallationType: "Server", Languages: []string{"de-DE", "en-US"}, Files: 17},
			arch: 12, curVersion: "6.3", major: true, lcid: "0407", langs: []string{"de-DE", "en-US"},
			state: StateGeneralizeOOBE, ini: StateGeneralizeOOBE, tag: true, setupType: 2, x86Dir: true},
		{name: "386 windows 7 complete", o: Options{Arch: "386", Build: 7601, ImageState: StateComplete, Languages: []string{"ja-JP"}, Files: 5},
			arch: 0, curVersion: "6.1", lcid: "0411", langs: []string{"ja-JP"},
			state: StateComplete, ini: StateComplete, tag: false, setupType: 0},
		{name: "sources disagree", o: Options{StateINIState: StateComplete, Files: 1, Hibernated: true},
			arch: 9, curVersion: "6.3", major: true, lcid: "0409", langs: []string{"en-US"},
			state: StateGeneralizeOOBE, ini: StateComplete, tag: true, setupType: 2, x86Dir: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.CacheDir, o.Logger = cache, quiet()
			src := Tree(o)

			pe := readAll(t, src, `Windows\System32\kernel32.dll`)
			arch, err := metadata.PEMachineArch(bytes.NewReader(pe))
			if err != nil || arch != tc.arch {
				t.Errorf("kernel32.dll arch = %d, %v; want %d", arch, err, tc.arch)
			}
			if len(pe) < 100000 {
				t.Errorf("kernel32.dll is %d bytes: not the cross-built program", len(pe))
			}

			sw := readAll(t, src, `Windows\System32\config\SOFTWARE`)
			cv := `Microsoft\Windows NT\CurrentVersion`
			d := o
			d, _ = d.withDefaults()
			for name, want := range map[string]string{
				"ProductName": d.ProductName, "EditionID": d.EditionID, "InstallationType": d.InstallationType,
				"CurrentVersion": tc.curVersion, "CurrentBuild": strconv.Itoa(d.Build), "CurrentBuildNumber": strconv.Itoa(d.Build),
			} {
				typ, b := regValue(t, sw, cv, name)
				if typ != regf.TypeSZ || regf.String(b) != want {
					t.Errorf("SOFTWARE %s = type %d %q, want %q", name, typ, regf.String(b), want)
				}
			}
			r, _ := regf.NewReader(bytes.NewReader(sw), int64(len(sw)))
			k, _ := r.Key(cv)
			if _, err := k.Value("CurrentMajorVersionNumber"); (err == nil) != tc.major {
				t.Errorf("CurrentMajorVersionNumber present = %v, want %v", err == nil, tc.major)
			}
			if tc.major {
				if typ, b := regValue(t, sw, cv, "CurrentMajorVersionNumber"); typ != regf.TypeDWORD || binary.LittleEndian.Uint32(b) != uint32(d.Major) {
					t.Errorf("CurrentMajorVersionNumber = %d %x", typ, b)
				}
			}
			if _, b := regValue(t, sw, `Microsoft\Windows\CurrentVersion\Setup\State`, "ImageState"); regf.String(b) != tc.state {
				t.Errorf("ImageState = %q, want %q", regf.String(b), tc.state)
			}
			if ini := string(readAll(t, src, `Windows\Setup\State\State.ini`)); ini != "[State]\r\nImageState="+tc.ini+"\r\n" {
				t.Errorf("State.ini = %q", ini)
			}

			sy := readAll(t, src, `Windows\System32\config\SYSTEM`)
			for _, kv := range [][3]string{
				{`ControlSet001\Control\ProductOptions`, "ProductType", d.ProductType},
				{`ControlSet001\Control\Nls\Language`, "InstallLanguage", tc.lcid},
				{`ControlSet001\Control\Nls\Language`, "Default", tc.lcid},
				{`ControlSet001\Control\Class\{4D36E966-E325-11CE-BFC1-08002BE10318}\0000`, "MatchingDeviceId", "acpiapic"},
			} {
				if _, b := regValue(t, sy, kv[0], kv[1]); regf.String(b) != kv[2] {
					t.Errorf("SYSTEM %s\\%s = %q, want %q", kv[0], kv[1], regf.String(b), kv[2])
				}
			}
			if _, b := regValue(t, sy, `Select`, "Current"); binary.LittleEndian.Uint32(b) != 1 {
				t.Errorf("Select\\Current = %x", b)
			}
			if _, b := regValue(t, sy, `Setup`, "SetupType"); binary.LittleEndian.Uint32(b) != tc.setupType {
				t.Errorf("Setup\\SetupType = %x, want %d", b, tc.setupType)
			}
			sr, _ := regf.NewReader(bytes.NewReader(sy), int64(len(sy)))
			ui, err := sr.Key(`ControlSet001\Control\MUI\UILanguages`)
			if err != nil {
				t.Fatal(err)
			}
			subs, _ := ui.Subkeys()
			var got []string
			for _, s := range subs {
				got = append(got, s.Name())
			}
			if strings.Join(got, ",") != strings.Join(tc.langs, ",") {
				t.Errorf("UILanguages = %v, want %v", got, tc.langs)
			}

			if (src.Find(`Windows\System32\Sysprep\Sysprep_succeeded.tag`) != nil) != tc.tag {
				t.Errorf("Sysprep_succeeded.tag present = %v, want %v", !tc.tag, tc.tag)
			}
			if (src.Find(`hiberfil.sys`) != nil) != o.Hibernated {
				t.Errorf("hiberfil.sys present = %v, want %v", !o.Hibernated, o.Hibernated)
			} else if o.Hibernated {
				if h := readAll(t, src, "hiberfil.sys"); string(h[:4]) != "HIBR" || len(h) != 1<<20 {
					t.Errorf("hiberfil.sys starts %q, %d bytes", h[:4], len(h))
				}
			}
			if (src.Find(`Program Files (x86)`) != nil) != tc.x86Dir {
				t.Errorf("Program Files (x86) present = %v, want %v", !tc.x86Dir, tc.x86Dir)
			}
			checkTreeShape(t, src, d.Files)
		})
	}
}

// checkTreeShape counts the payload and checks the special entries.
func checkTreeShape(t *testing.T, src *memsource.Source, files int) {
	t.Helper()
	var regular, links, named, shortNames int
	sds := map[string]bool{}
	var walk func(f *memsource.File, path string)
	walk = func(f *memsource.File, path string) {
		sds[string(f.Security)] = true
		if f.ShortName != "" {
			shortNames++
		}
		for _, s := range f.Streams {
			if s.Name != "" {
				named++
			}
		}
		if f.LinkID != 0 {
			links++
		}
		if !f.IsDir() && f.Attributes&volume.AttrReparsePoint == 0 {
			regular++
		}
		for _, k := range f.Children {
			walk(k, path+`\`+k.Name)
		}
	}
	walk(src.Root_, "")
	// 19 fixed files (20 with hiberfil.sys) besides the payload.
	fixed := 19
	if src.Find("hiberfil.sys") != nil {
		fixed++
	}
	if src.Find(`Windows\System32\Sysprep\Sysprep_succeeded.tag`) == nil {
		fixed--
	}
	if regular != files+fixed {
		t.Errorf("%d regular files, want %d payload + %d fixed", regular, files, fixed)
	}
	if links != 2 {
		t.Errorf("%d hard-link names, want 2 (System32 and WinSxS kernel32.dll)", links)
	}
	if len(sds) < 4 {
		t.Errorf("%d distinct security descriptors, want at least 4", len(sds))
	}
	if named < 2 || shortNames < 5 {
		t.Errorf("%d named streams, %d short names", named, shortNames)
	}
	docs := src.Find("Documents and Settings")
	if docs == nil || docs.ReparseTag != volume.ReparseTagMountPoint || docs.ShortName != "DOCUME~1" {
		t.Errorf("Documents and Settings junction missing or wrong: %+v", docs)
	}
	if pf := src.Find("Program Files"); pf == nil || pf.ShortName != "PROGRA~1" {
		t.Errorf("Program Files has no short name PROGRA~1")
	}
	for _, p := range []string{"pagefile.sys", "swapfile.sys", `System Volume Information\WPSettings.dat`, `$Recycle.Bin`, `Windows\Temp`, `Users\Public\hosts-link`} {
		if src.Find(p) == nil {
			t.Errorf("%s missing", p)
		}
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"bad arch", Options{Arch: "mips"}, "unknown architecture"},
		{"bad language", Options{Languages: []string{"xx-NOPE"}}, "no Windows language ID"},
		{"negative files", Options{Files: -1}, "Files"},
		{"too small", Options{SizeMiB: 100}, "disk size"},
		{"too small with extras", Options{SizeMiB: 170, SecondWindows: true, DataVolume: true}, "disk size"},
		{"payload does not fit", Options{SizeMiB: 140, Files: 20000}, "too small"},
		{"negative version", Options{Major: -1, Build: 1}, "negative version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := tc.o
			o.CacheDir, o.Logger = filepath.Join(dir, "cache"), quiet()
			p := filepath.Join(dir, "disk.img")
			err := Generate(p, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Generate error = %v, want one containing %q", err, tc.want)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.Name() != "cache" {
					t.Errorf("left behind after a failure: %s", e.Name())
				}
			}
		})
	}
}

func TestGPTGuid(t *testing.T) {
	g, err := guidBytes(TypeBasic)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0xA2, 0xA0, 0xD0, 0xEB, 0xE5, 0xB9, 0x33, 0x44, 0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7}
	if !bytes.Equal(g[:], want) {
		t.Errorf("guidBytes(%s) = % X", TypeBasic, g)
	}
	for _, bad := range []string{"", "EBD0A0A2-B9E5-4433-87C0-68B6B72699C", "EBD0A0A2-B9E5-4433-87C0-68B6B72699CZ", "EBD0A0A2B9E5-4433-87C0-68B6B72699C7-"} {
		if _, err := guidBytes(bad); err == nil {
			t.Errorf("guidBytes(%q) accepted", bad)
		}
	}
}

func TestLanguageID(t *testing.T) {
	for name, want := range map[string]uint32{"en-US": 0x409, "de-DE": 0x407, "ja-JP": 0x411, "zh-CN": 0x804, "sr-Latn-RS": 0x241A, "pt-BR": 0x416} {
		if got, ok := languageID(name); !ok || got != want {
			t.Errorf("languageID(%s) = %#x, %v; want %#x", name, got, ok, want)
		}
		if back, _ := metadata.LanguageName(want); back != name {
			t.Errorf("LanguageName(%#x) = %s, want %s", want, back, name)
		}
	}
}

// TestTreeMetadata reads the tree with the project's own metadata reader
// (the one the capture uses) through volume.FS: no external tools needed.
func TestTreeMetadata(t *testing.T) {
	cache := t.TempDir()
	tests := []struct {
		name                    string
		o                       Options
		arch                    int
		major, minor, spLevel   int64
		build, langs, def, root string
	}{
		{"default", Options{Files: 3}, 9, 10, 0, 0, "22631", "en-US", "en-US", "WINDOWS"},
		{"arm64 two languages", Options{Arch: "arm64", Languages: []string{"pl-PL", "en-GB"}, Files: 3}, 12, 10, 0, 0, "22631", "en-GB,pl-PL", "pl-PL", "WINDOWS"},
		{"windows 7 x86", Options{Arch: "386", Build: 7601, Files: 3}, 0, 6, 1, 1, "7601", "en-US", "en-US", "WINDOWS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.CacheDir, o.Logger = cache, quiet()
			info, warns, err := metadata.Read(volume.FS(Tree(o)))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range warns {
				// A Windows 7-style hive has no CurrentMajor/MinorVersionNumber.
				if !(tc.major == 6 && strings.Contains(w, "VersionNumber: not present")) {
					t.Errorf("warning: %s", w)
				}
			}
			w := info.Windows
			d, _ := o.withDefaults()
			if w.Arch == nil || *w.Arch != tc.arch {
				t.Errorf("Arch = %v, want %d", w.Arch, tc.arch)
			}
			if w.ProductName != d.ProductName || w.EditionID != d.EditionID || w.InstallationType != d.InstallationType || w.ProductType != d.ProductType {
				t.Errorf("product %q %q %q %q", w.ProductName, w.EditionID, w.InstallationType, w.ProductType)
			}
			v := w.Version
			if v.Major == nil || *v.Major != tc.major || v.Minor == nil || *v.Minor != tc.minor || v.Build == nil || *v.Build != tc.build || v.SPLevel == nil || *v.SPLevel != tc.spLevel {
				t.Errorf("version %+v", v)
			}
			if strings.Join(w.Languages, ",") != tc.langs || w.DefaultLanguage != tc.def || w.SystemRoot != tc.root || w.HAL != "acpiapic" {
				t.Errorf("languages %v default %q root %q HAL %q", w.Languages, w.DefaultLanguage, w.SystemRoot, w.HAL)
			}
			if info.ImageState != d.ImageState {
				t.Errorf("ImageState %q", info.ImageState)
			}
			state, err := metadata.ReadStateINI(volume.FS(Tree(o)), w.SystemRoot)
			if err != nil || state != d.ImageState {
				t.Errorf("State.ini ImageState %q, %v", state, err)
			}
		})
	}
	// Invalid options give the default machine, with a warning.
	if f := Tree(Options{Arch: "mips", CacheDir: cache, Logger: quiet()}).Find(`Windows\System32\kernel32.dll`); f == nil {
		t.Fatal("Tree with invalid options has no kernel32.dll")
	} else if b, _ := io.ReadAll(f.Data[0].Open()); !isPE(b, "amd64") {
		t.Error("Tree with invalid options is not the default amd64 machine")
	}
}
