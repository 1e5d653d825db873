// Package exclude decides which files of a volume are left out of a capture,
// following the [ExclusionList] / [ExclusionException] rules of DISM's
// WimScript.ini and of wimlib's capture configuration file.
//
// # Patterns
//
// A pattern is a path glob. Both `\` and `/` separate components; runs of
// separators count as one, and leading drive letters ("C:\Windows") are
// removed. The wildcards `*` (zero or more characters) and `?` (exactly one
// character, that is one Unicode code point) act within one component and
// never match a separator. Matching is case-insensitive using Unicode simple
// case folding (the folding of strings.EqualFold), not the volume's $UpCase
// table.
//
//   - An absolute pattern starts with a separator ("\Windows\CSC") and is
//     matched against the path from the volume root: every component of the
//     pattern must match the corresponding leading component of the path.
//   - A relative pattern has no leading separator. With one component
//     ("*.tmp", "pagefile.sys") it matches a file or directory of that name at
//     any depth. With several components ("Windows\CSC") it matches the
//     trailing components of a path at any depth, as DISM documents
//     ("myfolder\*.txt"); wimlib rejects such patterns, so they are an
//     extension over wimlib.
//
// Rejected patterns (New and Validate return an error naming them): empty
// patterns, patterns that name the volume root itself ("\", "C:\"), drive
// relative patterns ("C:file"), "." and ".." components, invalid UTF-8,
// control characters, and patterns longer than 32767 bytes.
//
// # Exclusions and exceptions
//
// The rules are wimlib's (src/scan.c try_exclude, verified against
// wimcapture by this package's tests), applied to the whole path:
//
//   - An exclusion matches a path when it matches the path or one of its
//     ancestors (for a relative exclusion: the trailing components of the
//     path or of an ancestor).
//   - A path is rescued by an exception when an absolute exception matches the
//     path or one of its ancestors, or when the path is an ancestor of
//     something an absolute exception can match (so that the walker descends
//     into an excluded directory to reach the excepted file), or when a
//     relative exception matches the path itself.
//   - Excluded(p) is true when some directory on the way from the root to p
//     (p included) is matched by an exclusion and not rescued.
//
// Consequences worth knowing: exceptions inside an excluded directory work only
// when they are absolute ("\dir" excluded, "\dir\keep.txt" excepted: \dir is
// kept but holds only keep.txt). A relative exception ("keep.txt") rescues only
// files whose own name matches and cannot reach into an excluded directory,
// exactly as wimcapture's manual states. When Excluded reports true for a
// directory, it is also true for everything below it, so a walker can skip
// the whole subtree.
//
// One deliberate difference from wimlib 1.13's code (not from its manual):
// when a relative exclusion matches a directory that is kept only because an
// absolute exception lies below it ("CSC" excluded, "\Windows\CSC\keep"
// excepted), wimlib keeps \Windows\CSC's other entries too, since it tests
// relative patterns against the file name alone. Here they stay excluded, as
// the manual's "If a directory is matched, both the directory and its
// contents are excluded" says and as an administrator writing a relative
// pattern such as the stock WDSCapture.inf's "Windows\CSC" means. The
// wimcapture comparison test pins down exactly which entries differ.
package exclude

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultPatterns is the exclusion list used when the configuration names
// none. It is DISM's documented default list (also wimlib's default, which
// spells \$Recycle.Bin twice only because wimlib is case-sensitive on UNIX),
// plus \winpepge.sys, the page file Windows PE creates on the volume it boots
// from.
var DefaultPatterns = []string{
	`\$ntfs.log`,
	`\hiberfil.sys`,
	`\pagefile.sys`,
	`\swapfile.sys`,
	`\System Volume Information`,
	`\RECYCLER`,
	`\$Recycle.Bin`,
	`\Windows\CSC`,
	`\winpepge.sys`,
}

// MaxPatternLen is the longest pattern accepted, in bytes (the longest NTFS
// path is 32767 UTF-16 code units).
const MaxPatternLen = 32767

// Sentinel runes inside compiled components. Real runes are never negative.
const (
	runeStar    rune = -1 // '*'
	runeAny     rune = -2 // '?'
	runeInvalid rune = -3 // a byte of invalid UTF-8 in a path; matches only wildcards
)

// component is one compiled path component of a pattern: folded runes, with
// runeStar and runeAny for the wildcards.
type component []rune

// pattern is one compiled glob.
type pattern struct {
	text     string      // normalized form, `\`-separated
	absolute bool        // leading separator: anchored at the volume root
	comps    []component // at least one
}

// Matcher decides exclusions. It is immutable after New and safe for
// concurrent use. A nil *Matcher excludes nothing.
type Matcher struct {
	absExcl, relExcl []pattern
	absExc, relExc   []pattern
	excl, exc        []string // normalized texts, in input order
}

