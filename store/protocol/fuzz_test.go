package protocol

import (
	"bytes"
	"testing"

	"github.com/wdscapture/wdscapture/images"
)

func TestBlobList(t *testing.T) {
	refs := []images.BlobRef{{Hash: [20]byte{1, 2, 3}, Size: 5}, {Hash: [20]byte{0xff}, Size: 1 << 40}}
	b := AppendBlobList(nil, refs)
	if len(b) != 2*BlobRecordSize {
		t.Fatalf("encoded %d bytes", len(b))
	}
	got, err := ReadBlobList(bytes.NewReader(b), int64(len(b)), 10)
	if err != nil || len(got) != 2 || got[0] != refs[0] || got[1] != refs[1] {
		t.Fatalf("ReadBlobList = %v, %v", got, err)
	}
	if got, err := ReadBlobList(bytes.NewReader(b), -1, 10); err != nil || len(got) != 2 {
		t.Errorf("unknown length: %v, %v", got, err)
	}
	for _, tc := range []struct {
		data   []byte
		length int64
		max    int
	}{
		{b[:30], 30, 10},                     // torn record
		{b, int64(len(b)), 1},                // over the maximum
		{b, -1, 1},                           // over the maximum, length unknown
		{b[:28], 56, 10},                     // shorter than announced
		{append(b, b...), int64(len(b)), 10}, // longer than announced
		{append(make([]byte, 20), 0, 0, 0, 0, 0, 0, 0, 1), 28, 10}, // size 2^56
	} {
		if _, err := ReadBlobList(bytes.NewReader(tc.data), tc.length, tc.max); err == nil {
			t.Errorf("ReadBlobList(%d bytes, length %d, max %d) accepted", len(tc.data), tc.length, tc.max)
		}
	}
	bm := NewBitmap(10)
	bm.Set(0)
	bm.Set(9)
	if !bm.Missing(0) || bm.Missing(1) || !bm.Missing(9) || CheckBitmap(bm, 10) != nil {
		t.Errorf("bitmap %08b", bm)
	}
	if CheckBitmap(bm, 9) == nil || CheckBitmap(bm, 17) == nil {
		t.Error("CheckBitmap accepted a bitmap of the wrong size or with bits past the end")
	}
}

func FuzzReadBlobList(f *testing.F) {
	f.Add(AppendBlobList(nil, []images.BlobRef{{Size: 1}, {Hash: [20]byte{9}, Size: 77}}), int64(56))
	f.Add([]byte{1, 2, 3}, int64(-1))
	f.Fuzz(func(t *testing.T, data []byte, length int64) {
		refs, err := ReadBlobList(bytes.NewReader(data), length, 64)
		if err != nil {
			return
		}
		if len(refs) > 64 {
			t.Fatalf("%d records over the maximum", len(refs))
		}
		if !bytes.Equal(AppendBlobList(nil, refs), data) {
			t.Fatal("re-encoding differs")
		}
	})
}

func FuzzCheckBitmap(f *testing.F) {
	f.Add([]byte{0xff, 0x01}, 9)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		if CheckBitmap(b, n) == nil {
			for i := n; i < len(b)*8; i++ {
				if Bitmap(b).Missing(i) {
					t.Fatalf("bit %d set past %d", i, n)
				}
			}
		}
	})
}
