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

func TestTune(t *testing.T) {
	if os.Getenv("LZX_TUNE") == "" {
		t.Skip()
	}
	g := goBinary(t)[:4<<20]
	s := goSource(t, 2<<20)
	data := append(append([]byte{}, g...), s...)
	for _, p := range []params{
		{true, 24, 48, 2},
		{true, 24, 48, 1},
		{true, 12, 32, 2},
		{true, 16, 32, 1},
		{false, 16, 32, 0},
	} {
		c := NewCompressor(LevelDefault)
		c.p = p
		dst := make([]byte, ChunkSize)
		t0 := cpuTime()
		out := 0
		for off := 0; off < len(data); off += ChunkSize {
			ch := data[off:min(len(data), off+ChunkSize)]
			k := c.Compress(dst, ch)
			if k == 0 {
				k = len(ch)
			}
			out += k
		}
		el := cpuTime() - t0
		t.Logf("%+v: %d bytes, cpu %v, %.2f MB/s", p, out, el, float64(len(data))/el.Seconds()/1e6)
	}
}
