package pxe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/boot/iso"
)

func TestWrite(t *testing.T) {
	src := t.TempDir()
	file := func(name string) string {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, []byte("content of "+name), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out := filepath.Join(t.TempDir(), "pxe")
	err := Write(out, Spec{Menu: iso.Spec{Kernel: file("k"), Initrd: file("i"), Cmdline: "wds.finish=reboot", Timeout: 3},
		Pxelinux: file("p"), Ldlinux: file("l"), Shim: file("s"), GrubNet: file("g")})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"pxelinux.0": "content of p", "ldlinux.c32": "content of l", "bootx64.efi": "content of s", "grubx64.efi": "content of g",
		"vmlinuz": "content of k", "initrd.img": "content of i",
		"pxelinux.cfg/default": "KERNEL vmlinuz", "grub/grub.cfg": "linux /vmlinuz console=ttyS0,115200n8 console=tty0 wds.finish=reboot",
		"README.txt": "dhcp-boot=tag:efi-x64,bootx64.efi",
	} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s: %q, %v; want it to contain %q", name, b, err, want)
		}
	}
	if err := Write(out, Spec{Menu: iso.Spec{Kernel: filepath.Join(src, "absent")}}); err == nil {
		t.Error("a missing input file was not reported")
	}
}
