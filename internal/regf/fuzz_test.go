package regf

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"
)

// countingReaderAt counts the reads that reach the hive file.
type countingReaderAt struct {
	r     *bytes.Reader
	reads atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	return c.r.ReadAt(p, off)
}

// Read bounds of one call, from the reader's limits: a subkey walk reads at
// most two cells per list (header, then entries) and per subkey (nk header,
// then name); a value walk the value list and two cells per value; big data
// its db cell, segment list and segments.
const (
	subkeyWalkReads = 2*maxSubkeyLists + 2*maxSubkeys + 2
	valueWalkReads  = 1 + 2*maxValues + 2
	bigDataReads    = 3 + 64*maxValueSize/bigDataSegment + 1
)

// lookups is how many listed subkeys and values of each key FuzzReader
// looks up again by name: each lookup walks the list, so all of them would
// cost the square of a list that may hold 65536 entries.
const lookups = 8

// FuzzReader feeds arbitrary bytes to the reader and walks whatever tree it
// finds. Besides never panicking, what it parses must hold together: a
// listed subkey or value is found again by its name, the lists hold the
// counts the key records, data has the size its value records (and Data
// and BigData agree), and every call stays within the reads the reader's
// limits allow. (No wall-clock bound: on a loaded machine any would be
// fragile; the read bounds are exact.)
func FuzzReader(f *testing.F) {
	h := New()
	k := h.Key(`ControlSet001\Control\ProductOptions`)
	k.SetString("ProductType", "WinNT")
	k.SetMultiString("ProductSuite", []string{"Terminal Server", "Enterprise"})
	k.SetDWORD("D", 7)
	k.SetBinary("Big", TypeBinary, make([]byte, 20000))
	for _, n := range []string{"en-US", "de-DE"} {
		h.Key(`ControlSet001\Control\MUI\UILanguages\` + n)
	}
	b, err := h.Bytes()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:4096])
	f.Add([]byte("regf"))
	for _, kind := range []ListKind{ListLF, ListLI} {
		h.Lists = kind
		b, err := h.Bytes()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cr := &countingReaderAt{r: bytes.NewReader(data)}
		r, err := NewReader(cr, int64(len(data)))
		if err != nil {
			return
		}
		// bounded runs fn and fails when it read more than limit cells.
		bounded := func(what string, limit int64, fn func()) {
			t.Helper()
			before := cr.reads.Load()
			fn()
			if n := cr.reads.Load() - before; n > limit {
				t.Fatalf("%s: %d reads, more than the %d the reader's limits allow", what, n, limit)
			}
		}
		// The budget bounds how many nodes this walk visits in a tree
		// whose lists may form cycles.
		budget := 200
		var walk func(n *Node, depth int)
		walk = func(n *Node, depth int) {
			if depth > 8 || budget <= 0 {
				return
			}
			budget--
			name := n.Name()
			var vals []*Value
			var verr error
			bounded("Values", valueWalkReads, func() { vals, verr = n.Values() })
			if verr == nil {
				if uint32(len(vals)) != n.NumValues() {
					t.Fatalf("key %q: %d values listed, %d recorded", name, len(vals), n.NumValues())
				}
				for i, v := range vals {
					checkValue(t, n, v, i < lookups, bounded)
				}
			}
			bounded("Value", valueWalkReads, func() { _, _ = n.Value("ProductType") })
			bounded("Subkey", subkeyWalkReads, func() { _, _ = n.Subkey("Control") })
			var subs []*Node
			var serr error
			bounded("Subkeys", subkeyWalkReads, func() { subs, serr = n.Subkeys() })
			if serr != nil {
				return
			}
			if uint32(len(subs)) != n.NumSubkeys() {
				t.Fatalf("key %q: %d subkeys listed, %d recorded", name, len(subs), n.NumSubkeys())
			}
			for i, s := range subs {
				// A listed subkey is found again by its name (or an
				// earlier one equal under the hive's case rules).
				if sn := s.Name(); i < lookups && roundTrips(sn) {
					var ferr error
					bounded("Subkey", subkeyWalkReads, func() { _, ferr = n.Subkey(sn) })
					if ferr != nil {
						t.Fatalf("key %q: listed subkey %q not found by name: %v", name, sn, ferr)
					}
				}
				walk(s, depth+1)
			}
		}
		var root *Node
		bounded("Root", 2, func() { root, err = r.Root() })
		if err != nil {
			return
		}
		walk(root, 0)
		bounded("Key", 3*subkeyWalkReads, func() { _, _ = r.Key(`ControlSet001\Control\ProductOptions`) })
	})
}

// roundTrips reports whether a decoded name encodes back to the same UTF-16
// (not so for unpaired surrogates, which decode to U+FFFD).
func roundTrips(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, utf8.RuneError)
}

// checkValue checks what the reader says about one listed value of n.
func checkValue(t *testing.T, n *Node, v *Value, lookup bool, bounded func(string, int64, func())) {
	t.Helper()
	if lookup && roundTrips(v.Name) {
		var err error
		bounded("Value", valueWalkReads, func() { _, err = n.Value(v.Name) })
		if err != nil {
			t.Fatalf("key %q: listed value %q not found by name: %v", n.Name(), v.Name, err)
		}
	}
	var data, big []byte
	var derr, berr error
	bounded("Data", 2, func() { data, derr = v.Data() })
	bounded("BigData", bigDataReads, func() { big, berr = v.BigData() })
	if derr == nil {
		if uint32(len(data)) != v.Size() {
			t.Fatalf("value %q: Data gave %d bytes, the value records %d", v.Name, len(data), v.Size())
		}
		if berr != nil || !bytes.Equal(big, data) {
			t.Fatalf("value %q: Data succeeded but BigData differs (%v)", v.Name, berr)
		}
	}
	if berr == nil && uint32(len(big)) != v.Size() {
		t.Fatalf("value %q: BigData gave %d bytes, the value records %d", v.Name, len(big), v.Size())
	}
}
