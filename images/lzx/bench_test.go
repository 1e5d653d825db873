package lzx

import (
	"testing"
)

// benchChunks returns 32 KiB chunks of the go binary and of Go source.
func benchChunks(b *testing.B, kind string) [][]byte {
	var data []byte
	switch kind {
	case "gobinary":
		g := goBinary(b)
		data = g[:min(len(g), 4<<20)]
	case "gosource":
		data = goSource(b, 2<<20)
	}
	var chunks [][]byte
	for off := 0; off < len(data); off += ChunkSize {
		chunks = append(chunks, data[off:min(len(data), off+ChunkSize)])
	}
	return chunks
}

// BenchmarkCompress reports throughput and the compression ratio
// (compressed/original, raw chunks counted at full size).
func BenchmarkCompress(b *testing.B) {
	for _, kind := range []string{"gobinary", "gosource"} {
		chunks := benchChunks(b, kind)
		total := 0
		for _, c := range chunks {
			total += len(c)
		}
		for _, lv := range levels {
			b.Run(kind+"/"+lv.name, func(b *testing.B) {
				c := NewCompressor(lv.level)
				dst := make([]byte, ChunkSize)
				b.SetBytes(int64(total))
				b.ReportAllocs()
				out := 0
				for b.Loop() {
					out = 0
					for _, ch := range chunks {
						k := c.Compress(dst, ch)
						if k == 0 {
							k = len(ch)
						}
						out += k
					}
				}
				b.ReportMetric(float64(out)/float64(total), "ratio")
			})
		}
	}
}

// BenchmarkDecompress reports decompression throughput of chunks made by
// the default level.
func BenchmarkDecompress(b *testing.B) {
	for _, kind := range []string{"gobinary", "gosource"} {
		chunks := benchChunks(b, kind)
		c := NewCompressor(LevelDefault)
		var comp [][]byte
		var sizes []int
		total := 0
		for _, ch := range chunks {
			dst := make([]byte, ChunkSize)
			if k := c.Compress(dst, ch); k > 0 {
				comp = append(comp, dst[:k])
				sizes = append(sizes, len(ch))
				total += len(ch)
			}
		}
		b.Run(kind, func(b *testing.B) {
			d := NewDecompressor()
			out := make([]byte, ChunkSize)
			b.SetBytes(int64(total))
			b.ReportAllocs()
			for b.Loop() {
				for i, cc := range comp {
					if err := d.Decompress(out[:sizes[i]], cc); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
