package scan

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"unicode/utf8"
)

func contextWithCancel(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

// checkTextWidth fails when a line of s is wider than 80 columns.
func checkTextWidth(t testing.TB, s string) {
	t.Helper()
	for i, line := range strings.Split(s, "\n") {
		if n := utf8.RuneCountInString(line); n > textWidth {
			t.Errorf("line %d is %d columns wide: %q", i+1, n, line)
		}
	}
}

func TestWriteTextLongValues(t *testing.T) {
	long := strings.Repeat("VeryLongWord", 12)
	rep := &Report{Version: ReportVersion, Disks: []*Disk{{
		Name: "nvme0n1", Path: "/dev/nvme0n1", Model: "Samsung SSD 990 PRO with a model name that goes on and on " + long,
		Size: 2 << 40, Table: TableGPT, Removable: true,
		Error:    "something odd " + long,
		Warnings: []string{strings.Repeat("warning words ", 20)},
		Partitions: []*Partition{
			{Index: 1, Size: 100 << 20, Role: RoleESP, Name: "EFI system partition", Volume: &Volume{FS: FSFAT32, Label: "SYSTEM", NoLetter: "EFI system partition"}},
			{Index: 3, Size: 1 << 40, Role: RoleBasicData, Name: "Basic data partition with a long GPT name!!",
				Problem: "entry 3 spans LBA 1-2 " + long,
				Volume: &Volume{
					Letter: "C", FS: FSNTFS, Label: "A label longer than sixteen runes ÄÖÜ", Note: long,
					State: StateMismatch, Reason: StateMismatch.Reason(), Detail: "the SOFTWARE hive says IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE but State.ini says IMAGE_STATE_COMPLETE",
					Windows: &WindowsInfo{SystemRoot: "WINDOWS", ProductName: "Windows Server 2025 Datacenter Evaluation (Desktop Experience)",
						Version: "10.0.26100.1742", Arch: "x86_64", DefaultLanguage: "de-DE"},
				}},
			{Index: 4, Size: 512, Role: RoleOther, Volume: &Volume{FS: FSUnknown, Label: "tab\there"}},
		},
	}, {Name: "empty.img", Path: "/tmp/empty.img", Table: TableNone, Partitions: []*Partition{}}},
		Skipped: []Skipped{{Name: "sr0", Reason: "optical drive (boot medium or CD/DVD)"}, {Name: "loop0", Reason: "loop device (not asked for)"},
			{Name: "loop1", Reason: "loop device (not asked for)"}},
	}
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	checkTextWidth(t, out)
	for _, want := range []string{"2.0 TiB", "1.0 TiB", "100 MiB", "512 B", "MISMATCH", "State.ini says", "Windows Server 2025",
		"de-DE", "(no partitions and no file system)", "sr0: optical drive", "loop0, loop1: loop device", "tab?here", "~"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\t") {
		t.Error("text contains a tab")
	}
	var empty bytes.Buffer
	if err := (&Report{}).WriteText(&empty); err != nil || !strings.Contains(empty.String(), "No disks") {
		t.Errorf("empty report: %q %v", empty.String(), err)
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 16 << 20: "16.0 MiB",
		100 << 20: "100 MiB", 1536 << 20: "1.5 GiB", 1 << 62: "4.0 EiB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestWrapWords(t *testing.T) {
	cases := []struct {
		first, indent, text string
		width               int
		want                []string
	}{
		{"> ", "  ", "a b c", 80, []string{"> a b c"}},
		{"> ", "  ", "aaa bbb ccc", 9, []string{"> aaa bbb", "  ccc"}},
		{"> ", "  ", "abcdefghijk", 6, []string{"> abc~"}},
		{"> ", "  ", "", 10, nil},
		{"12345", "12345", "word", 5, []string{"12345"}}, // no room at all: the word is dropped, never overflows
	}
	for _, tc := range cases {
		got := wrapWords(tc.first, tc.indent, tc.text, tc.width)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("wrapWords(%q, %q, %q, %d) = %q, want %q", tc.first, tc.indent, tc.text, tc.width, got, tc.want)
		}
	}
}
