package kmod

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// IndexFile is the name of the index in the initramfs, beside the modules
// (lib/modules/RELEASE/IndexFile).
const IndexFile = "wdscapture-modules.json"

// Module is one module of an Index.
type Module struct {
	Name string `json:"name"`
	// Path is the file relative to the modules directory
	// ("kernel/drivers/ata/ahci.ko.xz").
	Path    string   `json:"path"`
	Depends []string `json:"depends,omitempty"`
	SoftPre []string `json:"softpre,omitempty"`
	Aliases []string `json:"aliases,omitempty"`
}

// Index describes the modules put into an initramfs: what the init loads
// at start and what coldplug may load for the devices it finds.
type Index struct {
	// Release is the kernel release ("6.12.117+deb12-amd64"), the name of
	// the modules directory.
	Release string `json:"release"`
	// Load names the modules loaded at start, before coldplug (file
	// systems, efivarfs): each is in Modules.
	Load []string `json:"load"`
	// Modules lists every module, dependencies before the modules that
	// need them.
	Modules []Module `json:"modules"`
}

// Lookup returns the module called name (normalized), or nil.
func (ix *Index) Lookup(name string) *Module {
	name = Normalize(name)
	for i := range ix.Modules {
		if ix.Modules[i].Name == name {
			return &ix.Modules[i]
		}
	}
	return nil
}

// MaxIndexSize bounds the index file the init reads.
const MaxIndexSize = 16 << 20

// ReadIndex parses an index file and checks that it is consistent: every
// dependency and every Load entry names a module of the index, and no path
// leaves the modules directory.
func ReadIndex(r io.Reader) (*Index, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxIndexSize+1))
	if err != nil {
		return nil, fmt.Errorf("read module index: %w", err)
	}
	if len(b) > MaxIndexSize {
		return nil, fmt.Errorf("module index larger than %d bytes", MaxIndexSize)
	}
	var ix Index
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("parse module index: %w", err)
	}
	if err := ix.check(); err != nil {
		return nil, err
	}
	return &ix, nil
}

func (ix *Index) check() error {
	if ix.Release == "" || strings.ContainsAny(ix.Release, "/\x00") || ix.Release == "." || ix.Release == ".." {
		return fmt.Errorf("module index: bad kernel release %q", ix.Release)
	}
	names := make(map[string]bool, len(ix.Modules))
	for _, m := range ix.Modules {
		if m.Name == "" || m.Name != Normalize(m.Name) {
			return fmt.Errorf("module index: bad module name %q", m.Name)
		}
		if names[m.Name] {
			return fmt.Errorf("module index: %s listed twice", m.Name)
		}
		names[m.Name] = true
		if !strings.HasPrefix(m.Path, "kernel/") || strings.Contains(m.Path, "..") || ModuleName(m.Path) != m.Name {
			return fmt.Errorf("module index: %s has bad path %q", m.Name, m.Path)
		}
	}
	for _, m := range ix.Modules {
		for _, d := range m.Depends {
			if !names[d] {
				return fmt.Errorf("module index: %s depends on %s, which is not in the index", m.Name, d)
			}
		}
	}
	for _, l := range ix.Load {
		if !names[l] {
			return fmt.Errorf("module index: %s is to be loaded at start but is not in the index", l)
		}
	}
	return nil
}

// WriteJSON writes the index.
func (ix *Index) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(ix)
}

// Selection says which modules of a kernel go into an initramfs.
type Selection struct {
	// Dirs are directories of the module tree whose modules are all taken
	// ("kernel/drivers/ata"); a directory the kernel lacks is skipped.
	Dirs []string
	// Names are single modules taken when the kernel has them as modules;
	// a name the kernel has neither as module nor built in is reported in
	// Result.Missing.
	Names []string
	// Required are names the kernel must provide, as a module (taken) or
	// built in; otherwise Select fails.
	Required []string
	// Load are names loaded at start; each must also be in Names or
	// Required. Built-in ones are left out of Index.Load.
	Load []string
}

// Result is what Select found.
type Result struct {
	Index *Index
	// Missing are Names the kernel has neither as a module nor built in.
	Missing []string
	// Unresolved are softdep names that are neither a module of the tree
	// nor built in (usually aliases of optional helpers): left out.
	Unresolved []string
}

