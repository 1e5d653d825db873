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
		{true, 24, 48, 2, false},
		{false, 16, 32, 0, false},
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

func TestTunePhases(t *testing.T) {
	if os.Getenv("LZX_TUNE") == "" {
		t.Skip()
	}
	g := goBinary(t)[:4<<20]
	s := goSource(t, 2<<20)
	data := append(append([]byte{}, g...), s...)
	c := NewCompressor(LevelDefault)
	var tm, tg, td, tw time.Duration
	dst := make([]byte, ChunkSize)
	for off := 0; off < len(data); off += ChunkSize {
		ch := data[off:min(len(data), off+ChunkSize)]
		buf := c.buf[:len(ch)]
		copy(buf, ch)
		t0 := cpuTime()
		c.findMatches(buf)
		t1 := cpuTime()
		c.parseGreedy(buf)
		t2 := cpuTime()
		for p := 0; p < 2; p++ {
			c.countFreqs()
			c.buildCodes()
			c.setCostsFromCodes()
			c.minCostPath(buf, false)
		}
		t3 := cpuTime()
		c.countFreqs()
		c.buildCodes()
		c.w.init(dst)
		c.writeBlock(buf)
		t4 := cpuTime()
		tm += t1 - t0
		tg += t2 - t1
		td += t3 - t2
		tw += t4 - t3
	}
	t.Logf("match finding %v, greedy %v, 2 optimal passes %v, write %v", tm, tg, td, tw)
}

func BenchmarkTuneDP(b *testing.B) {
	g := goBinary(b)[:2<<20]
	c := NewCompressor(LevelDefault)
	type st struct{ buf []byte }
	var chunks [][]byte
	for off := 0; off < len(g); off += ChunkSize {
		chunks = append(chunks, g[off:off+ChunkSize])
	}
	for b.Loop() {
		for _, ch := range chunks {
			buf := c.buf[:len(ch)]
			copy(buf, ch)
			c.findMatches(buf)
			c.parseGreedy(buf)
			c.countFreqs()
			c.buildCodes()
			c.setCostsFromCodes()
			for k := 0; k < 4; k++ {
				c.minCostPath(buf, false)
			}
		}
	}
}

func TestTuneVsWimlib(t *testing.T) {
	if os.Getenv("LZX_TUNE") == "" {
		t.Skip()
	}
	files := corpusFiles(t)
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru0)
	theirs := wimlibChunkSizes(t, files, "LZX")
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru1)
	wt := time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano())
	tt := 0
	for _, v := range theirs {
		tt += v
	}
	t.Logf("wimlib: %d bytes, cpu %v (incl. SHA-1, I/O)", tt, wt)
	for _, p := range []params{
		{true, 24, 48, 2, false},
		{true, 24, 48, 2, true},
		{true, 16, 32, 2, true},
		{true, 24, 48, 3, true},
	} {
		var to int
		var el time.Duration
		c := NewCompressor(LevelDefault)
		c.p = p
		dst := make([]byte, ChunkSize)
		for _, data := range files {
			t0 := cpuTime()
			for off := 0; off < len(data); off += ChunkSize {
				ch := data[off:min(len(data), off+ChunkSize)]
				k := c.Compress(dst, ch)
				if k == 0 {
					k = len(ch)
				}
				to += k
			}
			el += cpuTime() - t0
		}
		t.Logf("%+v: %d bytes (%.4f of wimlib), cpu %v (%.2fx wimlib)", p, to, float64(to)/float64(tt), el, el.Seconds()/wt.Seconds())
	}
}

func TestTuneMatchStats(t *testing.T) {
	if os.Getenv("LZX_TUNE") == "" {
		t.Skip()
	}
	g := goBinary(t)[:4<<20]
	c := NewCompressor(LevelDefault)
	var pos, ms, len2, len2far, sumLongest int
	for off := 0; off < len(g); off += ChunkSize {
		buf := c.buf[:ChunkSize]
		copy(buf, g[off:off+ChunkSize])
		c.findMatches(buf)
		for i := 0; i < ChunkSize; i++ {
			m := c.cache[c.start[i]:c.start[i+1]]
			pos++
			ms += len(m)
			if len(m) > 0 {
				sumLongest += int(m[len(m)-1].length)
				if m[0].length == 2 {
					len2++
					if m[0].offset > 1024 {
						len2far++
					}
				}
			}
		}
	}
	t.Logf("positions %d, matches/pos %.2f, longest avg %.2f, len2 %d (far %d)", pos, float64(ms)/float64(pos), float64(sumLongest)/float64(pos), len2, len2far)
}

func BenchmarkTuneDPOnly(b *testing.B) {
	g := goBinary(b)
	c := NewCompressor(LevelDefault)
	buf := c.buf[:ChunkSize]
	copy(buf, g[1<<20:1<<20+ChunkSize])
	c.findMatches(buf)
	c.parseGreedy(buf)
	c.countFreqs()
	c.buildCodes()
	c.setCostsFromCodes()
	b.SetBytes(ChunkSize)
	for b.Loop() {
		c.minCostPath(buf, false)
	}
}

func BenchmarkTuneMFOnly(b *testing.B) {
	g := goBinary(b)
	c := NewCompressor(LevelDefault)
	buf := c.buf[:ChunkSize]
	copy(buf, g[1<<20:1<<20+ChunkSize])
	b.SetBytes(ChunkSize)
	for b.Loop() {
		c.findMatches(buf)
	}
}
