package images

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

// memFile is an in-memory RawFile.
type memFile struct{ b []byte }

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, errors.New("EOF")
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, errors.New("EOF")
	}
	return n, nil
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memFile) Sync() error { return nil }

func (m *memFile) Truncate(n int64) error {
	if n < int64(len(m.b)) {
		m.b = m.b[:n]
	} else {
		m.b = append(m.b, make([]byte, n-int64(len(m.b)))...)
	}
	return nil
}

// FuzzRawCopy feeds damaged WIMs (what an upload client could send) to
// the image store's path: open, parse the image, copy its metadata and
// streams with RawWriter. It must never panic or hang; what it accepts
// must be a WIM our reader verifies.
func FuzzRawCopy(f *testing.F) {
	for _, c := range []Compression{CompressNone, CompressXPRESS, CompressLZX} {
		f.Add(seedWIM(f, c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil || len(src.Images()) == 0 {
			return
		}
		img, err := src.Image(1)
		if err != nil {
			return
		}
		out := &memFile{}
		w, err := NewRawWriter(out, src.Compression(), RawOptions{Threads: 1, Integrity: true})
		if err != nil {
			t.Fatal(err)
		}
		var list []BlobCopy
		for h, u := range ImageStreams(img) {
			list = append(list, BlobCopy{Hash: h, Refs: u.Refs})
		}
		ctx := context.Background()
		if err := w.CopyBlobs(ctx, src, list); err != nil {
			return
		}
		if err := w.CopyImage(ctx, src, 1, src.Images()[0]); err != nil {
			return
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		r, err := NewReader(bytes.NewReader(out.b), int64(len(out.b)))
		if err != nil {
			t.Fatalf("the copy does not open: %v", err)
		}
		if err := r.Verify(VerifyOptions{Threads: 1}); err != nil {
			t.Fatalf("the copy does not verify: %v", err)
		}
	})
}

// FuzzSetElement edits the NAME of arbitrary (well-formed or not) image
// XML: never a panic, and on well-formed input the result is well formed
// and holds the new name.
func FuzzSetElement(f *testing.F) {
	f.Add("<DIRCOUNT>1</DIRCOUNT><NAME>old</NAME><WINDOWS><NAME>x</NAME></WINDOWS>", "new & <name>")
	f.Add("<NAME>a</NAME>", "")
	f.Add("<X/>", "b")
	f.Fuzz(func(t *testing.T, raw, name string) {
		if !strings.Contains(raw, "<") {
			return
		}
		got := setElement(raw, "NAME", name)
		var before, after struct {
			Names []string `xml:"NAME"`
		}
		if xml.Unmarshal([]byte("<IMAGE>"+raw+"</IMAGE>"), &before) != nil || !validXMLText(name) {
			return
		}
		if err := xml.Unmarshal([]byte("<IMAGE>"+got+"</IMAGE>"), &after); err != nil {
			t.Fatalf("setElement(%q, %q) = %q: not well formed: %v", raw, name, got, err)
		}
		if len(before.Names) <= 1 && name != "" && (len(after.Names) != 1 || after.Names[0] != name) {
			t.Fatalf("setElement(%q, %q) = %q: NAME elements %q", raw, name, got, after.Names)
		}
	})
}

// validXMLText reports whether s holds only characters XML allows.
func validXMLText(s string) bool {
	for _, r := range s {
		if r == 0xFFFD || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0xD800 && r <= 0xDFFF) || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}
