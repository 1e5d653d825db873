// Package pxe writes the capture image as a network-boot tree for a TFTP
// server, as WDS sites boot their capture images: pxelinux for BIOS
// clients, Debian's signed shim and network GRUB for UEFI clients (Secure
// Boot included), the same kernel and initramfs as the ISO.
package pxe

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/wdscapture/wdscapture/boot/iso"
)

// Loaders of the tree, relative to its root: what the DHCP server names
// as the boot file for each client architecture.
const (
	BIOSLoader = "pxelinux.0"
	UEFILoader = "bootx64.efi"
)

// Spec is what goes into the tree.
type Spec struct {
	// Menu is shared with the ISO (kernel command line, entries, timeout).
	Menu iso.Spec
	// Pxelinux and Ldlinux come from the pxelinux and syslinux-common
	// packages; Shim and GrubNet (grubnetx64.efi.signed, whose prefix is
	// /grub) from shim-signed and grub-efi-amd64-signed.
	Pxelinux, Ldlinux, Shim, GrubNet string
}

// Readme explains the tree to the administrator of the TFTP/DHCP server.
const Readme = `wdscapture network boot tree
============================

Copy this directory to the root of a TFTP server (for example
/srv/tftp with tftpd-hpa or dnsmasq's enable-tftp) and point the DHCP
server's boot file option at the loader for each client architecture:

  BIOS clients (client architecture 0):        pxelinux.0
  UEFI x64 clients (client architecture 7, 9): bootx64.efi

dnsmasq, for example:

  dhcp-match=set:efi-x64,option:client-arch,7
  dhcp-match=set:efi-x64,option:client-arch,9
  dhcp-boot=tag:efi-x64,bootx64.efi
  dhcp-boot=tag:!efi-x64,pxelinux.0
  enable-tftp
  tftp-root=/srv/tftp

bootx64.efi is Debian's Microsoft-signed shim; it loads grubx64.efi
(Debian's signed network GRUB) from the same directory, which reads
grub/grub.cfg: Secure Boot can stay on. pxelinux.0 reads
pxelinux.cfg/default. Both boot vmlinuz and initrd.img from this
directory; edit the two menu files to change the kernel command line
(wds.* options: see the README's technician section).
`

// Write creates the tree in dir (which may exist).
func Write(dir string, s Spec) error {
	files := map[string]string{
		BIOSLoader:    s.Pxelinux,
		"ldlinux.c32": s.Ldlinux,
		UEFILoader:    s.Shim,
		"grubx64.efi": s.GrubNet,
		"vmlinuz":     s.Menu.Kernel,
		"initrd.img":  s.Menu.Initrd,
	}
	texts := map[string]string{
		"pxelinux.cfg/default": s.Menu.IsolinuxCfg(""),
		"grub/grub.cfg":        s.Menu.GrubCfg("/"),
		"README.txt":           Readme,
	}
	for name, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("PXE tree %s: %w", name, err)
		}
		texts[name] = string(b)
	}
	for name, data := range texts {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, p); err != nil {
			return err
		}
	}
	return nil
}