// Validate reports whether pattern is acceptable to New, with an error that
// names the pattern and says what is wrong.
func Validate(pattern string) error {
	_, err := compile(pattern)
	return err
}

// New compiles exclusion and exception patterns. All bad patterns are
// reported, joined in one error; each message names the list, the position in
// it and the pattern.
func New(exclusions, exceptions []string) (*Matcher, error) {
	m := &Matcher{}
	var errs []error
	for i, s := range exclusions {
		p, err := compile(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("exclusion %d: %w", i+1, err))
			continue
		}
		m.excl = append(m.excl, p.text)
		if p.absolute {
			m.absExcl = append(m.absExcl, p)
		} else {
			m.relExcl = append(m.relExcl, p)
		}
	}
	for i, s := range exceptions {
		p, err := compile(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("exclusion exception %d: %w", i+1, err))
			continue
		}
		m.exc = append(m.exc, p.text)
		if p.absolute {
			m.absExc = append(m.absExc, p)
		} else {
			m.relExc = append(m.relExc, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// Patterns returns the normalized exclusion and exception patterns (`\`
// separators, no drive letter, single separators), in the order given to New.
func (m *Matcher) Patterns() (exclusions, exceptions []string) {
	if m == nil {
		return nil, nil
	}
	return append([]string(nil), m.excl...), append([]string(nil), m.exc...)
}

func isSep(c byte) bool { return c == '\\' || c == '/' }

// compile checks and compiles one pattern.
func compile(s string) (pattern, error) {
	fail := func(why string) (pattern, error) {
		q := s
		if len(q) > 80 {
			q = q[:80] + "..."
		}
		return pattern{}, fmt.Errorf("bad pattern %q: %s", q, why)
	}
	switch {
	case s == "":
		return fail("empty pattern")
	case len(s) > MaxPatternLen:
		return fail(fmt.Sprintf("longer than %d bytes", MaxPatternLen))
	case !utf8.ValidString(s):
		return fail("not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fail(fmt.Sprintf("contains control character %U", r))
		}
	}
	rest := s
	if len(rest) >= 2 && rest[1] == ':' && isASCIILetter(rest[0]) {
		if len(rest) > 2 && !isSep(rest[2]) {
			return fail("drive-relative path; write it as " + rest[:2] + `\` + rest[2:] + " or without the drive letter")
		}
		rest = rest[2:]
		if rest == "" {
			return fail("it names the whole volume")
		}
	}
	p := pattern{absolute: isSep(rest[0])}
	var text strings.Builder
	for c := range strings.FieldsFuncSeq(rest, func(r rune) bool { return r == '\\' || r == '/' }) {
		if c == "." || c == ".." {
			return fail(`"." and ".." components are not allowed`)
		}
		p.comps = append(p.comps, compileComponent(c))
		if p.absolute || text.Len() > 0 {
			text.WriteByte('\\')
		}
		text.WriteString(c)
	}
	if len(p.comps) == 0 {
		return fail("it names the whole volume")
	}
	p.text = text.String()
	return p, nil
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func compileComponent(c string) component {
	out := make(component, 0, len(c))
	for _, r := range c {
		switch r {
		case '*':
			if len(out) > 0 && out[len(out)-1] == runeStar {
				continue // "**" is "*"
			}
			out = append(out, runeStar)
		case '?':
			out = append(out, runeAny)
		default:
			out = append(out, fold(r))
		}
	}
	return out
}

// fold maps r to a canonical member of its Unicode simple case folding orbit
// (the smallest one), so that two runes are equal under strings.EqualFold
// exactly when their folds are equal.
func fold(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		return r
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < m {
			m = f
		}
	}
	return m
}

// decode returns the folded rune at the start of s and its width; a byte of
// invalid UTF-8 is runeInvalid of width 1.
func decode(s string) (rune, int) {
	c := s[0]
	if c < utf8.RuneSelf {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		return rune(c), 1
	}
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n == 1 {
		return runeInvalid, 1
	}
	return fold(r), n
}

// matchComponent reports whether the path component name matches c. It runs
// in O(len(name)*len(c)) time at worst and does not allocate.
func matchComponent(c component, name string) bool {
	pi, si := 0, 0
	starPi, starSi := -1, 0
	for si < len(name) {
		r, n := decode(name[si:])
		if pi < len(c) {
			switch pc := c[pi]; {
			case pc == runeStar:
				starPi, starSi = pi, si
				pi++
				continue
			case pc == runeAny || pc == r:
				pi++
				si += n
				continue
			}
		}
		if starPi < 0 {
			return false
		}
		// Let the last star absorb one more rune and retry.
		_, n = decode(name[starSi:])
		starSi += n
		si = starSi
		pi = starPi + 1
	}
	for pi < len(c) && c[pi] == runeStar {
		pi++
	}
	return pi == len(c)
}

// nextComponent returns the first component of path at or after offset i and
// the offset just past it; ok is false when no component is left.
func nextComponent(path string, i int) (comp string, end int, ok bool) {
	for i < len(path) && isSep(path[i]) {
		i++
	}
	if i == len(path) {
		return "", i, false
	}
	j := i
	for j < len(path) && !isSep(path[j]) {
		j++
	}
	return path[i:j], j, true
}

// lastComponent returns the last component of path[:end] and the offset where
// it starts; ok is false when there is none.
func lastComponent(path string, end int) (comp string, start int, ok bool) {
	for end > 0 && isSep(path[end-1]) {
		end--
	}
	if end == 0 {
		return "", 0, false
	}
	i := end
	for i > 0 && !isSep(path[i-1]) {
		i--
	}
	return path[i:end], i, true
}

// prefixMatch compares the leading components of path with p's components. It
// returns how many matched in a row and whether the path ran out of components
// before a mismatch or the end of the pattern.
func prefixMatch(p *pattern, path string) (matched int, pathEnded bool) {
	i := 0
	for k := range p.comps {
		comp, end, ok := nextComponent(path, i)
		if !ok {
			return k, true
		}
		if !matchComponent(p.comps[k], comp) {
			return k, false
		}
		i = end
	}
	return len(p.comps), false
}

// suffixMatch reports whether the trailing components of path[:end] match all
// of p's components.
func suffixMatch(p *pattern, path string, end int) bool {
	for k := len(p.comps) - 1; k >= 0; k-- {
		comp, start, ok := lastComponent(path, end)
		if !ok || !matchComponent(p.comps[k], comp) {
			return false
		}
		end = start
	}
	return true
}

func anySuffixMatch(ps []pattern, path string, end int) bool {
	for i := range ps {
		if suffixMatch(&ps[i], path, end) {
			return true
		}
	}
	return false
}

const never = int(^uint(0) >> 1)

// Excluded reports whether path is left out of the capture. path is
// volume-relative with `\` (or `/`) separators, such as `\Windows\CSC\x`; a
// leading separator is optional, and the root itself is never excluded.
//
// Files and directories are matched alike (isDir does not change the result,
// as in DISM and wimlib); when a directory is excluded, so is its whole
// subtree, and the caller should not descend into it. Excluded does not
// allocate.
func (m *Matcher) Excluded(path string, isDir bool) bool {
	_ = isDir
	if m == nil || (len(m.absExcl) == 0 && len(m.relExcl) == 0) {
		return false
	}
	// firstExcl: the shortest depth at which an absolute exclusion matches
	// the path's leading components (every deeper prefix matches too).
	firstExcl := never
	for i := range m.absExcl {
		p := &m.absExcl[i]
		if len(p.comps) >= firstExcl {
			continue
		}
		if n, _ := prefixMatch(p, path); n == len(p.comps) {
			firstExcl = n
		}
	}
	if firstExcl == never && len(m.relExcl) == 0 {
		return false
	}
	// rescuedTo: prefixes of depth <= rescuedTo are rescued by an absolute
	// exception (they are an ancestor of, or lie below, what it matches).
	rescuedTo := 0
	for i := range m.absExc {
		p := &m.absExc[i]
		n, ended := prefixMatch(p, path)
		if n == len(p.comps) || ended {
			rescuedTo = never
			break
		}
		rescuedTo = max(rescuedTo, n)
	}
	if len(m.relExcl) == 0 && len(m.relExc) == 0 {
		// Some depth k in [max(firstExcl, rescuedTo+1), depth] exists iff
		// the path is deeper than rescuedTo (firstExcl <= depth holds).
		return firstExcl != never && rescuedTo != never && pathDepthAtLeast(path, max(firstExcl, rescuedTo+1))
	}
	depth, i := 0, 0
	relMatched := false // a relative exclusion matched this prefix or a shorter one
	for {
		_, end, ok := nextComponent(path, i)
		if !ok {
			return false
		}
		depth++
		i = end
		if !relMatched && depth < firstExcl {
			relMatched = anySuffixMatch(m.relExcl, path, end)
		}
		if depth <= rescuedTo {
			continue
		}
		if depth < firstExcl && !relMatched {
			continue
		}
		if anySuffixMatch(m.relExc, path, end) {
			continue
		}
		return true
	}
}

// pathDepthAtLeast reports whether path has at least n components.
func pathDepthAtLeast(path string, n int) bool {
	i := 0
	for range n {
		_, end, ok := nextComponent(path, i)
		if !ok {
			return false
		}
		i = end
	}
	return true
}
