package lzx

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// benchWIMEnv names a WIM written by wimlib with LZX compression whose
// chunks the decoding benchmarks use instead of the test corpus.
const benchWIMEnv = "LZX_BENCH_WIM"

// compChunk is one compressed chunk and its uncompressed size.
type compChunk struct {
	data []byte
	size int
}

// wimlibChunks returns the compressed chunks of a WIM that wimlib wrote
// with LZX: the file $LZX_BENCH_WIM names, or the test corpus captured now.
func wimlibChunks(tb testing.TB) (chunks []compChunk, total int) {
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
				chunks = append(chunks, compChunk{c, size})
				total += size
			}
		}
	}
	if len(chunks) == 0 {
		tb.Fatalf("%s: no compressed chunk", path)
	}
	return chunks, total
}

// BenchmarkDecompressWimlib decodes the chunks of a WIM written by wimlib
// with this package's decoder and with the reference decoder of the tests,
// alternately in every round, and reports both speeds per CPU second of
// the benchmark's thread and their ratio (reference time over ours).
func BenchmarkDecompressWimlib(b *testing.B) {
	chunks, total := wimlibChunks(b)
	d := NewDecompressor()
	ref := newRefDecompressor()
	out := make([]byte, ChunkSize)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ours, theirs time.Duration
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		t0 := threadCPU()
		for _, c := range chunks {
			if err := d.Decompress(out[:c.size], c.data); err != nil {
				b.Fatal(err)
			}
		}
		t1 := threadCPU()
		for _, c := range chunks {
			if err := ref.Decompress(out[:c.size], c.data); err != nil {
				b.Fatal(err)
			}
		}
		t2 := threadCPU()
		ours += t1 - t0
		theirs += t2 - t1
	}
	if ours > 0 && theirs > 0 {
		mb := float64(total) * float64(b.N) / 1e6
		b.ReportMetric(mb/ours.Seconds(), "cpuMB/s")
		b.ReportMetric(mb/theirs.Seconds(), "ref-cpuMB/s")
		b.ReportMetric(theirs.Seconds()/ours.Seconds(), "speedup")
	}
}

// BenchmarkDecompressWimlibEach decodes the same chunks as
// BenchmarkDecompressWimlib with each decoder on its own (for profilers
// such as callgrind, which do not follow a goroutine locked to a thread).
func BenchmarkDecompressWimlibEach(b *testing.B) {
	chunks, total := wimlibChunks(b)
	for _, dec := range []struct {
		name string
		d    interface{ Decompress(dst, src []byte) error }
	}{{"ours", NewDecompressor()}, {"ref", newRefDecompressor()}} {
		b.Run(dec.name, func(b *testing.B) {
			out := make([]byte, ChunkSize)
			b.SetBytes(int64(total))
			for b.Loop() {
				for _, c := range chunks {
					if err := dec.d.Decompress(out[:c.size], c.data); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
