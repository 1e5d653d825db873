// Package debpkg fetches Debian packages with apt-get download and unpacks
// them with dpkg-deb -x into a cache directory, without installing them:
// the capture image is built from Debian's kernel, boot loaders and
// busybox, never from the build machine's own /boot.
package debpkg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Cache is a directory of unpacked packages, one subdirectory per package
// version (NAME_VERSION).
type Cache struct {
	Dir string
	Log *slog.Logger
}

// DefaultDir is the cache under the user's cache directory
// (~/.cache/wdscapture-boot), outside any git tree.
func DefaultDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the boot packages: %w", err)
	}
	return filepath.Join(d, "wdscapture-boot"), nil
}

// Package is an unpacked package.
type Package struct {
	Name    string
	Version string
	// Root is the directory it was unpacked into (its files are under
	// Root/usr/..., Root/boot/... as in the package).
	Root string
}

// Fields are the control fields of a package as apt-cache shows them.
type Fields map[string]string

// ErrNotFound says apt knows no such package.
var ErrNotFound = errors.New("no such package in the apt lists")

// validName is the Debian package name syntax.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

func (c *Cache) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// Show returns the candidate version's control fields (apt-cache show
// --no-all-versions).
func (c *Cache) Show(ctx context.Context, name string) (Fields, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("bad package name %q", name)
	}
	out, err := run(ctx, "", "apt-cache", "show", "--no-all-versions", name)
	if err != nil {
		if strings.Contains(err.Error(), "No packages found") || strings.Contains(err.Error(), "Unable to locate") {
			return nil, fmt.Errorf("%s: %w (run apt-get update?)", name, ErrNotFound)
		}
		return nil, err
	}
	f := parseFields(out)
	if f["Package"] != name || f["Version"] == "" {
		return nil, fmt.Errorf("%s: %w (run apt-get update?)", name, ErrNotFound)
	}
	return f, nil
}

func parseFields(b []byte) Fields {
	f := Fields{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	last := ""
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(f) > 0 {
				break // the first stanza only
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != "" {
				f[last] += "\n" + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		last = k
		f[k] = strings.TrimSpace(v)
	}
	return f
}

// Depends returns the package names of a Depends field, alternatives
// included, without version constraints.
func (f Fields) Depends() []string {
	var out []string
	for _, group := range strings.Split(f["Depends"], ",") {
		for _, alt := range strings.Split(group, "|") {
			name, _, _ := strings.Cut(strings.TrimSpace(alt), " ")
			if name, _, _ = strings.Cut(name, ":"); name != "" {
				out = append(out, name)
			}
		}
	}
	return out
}

// Fetch returns package name unpacked, downloading the candidate version
// when the cache lacks it. When apt knows no candidate (no apt lists, no
// network) the newest cached version is used, with a warning.
func (c *Cache) Fetch(ctx context.Context, name string) (*Package, error) {
	f, err := c.Show(ctx, name)
	if err != nil {
		if p := c.newestCached(name); p != nil {
			c.log().Warn("apt does not know the package; using the cached copy", "package", name, "version", p.Version, "err", err)
			return p, nil
		}
		return nil, err
	}
	return c.fetchVersion(ctx, name, f["Version"])
}

func dirName(name, version string) string {
	return name + "_" + strings.NewReplacer(":", "%3a", "/", "_").Replace(version)
}

func (c *Cache) fetchVersion(ctx context.Context, name, version string) (*Package, error) {
	root := filepath.Join(c.Dir, dirName(name, version))
	if st, err := os.Stat(filepath.Join(root, ".complete")); err == nil && st.Mode().IsRegular() {
		return &Package{Name: name, Version: version, Root: root}, nil
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("package cache: %w", err)
	}
	tmp, err := os.MkdirTemp(c.Dir, ".fetch-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("package cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	c.log().Info("downloading", "package", name, "version", version)
	args := []string{"download"}
	if os.Geteuid() == 0 {
		// apt's _apt user cannot write into a root-owned temporary directory.
		args = append(args, "-o", "APT::Sandbox::User=root")
	}
	args = append(args, name+"="+version)
	if _, err := run(ctx, tmp, "apt-get", args...); err != nil {
		return nil, err
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("apt-get download %s=%s left %d .deb files", name, version, len(debs))
	}
	unpacked := filepath.Join(tmp, "root")
	if _, err := run(ctx, "", "dpkg-deb", "-x", debs[0], unpacked); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(unpacked, ".complete"), []byte(version+"\n"), 0o644); err != nil {
		return nil, err
	}
	os.RemoveAll(root) // an incomplete earlier attempt
	if err := os.Rename(unpacked, root); err != nil {
		return nil, fmt.Errorf("package cache: %w", err)
	}
	return &Package{Name: name, Version: version, Root: root}, nil
}

// newestCached returns the most recently unpacked cached version of name.
func (c *Cache) newestCached(name string) *Package {
	dirs, _ := filepath.Glob(filepath.Join(c.Dir, name+"_*"))
	type cand struct {
		dir, version string
		mtime        int64
	}
	var cands []cand
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ".complete"))
		if err != nil {
			continue
		}
		st, _ := os.Stat(filepath.Join(d, ".complete"))
		cands = append(cands, cand{d, strings.TrimSpace(string(b)), st.ModTime().UnixNano()})
	}
	if len(cands) == 0 {
		return nil
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].mtime > cands[j].mtime })
	if filepath.Base(cands[0].dir) != dirName(name, cands[0].version) {
		return nil
	}
	return &Package{Name: name, Version: cands[0].version, Root: cands[0].dir}
}

