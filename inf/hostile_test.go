package inf

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

const secret = "hunter2-s3cret"

// leaks reports whether the secret appears anywhere a log or message could
// show it: patterns, warnings, errors.
func leaks(s *Settings, warns []Warning, err error) bool {
	var all []string
	if s != nil {
		all = append(all, s.Exclusions...)
		all = append(all, s.ExclusionExceptions...)
		all = append(all, s.ImageName, s.ImageDescription, s.ServerName, s.Username)
	}
	for _, w := range warns {
		all = append(all, w.String())
	}
	if err != nil {
		all = append(all, err.Error())
	}
	for _, x := range all {
		if strings.Contains(x, secret) {
			return true
		}
	}
	return false
}

// TestMalformedSectionHeaders: a header with text after ']' or without
// ']' used to turn the following lines (the password among them) into
// exclusion patterns, which the log then showed. Each is now an error
// naming its line, and the lines after it go nowhere.
func TestMalformedSectionHeaders(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       int
	}{
		{"text after ] in a list", "[ExclusionList]\n\\pagefile.sys\n[WDS] server settings\nPassword=" + secret + "\n", 3},
		{"no ] in a list", "[ExclusionList]\n[WDS\nPassword=" + secret + "\n", 2},
		{"no ] in exceptions", "[ExclusionException]\n\\keep\n[WDS\nPassword=" + secret + "\n", 3},
		{"text after ] in Capture", "[Capture]\nImageName=x\n[WDS] (server)\nPassword=" + secret + "\n", 3},
		{"unknown section", "[Capture]\n[WDS-Settings]\nPassword=" + secret + "\n", 2},
		{"settings line among patterns", "[ExclusionList]\n\\a\nPassword=" + secret + "\n", 3},
		{"settings line among patterns, odd case", "[ExclusionException]\n  pASSword = " + secret + "\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, warns, err := Parse([]byte(tc.text), "t.inf")
			var list ErrorList
			if !errors.As(err, &list) || list[0].Line != tc.line {
				t.Fatalf("Parse = %v, want an error at line %d", err, tc.line)
			}
			if leaks(s, warns, err) {
				t.Errorf("the password shows up: settings %+v, warnings %v, error %v", s, warns, err)
			}
			if s != nil && s.Password.Reveal() != "" {
				t.Errorf("the password was taken from a line after a bad header")
			}
		})
	}
}

// TestLookalikeKeyNames: key names with Cyrillic letters or invisible
// characters are escaped in messages and named as the look-alikes they
// are, as a U+200B already was escaped.
func TestLookalikeKeyNames(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[WDS]\nРassword=x\n", `"\u0420assword" (looks like Password`},
		{"[Capture]\nІmageName=x\n", `"\u0406mageName" (looks like ImageName`},
		{"[WDS]\nPass\u200bword=x\n", `"Pass\u200bword" (looks like Password`},
		{"[Capture]\nFarbe=blau\n", `"Farbe"`},
	} {
		_, warns, err := Parse([]byte(tc.text), "t.inf")
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		if len(warns) != 1 || !strings.Contains(warns[0].Msg, tc.want) {
			t.Errorf("%q: warnings %v, want one containing %s", tc.text, warns, tc.want)
		}
		for _, w := range warns {
			for _, r := range w.Msg {
				if r >= utf8.RuneSelf {
					t.Errorf("%q: the message has the raw character %U: %s", tc.text, r, w.Msg)
				}
			}
		}
	}
	_, _, err := Parse([]byte("[Сapture]\nImageName=x\n"), "t.inf")
	if err == nil || !strings.Contains(err.Error(), `"[\u0421apture]" (looks like [Capture]`) {
		t.Errorf("look-alike section: %v", err)
	}
}

// TestWarningsKept: Parse keeps its warnings on the settings, so that the
// capture log can record them.
func TestWarningsKept(t *testing.T) {
	s, warns, err := Parse([]byte("[Capture]\nColour=blue\n"), "t.inf")
	if err != nil || len(warns) != 1 || len(s.Warnings) != 1 || s.Warnings[0] != warns[0] {
		t.Fatalf("settings warnings %v, returned %v, err %v", s.Warnings, warns, err)
	}
}

// FuzzSectionHeader puts an arbitrary line where a section header would be,
// inside a pattern list and before a password: the password must never
// reach a pattern or a message, and a line that starts with '[' must be a
// known section header or an error naming it.
func FuzzSectionHeader(f *testing.F) {
	for _, l := range []string{"[WDS]", "[WDS] ; comment", "[WDS] server settings", "[WDS", "[", "[]", "[ wds ]", "[Capture]x", "[Сapture]", "\\pattern", "\"[quoted]\"", "Password=x", "[ExclusionList]"} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\r\n") {
			return
		}
		text := "[ExclusionList]\n" + line + "\nPassword=" + secret + "\n"
		s, warns, err := Parse([]byte(text), "f.inf")
		if leaks(s, warns, err) {
			t.Fatalf("the password shows up (settings %+v, warnings %v, error %v)", s, warns, err)
		}
		t2 := trimBlank(line)
		if !strings.HasPrefix(t2, "[") {
			return
		}
		name, trailing, isHeader, _ := sectionHeader(t2)
		_, known := lookupSection(name)
		wellFormed := isHeader && known && (trailing == "" || trailing[0] == ';' || trailing[0] == '#')
		if wellFormed {
			return
		}
		// An error at line 2, or the whole file refused (line 0: NUL
		// bytes, bad encoding).
		var list ErrorList
		if !errors.As(err, &list) || (list[0].Line != 2 && list[0].Line != 0) {
			t.Fatalf("line %q: Parse = %v, want an error at line 2", line, err)
		}
	})
}

// TestTextCharacterNamed: a character the WIM's XML data cannot hold is
// named in the error by its code point, and U+FFFE is not called a control
// character (issue 14 item 15).
func TestTextCharacterNamed(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"x\uFFFEy", "ImageDescription: contains U+FFFE, a noncharacter"},
		{"x\uFFFFy", "ImageDescription: contains U+FFFF, a noncharacter"},
	} {
		_, _, err := Parse([]byte("[Capture]\nImageName=n\nImageDescription="+tc.value+"\n"), "t.inf")
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.value) {
			t.Errorf("%q: %v; want %q, without the value itself", tc.value, err, tc.want)
		}
	}
	// A control character cannot come from a file (Parse refuses the
	// whole file); it can come from the wizard.
	s := Default()
	s.ImageName = "a\x1bb"
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "ImageName: contains the control character U+001B") {
		t.Errorf("Validate = %v, want the control character named", err)
	}
}
