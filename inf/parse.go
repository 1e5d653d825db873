package inf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/wdscapture/wdscapture/internal/fileopen"
)

// maxReports caps the errors and the warnings reported for one file, so that
// a garbage file gives a readable message rather than a million lines.
const maxReports = 100

var knownSections = []string{SectionCapture, SectionWDS, SectionExclusionList, SectionExclusionException}

func lookupSection(name string) (string, bool) {
	for _, s := range knownSections {
		if strings.EqualFold(s, name) {
			return s, true
		}
	}
	return "", false
}

// Load reads and parses the file at path. See Parse for the results.
func Load(path string) (*Settings, []Warning, error) {
	// Opened without blocking: a FIFO here must be an error, not a hang.
	f, fi, err := fileopen.Open(path, "a settings file", false)
	if err != nil {
		return nil, nil, fmt.Errorf("read capture settings: %w", err)
	}
	defer f.Close()
	if fi.Size() > MaxSize {
		return nil, nil, fmt.Errorf("read capture settings %s: file is %d bytes, more than the %d-byte limit", path, fi.Size(), MaxSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read capture settings %s: %w", path, err)
	}
	return Parse(data, path)
}

// Find locates Windows/System32/WDSCapture.inf under root, matching each path
// component case-insensitively (an exact-case name is preferred). When the
// file does not exist the error wraps fs.ErrNotExist.
func Find(root string) (string, error) {
	dir := root
	for _, want := range []string{"Windows", "System32", "WDSCapture.inf"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return "", fmt.Errorf("find WDSCapture.inf under %s: %w", root, err)
		}
		found := ""
		for _, e := range entries {
			if e.Name() == want {
				found = want
				break
			}
			if found == "" && strings.EqualFold(e.Name(), want) {
				found = e.Name()
			}
		}
		if found == "" {
			return "", fmt.Errorf("find WDSCapture.inf under %s: no %s in %s: %w", root, want, dir, fs.ErrNotExist)
		}
		dir = filepath.Join(dir, found)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("find WDSCapture.inf under %s: %w", root, err)
	}
	if fi.IsDir() {
		return "", fmt.Errorf("find WDSCapture.inf under %s: %s is a directory: %w", root, dir, fs.ErrNotExist)
	}
	return dir, nil
}

// Parse parses the content of a WDSCapture.inf; name is the file name used
// in messages.
//
// A file that cannot be read as text (over MaxSize, binary, bad UTF-16)
// gives nil settings and an error. Otherwise Parse returns the settings,
// starting from Default and overridden by the file, the warnings, and, when
// any value is bad, a non-nil ErrorList naming every bad line; the settings
// are still returned then (a bad Yes/No or enum value keeps its default, a
// bad string value is kept as written) so that a wizard can show and fix
// them, but they must not be used for an unattended run.
func Parse(data []byte, name string) (*Settings, []Warning, error) {
	text, encWarning, err := decodeText(data)
	if err != nil {
		return nil, nil, ErrorList{{File: name, Msg: err.Error()}}
	}
	text = strings.TrimPrefix(text, "\uFEFF") // a second BOM, or one inside UTF-16
	p := &parser{name: name, s: Default()}
	p.s.Source = name
	if encWarning != "" {
		p.warn(0, encWarning)
	}
	if err := p.run(text); err != nil {
		return nil, nil, ErrorList{err}
	}
	p.finish()
	if p.suppressedWarnings > 0 {
		p.warnings = append(p.warnings, Warning{File: name, Msg: fmt.Sprintf("%d more warnings not shown", p.suppressedWarnings)})
	}
	p.s.Warnings = p.warnings
	if len(p.errs) > 0 {
		sortErrors(p.errs)
		if len(p.errs) > maxReports {
			n := len(p.errs) - maxReports
			p.errs = append(p.errs[:maxReports], &Error{File: name, Msg: fmt.Sprintf("%d more errors not shown", n)})
		}
		return p.s, p.warnings, p.errs
	}
	return p.s, p.warnings, nil
}

type rawValue struct {
	value string
	line  int
}

type parser struct {
	name               string
	s                  *Settings
	warnings           []Warning
	suppressedWarnings int
	errs               ErrorList
	values             map[string]rawValue // canonical key -> first value
	sawExclusionList   bool
}

func (p *parser) warn(line int, msg string) {
	if len(p.warnings) >= maxReports {
		p.suppressedWarnings++
		return
	}
	p.warnings = append(p.warnings, Warning{File: p.name, Line: line, Msg: msg})
}

func (p *parser) fail(line int, section, key, msg string) {
	p.errs = append(p.errs, &Error{File: p.name, Line: line, Section: section, Key: key, Msg: msg})
}

