// Package initramfs assembles the capture image's initramfs: the init,
// wdscapture, busybox, the kernel modules a Selection resolves (with an
// index the init reads), the optional WDSCapture.inf and server
// fingerprint, as one compressed newc archive.
package initramfs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/klauspost/compress/zstd"

	"github.com/wdscapture/wdscapture/boot/cpio"
	"github.com/wdscapture/wdscapture/boot/kmod"
)

// Paths inside the image (X:\ is the root).
const (
	INFPath         = "Windows/System32/WDSCapture.inf"
	FingerprintPath = "Windows/System32/WDSCaptureServer.sha256"
	BuildInfoPath   = "etc/wdscapture/build.json"
)

// Compression of the archive; the 6.12 kernels unpack all three.
type Compression string

// Compressions.
const (
	Zstd Compression = "zstd" // default: fast to unpack, about as small as xz for Go binaries
	Gzip Compression = "gzip"
	None Compression = "none"
)

// Spec says what goes into the initramfs.
type Spec struct {
	// Init is the PID-1 binary (statically linked), written as /init.
	Init string
	// Agent is the wdscapture binary (statically linked): /bin/wdscapture.
	Agent string
	// Busybox is a static busybox, /bin/busybox, for the shell; optional.
	Busybox string
	// Modules is the kernel's module tree and Selection what to take.
	Modules   *kmod.Tree
	Selection kmod.Selection
	// INF, when set, is baked in at X:\Windows\System32\WDSCapture.inf.
	INF []byte
	// Fingerprint, when set, is the image store's certificate SHA-256
	// (hex), at X:\Windows\System32\WDSCaptureServer.sha256.
	Fingerprint string
	// BuildInfo is JSON describing the build (/etc/wdscapture/build.json).
	BuildInfo []byte
	// Compression defaults to Zstd.
	Compression Compression
	// MTime is the time stamp of every entry (Unix seconds).
	MTime int64
}

// Result describes what was written.
type Result struct {
	// Modules is the number of modules and ModuleBytes their size as
	// stored (compressed .ko.xz).
	Modules     int
	ModuleBytes int64
	// Missing are asked-for modules the kernel lacks; Unresolved softdep
	// names no module provides.
	Missing, Unresolved []string
	// Uncompressed is the size of the cpio archive, Size what was written.
	Uncompressed, Size int64
	Index              *kmod.Index
}

// Write builds the initramfs into w.
func Write(w io.Writer, spec Spec) (*Result, error) {
	sel, err := spec.Modules.Select(spec.Selection)
	if err != nil {
		return nil, err
	}
	res := &Result{Modules: len(sel.Index.Modules), Missing: sel.Missing, Unresolved: sel.Unresolved, Index: sel.Index}
	counter := &countWriter{w: w}
	var cw io.WriteCloser
	switch spec.Compression {
	case Zstd, "":
		z, err := zstd.NewWriter(counter, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(2))
		if err != nil {
			return nil, err
		}
		cw = z
	case Gzip:
		g, err := gzip.NewWriterLevel(counter, gzip.BestCompression)
		if err != nil {
			return nil, err
		}
		cw = g
	case None:
		cw = nopCloser{counter}
	default:
		return nil, fmt.Errorf("initramfs compression %q: want zstd, gzip or none", spec.Compression)
	}
	a := cpio.NewWriter(cw)
	a.MTime = spec.MTime
	steps := []func() error{
		func() error { return a.CharDev("dev/console", 0o600, 5, 1) },
		func() error { return a.CharDev("dev/null", 0o666, 1, 3) },
		func() error { return a.CharDev("dev/tty", 0o666, 5, 0) },
		func() error { return a.Dir("proc", 0o555) },
		func() error { return a.Dir("sys", 0o555) },
		func() error { return a.Dir("run", 0o755) },
		func() error { return a.Dir("tmp", 0o1777) },
		func() error { return a.Dir("mnt", 0o755) },
		func() error { return a.Dir("root", 0o700) },
		func() error { return a.Dir("Windows/Logs", 0o755) },
		func() error { return a.Dir("Windows/System32", 0o755) },
		func() error { return a.Bytes("etc/hosts", 0o644, []byte("127.0.0.1\tlocalhost\n::1\tlocalhost\n")) },
		func() error { return a.Bytes("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n")) },
		func() error { return a.Bytes("etc/group", 0o644, []byte("root:x:0:\ntty:x:5:\n")) },
		func() error { return copyFile(a, "init", spec.Init, 0o755) },
		func() error { return copyFile(a, "bin/wdscapture", spec.Agent, 0o755) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
	}
	if spec.Busybox != "" {
		if err := copyFile(a, "bin/busybox", spec.Busybox, 0o755); err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
		if err := a.Symlink("bin/sh", "busybox"); err != nil {
			return nil, err
		}
	}
	if len(spec.INF) > 0 {
		if err := a.Bytes(INFPath, 0o644, spec.INF); err != nil {
			return nil, err
		}
	}
	if spec.Fingerprint != "" {
		if err := a.Bytes(FingerprintPath, 0o644, []byte(spec.Fingerprint+"\n")); err != nil {
			return nil, err
		}
	}
	if len(spec.BuildInfo) > 0 {
		if err := a.Bytes(BuildInfoPath, 0o644, spec.BuildInfo); err != nil {
			return nil, err
		}
	}
	modDir := "lib/modules/" + sel.Index.Release
	paths := make([]string, 0, len(sel.Index.Modules))
	for _, m := range sel.Index.Modules {
		paths = append(paths, m.Path)
	}
	sort.Strings(paths)
	for _, p := range paths {
		src := filepath.Join(spec.Modules.Dir, filepath.FromSlash(p))
		st, err := os.Stat(src)
		if err != nil {
			return nil, err
		}
		res.ModuleBytes += st.Size()
		if err := copyFile(a, modDir+"/"+p, src, 0o644); err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
	}
	var ix bytes.Buffer
	if err := sel.Index.WriteJSON(&ix); err != nil {
		return nil, err
	}
	if err := a.Bytes(modDir+"/"+kmod.IndexFile, 0o644, ix.Bytes()); err != nil {
		return nil, err
	}
	if err := a.Close(); err != nil {
		return nil, err
	}
	res.Uncompressed = a.Len()
	if err := cw.Close(); err != nil {
		return nil, fmt.Errorf("initramfs: compress: %w", err)
	}
	res.Size = counter.n
	return res, nil
}

func copyFile(a *cpio.Writer, name, src string, perm uint32) error {
	if src == "" {
		return fmt.Errorf("%s: no source file given", name)
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	return a.File(name, perm, f, st.Size())
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
