package lab

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
	"github.com/wdscapture/wdscapture/volume"
)

// wantPart is a partition a generated disk must have.
type wantPart struct {
	name  string
	typ   gpt.Type
	attrs uint64
	label string // NTFS label ("" for none / not NTFS)
}

// windowsWant is what wiminfo must show for a Windows partition.
type windowsWant map[string]string

func TestGenerate(t *testing.T) {
	tooltest.Require(t, "mkntfs", "wimapply", "wimcapture", "wiminfo", "wimdir", "wimextract", "sgdisk", "fsck.fat", "hivexget", "ntfslabel")
	cache := t.TempDir()
	esp := wantPart{NameESP, gpt.EFISystemPartition, 0, ""}
	msr := wantPart{NameMSR, gpt.MicrosoftReserved, 0, ""}
	win := wantPart{NameWindows, gpt.MicrosoftBasicData, 0, "Windows"}
	rec := wantPart{NameRecovery, gpt.MicrosoftWindowsRecovery, 0x8000000000000001, "Recovery"}
	win11 := windowsWant{"Architecture": "x86_64", "Product Name": "Windows 11 Enterprise", "Edition ID": "Enterprise",
		"Installation Type": "Client", "Product Type": "WinNT", "Languages": "en-US", "Default Language": "en-US",
		"Major Version": "10", "Minor Version": "0", "Build": "22631", "Service Pack Level": "0", "HAL": "acpiapic",
		"System Root": "WINDOWS", "Product Suite": "Terminal Server"}
	tests := []struct {
		name  string
		o     Options
		parts []wantPart
		// want maps a partition name to its expected wiminfo fields.
		want       map[string]windowsWant
		states     map[string][2]string // partition → {SOFTWARE ImageState, State.ini}
		hibernated bool
	}{
		{
			name:   "default",
			o:      Options{},
			parts:  []wantPart{esp, msr, win, rec},
			want:   map[string]windowsWant{NameWindows: win11},
			states: map[string][2]string{NameWindows: {StateGeneralizeOOBE, StateGeneralizeOOBE}},
		},
		{
			name: "arm64 server two languages data volume disagreeing state",
			o: Options{Arch: "arm64", ProductName: "Windows Server 2022 Datacenter", EditionID: "ServerDatacenter",
				InstallationType: "Server", Build: 20348, Major: 10, Languages: []string{"fr-FR", "en-US"},
				StateINIState: StateComplete, DataVolume: true, Files: 60, SizeMiB: 320},
			parts: []wantPart{esp, msr, win, {NameData, gpt.MicrosoftBasicData, 0, "Data"}, rec},
			want: map[string]windowsWant{NameWindows: {"Architecture": "ARM64", "Product Name": "Windows Server 2022 Datacenter",
				"Edition ID": "ServerDatacenter", "Installation Type": "Server", "Product Type": "ServerNT",
				"Languages": "en-US fr-FR", "Default Language": "fr-FR", "Major Version": "10", "Build": "20348"}},
			states: map[string][2]string{NameWindows: {StateGeneralizeOOBE, StateComplete}},
		},
		{
			name: "x86 windows 7 hibernated",
			o: Options{Arch: "386", ProductName: "Windows 7 Professional", EditionID: "Professional", Build: 7601,
				Languages: []string{"de-DE"}, Hibernated: true, Files: 30, SizeMiB: 200},
			parts: []wantPart{esp, msr, win, rec},
			want: map[string]windowsWant{NameWindows: {"Architecture": "x86", "Product Name": "Windows 7 Professional",
				"Major Version": "6", "Minor Version": "1", "Build": "7601", "Service Pack Level": "1",
				"Service Pack Build": "1130", "Languages": "de-DE", "Default Language": "de-DE"}},
			hibernated: true,
		},
		{
			name:  "bitlocker and a second windows",
			o:     Options{BitLocker: true, SecondWindows: true, Files: 10},
			parts: []wantPart{esp, msr, win, {NameWindows2, gpt.MicrosoftBasicData, 0, "Windows2"}, rec},
			want: map[string]windowsWant{NameWindows2: {"Architecture": "x86_64", "Product Name": "Windows 10 Pro",
				"Edition ID": "Professional", "Build": "19045"}},
			states: map[string][2]string{NameWindows2: {StateComplete, StateComplete}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := tc.o
			o.CacheDir, o.Logger = cache, quiet()
			disk := filepath.Join(dir, "disk.img")
			if err := Generate(disk, o); err != nil {
				t.Fatal(err)
			}
			d, _ := o.withDefaults()
			st, err := os.Stat(disk)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != int64(d.SizeMiB)<<20 {
				t.Errorf("disk is %d bytes, want %d MiB", st.Size(), d.SizeMiB)
			}
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				used := sys.Blocks * 512
				t.Logf("disk %d MiB, %d MiB allocated", st.Size()>>20, used>>20)
				if used > st.Size()/4 {
					t.Errorf("disk is not sparse: %d of %d bytes allocated", used, st.Size())
				}
			}

			// The table as sgdisk and go-diskfs read it.
			if out := tooltest.Run(t, "sgdisk", "-v", disk); !strings.Contains(out, "No problems found") {
				t.Errorf("sgdisk -v:\n%s", out)
			}
			tbl := readGPT(t, disk)
			if len(tbl.Partitions) != len(tc.parts) {
				t.Fatalf("%d partitions, want %d", len(tbl.Partitions), len(tc.parts))
			}
			layout, err := Layout(o)
			if err != nil || len(layout) != len(tbl.Partitions) {
				t.Fatalf("Layout = %d partitions, %v; the disk has %d", len(layout), err, len(tbl.Partitions))
			}
			for i, l := range layout {
				p := tbl.Partitions[i]
				if l.Name != p.Name || l.FirstLBA != p.Start || l.LastLBA != p.End || gpt.Type(l.Type) != p.Type || l.Size() != int64(p.Size) {
					t.Errorf("Layout[%d] = %+v, the disk has %q %d-%d %s", i, l, p.Name, p.Start, p.End, p.Type)
				}
			}
			byName := map[string]*gpt.Partition{}
			for i, w := range tc.parts {
				p := tbl.Partitions[i]
				byName[p.Name] = p
				if p.Name != w.name || p.Type != w.typ || p.Attributes != w.attrs {
					t.Errorf("partition %d = %q %s attrs %#x, want %q %s %#x", i+1, p.Name, p.Type, p.Attributes, w.name, w.typ, w.attrs)
				}
				if p.Start%2048 != 0 {
					t.Errorf("partition %d starts at LBA %d, not 1 MiB aligned", i+1, p.Start)
				}
				sgOut := tooltest.Run(t, "sgdisk", "-i", strconv.Itoa(i+1), disk)
				if !strings.Contains(sgOut, "Partition name: '"+w.name+"'") || !strings.Contains(sgOut, string(w.typ)) {
					t.Errorf("sgdisk -i %d:\n%s", i+1, sgOut)
				}
			}

			// The ESP: clean FAT32 with the boot files.
			espImg := extract(t, disk, byName[NameESP], dir)
			tooltest.Run(t, "fsck.fat", "-n", espImg)
			checkESP(t, espImg, d)

			for _, w := range tc.parts {
				if w.label == "" {
					continue
				}
				p := byName[w.name]
				img := extract(t, disk, p, dir)
				boot := make([]byte, 512)
				readAt(t, img, boot, 0)
				if w.name == NameWindows && d.BitLocker {
					if string(boot[3:11]) != "-FVE-FS-" {
						t.Errorf("BitLocker volume OEM ID = %q", boot[3:11])
					}
					if out, err := tooltest.Try("wimcapture", img, filepath.Join(dir, "bl.wim"), "--config=/dev/null"); err == nil {
						t.Errorf("wimcapture read the BitLocker volume:\n%s", out)
					}
					continue
				}
				if string(boot[3:11]) != "NTFS    " {
					t.Errorf("%s: OEM ID %q, want NTFS", w.name, boot[3:11])
				}
				if hidden := binary.LittleEndian.Uint32(boot[0x1C:]); uint64(hidden) != p.Start {
					t.Errorf("%s: NTFS hidden sectors %d, want the partition start %d", w.name, hidden, p.Start)
				}
				if got := strings.TrimSpace(tooltest.Run(t, "ntfslabel", "-f", img)); got != w.label {
					t.Errorf("%s: label %q, want %q", w.name, got, w.label)
				}
				ww, ok := tc.want[w.name]
				if !ok {
					// Data and Recovery volumes are empty NTFS.
					wim := filepath.Join(dir, "empty.wim")
					tooltest.Run(t, "wimcapture", img, wim, "--config=/dev/null", "--compress=none")
					if info := parseWiminfo(tooltest.Run(t, "wiminfo", wim, "1")); info["File Count"] != "0" || info["Directory Count"] != "1" {
						t.Errorf("%s: %s files, %s directories; want an empty volume", w.name, info["File Count"], info["Directory Count"])
					}
					os.Remove(wim)
					continue
				}
				tree := Tree(o)
				if w.name == NameWindows2 {
					tree = Tree(d.secondOptions())
				}
				checkWindows(t, img, dir, w.name, ww, tc.states[w.name], d, tree, tc.hibernated && w.name == NameWindows)
			}
		})
	}
}

