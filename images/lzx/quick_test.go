package lzx

import (
	"bytes"
	"testing"
)

func TestQuickRoundTrip(t *testing.T) {
	files := corpusFiles(t)
	for _, level := range []int{LevelFast, LevelDefault, LevelMax} {
		c := NewCompressor(level)
		d := NewDecompressor()
		var in, out int
		for name, data := range files {
			if name == "hello.exe" {
				continue
			}
			for off := 0; off < len(data); off += ChunkSize {
				chunk := data[off:min(len(data), off+ChunkSize)]
				dst := make([]byte, len(chunk))
				k := c.Compress(dst, chunk)
				in += len(chunk)
				if k == 0 {
					out += len(chunk)
					continue
				}
				out += k
				got := make([]byte, len(chunk))
				if err := d.Decompress(got, dst[:k]); err != nil {
					t.Fatalf("level %d %s@%d: %v", level, name, off, err)
				}
				if !bytes.Equal(got, chunk) {
					t.Fatalf("level %d %s@%d: mismatch", level, name, off)
				}
			}
		}
		t.Logf("level %d: %d -> %d (%.4f)", level, in, out, float64(out)/float64(in))
	}
}