// File returns the path of a file of the package, checking that it exists.
func (p *Package) File(rel string) (string, error) {
	f := filepath.Join(p.Root, filepath.FromSlash(rel))
	if _, err := os.Stat(f); err != nil {
		return "", fmt.Errorf("package %s %s has no %s", p.Name, p.Version, rel)
	}
	return f, nil
}

// Kernel is an unpacked Debian kernel image package.
type Kernel struct {
	*Package
	// Meta is the meta-package it was resolved from, "" if none.
	Meta string
	// Release is the kernel release, the name of its modules directory.
	Release string
	// Vmlinuz is the kernel image.
	Vmlinuz string
	// Modules is lib/modules/RELEASE.
	Modules string
	// Config is the kernel's build configuration (boot/config-RELEASE).
	Config string
}

// Kernel fetches a kernel. name may be a meta-package
// (linux-image-6.12-amd64), resolved at run time to the ABI package it
// depends on, since versioned packages leave the archive when a newer one
// lands; or an ABI package itself.
func (c *Cache) Kernel(ctx context.Context, name string) (*Kernel, error) {
	pkgName, meta := name, ""
	f, err := c.Show(ctx, name)
	if err == nil {
		for _, d := range f.Depends() {
			if strings.HasPrefix(d, "linux-image-") && d != name {
				pkgName, meta = d, name
				break
			}
		}
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var p *Package
	if err != nil {
		// No apt lists: the newest cached kernel of that flavour.
		p = c.newestCachedKernel(name)
		if p == nil {
			return nil, err
		}
		c.log().Warn("apt does not know the kernel package; using the cached one", "package", p.Name, "version", p.Version)
	} else if p, err = c.Fetch(ctx, pkgName); err != nil {
		return nil, err
	}
	k := &Kernel{Package: p, Meta: meta}
	vmlinuz, _ := filepath.Glob(filepath.Join(p.Root, "boot", "vmlinuz-*"))
	if len(vmlinuz) != 1 {
		return nil, fmt.Errorf("package %s %s: want one boot/vmlinuz-*, found %d (not a kernel image package?)", p.Name, p.Version, len(vmlinuz))
	}
	k.Vmlinuz = vmlinuz[0]
	k.Release = strings.TrimPrefix(filepath.Base(vmlinuz[0]), "vmlinuz-")
	k.Modules = filepath.Join(p.Root, "lib", "modules", k.Release)
	if _, err := os.Stat(k.Modules); err != nil {
		return nil, fmt.Errorf("package %s: no modules directory for %s", p.Name, k.Release)
	}
	k.Config = filepath.Join(p.Root, "boot", "config-"+k.Release)
	return k, nil
}

// newestCachedKernel finds a cached ABI package of the flavour a
// meta-package names: linux-image-6.12-cloud-amd64 →
// linux-image-6.12.*-cloud-amd64.
func (c *Cache) newestCachedKernel(meta string) *Package {
	rest, ok := strings.CutPrefix(meta, "linux-image-")
	if !ok {
		return c.newestCached(meta)
	}
	series, flavour, ok := strings.Cut(rest, "-")
	if !ok {
		return nil
	}
	dirs, _ := filepath.Glob(filepath.Join(c.Dir, "linux-image-"+series+".*-"+flavour+"_*"))
	var best *Package
	var bestTime int64
	for _, d := range dirs {
		name, _, _ := strings.Cut(filepath.Base(d), "_")
		// linux-image-6.12.117+deb12-amd64, not ...+deb12-cloud-amd64.
		abi := strings.TrimSuffix(strings.TrimPrefix(name, "linux-image-"+series+"."), "-"+flavour)
		if strings.Contains(abi, "-") {
			continue
		}
		p := c.newestCached(name)
		if p == nil {
			continue
		}
		if st, err := os.Stat(filepath.Join(p.Root, ".complete")); err == nil && st.ModTime().UnixNano() > bestTime {
			best, bestTime = p, st.ModTime().UnixNano()
		}
	}
	return best
}

func run(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out, stderr bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if errors.Is(err, exec.ErrNotFound) {
			msg = "not installed (a Debian machine with apt and dpkg is needed)"
		}
		return nil, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, lastLines(msg, 5))
	}
	return out.Bytes(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