// checkWindows captures an extracted Windows partition with wimlib (NTFS-3G
// mode, no exclusions) and checks what wiminfo, wimdir and the hives say.
func checkWindows(t *testing.T, img, dir, name string, want windowsWant, states [2]string, o Options, tree *memsource.Source, hibernated bool) {
	t.Helper()
	wim := filepath.Join(dir, strings.ReplaceAll(name, " ", "")+".wim")
	tooltest.Run(t, "wimcapture", img, wim, "--config=/dev/null", "--compress=none")
	info := parseWiminfo(tooltest.Run(t, "wiminfo", wim, "1"))
	for k, v := range want {
		if info[k] != v {
			t.Errorf("%s: wiminfo %s = %q, want %q", name, k, info[k], v)
		}
	}
	files, _ := strconv.Atoi(info["File Count"])
	if name == NameWindows && files < o.Files+19 {
		t.Errorf("%s: wimlib counts %d files, want at least %d payload + 19", name, files, o.Files)
	}
	t.Logf("%s: %s files, %s directories, %s bytes", name, info["File Count"], info["Directory Count"], info["Total Bytes"])

	ents := tooltest.ParseWimdirDetailed(tooltest.Run(t, "wimdir", wim, "1", "--detailed"))
	type check struct {
		path string
		ok   func(e *tooltest.WimdirEntry) bool
		what string
	}
	checks := []check{
		{"/Program Files", func(e *tooltest.WimdirEntry) bool { return e.ShortName == "PROGRA~1" }, "short name PROGRA~1"},
		{"/Documents and Settings", func(e *tooltest.WimdirEntry) bool { return strings.Contains(e.ReparseTag, "a0000003") }, "junction"},
		{"/Users/Public/hosts-link", func(e *tooltest.WimdirEntry) bool { return strings.Contains(e.ReparseTag, "a000000c") }, "symlink"},
		{"/Windows/System32/kernel32.dll", func(e *tooltest.WimdirEntry) bool { return e.LinkCount == "2" }, "two hard links"},
		{"/Users/Public/Downloads/setup.exe", func(e *tooltest.WimdirEntry) bool { _, ok := e.Streams["Zone.Identifier"]; return ok }, "Zone.Identifier stream"},
		{"/Users/Public/Documents/Résumé – Ünïcödé.txt", func(e *tooltest.WimdirEntry) bool { return e.Streams[""].Size != "" }, "Unicode name"},
		{"/Windows/Temp", func(e *tooltest.WimdirEntry) bool { return attrs(e)&volume.AttrDirectory != 0 }, "directory"},
		{"/pagefile.sys", func(e *tooltest.WimdirEntry) bool {
			return attrs(e)&(volume.AttrHidden|volume.AttrSystem) == volume.AttrHidden|volume.AttrSystem
		}, "hidden system pagefile"},
		{"/System Volume Information/WPSettings.dat", func(e *tooltest.WimdirEntry) bool { return true }, "present"},
		{"/$Recycle.Bin", func(e *tooltest.WimdirEntry) bool { return true }, "present"},
	}
	for _, c := range checks {
		e := ents[c.path]
		if e == nil {
			t.Errorf("%s: %s missing from the captured volume", name, c.path)
		} else if !c.ok(e) {
			t.Errorf("%s: %s: want %s, got %+v", name, c.path, c.what, *e)
		}
	}
	for p := range ents {
		if strings.HasPrefix(p, "/Windows/Temp/") {
			t.Errorf("%s: Windows\\Temp should be empty, has %s", name, p)
		}
	}
	compareTree(t, name, ents, tree)
	sds := map[string]bool{}
	for _, e := range ents {
		sds[e.Security] = true
	}
	if len(sds) < 4 {
		t.Errorf("%s: %d distinct security descriptors, want at least 4", name, len(sds))
	}
	if _, ok := ents["/hiberfil.sys"]; ok != hibernated {
		t.Errorf("%s: hiberfil.sys present = %v, want %v", name, ok, hibernated)
	}
	if hibernated {
		if h := extractFile(t, wim, "/hiberfil.sys", dir); !strings.HasPrefix(string(h), "HIBR") {
			t.Errorf("hiberfil.sys starts with %q", h[:8])
		}
	}

	if states != [2]string{} {
		sw := filepath.Join(dir, "SOFTWARE")
		os.WriteFile(sw, extractFile(t, wim, "/Windows/System32/config/SOFTWARE", dir), 0o644)
		got := strings.TrimSpace(tooltest.Run(t, "hivexget", sw, `\Microsoft\Windows\CurrentVersion\Setup\State`, "ImageState"))
		if got != states[0] {
			t.Errorf("%s: SOFTWARE ImageState = %q, want %q", name, got, states[0])
		}
		ini := string(extractFile(t, wim, "/Windows/Setup/State/State.ini", dir))
		if ini != "[State]\r\nImageState="+states[1]+"\r\n" {
			t.Errorf("%s: State.ini = %q", name, ini)
		}
		sy := filepath.Join(dir, "SYSTEM")
		os.WriteFile(sy, extractFile(t, wim, "/Windows/System32/config/SYSTEM", dir), 0o644)
		setupType := strings.TrimSpace(tooltest.Run(t, "hivexget", sy, `\Setup`, "SetupType"))
		_, tag := ents["/Windows/System32/Sysprep/Sysprep_succeeded.tag"]
		generalized := states[0] == StateGeneralizeOOBE
		if (setupType == "2") != generalized || tag != generalized {
			t.Errorf("%s: SetupType %s, Sysprep_succeeded.tag %v for ImageState %s", name, setupType, tag, states[0])
		}
	}
}

