package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/memsource"
)

// checkTree is one file spanning several output blocks however well it
// compresses (so that its chunk table is patched through the page cache),
// compressible at the start, and a small one.
func checkTree() *memsource.Source {
	var big bytes.Buffer
	for i := 0; big.Len() < 1<<20; i++ {
		fmt.Fprintf(&big, "line %d of a file that compresses, %x\n", i, i*i*2654435761)
	}
	rnd := make([]byte, 4<<20)
	rand.NewChaCha8([32]byte{1}).Read(rnd)
	big.Write(rnd)
	return memsource.New(
		memsource.Regular("big.bin", memsource.Bytes(big.Bytes())),
		memsource.Dir("d", memsource.Regular("small.txt", memsource.Bytes("a small file\n"))),
	)
}

// flipOnce returns a copy of b with one bit flipped at i, the first time
// it is called; later calls return b.
func flipOnce(done *bool, b []byte, i int) []byte {
	if *done || i >= len(b) {
		return b
	}
	*done = true
	c := append([]byte(nil), b...)
	c[i] ^= 0x10
	return c
}

// faultyCompressor flips a bit in every compressed chunk after compressing
// it: a compressor bug.
type faultyCompressor struct{ chunkCompressor }

func (f faultyCompressor) Compress(dst, src []byte) int {
	n := f.chunkCompressor.Compress(dst, src)
	if n > 8 {
		dst[n/2] ^= 0x01
	}
	return n
}

// TestVerifyCatchesBadWrites damages what the writer produces on its way
// to the disk (a bit flipped in a direct block write, in a write through
// the page cache, in the header, by the compressor) and expects the
// default verification to fail naming what was damaged, leaving no new
// WIM; without verification the same fault goes unnoticed, and the file
// then fails a full Verify (so the fault did reach the disk).
func TestVerifyCatchesBadWrites(t *testing.T) {
	cases := []struct {
		name   string
		direct bool
		comp   Compression
		arm    func(flipped *bool) func() // installs the fault, returns the undo
		want   string                     // in the error
		offset bool                       // a read-back error (not the compressor's)
	}{
		{"block write", true, CompressXPRESS, func(fl *bool) func() {
			old := pwriteBlock
			pwriteBlock = func(fd int, b []byte, off int64) (int, error) {
				return old(fd, flipOnce(fl, b, 1<<19), off)
			}
			return func() { pwriteBlock = old }
		}, `\big.bin`, true},
		{"uncompressed block write", true, CompressNone, func(fl *bool) func() {
			old := pwriteBlock
			pwriteBlock = func(fd int, b []byte, off int64) (int, error) {
				return old(fd, flipOnce(fl, b, 1<<19+5), off)
			}
			return func() { pwriteBlock = old }
		}, `\big.bin`, true},
		{"chunk table through the page cache", true, CompressLZX, func(fl *bool) func() {
			old := pwriteCached
			pwriteCached = func(f *os.File, b []byte, off int64) (int, error) {
				if off == headerSize { // big.bin's chunk table, patched last
					return old(f, flipOnce(fl, b, 3), off)
				}
				return old(f, b, off)
			}
			return func() { pwriteCached = old }
		}, `\big.bin`, true},
		{"header", true, CompressXPRESS, func(fl *bool) func() {
			old := writeHeader
			writeHeader = func(f *os.File, b []byte) (int, error) { return old(f, flipOnce(fl, b, 56)) }
			return func() { writeHeader = old }
		}, "the header", true},
		{"page cache only", false, CompressXPRESS, func(fl *bool) func() {
			old := pwriteCached
			pwriteCached = func(f *os.File, b []byte, off int64) (int, error) {
				return old(f, flipOnce(fl, b, 1<<19), off)
			}
			return func() { pwriteCached = old }
		}, `\big.bin`, false},
		{"compressor", true, CompressXPRESS, func(fl *bool) func() {
			old := newChunkCompressor
			newChunkCompressor = func(c Compression, level int) (chunkCompressor, error) {
				*fl = true
				cc, err := old(c, level)
				return faultyCompressor{cc}, err
			}
			return func() { newChunkCompressor = old }
		}, `\big.bin: chunk 0: its compressed form`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.direct {
				requireDirectIO(t, dir)
			}
			old := directIO
			directIO = tc.direct
			defer func() { directIO = old }()
			for _, verify := range []bool{true, false} {
				path := filepath.Join(dir, fmt.Sprintf("verify-%v.wim", verify))
				var flipped bool
				undo := tc.arm(&flipped)
				err := captureTo(path, Options{Compression: tc.comp, Threads: 2, Verify: verify}, checkTree())
				undo()
				if !flipped {
					t.Fatal("the fault was never injected")
				}
				if !verify {
					// The control: nothing notices the fault while
					// writing, but it is in the file.
					if err != nil {
						t.Fatalf("without verification: %v", err)
					}
					if err := Verify(path, VerifyOptions{}); err == nil {
						t.Error("the damaged WIM passes Verify: the fault did not reach the file")
					}
					continue
				}
				var ce *CheckError
				if !errors.As(err, &ce) {
					t.Fatalf("capture with verification: got %v, want a *CheckError", err)
				}
				if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name %q and the WIM", err, tc.want)
				}
				var rb *readBackError
				if tc.offset != errors.As(err, &rb) || tc.offset != (ce.Offset >= 0) {
					t.Errorf("error %q: read-back failure %v, offset %d; want a read-back failure: %v", err, errors.As(err, &rb), ce.Offset, tc.offset)
				}
				if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a WIM that failed verification is under its name (%v)", err)
				}
			}
			left, _ := filepath.Glob(filepath.Join(dir, ".*partial*"))
			if len(left) > 0 {
				t.Errorf("partial files left: %v", left)
			}
		})
	}
}

