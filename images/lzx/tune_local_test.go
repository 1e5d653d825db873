package lzx

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestTuneLocal(t *testing.T) {
	if os.Getenv("LZX_TUNE") == "" {
		t.Skip()
	}
	files := corpusFiles(t)
	for _, p := range []params{
		{true, 16, 32, 2, true},
		{true, 12, 32, 2, true},
		{true, 16, 24, 2, true},
		{false, 16, 32, 0, false},
	} {
		best := time.Hour
		var to int
		for rep := 0; rep < 3; rep++ {
			to = 0
			c := NewCompressor(LevelDefault)
			c.p = p
			dst := make([]byte, ChunkSize)
			t0 := cpuTime()
			for _, data := range files {
				for off := 0; off < len(data); off += ChunkSize {
					ch := data[off:min(len(data), off+ChunkSize)]
					k := c.Compress(dst, ch)
					if k == 0 {
						k = len(ch)
					}
					to += k
				}
			}
			best = min(best, cpuTime()-t0)
		}
		t.Logf("%+v: %d bytes, cpu %v", p, to, best)
	}
}
