package ntfs

import (
	"crypto/sha1"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/wdscapture/wdscapture/volume"
)

// benchImage returns an NTFS image for benchmarks: $NTFS_BENCH_IMG when
// set, else one built from a copy of GOROOT plus 3×50 MB of random data
// (about 400 MB of file data, 16,000+ entries).
func benchImage(b *testing.B) string {
	if p := os.Getenv("NTFS_BENCH_IMG"); p != "" {
		return p
	}
	needTools(b, "wimcapture", "wimapply", "mkntfs")
	dir := b.TempDir()
	tree := filepath.Join(dir, "tree")
	goroot := os.Getenv("GOROOT")
	if goroot == "" {
		out, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			b.Fatal(err)
		}
		goroot = string(out[:len(out)-1])
	}
	runCmd(b, "cp", "-a", goroot, tree)
	for _, n := range []string{"r1", "r2", "r3"} {
		runCmd(b, "dd", "if=/dev/urandom", "of="+filepath.Join(tree, n), "bs=1M", "count=50", "status=none")
	}
	return imageFromTree(b, tree, 1200)
}

// cpuTime returns user+system CPU seconds of who.
func cpuTime(who int) float64 {
	var ru syscall.Rusage
	syscall.Getrusage(who, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// readAll walks the volume and SHA-1s every stream, like a capture's hash
// pass. It returns the bytes read.
func readAll(b *testing.B, src volume.Source) int64 {
	var total int64
	var walk func(e *volume.Entry)
	walk = func(e *volume.Entry) {
		for i := range e.Streams {
			rc, err := src.OpenStream(e, i)
			if err != nil {
				b.Fatal(err)
			}
			h := sha1.New()
			n, err := io.Copy(h, rc)
			if err != nil {
				b.Fatal(err)
			}
			rc.Close()
			total += n
		}
		if e.IsDir() && e.Attributes&volume.AttrReparsePoint == 0 {
			kids, err := src.ReadDir(e)
			if err != nil {
				b.Fatal(err)
			}
			for _, k := range kids {
				walk(k)
			}
		}
	}
	root, err := src.Root()
	if err != nil {
		b.Fatal(err)
	}
	walk(root)
	return total
}

// BenchmarkReadVolume measures walking plus reading and hashing every
// stream (one goroutine), next to wimlib's uncompressed NTFS-3G capture of
// the same image (which also hashes every stream and writes it).
func BenchmarkReadVolume(b *testing.B) {
	img := benchImage(b)
	// The machine is shared, so besides wall time report CPU time (user +
	// system) per byte: "MB/cpu-s" is what one idle core would do.
	var bytes int64
	b.Run("ours", func(b *testing.B) {
		c0 := cpuTime(syscall.RUSAGE_SELF)
		for b.Loop() {
			v, err := OpenFile(img, Options{})
			if err != nil {
				b.Fatal(err)
			}
			bytes = readAll(b, v)
			v.Close()
			b.SetBytes(bytes)
		}
		b.ReportMetric(float64(bytes)*float64(b.N)/1e6/(cpuTime(syscall.RUSAGE_SELF)-c0), "MB/cpu-s")
	})
	// Parallel: one walk, then GOMAXPROCS goroutines open and hash the
	// streams, as the images writer's hash pool does.
	b.Run("ours-parallel", func(b *testing.B) {
		c0 := cpuTime(syscall.RUSAGE_SELF)
		var total int64
		for b.Loop() {
			v, err := OpenFile(img, Options{})
			if err != nil {
				b.Fatal(err)
			}
			type job struct {
				e *volume.Entry
				i int
			}
			jobs := make(chan job, 256)
			var n atomic.Int64
			var wg sync.WaitGroup
			for w := 0; w < runtime.GOMAXPROCS(0); w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					h := sha1.New()
					for j := range jobs {
						rc, err := v.OpenStream(j.e, j.i)
						if err != nil {
							b.Error(err)
							continue
						}
						h.Reset()
						m, err := io.Copy(h, rc)
						if err != nil {
							b.Error(err)
						}
						rc.Close()
						n.Add(m)
					}
				}()
			}
			var walk func(e *volume.Entry)
			walk = func(e *volume.Entry) {
				for i := range e.Streams {
					jobs <- job{e, i}
				}
				if e.IsDir() && e.Attributes&volume.AttrReparsePoint == 0 {
					kids, err := v.ReadDir(e)
					if err != nil {
						b.Fatal(err)
					}
					for _, k := range kids {
						walk(k)
					}
				}
			}
			root, err := v.Root()
			if err != nil {
				b.Fatal(err)
			}
			walk(root)
			close(jobs)
			wg.Wait()
			v.Close()
			total = n.Load()
			b.SetBytes(total)
		}
		b.ReportMetric(float64(total)*float64(b.N)/1e6/(cpuTime(syscall.RUSAGE_SELF)-c0), "MB/cpu-s")
	})
	b.Run("wimlib", func(b *testing.B) {
		needTools(b, "wimcapture")
		out := filepath.Join(b.TempDir(), "x.wim")
		c0 := cpuTime(syscall.RUSAGE_CHILDREN)
		for b.Loop() {
			os.Remove(out)
			runCmd(b, "wimcapture", img, out, "--compress=none", "--config=/dev/null", "--threads=1")
		}
		if bytes > 0 {
			b.SetBytes(bytes)
			b.ReportMetric(float64(bytes)*float64(b.N)/1e6/(cpuTime(syscall.RUSAGE_CHILDREN)-c0), "MB/cpu-s")
		}
	})
}