// attrs parses the hex attributes wimdir prints.
func attrs(e *tooltest.WimdirEntry) uint32 {
	f, _, _ := strings.Cut(e.Attributes, " ")
	v, _ := strconv.ParseUint(strings.TrimPrefix(f, "0x"), 16, 32)
	return uint32(v)
}

// compareTree checks that the captured volume holds exactly the generated
// tree: the same paths, stream sizes, short names and reparse tags.
func compareTree(t *testing.T, name string, ents map[string]*tooltest.WimdirEntry, src *memsource.Source) {
	t.Helper()
	seen := map[string]bool{}
	var walk func(f *memsource.File, path string)
	walk = func(f *memsource.File, path string) {
		seen[path] = true
		e := ents[path]
		if e == nil {
			t.Errorf("%s: %s is missing from the captured volume", name, path)
			return
		}
		if e.ShortName != f.ShortName {
			t.Errorf("%s: %s short name %q, want %q", name, path, e.ShortName, f.ShortName)
		}
		if want := uint32(f.Attributes); attrs(e)&^volume.AttrNormal != want {
			t.Errorf("%s: %s attributes %s, want %#x", name, path, e.Attributes, want)
		}
		for i, st := range f.Streams {
			got, ok := e.Streams[st.Name]
			if want := strconv.FormatInt(f.Data[i].Size(), 10); !ok || got.Size != want {
				t.Errorf("%s: %s stream %q size %q (present %v), want %s", name, path, st.Name, got.Size, ok, want)
			}
		}
		for _, k := range f.Children {
			p := path + "/" + k.Name
			if path == "/" {
				p = "/" + k.Name
			}
			walk(k, p)
		}
	}
	walk(src.Root_, "/")
	for p := range ents {
		if !seen[p] {
			t.Errorf("%s: captured %s, which is not in the generated tree", name, p)
		}
	}
}