// ErrRequired says the kernel lacks a required module.
var ErrRequired = errors.New("the kernel lacks a required module")

// Select resolves sel against the tree: the modules asked for and every
// module they depend on, in dependency order.
func (t *Tree) Select(sel Selection) (*Result, error) {
	res := &Result{Index: &Index{Release: t.Release}}
	want := map[string]bool{}
	for _, d := range sel.Dirs {
		d = strings.TrimSuffix(d, "/") + "/"
		for name, p := range t.files {
			if strings.HasPrefix(p, d) {
				want[name] = true
			}
		}
	}
	for _, n := range sel.Names {
		n = Normalize(n)
		switch {
		case t.files[n] != "":
			want[n] = true
		case t.builtin[n]:
		default:
			res.Missing = append(res.Missing, n)
		}
	}
	for _, n := range sel.Required {
		n = Normalize(n)
		switch {
		case t.files[n] != "":
			want[n] = true
		case t.builtin[n]:
		default:
			return nil, fmt.Errorf("%w: kernel %s has no %s (neither module nor built in)", ErrRequired, t.Release, n)
		}
	}
	// Parse the wanted modules, then their dependencies, until closed.
	infos := map[string]*Info{}
	soft := map[string][]string{} // resolved softdep "pre" modules
	queue := sortedKeys(want)
	for len(queue) > 0 {
		if err := t.parseAll(queue); err != nil {
			return nil, err
		}
		var next []string
		for _, n := range queue {
			info := t.infos[n]
			infos[n] = info
			for _, d := range info.Depends {
				if t.files[d] == "" {
					if t.builtin[d] {
						continue
					}
					return nil, fmt.Errorf("module %s depends on %s, which kernel %s does not have", n, d, t.Release)
				}
				if !want[d] {
					want[d] = true
					next = append(next, d)
				}
			}
			for _, raw := range info.SoftPre {
				d := Normalize(raw)
				switch {
				case t.files[d] != "":
					soft[n] = append(soft[n], d)
				case t.builtin[d]:
				default:
					providers, err := t.aliasProviders(raw)
					if err != nil {
						return nil, err
					}
					if len(providers) == 0 {
						res.Unresolved = appendUnique(res.Unresolved, raw)
					}
					soft[n] = append(soft[n], providers...)
				}
			}
			for _, d := range soft[n] {
				if !want[d] {
					want[d] = true
					next = append(next, d)
				}
			}
		}
		sort.Strings(next)
		queue = next
	}
	t.saveCache()
	// Dependency order: depth-first from the sorted names.
	done := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		if done[n] {
			return
		}
		done[n] = true
		info := infos[n]
		for _, d := range info.Depends {
			if infos[d] != nil {
				visit(d)
			}
		}
		m := Module{Name: n, Path: t.files[n], Depends: info.Depends, Aliases: info.Aliases, SoftPre: soft[n]}
		res.Index.Modules = append(res.Index.Modules, m)
	}
	for _, n := range sortedKeys(infos) {
		visit(n)
	}
	for _, n := range sel.Load {
		n = Normalize(n)
		if infos[n] != nil {
			res.Index.Load = append(res.Index.Load, n)
		}
	}
	sort.Strings(res.Missing)
	sort.Strings(res.Unresolved)
	return res, res.Index.check()
}

// aliasDirs hold the modules that softdep aliases name: crypto algorithms
// ("crc32c" is crc32c_generic or crc32c_intel) and library helpers.
var aliasDirs = []string{"kernel/crypto/", "kernel/arch/", "kernel/lib/"}

// aliasProviders returns the modules in aliasDirs with an alias matching
// name, parsing those modules once.
func (t *Tree) aliasProviders(name string) ([]string, error) {
	var cands []string
	for n, p := range t.files {
		for _, d := range aliasDirs {
			if strings.HasPrefix(p, d) {
				cands = append(cands, n)
			}
		}
	}
	sort.Strings(cands)
	if err := t.parseAll(cands); err != nil {
		return nil, err
	}
	var out []string
	for _, n := range cands {
		for _, a := range t.infos[n].Aliases {
			if Glob(a, name) {
				out = append(out, n)
				break
			}
		}
	}
	return out, nil
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
