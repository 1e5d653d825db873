package lzx

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wdscapture/wdscapture/images/internal/decodebench"
)

// benchWIMEnv names a WIM written by wimlib with LZX compression whose
// chunks the decoding benchmarks use instead of the test corpus.
const benchWIMEnv = "LZX_BENCH_WIM"

// wimlibChunks returns the compressed chunks of a WIM that wimlib wrote
// with LZX: the file $LZX_BENCH_WIM names, or the test corpus captured now.
func wimlibChunks(tb testing.TB) (chunks []decodebench.Chunk) {
	tb.Helper()
	path := os.Getenv(benchWIMEnv)
	if path == "" {
		wimcapture := needTool(tb, "wimcapture")
		dir := tb.TempDir()
		src := filepath.Join(dir, "src")
		if err := os.Mkdir(src, 0o755); err != nil {
			tb.Fatal(err)
		}
		writeCorpus(tb, src, corpusFiles(tb))
		path = filepath.Join(dir, "out.wim")
		cmd := exec.Command(wimcapture, src, path, "--compress=LZX", "--threads=1", "--no-acls")
		if b, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("wimcapture: %v: %s", err, b)
		}
	}
	wim, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	for _, b := range parseWIM(tb, wim) {
		if b.flags&0x04 == 0 {
			continue
		}
		for i, c := range readChunks(tb, wim, b) {
			size := min(ChunkSize, int(b.origSize)-i*ChunkSize)
			if len(c) < size {
				chunks = append(chunks, decodebench.Chunk{Data: c, Size: size})
			}
		}
	}
	if len(chunks) == 0 {
		tb.Fatalf("%s: no compressed chunk", path)
	}
	return chunks
}

// BenchmarkDecompressWimlib decodes the chunks of a WIM written by wimlib
// with this package's decoder and with the reference decoder of the tests,
// alternately in every round, and reports both speeds per CPU second of
// the benchmark's thread and their ratio (reference time over ours).
func BenchmarkDecompressWimlib(b *testing.B) {
	chunks := wimlibChunks(b)
	decodebench.Compare(b, NewDecompressor(), newRefDecompressor(), chunks, ChunkSize)
}

// BenchmarkDecompressWimlibEach decodes the same chunks as
// BenchmarkDecompressWimlib with each decoder on its own (for profilers
// such as callgrind, which do not follow a goroutine locked to a thread).
func BenchmarkDecompressWimlibEach(b *testing.B) {
	chunks := wimlibChunks(b)
	decodebench.Each(b, NewDecompressor(), newRefDecompressor(), chunks, ChunkSize)
}
