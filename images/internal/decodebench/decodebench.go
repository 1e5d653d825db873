// Package decodebench times a codec's decoder against a reference decoder
// on the same compressed chunks, per CPU second of the benchmark's thread
// (steadier than wall time on a shared machine). The lzx and xpress
// benchmarks share it.
package decodebench

import (
	"runtime"
	"testing"
	"time"
)

// Decoder decompresses one chunk of known size.
type Decoder interface {
	Decompress(dst, src []byte) error
}

// Chunk is one compressed chunk and its uncompressed size.
type Chunk struct {
	Data []byte
	Size int
}

// Total returns the uncompressed bytes of chunks.
func Total(chunks []Chunk) int {
	n := 0
	for _, c := range chunks {
		n += c.Size
	}
	return n
}

// Compare decodes chunks with ours and then with ref in every round and
// reports both speeds per CPU second of the benchmark's thread and their
// ratio ("speedup": the reference's time over ours). maxChunk bounds every
// chunk's uncompressed size.
func Compare(b *testing.B, ours, ref Decoder, chunks []Chunk, maxChunk int) {
	total := Total(chunks)
	out := make([]byte, maxChunk)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var oursTime, refTime time.Duration
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		t0 := threadCPU()
		decodeAll(b, ours, chunks, out)
		t1 := threadCPU()
		decodeAll(b, ref, chunks, out)
		t2 := threadCPU()
		oursTime += t1 - t0
		refTime += t2 - t1
	}
	if oursTime > 0 && refTime > 0 {
		mb := float64(total) * float64(b.N) / 1e6
		b.ReportMetric(mb/oursTime.Seconds(), "cpuMB/s")
		b.ReportMetric(mb/refTime.Seconds(), "ref-cpuMB/s")
		b.ReportMetric(refTime.Seconds()/oursTime.Seconds(), "speedup")
	}
}

// Each runs the same chunks through each decoder in its own sub-benchmark
// ("ours", "ref"), for profilers such as callgrind that do not follow a
// goroutine locked to a thread.
func Each(b *testing.B, ours, ref Decoder, chunks []Chunk, maxChunk int) {
	for _, dec := range []struct {
		name string
		d    Decoder
	}{{"ours", ours}, {"ref", ref}} {
		b.Run(dec.name, func(b *testing.B) {
			out := make([]byte, maxChunk)
			b.SetBytes(int64(Total(chunks)))
			for b.Loop() {
				decodeAll(b, dec.d, chunks, out)
			}
		})
	}
}

func decodeAll(b *testing.B, d Decoder, chunks []Chunk, out []byte) {
	for _, c := range chunks {
		if err := d.Decompress(out[:c.Size], c.Data); err != nil {
			b.Fatal(err)
		}
	}
}
