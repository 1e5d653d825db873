// Package kmod reads Linux kernel modules' own metadata (the ELF .modinfo
// section of each .ko, .ko.xz, .ko.gz or .ko.zst), resolves which modules
// a set needs, matches device modaliases against module aliases, and loads
// modules into the running kernel.
//
// Why not kmod/depmod or u-root's pkg/kmodule: the build machine has no
// kmod, and the Debian kernel package ships no modules.dep or
// modules.alias (depmod makes them at install time), so the metadata is
// read from the modules themselves; u-root's FileInit decompresses .ko.xz
// in user space, while the 6.12 kernels decompress it themselves
// (finit_module with MODULE_INIT_COMPRESSED_FILE), which is faster and
// keeps the init free of a decompressor.
package kmod

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// MaxModuleSize bounds a decompressed module (the largest Debian 6.12
// module is about 20 MB), so that a damaged or hostile file cannot make
// the reader allocate without limit.
const MaxModuleSize = 128 << 20

// Info is what a module says about itself in .modinfo.
type Info struct {
	// Name is the module name with '-' normalized to '_'.
	Name string
	// Depends are the modules that must be loaded first (normalized).
	Depends []string
	// SoftPre are the softdep "pre:" names as written: modules or aliases
	// that should be loaded first when present.
	SoftPre []string
	// Aliases are the alias patterns (fnmatch syntax) of the devices and
	// names the module serves: "pci:v00008086d*...", "fs-ntfs3".
	Aliases []string
	// Firmware names the firmware files the module may request.
	Firmware []string
}

// Normalize returns a module name with '-' turned into '_', the form the
// kernel uses.
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// ModuleName returns the module name of a file name: "ahci.ko.xz" → "ahci".
func ModuleName(file string) string {
	if i := strings.LastIndex(file, "/"); i >= 0 {
		file = file[i+1:]
	}
	if i := strings.Index(file, ".ko"); i > 0 {
		file = file[:i]
	}
	return Normalize(file)
}

// Decompress returns the ELF image of a module file, decompressing by the
// file name's suffix (.ko, .ko.xz, .ko.gz, .ko.zst).
func Decompress(name string, r io.Reader) ([]byte, error) {
	var dr io.Reader
	switch {
	case strings.HasSuffix(name, ".ko"):
		dr = r
	case strings.HasSuffix(name, ".ko.xz"):
		x, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: xz: %w", name, err)
		}
		dr = x
	case strings.HasSuffix(name, ".ko.gz"):
		g, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		defer g.Close()
		dr = g
	case strings.HasSuffix(name, ".ko.zst"):
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxModuleSize))
		if err != nil {
			return nil, fmt.Errorf("%s: zstd: %w", name, err)
		}
		defer z.Close()
		dr = z
	default:
		return nil, fmt.Errorf("%s: not a kernel module file name (.ko, .ko.xz, .ko.gz, .ko.zst)", name)
	}
	b, err := io.ReadAll(io.LimitReader(dr, MaxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: decompress: %w", name, err)
	}
	if len(b) > MaxModuleSize {
		return nil, fmt.Errorf("%s: more than %d bytes decompressed", name, MaxModuleSize)
	}
	return b, nil
}

// ErrNoModinfo says an ELF file has no .modinfo section: it is not a
// kernel module.
var ErrNoModinfo = errors.New("no .modinfo section")

// ParseELF reads the .modinfo section of a module's ELF image.
func ParseELF(image []byte) (*Info, error) {
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return nil, fmt.Errorf("read ELF: %w", err)
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil, ErrNoModinfo
	}
	if s.Size > uint64(len(image)) {
		return nil, fmt.Errorf(".modinfo section of %d bytes in a %d-byte file", s.Size, len(image))
	}
	data, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("read .modinfo: %w", err)
	}
	return ParseModinfo(data)
}

// ParseModinfo parses the NUL-separated key=value strings of a .modinfo
// section.
func ParseModinfo(data []byte) (*Info, error) {
	info := &Info{}
	for _, field := range bytes.Split(data, []byte{0}) {
		key, val, ok := strings.Cut(string(field), "=")
		if !ok {
			continue // padding between strings
		}
		switch key {
		case "name":
			info.Name = Normalize(val)
		case "depends":
			for _, d := range strings.Split(val, ",") {
				if d = strings.TrimSpace(d); d != "" {
					info.Depends = append(info.Depends, Normalize(d))
				}
			}
		case "softdep":
			info.SoftPre = append(info.SoftPre, parseSoftdep(val)...)
		case "alias":
			if val != "" {
				info.Aliases = append(info.Aliases, val)
			}
		case "firmware":
			if val != "" {
				info.Firmware = append(info.Firmware, val)
			}
		}
	}
	if info.Name == "" {
		return nil, errors.New(".modinfo has no name= field")
	}
	return info, nil
}

// parseSoftdep returns the "pre:" names of a softdep value such as
// "pre: crc32c post: foo".
func parseSoftdep(v string) []string {
	var pre []string
	inPre := false
	for _, w := range strings.Fields(v) {
		switch w {
		case "pre:":
			inPre = true
		case "post:":
			inPre = false
		default:
			if inPre {
				pre = append(pre, w)
			}
		}
	}
	return pre
}
