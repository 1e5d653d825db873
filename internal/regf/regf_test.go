package regf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needTool skips the test when an external tool is missing, unless CI is
// set, in which case a missing tool fails the test.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found but CI is set: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// wantValue is a value the test expects to read back.
type wantValue struct {
	name string
	typ  uint32
	data []byte
}

// wantKey is a key with its expected values and subkeys (in writing order).
type wantKey struct {
	path   string
	values []wantValue
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// sampleHive builds a hive exercising every writer feature and returns the
// keys and values it should contain.
func sampleHive(t *testing.T) (*Hive, []wantKey) {
	t.Helper()
	big := make([]byte, 40000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	mid := bytes.Repeat([]byte{0xAB}, bigDataSegment)
	keys := []wantKey{
		{path: `Microsoft\Windows NT\CurrentVersion`, values: []wantValue{
			{"ProductName", TypeSZ, utf16z("Windows 11 Pro")},
			{"EditionID", TypeSZ, utf16z("Professional")},
			{"CurrentMajorVersionNumber", TypeDWORD, le32(10)},
			{"InstallTime", TypeQWORD, binary.LittleEndian.AppendUint64(nil, 0x01D9_0000_1234_5678)},
			{"PathName", TypeExpandSZ, utf16z(`%SystemRoot%\x`)},
			{"Empty", TypeSZ, utf16z("")},
			{"", TypeSZ, utf16z("default value")},
		}},
		{path: `ControlSet001\Control\ProductOptions`, values: []wantValue{
			{"ProductType", TypeSZ, utf16z("ServerNT")},
			{"ProductSuite", TypeMultiSZ, append(append(utf16z("Enterprise"), utf16z("Terminal Server")...), 0, 0)},
		}},
		{path: `Unicode\Ünïcödé Käy\日本語キー`, values: []wantValue{
			{"Wert ü", TypeSZ, utf16z("Grüße, 世界 😀")},
			{"名前", TypeDWORD, le32(0xDEADBEEF)},
		}},
		{path: `Data`, values: []wantValue{
			{"bin", TypeBinary, []byte{1, 2, 3, 4, 5, 6}},
			{"tiny", TypeBinary, []byte{9}},
			{"none", TypeNone, nil},
			{"be", TypeDWORDBigEndian, []byte{0, 0, 1, 2}},
			{"mid", TypeBinary, mid},
			{"big", TypeBinary, big},
		}},
		{path: `Empty\Leaf`},
	}
	h := New()
	for _, k := range keys {
		key := h.Key(k.path)
		for _, v := range k.values {
			switch {
			case v.typ == TypeSZ:
				key.SetString(v.name, String(v.data))
			case v.typ == TypeExpandSZ:
				key.SetExpandString(v.name, String(v.data))
			case v.typ == TypeMultiSZ:
				key.SetMultiString(v.name, MultiString(v.data))
			case v.typ == TypeDWORD && len(v.data) == 4:
				key.SetDWORD(v.name, binary.LittleEndian.Uint32(v.data))
			case v.typ == TypeQWORD:
				key.SetQWORD(v.name, binary.LittleEndian.Uint64(v.data))
			default:
				key.SetBinary(v.name, v.typ, v.data)
			}
		}
	}
	// Enough subkeys for an ri list, created in reverse order so that the
	// writer has to sort them.
	many := h.Key("Many")
	for i := 1199; i >= 0; i-- {
		many.Key(fmt.Sprintf("Sub%04d", i))
	}
	return h, keys
}

func writeHive(t *testing.T, h *Hive) (string, []byte) {
	t.Helper()
	b, err := h.Bytes()
	if err != nil {
		t.Fatalf("Bytes: %v", err)
	}
	p := filepath.Join(t.TempDir(), "hive")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// listKinds are the subkey list kinds every reader test runs with: lh as
// Windows XP and later write it, lf and li as older hives hold them.
var listKinds = []ListKind{ListLH, ListLF, ListLI}

// listCells counts the cells in use in hive b by their two-letter
// signature, for the subkey list kinds (lh, lf, li, ri).
func listCells(t *testing.T, b []byte) map[string]int {
	t.Helper()
	le := binary.LittleEndian
	counts := map[string]int{}
	for bin := 4096; bin < len(b); {
		if string(b[bin:bin+4]) != "hbin" {
			t.Fatalf("no hbin at %d", bin)
		}
		size := int(le.Uint32(b[bin+8:]))
		for c := bin + 32; c < bin+size; {
			n := int(int32(le.Uint32(b[c:])))
			if n < 0 {
				switch sig := string(b[c+4 : c+6]); sig {
				case "lh", "lf", "li", "ri":
					counts[sig]++
				}
				n = -n
			}
			if n <= 0 {
				t.Fatalf("cell at %d has size 0", c)
			}
			c += n
		}
		bin += size
	}
	return counts
}

// sampleHiveBytes writes the sample hive with subkey lists of kind and
// checks that the lists are of that kind, under ri lists too.
func sampleHiveBytes(t *testing.T, kind ListKind) (string, []byte, []wantKey) {
	t.Helper()
	h, keys := sampleHive(t)
	h.Lists = kind
	path, b := writeHive(t, h)
	cells := listCells(t, b)
	if cells[string(kind)] < 5 || cells["ri"] != 1 || len(cells) != 2 {
		t.Fatalf("%s hive: list cells %v, want %s lists and one ri", kind, cells, kind)
	}
	return path, b, keys
}

func TestRoundTripOwnReader(t *testing.T) {
	for _, kind := range listKinds {
		t.Run(string(kind), func(t *testing.T) { roundTripOwnReader(t, kind) })
	}
}

func roundTripOwnReader(t *testing.T, kind ListKind) {
	_, b, keys := sampleHiveBytes(t, kind)
	r, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	for _, k := range keys {
		t.Run(k.path, func(t *testing.T) {
			n, err := r.Key(k.path)
			if err != nil {
				t.Fatalf("Key: %v", err)
			}
			// Lookup with different case must find the same key.
			if n2, err := r.Key(strings.ToUpper(k.path)); err != nil || n2.off != n.off {
				t.Errorf("upper-case lookup: %v (off %v vs %d)", err, n2, n.off)
			}
			vals, err := n.Values()
			if err != nil {
				t.Fatalf("Values: %v", err)
			}
			if len(vals) != len(k.values) {
				t.Fatalf("got %d values, want %d", len(vals), len(k.values))
			}
			for i, w := range k.values {
				v := vals[i]
				if v.Name != w.name || v.Type != w.typ {
					t.Errorf("value %d: got %q type %d, want %q type %d", i, v.Name, v.Type, w.name, w.typ)
				}
				got, err := v.BigData()
				if err != nil {
					t.Errorf("value %q: %v", w.name, err)
					continue
				}
				if !bytes.Equal(got, w.data) {
					t.Errorf("value %q: data differs (%d vs %d bytes)", w.name, len(got), len(w.data))
				}
				// Single-value lookup (case-insensitive) finds the same.
				v2, err := n.Value(strings.ToLower(w.name))
				if err != nil || v2.Name != w.name {
					t.Errorf("Value(%q): %v", strings.ToLower(w.name), err)
				}
				// Data (wimlib rules) refuses big data only.
				_, err = v.Data()
				if isBig := len(w.data) > bigDataSegment; isBig != errors.Is(err, ErrUnsupported) {
					t.Errorf("value %q (%d bytes): Data err = %v", w.name, len(w.data), err)
				}
			}
		})
	}
	many, err := r.Key("many")
	if err != nil {
		t.Fatal(err)
	}
	subs, err := many.Subkeys()
	if err != nil {
		t.Fatalf("Subkeys of Many (ri list): %v", err)
	}
	if len(subs) != 1200 {
		t.Fatalf("Many has %d subkeys, want 1200", len(subs))
	}
	for i, s := range subs {
		if want := fmt.Sprintf("Sub%04d", i); s.Name() != want {
			t.Fatalf("subkey %d = %q, want %q (sorted)", i, s.Name(), want)
		}
	}
	if _, err := r.Key(`Many\sub0777`); err != nil {
		t.Errorf("lookup through ri list: %v", err)
	}
	if _, err := r.Key(`Many\Sub1200`); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("missing key: err = %v, want ErrKeyNotFound", err)
	}
	if _, err := r.Key(`Data`); err != nil {
		t.Fatal(err)
	}
	n, _ := r.Key(`Data`)
	if _, err := n.Value("nope"); !errors.Is(err, ErrValueNotFound) {
		t.Errorf("missing value: err = %v, want ErrValueNotFound", err)
	}
}

// regEscape quotes a string the way hivexget prints names and REG_SZ data.
func regEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// hivexLine renders one value the way `hivexget HIVE KEY` prints it.
func hivexLine(v wantValue) string {
	name := regEscape(v.name)
	if v.name == "" {
		name = `"@"`
	}
	hexed := func() string {
		parts := make([]string, len(v.data))
		for i, c := range v.data {
			parts[i] = fmt.Sprintf("%02x", c)
		}
		return strings.Join(parts, ",")
	}
	switch {
	case v.typ == TypeSZ:
		return name + "=" + regEscape(String(v.data))
	case v.typ == TypeExpandSZ:
		return name + "=str(2):" + regEscape(String(v.data))
	case v.typ == TypeDWORD && len(v.data) == 4:
		return fmt.Sprintf("%s=dword:%08x", name, binary.LittleEndian.Uint32(v.data))
	case v.typ == TypeDWORDBigEndian && len(v.data) == 4:
		return fmt.Sprintf("%s=dword:%08x", name, binary.BigEndian.Uint32(v.data))
	}
	return fmt.Sprintf("%s=hex(%d):%s", name, v.typ, hexed())
}

func TestHivexReadsWriterOutput(t *testing.T) {
	for _, kind := range listKinds {
		t.Run(string(kind), func(t *testing.T) { hivexReadsWriterOutput(t, kind) })
	}
}

func hivexReadsWriterOutput(t *testing.T, kind ListKind) {
	hivexget := needTool(t, "hivexget")
	hivexsh := needTool(t, "hivexsh")
	path, _, keys := sampleHiveBytes(t, kind)

	// hivexsh -d walks every cell and prints the stored and computed checksum.
	out, err := exec.Command(hivexsh, "-d", path).CombinedOutput()
	if err != nil {
		t.Fatalf("hivexsh -d: %v\n%s", err, out)
	}
	var stored, calc string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "checksum" {
			stored, calc = f[1], strings.TrimSuffix(f[3], ")")
		}
	}
	if stored == "" || stored != calc {
		t.Errorf("hivex checksum stored %q calculated %q", stored, calc)
	}

	for _, k := range keys {
		out, err := exec.Command(hivexget, path, k.path).Output()
		if err != nil {
			t.Fatalf("hivexget %s: %v", k.path, err)
		}
		var want []string
		for _, v := range k.values {
			want = append(want, hivexLine(v))
		}
		got := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		if len(want) == 0 {
			want = []string{""}
		}
		if len(got) != len(want) {
			t.Errorf("hivexget %q: %d lines, want %d", k.path, len(got), len(want))
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("hivexget %q line %d:\n got %.200q\nwant %.200q", k.path, i, got[i], want[i])
			}
		}
	}

	// Subkeys through the ri list, in sorted order, via hivexsh.
	cmd := exec.Command(hivexsh, path)
	cmd.Stdin = strings.NewReader("cd Many\nls\n")
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("hivexsh ls: %v", err)
	}
	names := strings.Fields(string(out))
	if len(names) != 1200 || names[0] != "Sub0000" || names[1199] != "Sub1199" {
		t.Errorf("hivexsh ls Many: %d names, first %q", len(names), names[:min(1, len(names))])
	}
}

