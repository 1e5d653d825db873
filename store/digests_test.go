package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

func TestDigestsRoundTrip(t *testing.T) {
	d := digests{{hash: [20]byte{1}, stored: 7}: {9}, {hash: [20]byte{1}, stored: 8}: {10}, {hash: [20]byte{0xff}}: {}}
	got, err := parseDigests(d.marshal())
	if err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	if !bytes.Equal(got.marshal(), d.marshal()) {
		t.Errorf("marshal is not deterministic")
	}
	for _, bad := range [][]byte{nil, []byte("WDSDIG1"), append([]byte("WDSDIG1\n"), 1, 2, 3), []byte("nonsense!")} {
		if _, err := parseDigests(bad); !errors.Is(err, errDigests) {
			t.Errorf("parseDigests(%q) = %v", bad, err)
		}
	}
}

func FuzzParseDigests(f *testing.F) {
	f.Add(digests{{hash: [20]byte{1}, stored: 7}: {9}}.marshal())
	f.Add([]byte("WDSDIG1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseDigests(data)
		if err != nil {
			return
		}
		again, err := parseDigests(d.marshal())
		if err != nil || !reflect.DeepEqual(again, d) {
			t.Fatalf("round trip of an accepted file: %v", err)
		}
	})
}

// TestDigestsAreOnlyAShortcut: add records every stored stream's digest;
// export and optimize use them, and a stale, damaged or missing record
// never makes them refuse good data or accept bad data.
func TestDigestsAreOnlyAShortcut(t *testing.T) {
	tooltest.Require(t, "wimverify")
	ctx := context.Background()
	s, root := newStore(t)
	dir := t.TempDir()
	one := makeWIM(t, filepath.Join(dir, "one.wim"), testTree(0, 10), images.CompressLZX, false, "one")
	if _, err := s.Add(ctx, "G", openWIM(t, one), one, AddOptions{CreateGroup: true}); err != nil {
		t.Fatal(err)
	}
	gd := groupDir(root, "G")
	d := s.loadDigests("G")
	if n := len(openWIM(t, one).Blobs()); len(d) != n {
		t.Fatalf("%d digests recorded for %d streams", len(d), n)
	}
	// Every record stale: the export checks the data itself and succeeds.
	for k, v := range d {
		v[0] ^= 1
		d[k] = v
	}
	if err := s.saveDigests("G", d); err != nil {
		t.Fatal(err)
	}
	exp := filepath.Join(dir, "a.wim")
	if _, err := s.Export(ctx, "G", "one", exp, ExportOptions{}); err != nil {
		t.Fatalf("export with stale digests: %v", err)
	}
	tooltest.Run(t, "wimverify", exp)
	// A damaged file is ignored.
	os.WriteFile(filepath.Join(gd, DigestsFile), []byte("garbage"), 0o644)
	if _, err := s.Export(ctx, "G", "one", exp, ExportOptions{Overwrite: true}); err != nil {
		t.Fatalf("export with a damaged digests file: %v", err)
	}
	// Optimize rewrites the record; a flipped bit in res.rwm is then found
	// by the digest comparison and confirmed by the data check.
	if _, err := s.Optimize(ctx, "G", nil); err != nil {
		t.Fatal(err)
	}
	if d := s.loadDigests("G"); len(d) != len(openWIM(t, one).Blobs()) {
		t.Fatalf("optimize recorded %d digests", len(d))
	}
	res := filepath.Join(gd, ResourceFile)
	rr := openWIM(t, res)
	b := rr.Blobs()[len(rr.Blobs())/2]
	flip(t, res, int64(b.Offset+b.StoredSize/2))
	_, err := s.Export(ctx, "G", "one", filepath.Join(dir, "b.wim"), ExportOptions{})
	var de *DamagedError
	if !errors.As(err, &de) || de.File != res {
		t.Fatalf("export of a damaged stream with its digest recorded: %v", err)
	}
	if _, err := s.Optimize(ctx, "G", nil); !errors.Is(err, ErrDamaged) {
		t.Fatalf("optimize of a damaged stream: %v", err)
	}
}
