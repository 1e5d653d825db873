package xpress

import (
	"os"
	"testing"
	"time"
)

func TestZZRun(t *testing.T) {
	path := os.Getenv("ZZ_FILE")
	if path == "" {
		t.Skip()
	}
	data, _ := os.ReadFile(path)
	for _, lv := range []int{3} {
		c := NewCompressor(lv)
		dst := make([]byte, 65536)
		best := time.Hour
		out := 0
		for range 3 {
			cpu0 := processCPU()
			out = 0
			for off := 0; off < len(data); off += 32768 {
				ch := data[off:min(off+32768, len(data))]
				n := c.Compress(dst[:len(ch)], ch)
				if n == 0 {
					n = len(ch)
				}
				out += n
			}
			best = min(best, processCPU()-cpu0)
		}
		t.Logf("level %d ratio %.4f min %v = %.1f MB/s", lv, float64(out)/float64(len(data)), best, float64(len(data))/1e6/best.Seconds())
	}
}
