package lzx

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wdscapture/wdscapture/internal/testcorpus"
)

// benchKinds are the inputs benchChunks makes.
var benchKinds = []string{"pe", "source"}

// benchChunks returns 32 KiB chunks of generated x86-64 code in a PE file
// (4 MiB) or of generated C source (2 MiB): the repository's test corpus,
// the same with every toolchain.
func benchChunks(b *testing.B, kind string) [][]byte {
	var data []byte
	switch kind {
	case "pe":
		data = testcorpus.PE(1, 4<<20)
	case "source":
		data = testcorpus.Source(1, 2<<20)
	default:
		b.Fatalf("unknown bench input %q", kind)
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
	for _, kind := range benchKinds {
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
	for _, kind := range benchKinds {
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

// BenchmarkWimlibCapture times wimcapture --compress=LZX (wimlib's default
// level 50, one thread) on the same data as BenchmarkCompress, as the
// reference for its MB/s. It includes wimcapture's own overhead (process
// start, reading files, SHA-1), so it slightly flatters our codec.
func BenchmarkWimlibCapture(b *testing.B) {
	wimcapture := needTool(b, "wimcapture")
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, kind := range benchKinds {
		var data []byte
		for _, c := range benchChunks(b, kind) {
			data = append(data, c...)
		}
		total += len(data)
		if err := os.WriteFile(filepath.Join(src, kind), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(total))
	for b.Loop() {
		out := filepath.Join(dir, "out.wim")
		os.Remove(out)
		if o, err := exec.Command(wimcapture, src, out, "--compress=LZX", "--threads=1", "--no-acls").CombinedOutput(); err != nil {
			b.Fatalf("wimcapture: %v: %s", err, o)
		}
	}
}
