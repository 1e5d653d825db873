package images

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
	"github.com/wdscapture/wdscapture/volume"
)

// TestReadWimlibWIMs reads WIMs that wimcapture wrote, with every
// compression type, and checks every file's bytes against the source.
func TestReadWimlibWIMs(t *testing.T) {
	tooltest.Require(t, "wimcapture")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	makeLinuxTree(t, src)
	for _, c := range []string{"none", "XPRESS", "LZX", "LZX:20", "LZX:100"} {
		t.Run(c, func(t *testing.T) {
			wim := filepath.Join(dir, strings.ReplaceAll(c, ":", "_")+".wim")
			tooltest.Run(t, "wimcapture", src, wim, "--compress="+c, "--check", "--config=/dev/null", "img")
			if err := Verify(wim, VerifyOptions{}); err != nil {
				t.Fatal(err)
			}
			r, err := Open(wim)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			img, err := r.Image(1)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			Walk(img.Root, func(d *Dentry) error {
				if d.Attributes&(attrDirectory|attrReparsePoint) != 0 {
					return nil
				}
				p := filepath.Join(src, filepath.FromSlash(strings.ReplaceAll(d.Path(), `\`, "/")))
				want, err := os.ReadFile(p)
				if err != nil {
					t.Errorf("%s: %v", p, err)
					return nil
				}
				rd, _, err := r.OpenBlob(d.DataHash())
				if err != nil {
					t.Errorf("%s: %v", d.Path(), err)
					return nil
				}
				got, err := io.ReadAll(rd)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: content differs (err %v)", d.Path(), err)
				}
				n++
				return nil
			})
			if n < 10 {
				t.Errorf("only %d files compared", n)
			}
		})
	}
}

// TestVerifyNamesDamagedFile flips one byte of a stored stream and expects
// Verify (and wimverify) to fail naming the file.
func TestVerifyNamesDamagedFile(t *testing.T) {
	tooltest.Require(t, "wimverify")
	for _, comp := range testCompressions {
		t.Run(comp.String(), func(t *testing.T) {
			src := memsource.New(
				memsource.Text("good.txt", strings.Repeat("fine data ", 1000)),
				memsource.Dir("Windows", memsource.Regular("victim.dll", memsource.Pattern{N: 100000, Seed: 5})),
			)
			wim := filepath.Join(t.TempDir(), "x.wim")
			writeWIM(t, wim, src, Options{Compression: comp}, ImageOptions{Name: "x"})
			r, err := Open(wim)
			if err != nil {
				t.Fatal(err)
			}
			want := sha1.Sum(mustRead(t, memsource.Pattern{N: 100000, Seed: 5}.Open()))
			off := int64(r.blobs[want].res.Offset + r.blobs[want].res.StoredSize/2)
			r.Close()
			f, err := os.OpenFile(wim, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := []byte{0}
			f.ReadAt(b, off)
			b[0] ^= 0x55
			f.WriteAt(b, off)
			f.Close()
			err = Verify(wim, VerifyOptions{})
			var ve *VerifyError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), `\Windows\victim.dll`) {
				t.Fatalf("Verify = %v, want a VerifyError naming \\Windows\\victim.dll", err)
			}
			if strings.Contains(err.Error(), "good.txt") {
				t.Errorf("Verify blames good.txt too: %v", err)
			}
			if out, err := tooltest.Try("wimverify", wim); err == nil {
				t.Errorf("wimverify accepted the damaged WIM:\n%s", out)
			}
		})
	}
}

func mustRead(t *testing.T, r io.Reader) []byte {
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAppendReusesBlobs appends a second image sharing most data.
func TestAppendReusesBlobs(t *testing.T) {
	tooltest.Require(t, "wimverify", "wiminfo")
	for _, comp := range testCompressions {
		t.Run(comp.String(), func(t *testing.T) {
			wim := filepath.Join(t.TempDir(), "a.wim")
			big := memsource.Pattern{N: 3 << 20, Seed: 9}
			writeWIM(t, wim, memsource.New(memsource.Regular("big.bin", big), memsource.Text("one.txt", "one")),
				Options{Compression: comp, Integrity: true}, ImageOptions{Name: "first"})
			st1, _ := os.Stat(wim)
			w, err := Append(wim, Options{Compression: comp, Integrity: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.AddImage(context.Background(), memsource.New(memsource.Regular("same-big.bin", big), memsource.Text("two.txt", "two")), ImageOptions{Name: "second", Boot: true}); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			st2, _ := os.Stat(wim)
			if grow := st2.Size() - st1.Size(); grow > 64<<10 {
				t.Errorf("append grew the WIM by %d bytes; the 3 MiB blob was stored again", grow)
			}
			tooltest.Run(t, "wimverify", wim)
			out := tooltest.Run(t, "wiminfo", wim)
			if !strings.Contains(out, "Image Count:    2") || !strings.Contains(out, "Boot Index:     2") {
				t.Errorf("wiminfo after append:\n%s", out)
			}
			if _, err := Append(wim, Options{Compression: otherCompression(comp)}); err == nil || !strings.Contains(err.Error(), "compression") {
				t.Errorf("append with another compression: %v, want a clear refusal", err)
			}
			if w, err := Append(wim, Options{Compression: comp}); err != nil {
				t.Fatal(err)
			} else if _, err := w.AddImage(context.Background(), memsource.New(), ImageOptions{Name: "FIRST"}); err == nil {
				t.Errorf("a duplicate image name was accepted")
				w.Abort()
			} else {
				w.Abort()
			}
			tooltest.Run(t, "wimverify", wim)
		})
	}
}

func otherCompression(c Compression) Compression {
	if c == CompressLZX {
		return CompressXPRESS
	}
	return CompressLZX
}

// failingSource fails when a stream named "poison" is read.
type failingSource struct{ *memsource.Source }

func (f failingSource) OpenStream(e *volume.Entry, i int) (io.ReadCloser, error) {
	if e.Name == "poison" {
		return nil, errors.New("simulated read error")
	}
	return f.Source.OpenStream(e, i)
}

// TestAppendFailureKeepsOldWIM makes the writer fail midway in several
// ways and checks that the old WIM still verifies with its old images.
func TestAppendFailureKeepsOldWIM(t *testing.T) {
	tooltest.Require(t, "wimverify", "wiminfo")
	cases := []struct {
		name string
		run  func(w *Writer) error
	}{
		{"source read error", func(w *Writer) error {
			_, err := w.AddImage(context.Background(), failingSource{memsource.New(
				memsource.Regular("fine", memsource.Pattern{N: 1 << 20, Seed: 1}),
				memsource.Regular("poison", memsource.Pattern{N: 1 << 20, Seed: 2}))}, ImageOptions{Name: "bad"})
			return err
		}},
		{"disk full while writing data", func(w *Writer) error {
			w.out.failAt = w.out.pos + 300000
			_, err := w.AddImage(context.Background(), memsource.New(
				memsource.Regular("a", memsource.Pattern{N: 2 << 20, Seed: 3})), ImageOptions{Name: "bad"})
			return err
		}},
		{"disk full while writing the tables", func(w *Writer) error {
			if _, err := w.AddImage(context.Background(), memsource.New(
				memsource.Regular("a", memsource.Pattern{N: 1 << 20, Seed: 4})), ImageOptions{Name: "bad"}); err != nil {
				return err
			}
			w.out.failAt = w.out.pos + 10
			return w.Commit()
		}},
		{"canceled", func(w *Writer) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := w.AddImage(ctx, memsource.New(memsource.Regular("a", memsource.Pattern{N: 1 << 20, Seed: 5})), ImageOptions{Name: "bad"})
			return err
		}},
	}
	for _, comp := range testCompressions {
		for _, tc := range cases {
			t.Run(comp.String()+"/"+tc.name, func(t *testing.T) {
				wim := filepath.Join(t.TempDir(), "old.wim")
				writeWIM(t, wim, memsource.Rich(memsource.RichOptions{ManyFiles: 10, Depth: 3}), Options{Compression: comp, Integrity: true}, ImageOptions{Name: "old"})
				before, _ := os.ReadFile(wim)
				w, err := Append(wim, Options{Compression: comp, Integrity: true})
				if err != nil {
					t.Fatal(err)
				}
				if err := tc.run(w); err == nil {
					t.Fatal("the simulated failure did not fail")
				}
				w.Abort()
				tooltest.Run(t, "wimverify", wim)
				if out := tooltest.Run(t, "wiminfo", wim); !strings.Contains(out, "Image Count:    1") {
					t.Errorf("wiminfo:\n%s", out)
				}
				after, _ := os.ReadFile(wim)
				if !bytes.Equal(before, after) {
					t.Errorf("the old WIM changed (%d → %d bytes)", len(before), len(after))
				}
			})
		}
	}
}

// TestCreateFailureLeavesNothing: a failed or interrupted create leaves no
// file that could pass for a WIM.
func TestCreateFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	wim := filepath.Join(dir, "new.wim")
	w, err := Create(wim, Options{Compression: CompressXPRESS})
	if err != nil {
		t.Fatal(err)
	}
	// Mid-capture, the partial file has no WIM magic.
	if _, err := w.AddImage(context.Background(), failingSource{memsource.New(memsource.Regular("poison", memsource.Bytes("x")))}, ImageOptions{Name: "x"}); err == nil {
		t.Fatal("expected failure")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if bytes.HasPrefix(b, wimMagic[:]) {
			t.Errorf("%s looks like a WIM while the capture is unfinished", e.Name())
		}
	}
	w.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files left behind after abort: %v", ents)
	}
}

// TestBigFileOver4GiB stores a sparse 4.5 GiB stream (8-byte chunk table
// entries) compressed, and checks it with wimlib.
var raceEnabled bool

func TestBigFileOver4GiB(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes and reads 4.5 GiB of zeros; make test runs it without -race")
	}
	tooltest.Require(t, "wimverify")
	big := memsource.Pattern{N: 4<<30 + 512<<20 + 123, Zero: true}
	src := memsource.New(memsource.Regular("huge.vhdx", big), memsource.Text("after.txt", "after the big one"))
	wim := filepath.Join(t.TempDir(), "big.wim")
	writeWIM(t, wim, src, Options{Compression: CompressXPRESS, Level: 1}, ImageOptions{Name: "big"})
	tooltest.Run(t, "wimverify", wim)
	r, err := Open(wim)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	img, _ := r.Image(1)
	for _, c := range img.Root.Children {
		if c.Name == "huge.vhdx" {
			if n, _ := r.BlobSize(c.DataHash()); n != big.N {
				t.Errorf("size %d, want %d", n, big.N)
			}
		}
	}
}

// TestBadInput feeds damaged WIMs to the reader: each must give a clear
// error naming the problem, never a panic.
func TestBadInput(t *testing.T) {
	wim := filepath.Join(t.TempDir(), "ok.wim")
	writeWIM(t, wim, memsource.Rich(memsource.RichOptions{ManyFiles: 5, Depth: 2}), Options{Compression: CompressXPRESS, Integrity: true}, ImageOptions{Name: "ok"})
	good, _ := os.ReadFile(wim)
	r, err := Open(wim)
	if err != nil {
		t.Fatal(err)
	}
	hdr := *r.hdr
	meta := r.metas[0].res
	r.Close()
	cases := []struct {
		name   string
		mutate func(b []byte) []byte
		want   string
	}{
		{"empty file", func(b []byte) []byte { return nil }, "shorter than"},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, "outside"},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, "bad magic"},
		{"blob table past end", func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[0x38:], uint64(len(b))+100)
			return b
		}, "blob table"},
		{"XML not UTF-16", func(b []byte) []byte { b[hdr.XML.Offset] = '<'; return b }, "UTF-16"},
		{"damaged XML", func(b []byte) []byte { b[hdr.XML.Offset+20] = '<'; return b }, "XML"},
		{"image count mismatch", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[0x2C:], 5); return b }, "images"},
		{"integrity damaged", func(b []byte) []byte { b[hdr.Integrity.Offset+20] ^= 1; return b }, "integrity"},
		{"metadata damaged", func(b []byte) []byte {
			for i := meta.Offset + 8; i < meta.Offset+meta.StoredSize-8; i += 7 {
				b[i] ^= 0xA5
			}
			return b
		}, "metadata"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(append([]byte(nil), good...))
			p := filepath.Join(t.TempDir(), "bad.wim")
			os.WriteFile(p, b, 0o644)
			err := Verify(p, VerifyOptions{})
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)) {
				t.Errorf("Verify = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestCyclicDentryTree points a directory's children at its own list.
func TestCyclicDentryTree(t *testing.T) {
	sec := newSecurityTable()
	root := &Dentry{Attributes: attrDirectory, SecurityID: -1}
	sub := &Dentry{Name: "loop", Attributes: attrDirectory, SecurityID: -1, Parent: root}
	root.Children = []*Dentry{sub}
	meta := marshalMetadata(sec, root)
	// sub's subdir offset → the list holding sub itself.
	rootLen := dentryLength(root)
	listOff := 8 + rootLen + 8
	binary.LittleEndian.PutUint64(meta[listOff+0x10:], uint64(listOff))
	_, err := parseDentryTree(meta, 8)
	if err == nil || !strings.Contains(err.Error(), "cyclic") {
		t.Fatalf("parseDentryTree = %v, want a cycle error", err)
	}
}

func TestChunkTableEntrySize(t *testing.T) {
	for _, tc := range []struct {
		size uint64
		want int
	}{{1, 4}, {1<<32 - 1, 4}, {1 << 32, 8}, {5 << 30, 8}} {
		if got := chunkEntrySize(tc.size); got != tc.want {
			t.Errorf("chunkEntrySize(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
}

func ExampleCompression_String() {
	fmt.Println(CompressNone, CompressXPRESS, CompressLZX)
	// Output: none XPRESS LZX
}
