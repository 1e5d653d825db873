package images

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

// TestDelta makes delta WIMs of the second image of a two-image WIM, with
// all, some and none of its streams, and checks them with wimlib: each
// verifies and applies (with the source as reference when streams were
// left out) to the same tree as the source image, and ReadAt from any
// offset gives the same bytes.
func TestDelta(t *testing.T) {
	tooltest.Require(t, "wimapply", "wiminfo", "wimverify")
	for _, comp := range []Compression{CompressXPRESS, CompressNone} {
		t.Run(comp.String(), func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src.wim")
			w, err := Create(src, Options{Compression: comp, Integrity: true})
			if err != nil {
				t.Fatal(err)
			}
			first := memsource.New(memsource.Text("only-in-1.txt", "first image only"))
			if _, err := w.AddImage(context.Background(), first, ImageOptions{Name: "one"}); err != nil {
				t.Fatal(err)
			}
			rich := memsource.Rich(memsource.RichOptions{})
			if _, err := w.AddImage(context.Background(), rich, ImageOptions{Name: "two", Description: "rich <tree>", Boot: true}); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			r, err := Open(src)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			blobs, err := r.ImageBlobs(2)
			if err != nil {
				t.Fatal(err)
			}
			if len(blobs) < 4 {
				t.Fatalf("image 2 has %d streams, want a few", len(blobs))
			}
			want := filepath.Join(dir, "want")
			tooltest.Run(t, "wimapply", src, "2", want)

			for _, tc := range []struct {
				name string
				keep func(i int) bool
			}{
				{"all", func(int) bool { return true }},
				{"odd", func(i int) bool { return i%2 == 1 }},
				{"none", func(int) bool { return false }},
			} {
				t.Run(tc.name, func(t *testing.T) {
					keep := map[[20]byte]bool{}
					for i, b := range blobs {
						if tc.keep(i) {
							keep[b.Hash] = true
						}
					}
					d, err := r.PlanDelta(2, func(b BlobRef) bool { return keep[b.Hash] })
					if err != nil {
						t.Fatal(err)
					}
					if d.BlobCount() != len(keep) {
						t.Errorf("BlobCount %d, want %d", d.BlobCount(), len(keep))
					}
					whole := make([]byte, d.Size())
					if n, err := d.ReadAt(whole, 0); n != len(whole) || err != nil {
						t.Fatalf("ReadAt whole: %d, %v", n, err)
					}
					// Any offset and length gives the same bytes.
					for _, off := range []int64{0, 1, 207, 208, 209, d.Size() / 3, d.Size() - 100, d.Size() - 1} {
						for _, n := range []int{1, 7, 4096, 100000} {
							buf := make([]byte, n)
							m, err := d.ReadAt(buf, off)
							wantN := min(int64(n), d.Size()-off)
							if int64(m) != wantN || (int64(n) <= d.Size()-off && err != nil) || (int64(n) > d.Size()-off && err != io.EOF) {
								t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, m, err)
							}
							if !bytes.Equal(buf[:m], whole[off:off+int64(m)]) {
								t.Fatalf("ReadAt(%d bytes at %d) differs from the whole", n, off)
							}
						}
					}
					path := filepath.Join(t.TempDir(), "delta.wim")
					if err := os.WriteFile(path, whole, 0o644); err != nil {
						t.Fatal(err)
					}
					dr, err := Open(path)
					if err != nil {
						t.Fatal(err)
					}
					if got := dr.Images(); len(got) != 1 || got[0].Name != "two" || got[0].Description != "rich <tree>" || dr.BootIndex() != 1 {
						t.Errorf("delta images %+v, boot %d", got, dr.BootIndex())
					}
					dr.Close()
					out := filepath.Join(t.TempDir(), "out")
					if len(keep) == len(blobs) {
						tooltest.Run(t, "wimverify", path)
						tooltest.Run(t, "wimapply", path, "1", out)
					} else {
						tooltest.Run(t, "wimapply", path, "1", out, "--ref="+src)
					}
					tooltest.Run(t, "diff", "-r", "--no-dereference", want, out)
				})
			}
		})
	}
}
