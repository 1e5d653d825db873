package xpress

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/internal/testcorpus"
)

// benchInputs returns realistic inputs, to be cut into 32 KiB chunks:
// generated x86-64 code in a PE file and generated C source, 4 MiB each
// (the repository's test corpus, the same with every toolchain), and a
// sample of the bench corpus if it has been built (see corpusSample).
func benchInputs(b *testing.B) map[string][]byte {
	b.Helper()
	in := map[string][]byte{
		"pe":     testcorpus.PE(1, 4<<20),
		"source": testcorpus.Source(1, 4<<20),
	}
	if corpus := corpusSample(); len(corpus) > 0 {
		in["corpus"] = corpus
	}
	return in
}

// benchCorpus is the Windows-like bench corpus (PE files, text, XML, fonts,
// incompressible blobs) that the repository's build makes, if it is there.
const benchCorpus = "../../build/corpus"

// corpusSample returns about 8 MiB of the bench corpus: every 37th regular
// file in path order, at most 256 KiB of each, concatenated. It returns nil
// if the corpus has not been built.
func corpusSample() []byte {
	var paths []string
	_ = filepath.WalkDir(benchCorpus, func(p string, de os.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() {
			paths = append(paths, p)
		}
		return nil
	})
	sort.Strings(paths)
	var out []byte
	for i := 0; i < len(paths) && len(out) < 8<<20; i += 37 {
		if f, err := os.ReadFile(paths[i]); err == nil {
			out = append(out, f[:min(len(f), 256<<10)]...)
		}
	}
	return out
}

const benchChunk = 32768

func BenchmarkCompress(b *testing.B) {
	inputs := benchInputs(b)
	names := make([]string, 0, len(inputs))
	for k := range inputs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		data := inputs[name]
		for _, lv := range levels {
			b.Run(fmt.Sprintf("%s/level%d", name, lv), func(b *testing.B) {
				c := NewCompressor(lv)
				dst := make([]byte, benchChunk)
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				var out int
				cpu0 := processCPU()
				for b.Loop() {
					out = 0
					for off := 0; off < len(data); off += benchChunk {
						chunk := data[off:min(off+benchChunk, len(data))]
						n := c.Compress(dst[:len(chunk)], chunk)
						if n == 0 {
							n = len(chunk)
						}
						out += n
					}
				}
				reportCPU(b, cpu0, len(data))
				b.ReportMetric(float64(out)/float64(len(data)), "ratio")
			})
		}
	}
}

func BenchmarkDecompress(b *testing.B) {
	inputs := benchInputs(b)
	for name, data := range inputs {
		b.Run(name, func(b *testing.B) {
			c := NewCompressor(LevelDefault)
			type chunk struct {
				comp []byte
				size int
			}
			var chunks []chunk
			for off := 0; off < len(data); off += benchChunk {
				src := data[off:min(off+benchChunk, len(data))]
				dst := make([]byte, len(src))
				if n := c.Compress(dst, src); n > 0 {
					chunks = append(chunks, chunk{dst[:n], len(src)})
				}
			}
			d := NewDecompressor()
			out := make([]byte, benchChunk)
			total := 0
			for _, ch := range chunks {
				total += ch.size
			}
			b.SetBytes(int64(total))
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				for _, ch := range chunks {
					if err := d.Decompress(out[:ch.size], ch.comp); err != nil {
						b.Fatal(err)
					}
				}
			}
			reportCPU(b, cpu0, total)
		})
	}
}

// reportCPU reports throughput per CPU second ("cpuMB/s"): on a loaded
// machine wall-clock MB/s understates the codec's speed per core.
func reportCPU(b *testing.B, cpu0 time.Duration, bytesPerOp int) {
	cpu := processCPU() - cpu0
	if cpu <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(bytesPerOp)*float64(b.N)/1e6/cpu.Seconds(), "cpuMB/s")
}

// BenchmarkWimlib measures wimlib on the same inputs as BenchmarkCompress, so
// that both can be compared in one run: wimcapture --threads=1 at its default
// XPRESS level and at level 80 (near-optimal parsing). cpuMB/s is the child's
// CPU time for XPRESS minus that of an uncompressed capture of the same data
// (which leaves the compression alone); ratio is the stored size of the file
// blobs over their size.
func BenchmarkWimlib(b *testing.B) {
	wimcapture := requireTool(b, "wimcapture")
	inputs := benchInputs(b)
	names := make([]string, 0, len(inputs))
	for k := range inputs {
		names = append(names, k)
	}
	sort.Strings(names)
	dir := b.TempDir()
	run := func(b *testing.B, tree, out, compress string) (time.Duration, int) {
		cmd := exec.Command(wimcapture, tree, out, "--compress="+compress, "--threads=1")
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("wimcapture: %v\n%s", err, msg)
		}
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		w := openWIM(b, out)
		hdrs, _ := w.blobs(b)
		stored := 0
		for _, h := range hdrs {
			if h.flags&resFlagMetadata == 0 {
				stored += int(h.size)
			}
		}
		return cpu, stored
	}
	for _, name := range names {
		data := inputs[name]
		tree := filepath.Join(dir, name)
		if err := os.MkdirAll(tree, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tree, "data"), data, 0o644); err != nil {
			b.Fatal(err)
		}
		for _, level := range []string{"XPRESS", "XPRESS:80"} {
			b.Run(fmt.Sprintf("%s/%s", name, level), func(b *testing.B) {
				out := filepath.Join(dir, "out.wim")
				var cpu time.Duration
				var stored int
				for b.Loop() {
					cNone, _ := run(b, tree, out, "none")
					cX, s := run(b, tree, out, level)
					cpu += cX - cNone
					stored = s
				}
				if cpu > 0 {
					b.ReportMetric(float64(len(data))*float64(b.N)/1e6/cpu.Seconds(), "cpuMB/s")
				}
				b.ReportMetric(float64(stored)/float64(len(data)), "ratio")
			})
		}
	}
}