// trimBlank trims ASCII blanks (not Unicode spaces: a name may end in
// U+00A0).
func trimBlank(s string) string { return strings.Trim(s, " \t\v\f") }

// unquote removes one pair of matching surrounding quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// sectionHeader recognizes "[name]", optionally followed by a comment.
// isHeader is false for lines not starting with '['; malformed is true for
// lines starting with '[' that are no header.
func sectionHeader(t string) (name, trailing string, isHeader, malformed bool) {
	if !strings.HasPrefix(t, "[") {
		return "", "", false, false
	}
	end := strings.IndexByte(t, ']')
	if end < 0 {
		return "", "", false, true
	}
	return trimBlank(t[1:end]), trimBlank(t[end+1:]), true, false
}

func (p *parser) run(text string) *Error {
	section := ""    // canonical name, or "" before any section
	unknown := false // in a section we do not know
	lineNo := 0
	for len(text) > 0 {
		lineNo++
		var raw string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			raw, text = text[:i], text[i+1:]
		} else {
			raw, text = text, ""
		}
		raw = strings.TrimSuffix(raw, "\r")
		for _, r := range raw {
			if (r < 0x20 && r != '\t' && r != '\v' && r != '\f') || r == 0x7f {
				return &Error{File: p.name, Line: lineNo, Msg: fmt.Sprintf("control character %U: this is not a text settings file", r)}
			}
		}
		t := trimBlank(raw)
		if t == "" || t[0] == ';' || t[0] == '#' {
			continue
		}
		isList := section == SectionExclusionList || section == SectionExclusionException
		name, trailing, isHeader, malformed := sectionHeader(t)
		if !malformed && isHeader && trailing != "" && trailing[0] != ';' && trailing[0] != '#' {
			malformed = true
		}
		if malformed {
			// Taken as a pattern or skipped, the lines after it (a
			// password among them) would land where they do not belong:
			// they are ignored, and the file is refused.
			why := "missing ']'"
			if isHeader {
				why = "text after ']' (a comment starts with ';' or '#')"
			}
			p.fail(lineNo, "", "", fmt.Sprintf("malformed section header: %s; the lines up to the next section header are ignored", why))
			section, unknown = "", true
			continue
		}
		if isHeader {
			canon, ok := lookupSection(name)
			if !ok {
				p.fail(lineNo, "", "", fmt.Sprintf("unknown section %s; known sections are [Capture], [ExclusionList], [ExclusionException], [WDS] (the lines up to the next section header are ignored)", quoteName("["+name+"]", sectionNames)))
				section, unknown = "", true
				continue
			}
			section, unknown = canon, false
			switch canon {
			case SectionExclusionList:
				if !p.sawExclusionList {
					p.sawExclusionList = true
					p.s.Exclusions = nil
				}
				p.s.setLine(canon, lineNo)
			case SectionExclusionException:
				p.s.setLine(canon, lineNo)
			}
			continue
		}
		if isList {
			// A settings line among the patterns: a section header is
			// missing or damaged above it. It is never kept as a pattern
			// (the value may be the password, and patterns are logged).
			if eq := strings.IndexByte(t, '='); eq > 0 {
				if k, ok := lookupKey(trimBlank(t[:eq])); ok {
					p.fail(lineNo, section, "", fmt.Sprintf("%s=... is a setting of [%s], not a pattern: is its section header missing or malformed? (the value is not shown)", k.name, k.section))
					continue
				}
			}
		}
		switch {
		case unknown:
			continue
		case section == "":
			p.warn(lineNo, "text outside any section ignored")
		case isList:
			p.listLine(section, unquote(t), lineNo)
		default:
			p.keyLine(section, t, lineNo)
		}
	}
	return nil
}

func (p *parser) listLine(section, pattern string, line int) {
	if pattern == "" {
		return
	}
	if section == SectionExclusionList {
		p.s.Exclusions = append(p.s.Exclusions, pattern)
		p.s.exclLines = append(p.s.exclLines, line)
		return
	}
	p.s.ExclusionExceptions = append(p.s.ExclusionExceptions, pattern)
	p.s.excLines = append(p.s.excLines, line)
}