// extractFile returns one file of a WIM image as wimextract writes it.
func extractFile(t *testing.T, wim, path, dir string) []byte {
	t.Helper()
	out := filepath.Join(dir, "extract")
	os.RemoveAll(out)
	tooltest.Run(t, "wimextract", wim, "1", path, "--dest-dir="+out, "--no-acls")
	b, err := os.ReadFile(filepath.Join(out, filepath.Base(path)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseWiminfo(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

func readGPT(t *testing.T, disk string) *gpt.Table {
	t.Helper()
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl, err := gpt.Read(file.New(f, true), 512, 512)
	if err != nil {
		t.Fatalf("go-diskfs reading the GPT: %v", err)
	}
	if err := tbl.Verify(file.New(f, true), uint64(fileSize(t, disk))); err != nil {
		t.Errorf("go-diskfs verifying the GPT: %v", err)
	}
	return tbl
}

func fileSize(t *testing.T, p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func readAt(t *testing.T, p string, b []byte, off int64) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// extract copies a partition out of the disk (sparsely) into its own file.
func extract(t *testing.T, disk string, p *gpt.Partition, dir string) string {
	t.Helper()
	out := filepath.Join(dir, fmt.Sprintf("part-%d.img", p.Start))
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(p.End-p.Start+1) * 512
	sec := io.NewSectionReader(f, int64(p.Start)*512, size)
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Truncate(size); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n, err := sec.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !isZero(buf[:n]) {
			if _, err := w.WriteAt(buf[:n], off); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// checkESP reads the ESP with go-diskfs and checks the boot files are PE
// EFI applications of the right architecture.
func checkESP(t *testing.T, img string, o Options) {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fs, err := fat32.Read(file.New(f, true), fileSize(t, img), 0, 512)
	if err != nil {
		t.Fatalf("go-diskfs reading the ESP: %v", err)
	}
	for _, p := range []string{"/EFI/Boot/" + efiBootName(o.Arch), "/EFI/Microsoft/Boot/bootmgfw.efi"} {
		ef, err := fs.OpenFile(p, os.O_RDONLY)
		if err != nil {
			t.Errorf("ESP: %s: %v", p, err)
			continue
		}
		b, err := io.ReadAll(ef)
		ef.Close()
		if err != nil {
			t.Fatal(err)
		}
		off := peHeader(b)
		if off < 0 || !isPE(b, o.Arch) {
			t.Errorf("ESP: %s is not a %s PE file", p, o.Arch)
			continue
		}
		if sub := binary.LittleEndian.Uint16(b[off+24+68:]); sub != 10 {
			t.Errorf("ESP: %s subsystem %d, want 10 (EFI application)", p, sub)
		}
	}
}

// TestMklab runs the command as make demo does.
func TestMklab(t *testing.T) {
	tooltest.Require(t, "mkntfs", "wimapply", "sgdisk")
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mklab")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/mklab").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	disk := filepath.Join(dir, "d.img")
	cmd := exec.Command(bin, "-o", disk, "-files", "5", "-size", "160", "-arch", "arm64", "-data-volume", "-cache", filepath.Join(dir, "cache"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mklab: %v\n%s", err, out)
	}
	out := tooltest.Run(t, "sgdisk", "-p", disk)
	for _, want := range []string{"160.0 MiB", NameWindows, NameData, "EF00", "0C01", "2700"} {
		if !strings.Contains(out, want) {
			t.Errorf("sgdisk -p lacks %q:\n%s", want, out)
		}
	}
	if out, err := exec.Command(bin, "-files", "5").CombinedOutput(); err == nil {
		t.Errorf("mklab without -o succeeded:\n%s", out)
	}
	if out, err := exec.Command(bin, "-o", disk, "-arch", "sparc").CombinedOutput(); err == nil || !strings.Contains(string(out), "unknown architecture") {
		t.Errorf("mklab -arch sparc: %v\n%s", err, out)
	}
}
