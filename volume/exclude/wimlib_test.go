package exclude

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// needTool skips the test when a tool is missing outside CI; under CI=true a
// missing tool is a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s not installed (install wimtools); skipping outside CI", name)
		}
		t.Fatalf("%s not installed but CI is set: %v", name, err)
	}
	return p
}

// oracleTree lists the files ("/"-separated, relative) of the tree the wimlib
// comparison captures; names ending in "/" are empty directories.
var oracleTree = []string{
	"pagefile.sys", "PageFile.Sys.bak", "hiberfil.sys", "swapfile.sys", "$ntfs.log", "winpepge.sys",
	"sub/pagefile.sys", "sub/a.tmp", "sub/b.TMP", "sub/keep.tmp", "sub/deeper/c.tmp",
	"a.tmp/x", "a.tmp/keep.tmp",
	"Windows/CSC/v2.0.6/namespace/f", "Windows/CSC/other", "Windows/csc2/file", "Windows/Temp/t1.log", "Windows/Temp/keep.log",
	"Windows/System32/config/SYSTEM", "Windows/System32/config/SOFTWARE.LOG1", "Windows/System32/drivers/x.sys",
	"Windows/System32/drivers/etc/hosts", "Windows/SysWOW64/drivers/y.sys", "windows/lowercase-twin",
	"Users/bob/AppData/Local/Temp/t.log", "Users/alice/AppData/Local/Temp/u.log", "Users/alice/Documents/keep.log",
	"Users/alice/Documents/report.doc", "Users/a.log",
	"System Volume Information/tracking.log", "RECYCLER/x", "$Recycle.Bin/S-1-5-21/desktop.ini", "$RECYCLE.BIN/y",
	"dir/keep.txt", "dir/other.txt", "dir/sub/keep.txt", "dir/sub/dir/z", "x/dir/y", "dirx/keep.txt",
	"abc", "ac", "abbc", "aXc/inner", "data/report.doc", "data/sub/", "empty/",
	"name with spaces/f", "[brackets]/f", "ärger.txt",
}

func buildOracleTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	for _, p := range oracleTree {
		full := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// keptByMatcher walks root the way a capture does, skipping excluded
// subtrees, and returns the kept paths in wimdir's form ("/a/b").
func keptByMatcher(t *testing.T, m *Matcher, root string) []string {
	t.Helper()
	var kept []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		winPath := `\` + strings.ReplaceAll(filepath.ToSlash(rel), "/", `\`)
		if m.Excluded(winPath, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		kept = append(kept, "/"+filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(kept)
	return kept
}

// keptByWimlib captures root with wimcapture and the same patterns (case
// insensitive, as on Windows) and lists the image with wimdir.
func keptByWimlib(t *testing.T, excl, exc []string, root string) []string {
	t.Helper()
	dir := t.TempDir()
	var cfg bytes.Buffer
	cfg.WriteString("[ExclusionList]\n")
	for _, p := range excl {
		cfg.WriteString(p + "\n")
	}
	cfg.WriteString("[ExclusionException]\n")
	for _, p := range exc {
		cfg.WriteString(p + "\n")
	}
	cfgPath := filepath.Join(dir, "config.ini")
	if err := os.WriteFile(cfgPath, cfg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	wim := filepath.Join(dir, "x.wim")
	cmd := exec.Command("wimcapture", root, wim, "--config="+cfgPath, "--compress=none")
	cmd.Env = append(os.Environ(), "WIMLIB_IMAGEX_IGNORE_CASE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wimcapture: %v\n%s", err, out)
	}
	out, err := exec.Command("wimdir", wim, "1").Output()
	if err != nil {
		t.Fatalf("wimdir: %v", err)
	}
	var kept []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line := sc.Text(); line != "/" && line != "" {
			kept = append(kept, line)
		}
	}
	slices.Sort(kept)
	return kept
}

func TestAgainstWimcapture(t *testing.T) {
	needTool(t, "wimcapture")
	needTool(t, "wimdir")
	if testing.Short() {
		t.Skip("runs wimcapture; skipped with -short")
	}
	root := buildOracleTree(t)
	tests := []struct {
		name      string
		excl, exc []string
		// wimlibAlsoKeeps lists entries wimlib keeps and the matcher
		// excludes on purpose (see the package doc).
		wimlibAlsoKeeps []string
	}{
		{"defaults", DefaultPatterns, nil, nil},
		{"relative star", []string{`*.tmp`}, nil, nil},
		{"relative star other case", []string{`*.TMP`, `ABC`}, nil, nil},
		{"absolute paths and middle wildcard", []string{`\Windows\System32\config`, `\Users\*\AppData\Local\Temp`}, nil, nil},
		{"absolute exception inside excluded dir", []string{`\dir`}, []string{`\dir\keep.txt`}, nil},
		{"relative exception cannot reach in", []string{`\dir`}, []string{`keep.txt`}, nil},
		{"exception directory", []string{`*.log`}, []string{`\Users\alice`}, nil},
		{"relative exception", []string{`*.log`, `*.tmp`}, []string{`keep.*`}, nil},
		{"relative exclusion of exception ancestor", []string{`dir`}, []string{`\dir\keep.txt`},
			[]string{"/dir/other.txt", "/dir/sub", "/dir/sub/keep.txt"}},
		{"relative CSC with exception below", []string{`CSC`, `hiberfil.sys`}, []string{`\Windows\CSC\v2.0.6`},
			[]string{"/Windows/CSC/other"}},
		{"question mark", []string{`a?c`, `\Windows\*\drivers`}, nil, nil},
		{"everything but one tree", []string{`\*`}, []string{`\Windows\System32`}, nil},
		{"all names but one tree", []string{`*`}, []string{`\data`, `\Users\alice\Documents\*.doc`}, nil},
		{"drive letter and slashes", []string{`C:\Windows\Temp`, `/Users//bob/`, `\name with spaces`}, nil, nil},
		{"brackets are literal", []string{`\[brackets]`}, nil, nil},
		{"star dot star", []string{`\*.*`}, []string{`\a.tmp\keep.tmp`}, nil},
		{"relative exception with absolute exclusions", []string{`\Windows\Temp\*`, `\abc`}, []string{`keep.log`, `ABC`}, nil},
		{"deep relative", []string{`*`}, []string{`\Windows\System32\drivers\etc\hosts`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.excl, tt.exc)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got := keptByMatcher(t, m, root)
			want := keptByWimlib(t, tt.excl, tt.exc, root)
			if tt.wimlibAlsoKeeps != nil {
				if extra := minus(want, got); !slices.Equal(extra, tt.wimlibAlsoKeeps) {
					t.Errorf("wimlib keeps %q beyond the matcher, want exactly %q", extra, tt.wimlibAlsoKeeps)
				}
				want = minus(want, tt.wimlibAlsoKeeps)
			}
			if !slices.Equal(got, want) {
				t.Errorf("kept sets differ (%d ours, %d wimlib)\nonly ours:   %q\nonly wimlib: %q",
					len(got), len(want), minus(got, want), minus(want, got))
			}
			// Guard against a vacuous comparison: every case must exclude
			// something and keep something.
			if total := countTree(t, root); len(want) == 0 || len(want) == total {
				t.Errorf("case is vacuous: wimlib kept %d of %d entries", len(want), total)
			}
		})
	}
}

func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func countTree(t *testing.T, root string) int {
	m, err := New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(keptByMatcher(t, m, root))
}