func (p *parser) keyLine(section, t string, line int) {
	eq := strings.IndexByte(t, '=')
	if eq < 0 {
		// Do not echo the line: in [WDS] it may be a password.
		p.warn(line, fmt.Sprintf("line in [%s] has no '=' and is ignored", section))
		return
	}
	keyName := trimBlank(t[:eq])
	value := unquote(trimBlank(t[eq+1:]))
	if keyName == "" {
		p.warn(line, fmt.Sprintf("line in [%s] has no key name before '=' and is ignored", section))
		return
	}
	k, ok := lookupKey(keyName)
	if !ok {
		p.warn(line, fmt.Sprintf("unknown key %s in [%s] ignored", quoteName(keyName, keyNames()), section))
		return
	}
	if k.section != section {
		p.warn(line, fmt.Sprintf("key %s belongs in [%s], not [%s]; ignored", k.name, k.section, section))
		return
	}
	if p.values == nil {
		p.values = make(map[string]rawValue)
	}
	if prev, dup := p.values[k.name]; dup {
		if prev.value == value {
			p.warn(line, fmt.Sprintf("%s is set again with the same value (first at line %d)", k.name, prev.line))
		} else {
			p.fail(line, section, k.name, fmt.Sprintf("set again with a different value (first at line %d); remove one", prev.line))
		}
		return
	}
	p.values[k.name] = rawValue{value: value, line: line}
	if value == "" {
		return // empty is the same as absent
	}
	p.s.setLine(k.name, line)
	if err := p.apply(k.name, value); err != nil {
		p.fail(line, section, k.name, err.Error())
	}
}

const boolAllowed = "allowed values are Yes, No, True, False, 1, 0"

func parseBool(v string) (value, ok bool) {
	switch strings.ToLower(v) {
	case "yes", "true", "1":
		return true, true
	case "no", "false", "0":
		return false, true
	}
	return false, false
}

// apply stores one non-empty value. Only syntax is checked here; content is
// checked by Settings.validate once every key is known.
func (p *parser) apply(key, v string) error { return p.s.Set(key, v) }

func (p *parser) finish() {
	s := p.s
	p.errs = append(p.errs, s.validate()...)
	if r, ok := normalizeRoot(s.SystemRoot); ok {
		s.SystemRoot = r
	}
	if p.sawExclusionList && len(s.Exclusions) == 0 {
		p.warn(s.Line(SectionExclusionList), "[ExclusionList] is empty: the page file, hibernation file and System Volume Information will be captured")
	}
}

// decodeText turns the file's bytes into UTF-8 text. warning is non-empty
// when the bytes were read as Windows-1252.
func decodeText(data []byte) (text, warning string, err error) {
	if len(data) > MaxSize {
		return "", "", fmt.Errorf("file is %d bytes, more than the %d-byte limit", len(data), MaxSize)
	}
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
		if !utf8.Valid(data) {
			return "", "", errors.New("file starts with a UTF-8 byte-order mark but is not valid UTF-8")
		}
		return string(data), "", nil
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		t, err := decodeUTF16(data[2:], false)
		return t, "", err
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		t, err := decodeUTF16(data[2:], true)
		return t, "", err
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return "", "", fmt.Errorf("NUL byte at offset %d: not a text file (UTF-16 needs a byte-order mark)", i)
	}
	if utf8.Valid(data) {
		return string(data), "", nil
	}
	return decodeWindows1252(data), "not valid UTF-8; read as Windows-1252 (ANSI). Save the file as UTF-8 or Unicode to be sure", nil
}

func decodeUTF16(b []byte, bigEndian bool) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("UTF-16 file has an odd length (%d bytes)", len(b)+2)
	}
	var sb strings.Builder
	sb.Grow(len(b) / 2)
	for i := 0; i < len(b); i += 2 {
		u := rune(b[i]) | rune(b[i+1])<<8
		if bigEndian {
			u = rune(b[i])<<8 | rune(b[i+1])
		}
		switch {
		case u == 0:
			return "", fmt.Errorf("NUL character at byte offset %d: not a text file", i+2)
		case utf16.IsSurrogate(u):
			if u >= 0xDC00 || i+3 >= len(b) {
				return "", fmt.Errorf("invalid UTF-16 at byte offset %d: unpaired surrogate", i+2)
			}
			u2 := rune(b[i+2]) | rune(b[i+3])<<8
			if bigEndian {
				u2 = rune(b[i+2])<<8 | rune(b[i+3])
			}
			r := utf16.DecodeRune(u, u2)
			if r == utf8.RuneError {
				return "", fmt.Errorf("invalid UTF-16 at byte offset %d: unpaired surrogate", i+2)
			}
			sb.WriteRune(r)
			i += 2
		default:
			sb.WriteRune(u)
		}
	}
	return sb.String(), nil
}

// cp1252 maps bytes 0x80-0x9F of Windows-1252; the five undefined bytes map
// to the C1 control of the same value, as Windows does.
var cp1252 = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

func decodeWindows1252(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/2)
	for _, c := range b {
		switch {
		case c < 0x80:
			sb.WriteByte(c)
		case c < 0xA0:
			sb.WriteRune(cp1252[c-0x80])
		default:
			sb.WriteRune(rune(c))
		}
	}
	return sb.String()
}
