package exclude

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestExcluded(t *testing.T) {
	type check struct {
		path string
		want bool
	}
	tests := []struct {
		name       string
		excl, exc  []string
		checks     []check
		wantPatExc []string // normalized exclusions, when checked
	}{
		{
			name: "defaults",
			excl: DefaultPatterns,
			checks: []check{
				{`\pagefile.sys`, true},
				{`\PAGEFILE.SYS`, true},
				{`pagefile.sys`, true},
				{`/pagefile.sys`, true},
				{`\\pagefile.sys`, true},
				{`\pagefile.sys\`, true},
				{`\dir\pagefile.sys`, false},
				{`\pagefile.sys2`, false},
				{`\Windows\CSC`, true},
				{`\windows\csc\v2.0.6\namespace`, true},
				{`\Windows\CSCX`, false},
				{`\Windows`, false},
				{`\Windows\System32`, false},
				{`\System Volume Information\tracking.log`, true},
				{`\$RECYCLE.BIN\S-1-5-21\desktop.ini`, true},
				{`\$Recycle.Bin`, true},
				{`\winpepge.sys`, true},
				{`\`, false},
				{``, false},
			},
		},
		{
			name: "relative single component at any depth",
			excl: []string{`*.tmp`},
			checks: []check{
				{`\a.tmp`, true},
				{`\d\e\f.TMP`, true},
				{`\a.tmp\child`, true},
				{`\a.tmpx`, false},
				{`\tmp`, false},
				{`\.tmp`, true},
			},
		},
		{
			name: "question mark is one code point",
			excl: []string{`\a?c`},
			checks: []check{
				{`\abc`, true},
				{`\aéc`, true},
				{`\a😀c`, true},
				{`\ac`, false},
				{`\abbc`, false},
				{`\a\c`, false},
			},
		},
		{
			name: "star stays in one component",
			excl: []string{`\a*z`},
			checks: []check{
				{`\az`, true},
				{`\a-long-name-z`, true},
				{`\a\z`, false},
				{`\ab\cz`, false},
			},
		},
		{
			name: "several stars backtrack",
			excl: []string{`*a*b*c*`},
			checks: []check{
				{`\xxaxxbxxcxx`, true},
				{`\abc`, true},
				{`\cba`, false},
				{`\` + strings.Repeat("ab", 500), false},
				{`\` + strings.Repeat("ab", 500) + "c", true},
			},
		},
		{
			name: "unicode simple case folding",
			excl: []string{`\ÄRGER`, `\Σίσυφος`, `\k`, `\s`},
			checks: []check{
				{`\ärger`, true},
				{`\ΣΊΣΥΦΟΣ`, true},
				{`\σίσυφος`, true},
				{`\\u212a`, false}, // literal backslash-u text, not the Kelvin sign
				{"\\\u212a", true}, // KELVIN SIGN folds to k
				{"\\\u017f", true}, // LATIN SMALL LETTER LONG S folds to s
				{`\straße`, false},
			},
		},
		{
			name: "full folding is not simple folding",
			excl: []string{`\straße`},
			checks: []check{
				{`\STRASSE`, false},
				{`\STRAẞE`, true}, // U+1E9E folds to ß
			},
		},
		{
			name: "relative pattern with several components matches trailing components",
			excl: []string{`Windows\CSC`},
			checks: []check{
				{`\Windows\CSC`, true},
				{`\old\windows\csc\x`, true},
				{`\CSC`, false},
				{`\Windows`, false},
				{`\Windows\CSC2`, false},
			},
		},
		{
			name: "wildcard in a middle component",
			excl: []string{`\Users\*\AppData\Local\Temp`},
			checks: []check{
				{`\Users\bob\AppData\Local\Temp\x.log`, true},
				{`\users\Alice\appdata\local\temp`, true},
				{`\Users\AppData\Local\Temp`, false},
				{`\Users\bob\AppData\Local`, false},
			},
		},
		{
			name: "drive letters, forward slashes and doubled separators",
			excl: []string{`C:\Windows\Temp`, `/Users//bob/`, `d:/x`},
			checks: []check{
				{`\Windows\Temp\a`, true},
				{`\Users\bob`, true},
				{`\Users\bobby`, false},
				{`\x`, true},
			},
			wantPatExc: []string{`\Windows\Temp`, `\Users\bob`, `\x`},
		},
		{
			name: "absolute exception inside excluded directory",
			excl: []string{`\dir`},
			exc:  []string{`\dir\keep.txt`},
			checks: []check{
				{`\dir`, false},
				{`\dir\keep.txt`, false},
				{`\dir\keep.txt\below`, false},
				{`\dir\other.txt`, true},
				{`\dir\sub\keep.txt`, true},
				{`\dirx`, false},
			},
		},
		{
			name: "relative exception cannot reach into excluded directory",
			excl: []string{`\dir`},
			exc:  []string{`keep.txt`},
			checks: []check{
				{`\dir`, true},
				{`\dir\keep.txt`, true},
			},
		},
		{
			name: "relative exception rescues matching names",
			excl: []string{`*.log`},
			exc:  []string{`keep.log`},
			checks: []check{
				{`\x\keep.log`, false},
				{`\x\a.log`, true},
				{`\keep.log`, false},
			},
		},
		{
			name: "relative exception with only absolute exclusions",
			excl: []string{`\Windows\Temp\*`, `\abc`},
			exc:  []string{`keep.log`, `ABC`},
			checks: []check{
				{`\Windows\Temp\keep.log`, false},
				{`\Windows\Temp\other.log`, true},
				{`\abc`, false},
				{`\abc\x`, true}, // the relative exception matches names, not ancestors
			},
		},
		{
			name: "absolute exception directory keeps its subtree",
			excl: []string{`*.log`},
			exc:  []string{`\Users\alice`},
			checks: []check{
				{`\Users\alice\Documents\keep.log`, false},
				{`\Users\bob\x.log`, true},
				{`\Users\a.log`, true}, // \Users (not a.log) is an ancestor of the exception
			},
		},
		{
			name: "relative exclusion of an ancestor of an absolute exception",
			excl: []string{`dir`},
			exc:  []string{`\dir\keep.txt`},
			checks: []check{
				{`\dir`, false},
				{`\dir\keep.txt`, false},
				{`\dir\other.txt`, true}, // wimlib keeps it; see the package doc
				{`\dir\sub\dir`, true},
				{`\x\dir\y`, true},
			},
		},
		{
			name: "everything but one directory",
			excl: []string{`\*`},
			exc:  []string{`\Windows\System32`},
			checks: []check{
				{`\Windows`, false},
				{`\Windows\System32\drivers\x.sys`, false},
				{`\Windows\Temp`, true},
				{`\Users`, true},
			},
		},
		{
			name: "exceptions without exclusions change nothing",
			exc:  []string{`\x`},
			checks: []check{
				{`\x`, false},
				{`\y`, false},
			},
		},
		{
			name: "literal characters that are special elsewhere",
			excl: []string{`\[a-z]`, `\a.b`, `\$ntfs.log`, `\x+y(1)`},
			checks: []check{
				{`\[A-Z]`, true},
				{`\q`, false},
				{`\a.b`, true},
				{`\axb`, false},
				{`\$NTFS.LOG`, true},
				{`\x+y(1)`, true},
			},
		},
		{
			name: "invalid UTF-8 in a path matches only wildcards",
			excl: []string{`\a?c`, "\\x\uFFFDy"},
			checks: []check{
				{"\\a\xffc", true},
				{"\\x\xffy", false},
				{"\\x\uFFFDy", true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.excl, tt.exc)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			for _, c := range tt.checks {
				for _, isDir := range []bool{false, true} {
					if got := m.Excluded(c.path, isDir); got != c.want {
						t.Errorf("Excluded(%q, %v) = %v, want %v", c.path, isDir, got, c.want)
					}
				}
			}
			if tt.wantPatExc != nil {
				got, _ := m.Patterns()
				if fmt.Sprint(got) != fmt.Sprint(tt.wantPatExc) {
					t.Errorf("Patterns() = %q, want %q", got, tt.wantPatExc)
				}
			}
		})
	}
}

func TestNilMatcher(t *testing.T) {
	var m *Matcher
	if m.Excluded(`\pagefile.sys`, false) {
		t.Error("nil Matcher excluded a path")
	}
	if e, x := m.Patterns(); e != nil || x != nil {
		t.Errorf("nil Matcher Patterns() = %q, %q", e, x)
	}
}

func TestBadPatterns(t *testing.T) {
	tests := []struct {
		pattern string
		want    string // substring of the error
	}{
		{``, "empty pattern"},
		{`\`, "whole volume"},
		{`//`, "whole volume"},
		{`C:`, "whole volume"},
		{`C:\`, "whole volume"},
		{`C:file.txt`, "drive-relative"},
		{`\a\..\b`, `".."`},
		{`.\x`, `"."`},
		{"\\a\x00b", "control character U+0000"},
		{"\\a\tb", "control character U+0009"},
		{"\\a\xffb", "not valid UTF-8"},
		{`\` + strings.Repeat("x", MaxPatternLen), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern[:min(len(tt.pattern), 20)], func(t *testing.T) {
			err := Validate(tt.pattern)
			if err == nil {
				t.Fatalf("Validate(%q) = nil, want error", tt.pattern)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate(%q) = %q, want it to contain %q", tt.pattern, err, tt.want)
			}
			if len(tt.pattern) < 100 && !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.pattern)) {
				t.Errorf("error %q does not name the pattern", err)
			}
		})
	}
}

func TestNewReportsAllBadPatterns(t *testing.T) {
	_, err := New([]string{`\ok`, ``, `C:x`}, []string{`\..`})
	if err == nil {
		t.Fatal("New accepted bad patterns")
	}
	for _, want := range []string{"exclusion 2:", "exclusion 3:", "exclusion exception 1:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestFold(t *testing.T) {
	// fold must agree with strings.EqualFold for every pair of runes in an
	// orbit and for unrelated runes.
	for r := rune(0); r < 0x2000; r++ {
		for _, s := range []rune{r + 1, r + 32, r - 32} {
			if s < 0 {
				continue
			}
			want := strings.EqualFold(string(r), string(s))
			if got := fold(r) == fold(s); got != want {
				t.Fatalf("fold(%U)==fold(%U) is %v, EqualFold says %v", r, s, got, want)
			}
		}
	}
}

func TestExcludedDoesNotAllocate(t *testing.T) {
	m, err := New(append([]string{`*.tmp`, `Windows\Temp`}, DefaultPatterns...), []string{`\Windows\CSC\keep`, `keep.tmp`})
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{`\Windows\System32\drivers\etc\hosts`, `\Windows\CSC\x`, `\Users\bob\ÄRGER.tmp`, `\pagefile.sys`}
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range paths {
			m.Excluded(p, false)
		}
	})
	if allocs != 0 {
		t.Errorf("Excluded allocated %v times per run, want 0", allocs)
	}
}

// refExcluded is a slow reference implementation of the documented rules,
// built on regexp (whose (?i) uses Unicode simple folding) and evaluated
// prefix by prefix, the way a capture walk does.
func refExcluded(t testing.TB, excl, exc []string, path string) bool {
	type refPat struct {
		abs   bool
		comps []*regexp.Regexp
	}
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == '\\' || r == '/' })
	}
	compileRef := func(s string) refPat {
		if len(s) >= 2 && s[1] == ':' && strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", rune(s[0])) {
			s = s[2:]
		}
		p := refPat{abs: strings.HasPrefix(s, `\`) || strings.HasPrefix(s, `/`)}
		for _, c := range split(s) {
			var re strings.Builder
			re.WriteString(`(?is)^`)
			for _, r := range c {
				switch r {
				case '*':
					re.WriteString(`.*`)
				case '?':
					re.WriteString(`.`)
				default:
					re.WriteString(regexp.QuoteMeta(string(r)))
				}
			}
			re.WriteString(`$`)
			p.comps = append(p.comps, regexp.MustCompile(re.String()))
		}
		return p
	}
	var ex, ec []refPat
	for _, s := range excl {
		ex = append(ex, compileRef(s))
	}
	for _, s := range exc {
		ec = append(ec, compileRef(s))
	}
	comps := split(path)
	for k := 1; k <= len(comps); k++ {
		q := comps[:k]
		matched, rescued := false, false
		for _, p := range ex {
			if p.abs && len(p.comps) <= k && allMatch(p.comps, q[:len(p.comps)]) {
				matched = true
			}
			for j := len(p.comps); !p.abs && j <= k; j++ { // q[:j] is q or an ancestor
				if allMatch(p.comps, q[j-len(p.comps):j]) {
					matched = true
				}
			}
		}
		for _, p := range ec {
			n := min(len(p.comps), k)
			if p.abs && allMatch(p.comps[:n], q[:n]) {
				rescued = true
			}
			if !p.abs && len(p.comps) <= k && allMatch(p.comps, q[k-len(p.comps):]) {
				rescued = true
			}
		}
		if matched && !rescued {
			return true
		}
	}
	return false
}

func allMatch(res []*regexp.Regexp, comps []string) bool {
	for i, re := range res {
		if !re.MatchString(comps[i]) {
			return false
		}
	}
	return true
}

func TestAgainstReference(t *testing.T) {
	excls := [][]string{DefaultPatterns, {`*.t?p`, `\a\b*`}, {`x\*\z`}, {`\*`}}
	excs := [][]string{nil, {`\a\b\keep`}, {`k*`}, {`\Windows\System32`, `*.sys`}}
	paths := []string{`\a`, `\a\b`, `\a\bc\keep`, `\a\b\keep\x`, `\a\b\other`, `\x\y\z`, `\q\x\y\z\w`,
		`\k.tmp`, `\Windows\System32\x.sys`, `\Windows\x.sys`, `\Windows\CSC\k`, `\pagefile.sys`, `\d\a.top`}
	for _, e := range excls {
		for _, x := range excs {
			m, err := New(e, x)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range paths {
				if got, want := m.Excluded(p, false), refExcluded(t, e, x, p); got != want {
					t.Errorf("excl %q exc %q: Excluded(%q) = %v, reference %v", e, x, p, got, want)
				}
			}
		}
	}
}

func FuzzMatcher(f *testing.F) {
	f.Add(`\pagefile.sys`, ``, `\PAGEFILE.SYS`)
	f.Add(`*.tmp`, `keep.tmp`, `\a\keep.tmp`)
	f.Add(`\dir`, `\dir\keep`, `\dir\keep\x`)
	f.Add(`dir`, `\dir\keep`, `\dir\other`)
	f.Add(`a\*\c`, `\x`, `\x\a\b\c`)
	f.Add(`C:\Windows\CSC`, `\Windows\CSC\k*`, `/windows/csc/KEEP`)
	f.Add(`*a*b*c*d*`, ``, `\aXbXcXdX`)
	f.Add(`\ärger?`, ``, `\ÄRGERß`)
	f.Fuzz(func(t *testing.T, excl, exc, path string) {
		if len(excl) > 200 || len(exc) > 200 || len(path) > 400 {
			return // keep the slow reference fast
		}
		var excs []string
		if exc != "" {
			excs = []string{exc}
		}
		m, err := New([]string{excl}, excs)
		if err != nil {
			if Validate(excl) == nil && (exc == "" || Validate(exc) == nil) {
				t.Fatalf("New failed but both patterns validate: %v", err)
			}
			return
		}
		got := m.Excluded(path, false)
		if utf8.ValidString(path) && !strings.ContainsRune(excl+exc, utf8.RuneError) {
			if want := refExcluded(t, []string{excl}, excs, path); got != want {
				t.Fatalf("excl %q exc %q: Excluded(%q) = %v, reference %v", excl, exc, path, got, want)
			}
		}
		// An excluded path's subtree is excluded too.
		if got && !m.Excluded(path+`\child`, false) {
			t.Fatalf("excl %q exc %q: %q excluded but %q is not", excl, exc, path, path+`\child`)
		}
	})
}

func BenchmarkExcluded(b *testing.B) {
	m, err := New(DefaultPatterns, nil)
	if err != nil {
		b.Fatal(err)
	}
	paths := benchPaths()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := paths[i%len(paths)]
		m.Excluded(p, false)
	}
}

func BenchmarkExcludedRelativeAndExceptions(b *testing.B) {
	m, err := New(append([]string{`*.tmp`, `*.log`, `Temp`}, DefaultPatterns...), []string{`\Windows\Logs\keep`, `keep.log`})
	if err != nil {
		b.Fatal(err)
	}
	paths := benchPaths()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.Excluded(paths[i%len(paths)], false)
	}
}

// benchPaths returns paths shaped like a Windows volume: most files several
// levels deep under \Windows, \Program Files and \Users.
func benchPaths() []string {
	tops := []string{`\Windows\System32\DriverStore\FileRepository\net.inf_amd64`, `\Windows\WinSxS\amd64_microsoft-windows`,
		`\Program Files\Common Files\microsoft shared\ink`, `\Users\Default\AppData\Local\Microsoft\Windows`, `\Windows\Logs\CBS`}
	var out []string
	for i := range 1000 {
		out = append(out, fmt.Sprintf(`%s\file%04d.dll`, tops[i%len(tops)], i))
	}
	return out
}
