package kmod

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Tree is a kernel's module directory (lib/modules/RELEASE) as a Debian
// linux-image package unpacks it: kernel/**/*.ko.xz and modules.builtin.
type Tree struct {
	Dir     string
	Release string
	files   map[string]string // module name → path relative to Dir
	builtin map[string]bool

	mu     sync.Mutex
	infos  map[string]*Info
	cached int // entries read from the cache file
}

// infoCacheFile keeps the parsed .modinfo of a tree beside it, so that
// the next build of the same kernel does not decompress the modules again.
const infoCacheFile = "wdscapture-modinfo.json"

// OpenTree lists the modules under dir, whose base name is the kernel
// release.
func OpenTree(dir string) (*Tree, error) {
	t := &Tree{Dir: dir, Release: filepath.Base(dir), files: map[string]string{}, builtin: map[string]bool{}, infos: map[string]*Info{}}
	root := filepath.Join(dir, "kernel")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.Contains(d.Name(), ".ko") {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := ModuleName(d.Name())
		if prev, dup := t.files[name]; dup {
			return fmt.Errorf("module %s found twice: %s and %s", name, prev, rel)
		}
		t.files[name] = filepath.ToSlash(rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list kernel modules in %s: %w", dir, err)
	}
	if len(t.files) == 0 {
		return nil, fmt.Errorf("no kernel modules under %s", root)
	}
	f, err := os.Open(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return nil, fmt.Errorf("read the list of built-in modules: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			t.builtin[ModuleName(line)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	t.loadCache()
	return t, nil
}

func (t *Tree) loadCache() {
	b, err := os.ReadFile(filepath.Join(t.Dir, infoCacheFile))
	if err != nil {
		return
	}
	var infos map[string]*Info
	if json.Unmarshal(b, &infos) != nil {
		return
	}
	for name, info := range infos {
		if info != nil && info.Name == name && t.files[name] != "" {
			t.infos[name] = info
		}
	}
	t.cached = len(t.infos)
}

// saveCache writes the parsed .modinfo beside the tree when there is
// something new; a tree that cannot be written is not an error.
func (t *Tree) saveCache() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.infos) == t.cached {
		return
	}
	b, err := json.Marshal(t.infos)
	if err != nil {
		return
	}
	p := filepath.Join(t.Dir, infoCacheFile)
	tmp := p + ".tmp"
	if os.WriteFile(tmp, b, 0o644) == nil && os.Rename(tmp, p) == nil {
		t.cached = len(t.infos)
	}
}

// Path returns the file of module name relative to Dir, "" if the tree has
// no such module.
func (t *Tree) Path(name string) string { return t.files[Normalize(name)] }

// Builtin reports whether module name is built into the kernel.
func (t *Tree) Builtin(name string) bool { return t.builtin[Normalize(name)] }

// Info reads (once) the .modinfo of module name.
func (t *Tree) Info(name string) (*Info, error) {
	name = Normalize(name)
	t.mu.Lock()
	info := t.infos[name]
	t.mu.Unlock()
	if info != nil {
		return info, nil
	}
	rel := t.files[name]
	if rel == "" {
		return nil, fmt.Errorf("kernel %s has no module %s", t.Release, name)
	}
	img, err := readModule(filepath.Join(t.Dir, rel))
	if err != nil {
		return nil, err
	}
	info, err = ParseELF(img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	if info.Name != name {
		return nil, fmt.Errorf("%s: .modinfo names the module %q", rel, info.Name)
	}
	t.mu.Lock()
	t.infos[name] = info
	t.mu.Unlock()
	return info, nil
}

// readModule returns the ELF image of the module file at p. The xz
// command (xz-utils) decompresses .ko.xz when it is installed: it is about
// 50 times faster than the pure-Go decoder, which is the fallback.
func readModule(p string) ([]byte, error) {
	if strings.HasSuffix(p, ".xz") {
		if xzPath, err := exec.LookPath("xz"); err == nil {
			var out, stderr bytes.Buffer
			cmd := exec.Command(xzPath, "-dc", "--", p)
			cmd.Stdout, cmd.Stderr = &out, &stderr
			if err := cmd.Run(); err != nil {
				return nil, fmt.Errorf("xz -dc %s: %v: %s", p, err, strings.TrimSpace(stderr.String()))
			}
			if out.Len() > MaxModuleSize {
				return nil, fmt.Errorf("%s: more than %d bytes decompressed", p, MaxModuleSize)
			}
			return out.Bytes(), nil
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Decompress(p, f)
}

// parseAll reads the .modinfo of names, in parallel.
func (t *Tree) parseAll(names []string) error {
	work := make(chan string)
	errs := make(chan error, len(names))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				if _, err := t.Info(n); err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs
}
