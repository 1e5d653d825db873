package kmod

// Matcher finds the modules of an Index whose aliases match a device's
// modalias, as udev does with modules.alias.
type Matcher struct {
	// buckets holds the aliases by the first bucketLen bytes of their
	// literal prefix; short prefixes are in general.
	buckets map[string][]aliasEntry
	general []aliasEntry
}

type aliasEntry struct {
	pattern string
	literal string
	module  string
}

const bucketLen = 4

// NewMatcher indexes the aliases of modules.
func NewMatcher(modules []Module) *Matcher {
	m := &Matcher{buckets: map[string][]aliasEntry{}}
	for _, mod := range modules {
		for _, a := range mod.Aliases {
			e := aliasEntry{pattern: a, literal: literalPrefix(a), module: mod.Name}
			if len(e.literal) >= bucketLen {
				k := e.literal[:bucketLen]
				m.buckets[k] = append(m.buckets[k], e)
			} else {
				m.general = append(m.general, e)
			}
		}
	}
	return m
}

// Match returns the names of the modules with an alias matching modalias,
// each once.
func (m *Matcher) Match(modalias string) []string {
	var out []string
	seen := map[string]bool{}
	try := func(list []aliasEntry) {
		for _, e := range list {
			if seen[e.module] || len(modalias) < len(e.literal) || modalias[:len(e.literal)] != e.literal {
				continue
			}
			if Glob(e.pattern, modalias) {
				seen[e.module] = true
				out = append(out, e.module)
			}
		}
	}
	if len(modalias) >= bucketLen {
		try(m.buckets[modalias[:bucketLen]])
	}
	try(m.general)
	return out
}
