package metadata

import (
	"os"
	"regexp"
	"testing"
	"unicode"
	"unicode/utf16"

	"github.com/wdscapture/wdscapture/internal/regf"
)

// TestUpcaseMatchesWimlib names system root directories with runs of BMP
// characters and compares wimlib's upper-cased SYSTEMROOT with ours, one
// character at a time. By default it checks every character that Unicode
// gives a case mapping (about 2300, 29 captures); METADATA_UPCASE_SWEEP=1
// checks the whole BMP (about 800 captures).
func TestUpcaseMatchesWimlib(t *testing.T) {
	if testing.Short() {
		t.Skip("captures ~30 trees with wimcapture; skipped with -short")
	}
	needTool(t, "wimcapture")
	full := os.Getenv("METADATA_UPCASE_SWEEP") != ""
	var cs []rune
	for c := rune(0x80); c < 0xFFFE; c++ {
		if c >= 0xD800 && c < 0xE000 {
			continue
		}
		if full || unicode.ToUpper(c) != c || unicode.ToLower(c) != c || unicode.ToTitle(c) != c {
			cs = append(cs, c)
		}
	}
	re := regexp.MustCompile(`<SYSTEMROOT>(.*?)</SYSTEMROOT>`)
	bad := 0
	const perName = 80 // at most 3 UTF-8 bytes each: within the 255-byte name limit
	for i := 0; i < len(cs); i += perName {
		chunk := cs[i:min(i+perName, len(cs))]
		dir := t.TempDir()
		writeFiles(t, dir, map[string][]byte{string(chunk) + "/System32/kernel32.dll": peStub(0x8664)})
		win, _ := wimlibXML(t, dir)
		m := re.FindStringSubmatch(win)
		if m == nil {
			t.Fatalf("no SYSTEMROOT for the name starting U+%04X: %s", chunk[0], win)
		}
		got := utf16.Encode([]rune(m[1]))
		if len(got) != len(chunk) {
			t.Fatalf("SYSTEMROOT has %d code units, the name %d", len(got), len(chunk))
		}
		for j, c := range chunk {
			if ours := regf.Upcase(uint16(c)); ours != got[j] {
				bad++
				if bad <= 20 {
					t.Errorf("U+%04X: wimlib U+%04X, ours U+%04X", c, got[j], ours)
				}
			}
		}
		os.RemoveAll(dir)
	}
	if bad > 0 {
		t.Errorf("%d of %d characters upper-case differently", bad, len(cs))
	}
	t.Logf("checked %d characters", len(cs))
}
