package images

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wdscapture/wdscapture/internal/memsource"
)

// TestAppendRefusesDamagedWIM damages a WIM in the places an append builds
// on and expects Append to refuse before it writes anything: the file must
// stay byte for byte as it was (it used to gain the new image, and only the
// final verification failed).
func TestAppendRefusesDamagedWIM(t *testing.T) {
	for _, tc := range []struct {
		name      string
		integrity bool
		damage    func(b []byte, h *header, meta resHdr, data resHdr)
	}{
		{"stream data, with an integrity table", true, func(b []byte, h *header, meta, data resHdr) { b[data.Offset+data.StoredSize/2] ^= 0x40 }},
		{"metadata, with an integrity table", true, func(b []byte, h *header, meta, data resHdr) { b[meta.Offset+meta.StoredSize/2] ^= 0x01 }},
		{"metadata, without one", false, func(b []byte, h *header, meta, data resHdr) { b[meta.Offset+meta.StoredSize/2] ^= 0x01 }},
		{"integrity table", true, func(b []byte, h *header, meta, data resHdr) { b[h.Integrity.Offset+20] ^= 0x80 }},
		{"blob table", false, func(b []byte, h *header, meta, data resHdr) { b[h.BlobTable.Offset+24] = 7 }},
		{"XML data", false, func(b []byte, h *header, meta, data resHdr) { b[h.XML.Offset+4] = '!' }},
		{"header", false, func(b []byte, h *header, meta, data resHdr) { b[0x15] = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wim := filepath.Join(t.TempDir(), "d.wim")
			writeWIM(t, wim, strictSource(), Options{Compression: CompressXPRESS, Integrity: tc.integrity}, ImageOptions{Name: "old"})
			b, _ := os.ReadFile(wim)
			h, _ := parseHeader(b, int64(len(b)))
			blobs, _ := parseBlobTable(b[h.BlobTable.Offset:h.BlobTable.Offset+h.BlobTable.StoredSize], int64(len(b)))
			var meta, data resHdr
			for _, bl := range blobs {
				if bl.metadata() {
					meta = bl.res
				} else if bl.res.Size > data.Size {
					data = bl.res
				}
			}
			tc.damage(b, h, meta, data)
			if err := os.WriteFile(wim, b, 0o644); err != nil {
				t.Fatal(err)
			}
			w, err := Append(wim, Options{Compression: CompressXPRESS, Integrity: tc.integrity})
			if err == nil {
				_, err = w.AddImage(context.Background(), memsource.New(memsource.Text("new.txt", "new")), ImageOptions{Name: "new"})
				if err == nil {
					err = w.Commit()
				}
				t.Errorf("Append accepted the damaged WIM (then: %v)", err)
			}
			after, _ := os.ReadFile(wim)
			if !bytes.Equal(b, after) {
				t.Errorf("the damaged WIM was modified")
			}
		})
	}
}