func TestChecksum(t *testing.T) {
	tests := []struct {
		name  string
		words map[int]uint32
		want  uint32
	}{
		{"all zero gives 1", nil, 1},
		{"single word", map[int]uint32{0: 0x12345678}, 0x12345678},
		{"xor of two", map[int]uint32{0: 0xF0F0F0F0, 126: 0x0F0F0F0F}, 0xFFFFFFFE},
		{"word 127 not included", map[int]uint32{127: 0xAAAA}, 1},
		{"cancels to zero", map[int]uint32{3: 7, 9: 7}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, 512)
			for i, w := range tt.words {
				binary.LittleEndian.PutUint32(b[4*i:], w)
			}
			if got := Checksum(b); got != tt.want {
				t.Errorf("Checksum = %#x, want %#x", got, tt.want)
			}
		})
	}
}

func TestReaderRejectsDamage(t *testing.T) {
	h := New()
	h.Key(`A\B`).SetString("V", "hello world, long enough for a data cell")
	good, err := h.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	mut := func(f func(b []byte)) []byte {
		b := append([]byte{}, good...)
		f(b)
		return b
	}
	tests := []struct {
		name    string
		b       []byte
		wantErr error
		atOpen  bool
	}{
		{"short file", good[:100], ErrCorrupt, true},
		{"bad magic", mut(func(b []byte) { b[0] = 'x' }), ErrUnsupported, true},
		{"major version 2", mut(func(b []byte) { le.PutUint32(b[20:], 2) }), ErrUnsupported, true},
		{"hbin size past EOF", mut(func(b []byte) { le.PutUint32(b[40:], uint32(len(good))) }), ErrCorrupt, true},
		{"misaligned root", mut(func(b []byte) { le.PutUint32(b[36:], le.Uint32(b[36:])+4) }), ErrCorrupt, false},
		{"root past end", mut(func(b []byte) { le.PutUint32(b[36:], 0xFFFFFFF0) }), ErrCorrupt, false},
		{"root cell free", mut(func(b []byte) {
			off := 4096 + le.Uint32(b[36:])
			le.PutUint32(b[off:], -le.Uint32(b[off:]))
		}), ErrCorrupt, false},
		{"subkey count too high", mut(func(b []byte) {
			off := 4096 + le.Uint32(b[36:])
			le.PutUint32(b[off+0x18:], 2)
		}), ErrCorrupt, false},
		{"unknown list type", mut(func(b []byte) {
			off := 4096 + le.Uint32(b[36:])
			list := 4096 + le.Uint32(b[off+0x20:])
			copy(b[list+4:], "zz")
		}), ErrUnsupported, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tt.b), int64(len(tt.b)))
			if tt.atOpen {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NewReader err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			_, err = r.Key(`A\B`)
			if err == nil {
				// Damage after the match is invisible to a lookup (as in
				// wimlib), but listing all subkeys must see it.
				var root *Node
				if root, err = r.Root(); err == nil {
					_, err = root.Subkeys()
				}
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Key err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	// The undamaged hive reads fine (the damage above is what fails).
	r, err := NewReader(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.Key(`a\b`)
	if err != nil {
		t.Fatal(err)
	}
	v, err := n.Value("v")
	if err != nil {
		t.Fatal(err)
	}
	d, err := v.Data()
	if err != nil || String(d) != "hello world, long enough for a data cell" {
		t.Errorf("value = %q, %v", String(d), err)
	}
}

func TestRiDepthLimit(t *testing.T) {
	// A key whose subkey list is an ri pointing at itself must stop at the
	// nesting limit instead of looping.
	h := New()
	h.Key(`A`)
	b, err := h.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	root := 4096 + le.Uint32(b[36:])
	list := le.Uint32(b[root+0x20:])
	copy(b[4096+list+4:], "ri")
	le.PutUint16(b[4096+list+6:], 1)
	le.PutUint32(b[4096+list+8:], list)
	r, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Key("A"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("self-referencing ri: err = %v, want ErrCorrupt", err)
	}
}
