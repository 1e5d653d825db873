package metadata

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/wdscapture/wdscapture/internal/regf"
)

// regValue and regKey describe a key set independently of any writer.
type regValue struct {
	name string
	typ  uint32
	data []byte
}

type regKey struct {
	path   string
	values []regValue
}

func sz(name, s string) regValue       { return regValue{name, regf.TypeSZ, utf16z(s)} }
func expandSZ(name, s string) regValue { return regValue{name, regf.TypeExpandSZ, utf16z(s)} }
func dword(name string, v uint32) regValue {
	return regValue{name, regf.TypeDWORD, binary.LittleEndian.AppendUint32(nil, v)}
}
func qword(name string, v uint64) regValue {
	return regValue{name, regf.TypeQWORD, binary.LittleEndian.AppendUint64(nil, v)}
}
func multiSZ(name string, ss ...string) regValue {
	var b []byte
	for _, s := range ss {
		b = append(b, utf16z(s)...)
	}
	return regValue{name, regf.TypeMultiSZ, append(b, 0, 0)}
}
func binaryValue(name string, n int, seed byte) regValue {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)*seed ^ byte(i>>8)
	}
	return regValue{name, regf.TypeBinary, b}
}

func utf16z(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return append(b, 0, 0)
}

// softwareKeys is a SOFTWARE key set shaped like a Windows 10 Pro 22H2
// installation: the CurrentVersion key with its full set of values (binary
// product ids, QWORD install time, both version schemes), a WOW6432Node copy
// with different values, hundreds of Classes subkeys, uninstall entries,
// fonts, profile list, a Perflib counter list of big data, Unicode names,
// empty keys and default values. (Values stay below 4 KiB: hivexsh reads
// no longer lines.)
func softwareKeys() []regKey {
	cv := `Microsoft\Windows NT\CurrentVersion`
	keys := []regKey{
		{cv, []regValue{
			sz("SystemRoot", `C:\WINDOWS`),
			sz("BuildBranch", "vb_release"),
			sz("BuildGUID", "ffffffff-ffff-ffff-ffff-ffffffffffff"),
			sz("BuildLab", "19041.vb_release.191206-1406"),
			sz("BuildLabEx", "19041.1.amd64fre.vb_release.191206-1406"),
			sz("CompositionEditionID", "Enterprise"),
			sz("CurrentBuild", "19045"),
			sz("CurrentBuildNumber", "19045"),
			dword("CurrentMajorVersionNumber", 10),
			dword("CurrentMinorVersionNumber", 0),
			sz("CurrentType", "Multiprocessor Free"),
			sz("CurrentVersion", "6.3"),
			binaryValue("DigitalProductId", 164, 7),
			binaryValue("DigitalProductId4", 1272, 13),
			sz("DisplayVersion", "22H2"),
			sz("EditionID", "Professional"),
			sz("EditionSubManufacturer", ""),
			sz("InstallationType", "Client"),
			dword("InstallDate", 1700000000),
			qword("InstallTime", 133444736000000000),
			sz("PathName", `C:\Windows`),
			sz("ProductId", "00330-80000-00000-AA000"),
			sz("ProductName", "Windows 10 Pro"),
			sz("RegisteredOrganization", ""),
			sz("RegisteredOwner", "Lab Technician"),
			sz("ReleaseId", "2009"),
			sz("SoftwareType", "System"),
			dword("UBR", 3570),
		}},
		{cv + `\Winlogon`, []regValue{
			sz("AutoRestartShell", "1"), sz("Background", "0 0 0"), sz("Shell", "explorer.exe"),
			sz("Userinit", `C:\Windows\system32\userinit.exe,`), dword("AutoAdminLogon", 0),
		}},
		{cv + `\ProfileList`, []regValue{
			expandSZ("Default", `%SystemDrive%\Users\Default`),
			expandSZ("ProfilesDirectory", `%SystemDrive%\Users`),
			expandSZ("ProgramData", `%SystemDrive%\ProgramData`),
			expandSZ("Public", `%SystemDrive%\Users\Public`),
		}},
		{cv + `\Perflib\009`, []regValue{
			multiSZ("Counter", perflibCounters()...),
			multiSZ("Help", "1847", "End Marker"),
		}},
		{cv + `\Image File Execution Options`, nil},
		{`Microsoft\Windows\CurrentVersion`, []regValue{
			expandSZ("CommonFilesDir", `C:\Program Files\Common Files`),
			expandSZ("DevicePath", `%SystemRoot%\inf`),
			sz("MediaPathUnexpanded", `%SystemRoot%\Media`),
			sz("ProgramFilesDir", `C:\Program Files`),
			sz("ProgramFilesDir (x86)", `C:\Program Files (x86)`),
			sz("ProgramFilesPath", `%ProgramFiles%`),
			sz("ProgramW6432Dir", `C:\Program Files`),
			sz("SM_GamesName", "Games"),
		}},
		{`Microsoft\Windows\CurrentVersion\Setup\State`, []regValue{
			sz("ImageState", "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"),
		}},
		{`Microsoft\Windows\CurrentVersion\Run`, []regValue{
			expandSZ("SecurityHealth", `%windir%\system32\SecurityHealthSystray.exe`),
		}},
		{`Microsoft\Windows\CurrentVersion\Policies\System`, []regValue{
			dword("ConsentPromptBehaviorAdmin", 5), dword("EnableLUA", 1), dword("PromptOnSecureDesktop", 1),
		}},
		{`Microsoft\Cryptography`, []regValue{sz("MachineGuid", "4c4c4544-0044-3510-8052-b4c04f4e4d32")}},
		{`Microsoft\Windows Defender\Features`, []regValue{dword("TamperProtection", 5)}},
		{`Microsoft\Windows NT\CurrentVersion\Fonts`, nil},
		{`Policies\Microsoft\Windows\WindowsUpdate\AU`, []regValue{dword("NoAutoUpdate", 1)}},
		{`RegisteredApplications`, []regValue{
			sz("Internet Explorer", `SOFTWARE\Microsoft\Internet Explorer\Capabilities`),
			sz("Windows Media Player", `Software\Clients\Media\Windows Media Player\Capabilities`),
		}},
		// The 32-bit view: wimlib (and we) must not read these.
		{`WOW6432Node\` + cv, []regValue{
			sz("ProductName", "Windows 10 Pro (WOW64 view)"), sz("EditionID", "Wow64Edition"),
			sz("CurrentBuild", "19045"), sz("CurrentVersion", "6.3"),
		}},
		{`Ünïcödé Vendor\Приложение 日本語`, []regValue{
			sz("Wert ü", "Grüße, 世界 😀"), dword("名前", 42),
		}},
		{`Clients\StartMenuInternet\Microsoft Edge\shell\open\command`, []regValue{
			sz("", `"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe"`),
		}},
		{`Classes`, nil},
		{`Empty Vendor\Empty Product\1.0`, nil},
	}
	// Fonts: many values on one key.
	fonts := &keys[11]
	for i, f := range []string{"Arial", "Arial Bold", "Calibri", "Cambria & Cambria Math", "Consolas", "Courier New",
		"Georgia", "Lucida Console", "Segoe UI", "Segoe UI Emoji", "Tahoma", "Times New Roman", "Trebuchet MS", "Verdana"} {
		fonts.values = append(fonts.values, sz(f+" (TrueType)", fmt.Sprintf("font%02d.ttf", i)))
	}
	// Image File Execution Options: one subkey per program.
	for i := range 40 {
		keys = append(keys, regKey{fmt.Sprintf(`%s\Image File Execution Options\prog%02d.exe`, cv, i),
			[]regValue{dword("MitigationOptions", uint32(i)), sz("Debugger", "")}})
	}
	// Profile list: SIDs.
	for _, sid := range []string{"S-1-5-18", "S-1-5-19", "S-1-5-20", "S-1-5-21-1004336348-1177238915-682003330-1001"} {
		keys = append(keys, regKey{cv + `\ProfileList\` + sid, []regValue{
			expandSZ("ProfileImagePath", `%systemroot%\system32\config\systemprofile`),
			dword("Flags", 12), dword("State", 0), binaryValue("Sid", 12+4*strings.Count(sid, "-"), 3),
		}})
	}
	// Uninstall entries named by GUID.
	for i := range 30 {
		keys = append(keys, regKey{fmt.Sprintf(`Microsoft\Windows\CurrentVersion\Uninstall\{%08X-1234-5678-9ABC-%012X}`, 0x90000000+i*7919, i*104729), []regValue{
			sz("DisplayName", fmt.Sprintf("Lab Runtime Component %d (x64)", i)),
			sz("DisplayVersion", fmt.Sprintf("14.%d.%d", 30+i, 30000+i*17)),
			sz("Publisher", "Lab Software Corporation"),
			dword("EstimatedSize", uint32(1024*(i+1))),
			sz("InstallDate", fmt.Sprintf("202311%02d", 1+i%28)),
			expandSZ("UninstallString", fmt.Sprintf(`MsiExec.exe /X{%08X-1234-5678-9ABC-%012X}`, 0x90000000+i*7919, i*104729)),
			dword("NoModify", 1), dword("WindowsInstaller", 1),
		}})
	}
	// Classes: file extensions and CLSIDs.
	for i := range 150 {
		ext := fmt.Sprintf(".x%03d", i)
		keys = append(keys, regKey{`Classes\` + ext, []regValue{sz("", fmt.Sprintf("labfile%d", i)), sz("Content Type", "application/x-lab")}})
	}
	for i := range 60 {
		clsid := fmt.Sprintf(`Classes\CLSID\{%08X-0000-0000-C000-%012X}`, 0x00020000+i*31, 0x46+i)
		keys = append(keys, regKey{clsid, []regValue{sz("", fmt.Sprintf("Lab Object %d", i))}},
			regKey{clsid + `\InprocServer32`, []regValue{expandSZ("", fmt.Sprintf(`%%SystemRoot%%\System32\lab%02d.dll`, i)), sz("ThreadingModel", "Both")}})
	}
	return keys
}

// perflibCounters is a long REG_MULTI_SZ of about 4 KiB (hivexsh takes
// no longer value lines, so big data is left to the real SYSTEM hives).
func perflibCounters() []string {
	var out []string
	for i := 1; i < 100; i++ {
		out = append(out, fmt.Sprint(2*i), fmt.Sprintf("Counter %d", i))
	}
	return out
}

// hivexSoftware builds the hive of keys with hivexsh, hivex's own writer:
// cell layout, list sizes, value lists and big data are hivex's, not ours.
// The empty hive it starts from (a root key and a security cell) is ours,
// because hivexsh cannot create one.
func hivexSoftware(t *testing.T, keys []regKey) []byte {
	t.Helper()
	hivexsh := needTool(t, "hivexsh")
	base := regf.New()
	base.FileName = `\SystemRoot\System32\Config\SOFTWARE`
	b, err := base.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "empty"), filepath.Join(dir, "SOFTWARE")
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	made := map[string]bool{}
	for _, k := range keys {
		script.WriteString("cd \\ \n") // hivexsh needs the space after the backslash
		path := ""
		for _, comp := range strings.Split(k.path, `\`) {
			path += `\` + strings.ToUpper(comp)
			if !made[path] {
				made[path] = true
				fmt.Fprintf(&script, "add %s\n", comp)
			}
			fmt.Fprintf(&script, "cd %s\n", comp)
		}
		if len(k.values) == 0 {
			continue
		}
		fmt.Fprintf(&script, "setval %d\n", len(k.values))
		for _, v := range k.values {
			name := v.name
			if name == "" {
				name = "@"
			}
			fmt.Fprintf(&script, "%s\nhex:%d:%x\n", name, v.typ, v.data)
		}
	}
	fmt.Fprintf(&script, "commit %s\n", out)
	sf := filepath.Join(dir, "script")
	if err := os.WriteFile(sf, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(hivexsh, "-w", "-f", sf, in).CombinedOutput(); err != nil {
		t.Fatalf("hivexsh: %v\n%s", err, msg)
	}
	hive, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return hive
}

// TestHivexSoftwareHive reads every key and value of a SOFTWARE hive that
// hivex wrote and compares them with the key set it was made from.
func TestHivexSoftwareHive(t *testing.T) {
	keys := softwareKeys()
	hive := hivexSoftware(t, keys)
	r, err := regf.NewReader(bytes.NewReader(hive), int64(len(hive)))
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	children := map[string]map[string]bool{} // upper-cased path → child names
	for _, k := range keys {
		parent := ""
		for _, comp := range strings.Split(k.path, `\`) {
			up := strings.ToUpper(parent)
			if children[up] == nil {
				children[up] = map[string]bool{}
			}
			children[up][comp] = true
			parent = strings.TrimPrefix(parent+`\`+comp, `\`)
		}
	}
	values := 0
	for _, k := range keys {
		n, err := r.Key(k.path)
		if err != nil {
			t.Errorf("%s: %v", k.path, err)
			continue
		}
		got, err := n.Values()
		if err != nil {
			t.Errorf("%s: %v", k.path, err)
			continue
		}
		if len(got) != len(k.values) {
			t.Errorf("%s: %d values, want %d", k.path, len(got), len(k.values))
			continue
		}
		for i, w := range k.values {
			v := got[i]
			data, err := v.BigData()
			if err != nil || v.Name != w.name || v.Type != w.typ || !bytes.Equal(data, w.data) {
				t.Errorf("%s value %d: %q type %d, %d bytes (%v); want %q type %d, %d bytes", k.path, i, v.Name, v.Type, len(data), err, w.name, w.typ, len(w.data))
			}
			values++
		}
	}
	// Every key lists exactly its children, in the hive's sorted order.
	for parent, kids := range children {
		n, err := r.Key(parent)
		if err != nil {
			t.Errorf("%q: %v", parent, err)
			continue
		}
		subs, err := n.Subkeys()
		if err != nil {
			t.Errorf("%q: %v", parent, err)
			continue
		}
		var got, want []string
		for _, s := range subs {
			got = append(got, s.Name())
		}
		for k := range kids {
			want = append(want, k)
		}
		sort.Slice(want, func(i, j int) bool { return strings.ToUpper(want[i]) < strings.ToUpper(want[j]) })
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%q: subkeys %q, want %q", parent, got, want)
		}
	}
	t.Logf("hivex SOFTWARE hive: %d bytes, %d keys with values, %d values read back", len(hive), len(keys), values)
}

// TestHivexSoftwareMatchesWimlib puts the hivex-made SOFTWARE hive in a
// Windows tree and compares our <WINDOWS> element with wimlib's.
func TestHivexSoftwareMatchesWimlib(t *testing.T) {
	needTool(t, "wimcapture")
	dir := t.TempDir()
	files := std(t, "Windows", peStub(0x8664), nil, clientSystem)
	files["Windows/System32/config/SOFTWARE"] = hivexSoftware(t, softwareKeys())
	writeFiles(t, dir, files)
	wantWin, wantImg := wimlibXML(t, dir)
	for _, s := range []string{"<PRODUCTNAME>Windows 10 Pro</PRODUCTNAME>", "<EDITIONID>Professional</EDITIONID>", "<BUILD>19045</BUILD>", "<MAJOR>10</MAJOR>"} {
		if !strings.Contains(wantWin, s) {
			t.Fatalf("wimlib's WINDOWS element lacks %s, so the hive does not test what it should:\n%s", s, wantWin)
		}
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
	if info.ImageState != "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE" {
		t.Errorf("ImageState %q", info.ImageState)
	}
}
