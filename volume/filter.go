package volume

import "io"

// Excluder decides which paths a capture leaves out. Paths are relative to
// the volume root, `\`-separated and start with `\`. Excluding a directory
// drops its whole subtree.
type Excluder interface {
	Excluded(path string, isDir bool) bool
}

// Filter returns a Source that hides the entries ex excludes.
func Filter(src Source, ex Excluder) Source {
	return &filtered{Source: src, ex: ex, paths: map[*Entry]string{}}
}

type filtered struct {
	Source
	ex    Excluder
	paths map[*Entry]string
}

func (f *filtered) Root() (*Entry, error) {
	e, err := f.Source.Root()
	if err == nil {
		f.paths[e] = ""
	}
	return e, err
}

func (f *filtered) ReadDir(dir *Entry) ([]*Entry, error) {
	kids, err := f.Source.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	base := f.paths[dir]
	out := kids[:0]
	for _, k := range kids {
		p := base + `\` + k.Name
		if f.ex.Excluded(p, k.IsDir()) {
			continue
		}
		if k.IsDir() {
			f.paths[k] = p
		}
		out = append(out, k)
	}
	return out, nil
}

func (f *filtered) OpenStream(e *Entry, i int) (io.ReadCloser, error) {
	return f.Source.OpenStream(e, i)
}
