package kmod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// moduleInitCompressedFile asks finit_module to decompress the module
// itself (Linux 6.x with CONFIG_MODULE_DECOMPRESS).
const moduleInitCompressedFile = 4

// Loader loads the modules of an Index into the running kernel, each
// after its dependencies. It is safe for concurrent use.
type Loader struct {
	// Dir is the modules directory (/lib/modules/RELEASE).
	Dir   string
	Index *Index
	// Params are module parameters by module name ("mod.param=value" on
	// the kernel command line becomes Params["mod"] = "param=value").
	Params map[string]string
	// Skip names modules never to load (modprobe.blacklist=).
	Skip map[string]bool
	// Log, when set, is told about each module loaded or failed.
	Log func(module string, err error)

	mu     sync.Mutex
	byName map[string]*Module
	state  map[string]error // loaded (nil) or failed
}

// ErrSkipped says a module was not loaded because it is blacklisted.
var ErrSkipped = errors.New("blacklisted")

func (l *Loader) init() {
	if l.byName == nil {
		l.byName = map[string]*Module{}
		for i := range l.Index.Modules {
			m := &l.Index.Modules[i]
			l.byName[m.Name] = m
		}
		l.state = map[string]error{}
	}
}

// Has reports whether the index has module name.
func (l *Loader) Has(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	return l.byName[Normalize(name)] != nil
}

// Loaded returns the names of the modules loaded so far, sorted.
func (l *Loader) Loaded() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for n, err := range l.state {
		if err == nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Load loads module name after its dependencies and softdep "pre"
// modules. A module already in the kernel is not an error. A module the
// index lacks is an error.
func (l *Loader) Load(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	return l.load(Normalize(name), 0)
}

func (l *Loader) load(name string, depth int) error {
	if err, done := l.state[name]; done {
		return err
	}
	m := l.byName[name]
	if m == nil {
		return fmt.Errorf("module %s is not in the capture image", name)
	}
	if depth > 64 {
		return fmt.Errorf("module %s: dependency chain too deep (a cycle?)", name)
	}
	if l.Skip[name] {
		l.state[name] = ErrSkipped
		return fmt.Errorf("module %s: %w", name, ErrSkipped)
	}
	for _, d := range m.Depends {
		if err := l.load(d, depth+1); err != nil {
			err = fmt.Errorf("module %s needs %s: %w", name, d, err)
			l.state[name] = err
			return err
		}
	}
	for _, d := range m.SoftPre {
		_ = l.load(d, depth+1) // soft: a failure does not stop the module
	}
	err := l.insert(m)
	l.state[name] = err
	if l.Log != nil {
		l.Log(name, err)
	}
	return err
}

func (l *Loader) insert(m *Module) error {
	p := filepath.Join(l.Dir, filepath.FromSlash(m.Path))
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("module %s: %w", m.Name, err)
	}
	defer f.Close()
	params := l.Params[m.Name]
	flags := 0
	if !strings.HasSuffix(m.Path, ".ko") {
		flags = moduleInitCompressedFile
	}
	err = unix.FinitModule(int(f.Fd()), params, flags)
	if flags != 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)) {
		// A kernel that cannot decompress modules: do it here.
		if _, serr := f.Seek(0, 0); serr == nil {
			if img, derr := Decompress(m.Path, f); derr == nil {
				err = unix.InitModule(img, params)
			}
		}
	}
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load module %s: %w", m.Name, err)
	}
	return nil
}
