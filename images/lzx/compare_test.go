package lzx

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// wimlibChunkSizes captures files with wimcapture at the given LZX level and
// returns, per file name, the total stored size of its chunks.
func wimlibChunkSizes(t testing.TB, files map[string][]byte, comp string) map[string]int {
	t.Helper()
	wimcapture := needTool(t, "wimcapture")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	writeCorpus(t, src, files)
	wimPath := filepath.Join(dir, "out.wim")
	cmd := exec.Command(wimcapture, src, wimPath, "--compress="+comp, "--threads=1", "--no-acls")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wimcapture: %v: %s", err, b)
	}
	wim, err := os.ReadFile(wimPath)
	if err != nil {
		t.Fatal(err)
	}
	bySHA := map[[20]byte]int{}
	for _, b := range parseWIM(t, wim) {
		if b.flags&0x02 != 0 {
			continue
		}
		total := 0
		if b.flags&0x04 == 0 {
			total = int(b.storedSize)
		} else {
			for _, c := range readChunks(t, wim, b) {
				total += len(c)
			}
		}
		bySHA[b.sha] = total
	}
	sizes := map[string]int{}
	for name, data := range files {
		s, ok := bySHA[sha1Sum(data)]
		if !ok {
			t.Fatalf("file %s not found in the WIM", name)
		}
		sizes[name] = s
	}
	return sizes
}

// ourChunkSizes compresses every file in 32 KiB chunks and returns the
// total stored size per file (raw chunks count at full size).
func ourChunkSizes(t testing.TB, files map[string][]byte, level int) map[string]int {
	t.Helper()
	c := NewCompressor(level)
	d := NewDecompressor()
	dst := make([]byte, ChunkSize)
	got := make([]byte, ChunkSize)
	sizes := map[string]int{}
	for name, data := range files {
		total := 0
		for off := 0; off < len(data); off += ChunkSize {
			chunk := data[off:min(len(data), off+ChunkSize)]
			k := c.Compress(dst, chunk)
			if k == 0 {
				total += len(chunk)
				continue
			}
			if err := d.Decompress(got[:len(chunk)], dst[:k]); err != nil {
				t.Fatalf("%s chunk at %d: %v", name, off, err)
			}
			if string(got[:len(chunk)]) != string(chunk) {
				t.Fatalf("%s chunk at %d: round trip mismatch", name, off)
			}
			total += k
		}
		sizes[name] = total
	}
	return sizes
}

// TestRatioVersusWimlib compares the compressed size of our default level
// with wimlib's default LZX level on the same files and fails when ours is
// more than 2% larger in total.
func TestRatioVersusWimlib(t *testing.T) {
	files := corpusFiles(t)
	theirs := wimlibChunkSizes(t, files, "LZX")
	for _, level := range []int{LevelFast, LevelDefault, LevelMax} {
		ours := ourChunkSizes(t, files, level)
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		var to, tt, tin int
		for _, n := range names {
			to += ours[n]
			tt += theirs[n]
			tin += len(files[n])
			t.Logf("level %d %-15s in %8d wimlib %8d ours %8d (%.4f)", level, n, len(files[n]), theirs[n], ours[n], float64(ours[n])/float64(max(1, theirs[n])))
		}
		t.Logf("level %d total: in %d, wimlib LZX:50 %d, ours %d, ours/wimlib %.4f", level, tin, tt, to, float64(to)/float64(tt))
		if level == LevelDefault && float64(to) > 1.02*float64(tt) {
			t.Errorf("default level output %d bytes is more than 2%% above wimlib's %d", to, tt)
		}
	}
}