// TestVerifyAppendKeepsOldWIM: a damaged append fails verification and
// leaves the WIM as it was.
func TestVerifyAppendKeepsOldWIM(t *testing.T) {
	dir := t.TempDir()
	requireDirectIO(t, dir)
	path := filepath.Join(dir, "a.wim")
	opts := Options{Compression: CompressXPRESS, Verify: true}
	if err := captureTo(path, opts, memsource.New(memsource.Regular("first.txt", memsource.Bytes("first image\n")))); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flipped := false
	old := pwriteBlock
	pwriteBlock = func(fd int, b []byte, off int64) (int, error) {
		return old(fd, flipOnce(&flipped, b, 1<<19), off)
	}
	defer func() { pwriteBlock = old }()
	w, err := Append(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.AddImage(context.Background(), checkTree(), ImageOptions{Name: "second"})
	if err == nil {
		err = w.Commit()
	} else {
		w.Abort()
	}
	var ce *CheckError
	if !errors.As(err, &ce) || ce.What != `\big.bin` {
		t.Fatalf("append with a damaged write: got %v, want a *CheckError naming \\big.bin", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the failed append changed the WIM")
	}
}

// TestVerifyPassesCleanCaptures: with nothing damaged, verification passes
// on every path (compressed or not, direct or through the page cache, a
// new WIM and an append) and the result is a WIM that Verify accepts.
func TestVerifyPassesCleanCaptures(t *testing.T) {
	for _, direct := range []bool{true, false} {
		for _, comp := range []Compression{CompressNone, CompressXPRESS, CompressLZX} {
			t.Run(fmt.Sprintf("direct=%v/%v", direct, comp), func(t *testing.T) {
				dir := t.TempDir()
				if direct {
					requireDirectIO(t, dir)
				}
				old := directIO
				directIO = direct
				defer func() { directIO = old }()
				path := filepath.Join(dir, "c.wim")
				opts := Options{Compression: comp, Verify: true, Integrity: true}
				if err := captureTo(path, opts, checkTree()); err != nil {
					t.Fatal(err)
				}
				w, err := Append(path, opts)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.AddImage(context.Background(), memsource.Rich(memsource.RichOptions{ManyFiles: 5, Depth: 2}), ImageOptions{Name: "two"}); err != nil {
					w.Abort()
					t.Fatal(err)
				}
				if err := w.Commit(); err != nil {
					t.Fatal(err)
				}
				if err := Verify(path, VerifyOptions{}); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// captureTo captures src as a new WIM at path.
func captureTo(path string, opts Options, src *memsource.Source) error {
	w, err := Create(path, opts)
	if err != nil {
		return err
	}
	if _, err := w.AddImage(context.Background(), src, ImageOptions{Name: "img"}); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

// TestVerifyNamesPruned: a capture of many files drops the names of the
// regions already checked, yet a bad byte in a chunk table patched
// through the page cache long before the end (checked last) still fails
// the capture naming that file.
func TestVerifyNamesPruned(t *testing.T) {
	dir := t.TempDir()
	requireDirectIO(t, dir)
	var many []*memsource.File
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		data := make([]byte, 2000+i) // 6 MiB in all, past several blocks
		for k := range data {
			data[k] = byte(rng.Uint32())
		}
		many = append(many, memsource.Regular(fmt.Sprintf("f%05d.txt", i), memsource.Bytes(data)))
	}
	src := checkTree()
	src.Root_.Children = append(src.Root_.Children, memsource.Dir("many", many...))
	for _, fault := range []bool{false, true} {
		path := filepath.Join(dir, fmt.Sprintf("fault-%v.wim", fault))
		var flipped bool
		old := pwriteCached
		pwriteCached = func(f *os.File, b []byte, off int64) (int, error) {
			if fault && off == headerSize { // big.bin's chunk table, patched last
				return old(f, flipOnce(&flipped, b, 3), off)
			}
			return old(f, b, off)
		}
		w, err := Create(path, Options{Compression: CompressXPRESS, Threads: 2, Verify: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.AddImage(context.Background(), src, ImageOptions{Name: "img"}); err != nil {
			t.Fatal(err)
		}
		if len(w.names) > 1500 {
			t.Errorf("%d region names kept for 3000 files: not pruned", len(w.names))
		}
		err = w.Commit()
		pwriteCached = old
		if !fault {
			if err != nil {
				t.Fatalf("without a fault: %v", err)
			}
			continue
		}
		if !flipped {
			t.Fatal("the fault was never injected")
		}
		var ce *CheckError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), `\big.bin`) {
			t.Fatalf("got %v, want a *CheckError naming \\big.bin", err)
		}
	}
}
