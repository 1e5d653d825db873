package kmod

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/tooltest"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pat, s string
		want   bool
	}{
		{"virtio:d00000002v*", "virtio:d00000002v00001AF4", true},
		{"virtio:d00000002v*", "virtio:d00000001v00001AF4", false},
		{"pci:v00008086d*sv*sd*bc01sc06i01*", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01", true},
		{"pci:v00008086d*sv*sd*bc01sc06i01*", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i00", false},
		{"acpi*:PNP0C0A:*", "acpi:PNP0C0A:", true},
		{"dmi:*svn*/a*", "dmi:bvnX:svnQEMU/abc", true}, // '*' crosses '/', unlike path.Match
		{"scsi:t-0x0[0-7e]*", "scsi:t-0x05", true},
		{"scsi:t-0x0[0-7e]*", "scsi:t-0x0e", true},
		{"scsi:t-0x0[0-7e]*", "scsi:t-0x09", false},
		{"a[!b]c", "axc", true},
		{"a[!b]c", "abc", false},
		{"a[^b]c", "abc", false},
		{"a?c", "abc", true},
		{`a\*c`, "a*c", true},
		{`a\*c`, "abc", false},
		{"a[bc", "a[bc", true}, // malformed set: literal
		{"*", "", true},
		{"", "", true},
		{"", "x", false},
		{"**a**b", "xxaxxbxb", true},
		{"usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*", "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00", true},
	} {
		if got := Glob(tc.pat, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.pat, tc.s, got, tc.want)
		}
	}
}

func FuzzGlob(f *testing.F) {
	f.Add("pci:v*d*", "pci:v00008086d1234")
	f.Add("a[!b-d]*?\\", "axyz\\")
	f.Fuzz(func(t *testing.T, pat, s string) {
		_ = Glob(pat, s) // must not panic or hang
		if !strings.ContainsAny(pat, "*?[\\") && Glob(pat, s) != (pat == s) {
			t.Fatalf("literal pattern %q vs %q", pat, s)
		}
	})
}

func TestParseModinfo(t *testing.T) {
	data := []byte("license=GPL\x00name=virtio-blk\x00depends=virtio,virtio_ring,\x00alias=virtio:d00000002v*\x00alias=\x00softdep=pre: crc32c post: foo\x00\x00\x00firmware=x.bin\x00garbage\x00")
	info, err := ParseModinfo(data)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "virtio_blk" || strings.Join(info.Depends, ",") != "virtio,virtio_ring" || strings.Join(info.Aliases, ",") != "virtio:d00000002v*" ||
		strings.Join(info.SoftPre, ",") != "crc32c" || strings.Join(info.Firmware, ",") != "x.bin" {
		t.Errorf("parsed %+v", info)
	}
	if _, err := ParseModinfo([]byte("license=GPL\x00")); err == nil {
		t.Error("modinfo without name accepted")
	}
}

func FuzzParseModinfo(f *testing.F) {
	f.Add([]byte("name=a\x00depends=b,c\x00alias=pci:*\x00softdep=pre: x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseModinfo(data)
		if err == nil && info.Name == "" {
			t.Fatal("no error and no name")
		}
	})
}

