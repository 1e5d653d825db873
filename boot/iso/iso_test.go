package iso

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/tooltest"
)

func TestMenus(t *testing.T) {
	s := Spec{Cmdline: "quiet wds.finish=reboot", Timeout: 5}
	cfg := s.IsolinuxCfg("/boot/")
	for _, want := range []string{"DEFAULT screen", "PROMPT 1", "TIMEOUT 50", "KERNEL /boot/vmlinuz", "INITRD /boot/initrd.img",
		"APPEND console=ttyS0,115200n8 console=tty0 quiet wds.finish=reboot", "LABEL serial\n", "APPEND console=tty0 console=ttyS0,115200n8 quiet"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("isolinux.cfg lacks %q:\n%s", want, cfg)
		}
	}
	s.SerialFirst, s.Timeout = true, 0
	cfg = s.IsolinuxCfg("")
	if !strings.Contains(cfg, "DEFAULT serial\nPROMPT 0") || !strings.Contains(cfg, "KERNEL vmlinuz") {
		t.Errorf("serial-first pxelinux.cfg:\n%s", cfg)
	}
	g := s.GrubCfg("/")
	if !strings.Contains(g, "set timeout=0") || !strings.Contains(g, "linux /vmlinuz console=tty0 console=ttyS0,115200n8 quiet") ||
		strings.Index(g, "serial console") > strings.Index(g, `menuentry "wdscapture capture environment"`) {
		t.Errorf("grub.cfg:\n%s", g)
	}
}

// TestWrite builds an ISO from stand-in files and reads it back with
// 7-Zip, checking the El Torito catalog by hand.
func TestWrite(t *testing.T) {
	tooltest.Require(t, "7z", "mkfs.fat", "mcopy")
	dir := t.TempDir()
	file := func(name string, size int) string {
		p := filepath.Join(dir, name)
		b := bytes.Repeat([]byte(name[:1]), size)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := Spec{Kernel: file("vmlinuz", 300000), Initrd: file("initrd", 500000), Isolinux: file("isolinux.bin", 38912),
		Ldlinux: file("ldlinux.c32", 100000), Shim: file("shim", 900000), Grub: file("grub", 2000000), Info: "test", Timeout: 1}
	out := filepath.Join(dir, "test.iso")
	work := filepath.Join(dir, "work")
	os.MkdirAll(work, 0o755)
	n, err := Write(out, s, work)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(out)
	if st.Size() != n || n%2048 != 0 {
		t.Errorf("size %d, file %d", n, st.Size())
	}
	listing := tooltest.Run(t, "7z", "l", out)
	for _, want := range []string{"boot/vmlinuz", "boot/initrd.img", "isolinux/isolinux.bin", "isolinux/isolinux.cfg", "boot/grub/grub.cfg", ".disk/info", "EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "boot/efi.img"} {
		if !strings.Contains(listing, want) {
			t.Errorf("7z lists no %s:\n%s", want, listing)
		}
	}
	// The boot record (sector 17) points at the catalog: a validation
	// entry, the BIOS entry and an EFI section.
	f, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	br := f[17*2048:]
	if br[0] != 0 || string(br[1:6]) != "CD001" || !strings.HasPrefix(string(br[7:]), "EL TORITO SPECIFICATION") {
		t.Fatalf("no El Torito boot record")
	}
	cat := f[int(binary.LittleEndian.Uint32(br[0x47:]))*2048:]
	if cat[0] != 1 || cat[0x1e] != 0x55 || cat[0x1f] != 0xaa || cat[0x20] != 0x88 {
		t.Errorf("bad validation or BIOS entry: % x", cat[:0x40])
	}
	if cat[0x40] != 0x91 || cat[0x41] != 0xef {
		t.Errorf("no final EFI section header: % x", cat[0x40:0x60])
	}
	// isolinux.bin got a boot info table: the PVD's LBA at offset 8.
	biosLBA := binary.LittleEndian.Uint32(cat[0x28:])
	if got := binary.LittleEndian.Uint32(f[int(biosLBA)*2048+8:]); got != 16 {
		t.Errorf("boot info table PVD LBA %d, want 16", got)
	}
	// A stand-in isolinux.bin has no hybrid signature: isohybrid refuses
	// it, and the error names the tool (the real one is used by the lab).
	if _, err := exec.LookPath("isohybrid"); err == nil {
		if err := Hybrid(out, true); err == nil || !strings.Contains(err.Error(), "isohybrid") {
			t.Errorf("isohybrid on a stand-in loader: %v", err)
		}
	}
}
