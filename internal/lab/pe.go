package lab

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// stubSource is the program cross-built into kernel32.dll.
const stubSource = `// Command kernel32 is a stand-in for Windows' kernel32.dll in lab disks.
package main

func main() { println("wdscapture lab stub") }
`

// peMachine is the COFF Machine of each Options.Arch.
var peMachine = map[string]uint16{"amd64": 0x8664, "386": 0x14C, "arm64": 0xAA64}

var (
	peMu    sync.Mutex
	peCache = map[string][]byte{}
)

// kernel32 returns a real PE file for o.Arch: a tiny Go program
// cross-built with GOOS=windows and cached under o.CacheDir. Without a Go
// toolchain it falls back (with a warning) to a minimal hand-made PE header,
// which is all the capture's architecture detection reads.
func kernel32(o Options) []byte {
	peMu.Lock()
	defer peMu.Unlock()
	dir := o.CacheDir
	if dir == "" {
		if c, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(c, "wdscapture-lab")
		} else {
			dir = filepath.Join(os.TempDir(), "wdscapture-lab")
		}
	}
	sum := sha256.Sum256([]byte(stubSource + "\x00" + o.Arch + "\x00" + runtime.Version()))
	name := filepath.Join(dir, fmt.Sprintf("kernel32-%s-%s.dll", o.Arch, hex.EncodeToString(sum[:6])))
	if b, ok := peCache[name]; ok {
		return b
	}
	b, err := os.ReadFile(name)
	if err != nil || !isPE(b, o.Arch) {
		b, err = buildPE(dir, name, o.Arch)
	}
	if err != nil {
		o.Logger.Warn("lab: cannot cross-build kernel32.dll, using a minimal PE header", "arch", o.Arch, "err", err)
		return stubPE(o.Arch)
	}
	peCache[name] = b
	return b
}

// buildPE cross-builds the stub for arch and stores it at name atomically.
func buildPE(dir, name, arch string) ([]byte, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("no go toolchain in PATH: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	work, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return nil, fmt.Errorf("build directory: %w", err)
	}
	defer os.RemoveAll(work)
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte("module kernel32\n\ngo 1.21\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(work, "main.go"), []byte(stubSource), 0o644); err != nil {
		return nil, err
	}
	out := filepath.Join(work, "kernel32.dll")
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", out, ".")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH="+arch, "CGO_ENABLED=0", "GOFLAGS=", "GOTOOLCHAIN=local", "GOWORK=off")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build GOARCH=%s: %w: %s", arch, err, bytes.TrimSpace(msg))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	if !isPE(b, arch) {
		return nil, fmt.Errorf("go build GOARCH=%s made no %s PE file", arch, arch)
	}
	if err := os.Rename(out, name); err != nil {
		return nil, fmt.Errorf("caching %s: %w", name, err)
	}
	return b, nil
}

// peHeader returns the offset of "PE\0\0" in b, or -1.
func peHeader(b []byte) int {
	if len(b) < 0x40 || b[0] != 'M' || b[1] != 'Z' {
		return -1
	}
	off := int(binary.LittleEndian.Uint32(b[0x3C:]))
	if off%4 != 0 || off+24 > len(b) || string(b[off:off+4]) != "PE\x00\x00" {
		return -1
	}
	return off
}

// isPE reports whether b is a PE file for arch.
func isPE(b []byte, arch string) bool {
	off := peHeader(b)
	return off >= 0 && binary.LittleEndian.Uint16(b[off+4:]) == peMachine[arch]
}

// stubPE is a minimal PE header (no sections) for arch.
func stubPE(arch string) []byte {
	b := make([]byte, 0x40+24)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3C:], 0x40)
	copy(b[0x40:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[0x44:], peMachine[arch])
	binary.LittleEndian.PutUint16(b[0x40+22:], 0x2022) // executable, large-address aware, DLL
	return b
}

// efiApp returns a copy of the PE pe marked as an EFI application
// (Subsystem 10), the stand-in for EFI\Boot\boot*.efi.
func efiApp(pe []byte) []byte {
	b := bytes.Clone(pe)
	off := peHeader(b)
	if off < 0 {
		return b
	}
	optSize := int(binary.LittleEndian.Uint16(b[off+20:]))
	sub := off + 24 + 68
	if optSize >= 70 && sub+2 <= len(b) {
		binary.LittleEndian.PutUint16(b[sub:], 10)
	}
	return b
}

// efiBootName is the removable-media boot file name for arch.
func efiBootName(arch string) string {
	switch arch {
	case "386":
		return "bootia32.efi"
	case "arm64":
		return "bootaa64.efi"
	}
	return "bootx64.efi"
}
