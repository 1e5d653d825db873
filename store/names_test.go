package store

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckNames(t *testing.T) {
	for _, tc := range []struct {
		name      string
		group, im bool // valid as a group name, as an image file name
	}{
		{"Windows 11", true, false},
		{"win11.wim", true, true},
		{"Win 11 (x64) [22H2].WIM", true, true},
		{"Ünïcødé ✓.wim", true, true},
		{"", false, false},
		{".wim", false, false},
		{".hidden.wim", false, false},
		{"..", false, false},
		{".", false, false},
		{"a/b.wim", false, false},
		{`a\b.wim`, false, false},
		{"../../etc/passwd", false, false},
		{"a:b.wim", false, false},
		{"a*.wim", false, false},
		{"a?.wim", false, false},
		{`a".wim`, false, false},
		{"a<b>.wim", false, false},
		{"a|b.wim", false, false},
		{"tab\there.wim", false, false},
		{"nl\n.wim", false, false},
		{"nul\x00.wim", false, false},
		{" lead.wim", false, false},
		{"trail.wim ", false, false},
		{"trail.", false, false},
		{"CON", false, false},
		{"con.wim", false, false},
		{"LPT1.wim", false, false},
		{"COM10.wim", true, true},
		{"res.rwm", true, false},
		{"image.wim.partial", true, false},
		{"bad\xffutf8.wim", false, false},
		{strings.Repeat("a", 116) + ".wim", true, true},
		{strings.Repeat("a", 117) + ".wim", false, false},
	} {
		if err := CheckGroupName(tc.name); (err == nil) != tc.group {
			t.Errorf("CheckGroupName(%q) = %v, want valid=%v", tc.name, err, tc.group)
		} else if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("CheckGroupName(%q) = %v, not an ErrBadName", tc.name, err)
		}
		if err := CheckImageFileName(tc.name); (err == nil) != tc.im {
			t.Errorf("CheckImageFileName(%q) = %v, want valid=%v", tc.name, err, tc.im)
		}
	}
}

func TestFileNameFor(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Windows 11 Enterprise", "Windows 11 Enterprise.wim"},
		{"a/b\\c:d", "a_b_c_d.wim"},
		{"  ..dots..  ", "dots.wim"},
		{"", "image.wim"},
		{"...", "image.wim"},
		{"CON", "_CON.wim"},
		{"x\x00y\tz", "x_y_z.wim"},
		{strings.Repeat("é", 200), strings.Repeat("é", 57) + ".wim"},
	} {
		got := FileNameFor(tc.in)
		if got != tc.want {
			t.Errorf("FileNameFor(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if err := CheckImageFileName(got); err != nil {
			t.Errorf("FileNameFor(%q) = %q, which is not valid: %v", tc.in, got, err)
		}
	}
}

func FuzzFileNameFor(f *testing.F) {
	for _, s := range []string{"Windows 11", "", "CON", "a/b", "..", "\xff\xfe", " x "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := FileNameFor(s); CheckImageFileName(got) != nil {
			t.Fatalf("FileNameFor(%q) = %q, not a valid image file name", s, got)
		}
	})
}
