package xpress

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// benchWIMEnv names a WIM written by wimlib with XPRESS compression whose
// chunks BenchmarkDecompressWimlib uses instead of the test tree.
const benchWIMEnv = "XPRESS_BENCH_WIM"

// wimlibChunks returns the compressed chunks of a WIM that wimlib wrote
// with XPRESS: the file $XPRESS_BENCH_WIM names, or the test tree of
// TestDecompressWimlibWIM captured now.
func wimlibChunks(b *testing.B) (chunks []wimChunk, total int) {
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
				chunks = append(chunks, ch)
				total += ch.size
			}
		}
	}
	if len(chunks) == 0 {
		b.Fatalf("%s: no compressed chunk", path)
	}
	return chunks, total
}

// BenchmarkDecompressWimlib decodes the chunks of a WIM written by wimlib
// with this package's decoder and with the reference decoder of the
// tests, alternately in every round, and reports both speeds per CPU
// second of the benchmark's thread and their ratio (reference time over
// ours).
func BenchmarkDecompressWimlib(b *testing.B) {
	chunks, total := wimlibChunks(b)
	d := NewDecompressor()
	ref := newRefDecompressor()
	out := make([]byte, MaxChunkSize)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ours, theirs time.Duration
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		t0 := threadCPU()
		for _, c := range chunks {
			if err := d.Decompress(out[:c.size], c.stored); err != nil {
				b.Fatal(err)
			}
		}
		t1 := threadCPU()
		for _, c := range chunks {
			if err := ref.Decompress(out[:c.size], c.stored); err != nil {
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
			out := make([]byte, MaxChunkSize)
			b.SetBytes(int64(total))
			for b.Loop() {
				for _, c := range chunks {
					if err := dec.d.Decompress(out[:c.size], c.stored); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