func TestReadIndexRejects(t *testing.T) {
	good := `{"release":"6.12.1","load":["a"],"modules":[{"name":"b","path":"kernel/b.ko.xz"},{"name":"a","path":"kernel/x/a.ko.xz","depends":["b"]}]}`
	if _, err := ReadIndex(strings.NewReader(good)); err != nil {
		t.Fatalf("good index: %v", err)
	}
	for name, bad := range map[string]string{
		"release with slash": `{"release":"../x","modules":[]}`,
		"escaping path":      `{"release":"r","modules":[{"name":"a","path":"kernel/../../a.ko"}]}`,
		"name/path mismatch": `{"release":"r","modules":[{"name":"a","path":"kernel/b.ko"}]}`,
		"missing dependency": `{"release":"r","modules":[{"name":"a","path":"kernel/a.ko","depends":["b"]}]}`,
		"unknown load":       `{"release":"r","load":["z"],"modules":[]}`,
		"duplicate":          `{"release":"r","modules":[{"name":"a","path":"kernel/a.ko"},{"name":"a","path":"kernel/x/a.ko"}]}`,
		"not JSON":           `{`,
	} {
		if _, err := ReadIndex(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMatcher(t *testing.T) {
	m := NewMatcher([]Module{
		{Name: "virtio_blk", Aliases: []string{"virtio:d00000002v*"}},
		{Name: "sd_mod", Aliases: []string{"scsi:t-0x00*", "scsi:t-0x07*"}},
		{Name: "any", Aliases: []string{"*:sd*"}},
	})
	if got := m.Match("virtio:d00000002v00001AF4"); strings.Join(got, ",") != "virtio_blk" {
		t.Errorf("virtio disk: %v", got)
	}
	if got := m.Match("scsi:t-0x00"); strings.Join(got, ",") != "sd_mod" {
		t.Errorf("scsi disk: %v", got)
	}
	if got := m.Match("usb:sd1"); strings.Join(got, ",") != "any" {
		t.Errorf("general bucket: %v", got)
	}
	if got := m.Match("pci:v1"); len(got) != 0 {
		t.Errorf("no match expected: %v", got)
	}
}

// buildModule compiles a tiny ELF object with a .modinfo section, as the
// kernel's build does, with the system's assembler.
func buildModule(t *testing.T, dir, name, modinfo string) string {
	t.Helper()
	tooltest.Require(t, "as", "xz")
	as, _ := exec.LookPath("as")
	src := filepath.Join(dir, name+".s")
	var b strings.Builder
	b.WriteString(".section .modinfo,\"a\"\n")
	for _, f := range strings.Split(modinfo, "\x00") {
		b.WriteString(".asciz \"" + f + "\"\n")
	}
	if err := os.WriteFile(src, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(dir, name+".ko")
	if out, err := exec.Command(as, "-o", obj, src).CombinedOutput(); err != nil {
		t.Fatalf("as: %v: %s", err, out)
	}
	return obj
}

// TestTreeSelect builds a module tree (real ELF objects, xz-compressed
// like Debian's) and resolves a selection: dependencies, softdep aliases,
// built-ins, missing and required names.
func TestTreeSelect(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "6.12.0-test")
	mods := map[string]string{ // path → modinfo
		"kernel/drivers/block/virtio_blk":   "name=virtio_blk\x00depends=virtio_ring\x00alias=virtio:d00000002v*",
		"kernel/drivers/virtio/virtio_ring": "name=virtio_ring\x00depends=",
		"kernel/fs/ext4/ext4":               "name=ext4\x00depends=jbd2\x00softdep=pre: crc32c",
		"kernel/fs/jbd2/jbd2":               "name=jbd2\x00depends=",
		"kernel/crypto/crc32c_generic":      "name=crc32c_generic\x00alias=crc32c\x00alias=crypto-crc32c",
		"kernel/fs/ntfs3/ntfs3":             "name=ntfs3\x00depends=",
		"kernel/drivers/net/other":          "name=other\x00depends=",
	}
	work := t.TempDir()
	for p, info := range mods {
		obj := buildModule(t, work, filepath.Base(p), info)
		dst := filepath.Join(dir, p+".ko")
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(obj)
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p, "ext4") || strings.Contains(p, "virtio_blk") {
			if out, err := exec.Command("xz", "--check=crc32", dst).CombinedOutput(); err != nil {
				t.Fatalf("xz: %v %s", err, out)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/fs/fat/vfat.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tree, err := OpenTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tree.Select(Selection{Dirs: []string{"kernel/drivers/block"}, Names: []string{"ext4", "vfat", "e1000"}, Required: []string{"ntfs3"}, Load: []string{"ext4", "vfat"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	pos := map[string]int{}
	for i, m := range res.Index.Modules {
		names = append(names, m.Name)
		pos[m.Name] = i
	}
	if got := strings.Join(names, " "); got != "crc32c_generic jbd2 ext4 ntfs3 virtio_ring virtio_blk" {
		t.Errorf("modules %q", got)
	}
	if pos["jbd2"] > pos["ext4"] || pos["virtio_ring"] > pos["virtio_blk"] {
		t.Errorf("dependencies after their users: %v", names)
	}
	if ext4 := res.Index.Lookup("ext4"); ext4 == nil || strings.Join(ext4.SoftPre, ",") != "crc32c_generic" || !strings.HasSuffix(ext4.Path, ".ko.xz") {
		t.Errorf("ext4 entry %+v", ext4)
	}
	if strings.Join(res.Missing, ",") != "e1000" || strings.Join(res.Index.Load, ",") != "ext4" {
		t.Errorf("missing %v, load %v", res.Missing, res.Index.Load)
	}
	var buf bytes.Buffer
	if err := res.Index.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadIndex(&buf); err != nil {
		t.Errorf("written index does not read back: %v", err)
	}
	if _, err := tree.Select(Selection{Required: []string{"zfs"}}); err == nil {
		t.Error("a missing required module was accepted")
	}
	// The cache of parsed .modinfo is used the second time.
	tree2, err := OpenTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tree2.cached == 0 {
		t.Error("no .modinfo cache written")
	}
}
