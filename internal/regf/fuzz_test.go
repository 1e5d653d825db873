package regf

import (
	"bytes"
	"testing"
	"time"
)

// FuzzReader feeds arbitrary bytes to the reader and walks whatever tree it
// finds; it must never panic, and the walk is bounded by the reader's limits
// plus a node budget here.
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
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("walk took %v on %d bytes", d, len(data))
			}
		}()
		r, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		// The reader bounds each call; the budget bounds how many calls
		// this walk makes over a tree whose lists may form cycles.
		budget := 200
		var walk func(n *Node, depth int)
		walk = func(n *Node, depth int) {
			if depth > 8 || budget <= 0 {
				return
			}
			budget--
			_ = n.Name()
			if vals, err := n.Values(); err == nil {
				for _, v := range vals {
					_, _ = v.Data()
					_, _ = v.BigData()
				}
			}
			_, _ = n.Value("ProductType")
			_, _ = n.Subkey("Control")
			subs, err := n.Subkeys()
			if err != nil {
				return
			}
			for _, s := range subs {
				walk(s, depth+1)
			}
		}
		root, err := r.Root()
		if err != nil {
			return
		}
		walk(root, 0)
		_, _ = r.Key(`ControlSet001\Control\ProductOptions`)
	})
}
