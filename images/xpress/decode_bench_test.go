package xpress

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wdscapture/wdscapture/images/internal/decodebench"
)

// benchWIMEnv names a WIM written by wimlib with XPRESS compression whose
// chunks BenchmarkDecompressWimlib uses instead of the test tree.
const benchWIMEnv = "XPRESS_BENCH_WIM"

// wimlibChunks returns the compressed chunks of a WIM that wimlib wrote
// with XPRESS: the file $XPRESS_BENCH_WIM names, or the test tree of
// TestDecompressWimlibWIM captured now.
func wimlibChunks(b *testing.B) (chunks []decodebench.Chunk) {
	b.Helper()
	path := os.Getenv(benchWIMEnv)
	if path == "" {
		wimcapture := requireTool(b, "wimcapture")
		dir := b.TempDir()
		tree := filepath.Join(dir, "tree")
		if err := os.Mkdir(tree, 0o755); err != nil {
			b.Fatal(err)
		}
		writeTestTree(b, tree)
		path = filepath.Join(dir, "bench.wim")
		if msg, err := exec.Command(wimcapture, tree, path, "--compress=XPRESS").CombinedOutput(); err != nil {
			b.Fatalf("wimcapture: %v\n%s", err, msg)
		}
	}
	w := openWIM(b, path)
	hdrs, _ := w.blobs(b)
	for _, h := range hdrs {
		if h.flags&resFlagCompressed == 0 {
			continue
		}
		for _, ch := range w.chunks(b, h) {
			if len(ch.stored) < ch.size {
				chunks = append(chunks, decodebench.Chunk{Data: ch.stored, Size: ch.size})
			}
		}
	}
	if len(chunks) == 0 {
		b.Fatalf("%s: no compressed chunk", path)
	}
	return chunks
}

// BenchmarkDecompressWimlib decodes the chunks of a WIM written by wimlib
// with this package's decoder and with the reference decoder of the tests,
// alternately in every round, and reports both speeds per CPU second of
// the benchmark's thread and their ratio (reference time over ours).
func BenchmarkDecompressWimlib(b *testing.B) {
	chunks := wimlibChunks(b)
	decodebench.Compare(b, NewDecompressor(), newRefDecompressor(), chunks, MaxChunkSize)
}

// BenchmarkDecompressWimlibEach decodes the same chunks as
// BenchmarkDecompressWimlib with each decoder on its own (for profilers
// such as callgrind, which do not follow a goroutine locked to a thread).
func BenchmarkDecompressWimlibEach(b *testing.B) {
	chunks := wimlibChunks(b)
	decodebench.Each(b, NewDecompressor(), newRefDecompressor(), chunks, MaxChunkSize)
}
