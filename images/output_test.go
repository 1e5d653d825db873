package images

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOutputMatchesModel drives output with random appends, patches,
// rewinds and flushes, through O_DIRECT and through the page cache, and
// checks the file against an in-memory copy after every flush and at the
// end.
func TestOutputMatchesModel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		direct  bool
		prefill int // bytes already in the file (an append)
	}{
		{"direct/new", true, 0},
		{"direct/append-unaligned", true, 5000},
		{"direct/append-aligned", true, 2 * outAlign},
		{"cached/new", false, 0},
		{"cached/append-unaligned", false, 777},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(4) {
				t.Run(fmt.Sprint(seed), func(t *testing.T) {
					runOutputModel(t, tc.direct, tc.prefill, seed)
				})
			}
		})
	}
}

// requireDirectIO skips the test, saying why, when the file system of dir
// refuses O_DIRECT: the output would fall back to the page cache, and a
// test of the direct path would pass without testing it.
func requireDirectIO(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, ".odirect-probe")
	defer os.Remove(p)
	fd, err := syscall.Open(p, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_DIRECT|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		t.Skipf("the file system of %s refuses O_DIRECT (%v): the direct path cannot be tested here (set TMPDIR to a disk file system)", dir, err)
	}
	defer syscall.Close(fd)
	if _, err := syscall.Pwrite(fd, alignedBuffer()[:outAlign], 0); err != nil {
		t.Skipf("the file system of %s opens files with O_DIRECT but refuses direct writes (%v): the direct path cannot be tested here", dir, err)
	}
}

func runOutputModel(t *testing.T, direct bool, prefill int, seed uint64) {
	dir := t.TempDir()
	if direct {
		requireDirectIO(t, dir)
	}
	old := directIO
	directIO = direct
	defer func() { directIO = old }()
	rng := rand.New(rand.NewPCG(seed, 99))
	var key [32]byte
	key[0] = byte(seed)
	stream := rand.NewChaCha8(key)
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		stream.Read(b)
		return b
	}
	path := filepath.Join(dir, "out.wim")
	model := randBytes(prefill)
	if err := os.WriteFile(path, model, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o, err := newOutput(f, path, int64(prefill))
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(model)) != o.pos {
			t.Fatalf("%s: model has %d bytes, output pos %d", when, len(model), o.pos)
		}
		if !bytes.Equal(got, model) {
			i := 0
			for i < min(len(got), len(model)) && got[i] == model[i] {
				i++
			}
			t.Fatalf("%s: file (%d bytes) differs from the model (%d bytes) from byte %d", when, len(got), len(model), i)
		}
	}
	for step := range 40 {
		switch op := rng.IntN(10); {
		case op < 5: // append, mostly small, sometimes several blocks
			n := rng.IntN(40000)
			if rng.IntN(6) == 0 {
				n = rng.IntN(2*outBlockSize + outAlign)
			}
			b := randBytes(n)
			if _, err := o.Write(b); err != nil {
				t.Fatal(err)
			}
			model = append(model, b...)
		case op < 7: // patch anywhere after the prefill
			if len(model) <= prefill {
				continue
			}
			off := prefill + rng.IntN(len(model)-prefill)
			b := randBytes(min(rng.IntN(20000), len(model)-off))
			if err := o.writeAt(b, int64(off)); err != nil {
				t.Fatal(err)
			}
			copy(model[off:], b)
		case op < 8: // rewind
			if len(model) <= prefill {
				continue
			}
			off := len(model) - rng.IntN(min(len(model)-prefill, 3*outBlockSize)+1)
			if err := o.rewind(int64(off)); err != nil {
				t.Fatal(err)
			}
			model = model[:off]
		default:
			if err := o.flush(); err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(o.pos); err != nil { // what commit's append path does
				t.Fatal(err)
			}
			check(fmt.Sprintf("step %d", step))
		}
	}
	if err := o.flush(); err != nil {
		t.Fatal(err)
	}
	d, err := o.direct()
	if err != nil {
		t.Fatal(err)
	}
	if d != direct && direct {
		t.Errorf("the output gave up O_DIRECT on %s, whose file system takes it", path)
	}
	if d && !direct {
		t.Error("O_DIRECT in use although turned off")
	}
	if err := o.close(); err != nil {
		t.Fatal(err)
	}
	check("end")
}

// TestOutputWriteError checks that an error of the block writer reaches
// the caller (here: the descriptor is closed under it).
func TestOutputWriteError(t *testing.T) {
	for _, direct := range []bool{true, false} {
		t.Run(fmt.Sprint("direct=", direct), func(t *testing.T) {
			dir := t.TempDir()
			if direct {
				requireDirectIO(t, dir)
			}
			old := directIO
			directIO = direct
			defer func() { directIO = old }()
			path := filepath.Join(dir, "out.wim")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			o, err := newOutput(f, path, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer o.close()
			// A read-only descriptor in place of the file: every
			// write through the page cache fails.
			ro, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			f.Close()
			o.f = ro
			if direct != (o.dfd >= 0) {
				t.Fatalf("O_DIRECT descriptor %d with directIO %v", o.dfd, direct)
			}
			if o.dfd >= 0 {
				// And the direct path fails the same way.
				if err := o.drain(); err != nil {
					t.Fatal(err)
				}
				o.dfd = int(ro.Fd())
			}
			var werr error
			for range 4 {
				if _, werr = o.Write(make([]byte, outBlockSize)); werr != nil {
					break
				}
			}
			if werr == nil {
				werr = o.flush()
			}
			if werr == nil {
				t.Fatal("writing to a read-only descriptor succeeded")
			}
		})
	}
}

// TestLateWritesModel checks the output's record of page-cache writes
// against a byte map: later writes replace earlier bytes, forgetLate
// drops a range, and the records stay sorted and disjoint.
func TestLateWritesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		o := &output{check: true}
		model := map[int64]byte{}
		for step := range 40 {
			off := rng.Int64N(20000)
			n := 1 + rng.Int64N(5000)
			if rng.IntN(3) == 0 {
				o.forgetLate(off, off+n)
				for k := off; k < off+n; k++ {
					delete(model, k)
				}
				continue
			}
			p := make([]byte, n)
			for k := range p {
				p[k] = byte(step + 1)
				model[off+int64(k)] = byte(step + 1)
			}
			o.noteLate(off, p)
		}
		got := map[int64]byte{}
		for i, r := range o.late {
			if len(r.data) == 0 || (i > 0 && o.late[i-1].end() > r.off) {
				t.Fatalf("round %d: records not sorted, disjoint and non-empty at %d: %+v", round, i, o.late[max(i-1, 0)].off)
			}
			for k, b := range r.data {
				got[r.off+int64(k)] = b
			}
		}
		if !maps.Equal(got, model) {
			t.Fatalf("round %d: recorded bytes differ from the model (%d against %d)", round, len(got), len(model))
		}
	}
}
