package lzx

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// needTool returns the path of an external tool, skipping the test when it
// is missing outside CI and failing it under CI=true.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s not installed: %v", name, err)
		}
		t.Fatalf("%s is required under CI: %v", name, err)
	}
	return p
}

var (
	winBinOnce sync.Once
	winBin     []byte
	winBinErr  error
)

// windowsProgram cross-builds a small Go program for windows/amd64 once
// per test binary and returns the PE image: real x86 code with E8 calls.
func windowsProgram(t testing.TB) []byte {
	t.Helper()
	winBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lzx-winbin")
		if err != nil {
			winBinErr = err
			return
		}
		defer os.RemoveAll(dir)
		src := "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\t\"strings\"\n)\n\nfunc main() {\n\tfmt.Println(strings.Repeat(\"x\", len(os.Args)))\n}\n"
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
			winBinErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.21\n"), 0o644); err != nil {
			winBinErr = err
			return
		}
		out := filepath.Join(dir, "hello.exe")
		cmd := exec.Command(goTool(t), "build", "-trimpath", "-buildvcs=false", "-o", out, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if b, err := cmd.CombinedOutput(); err != nil {
			winBinErr = fmt.Errorf("cross-build: %v: %s", err, b)
			return
		}
		winBin, winBinErr = os.ReadFile(out)
	})
	if winBinErr != nil {
		t.Fatalf("windows program: %v", winBinErr)
	}
	return winBin
}

// goBinary returns the go tool's own executable (x86-64 ELF code).
func goBinary(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(goTool(t))
	if err != nil {
		t.Fatalf("read go binary: %v", err)
	}
	return b
}

// goSource returns about n bytes of Go standard library source text.
func goSource(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	root := filepath.Join(goRoot(t), "src", "net", "http")
	files, err := filepath.Glob(filepath.Join(root, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go source under %s: %v", root, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		buf.Write(b)
		if buf.Len() >= n {
			break
		}
	}
	return buf.Bytes()[:min(n, buf.Len())]
}

// corpusFiles returns named test files: x86 code, text, and synthetic
// data made to exercise repeat offsets, E8 bytes and incompressible data.
func corpusFiles(t testing.TB) map[string][]byte {
	t.Helper()
	gob := goBinary(t)
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 100000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	records := make([]byte, 0, 200000)
	for i := 0; len(records) < 200000; i++ {
		rec := fmt.Sprintf("%08d|name-%d|%x|", i, i%97, i*7919)
		records = append(records, rec...)
		records = append(records, make([]byte, 24-len(rec)%24)...)
	}
	e8 := make([]byte, 70000)
	for i := range e8 {
		if rng.IntN(6) == 0 {
			e8[i] = 0xE8
		} else {
			e8[i] = byte(rng.IntN(4))
		}
	}
	files := map[string][]byte{
		"go-head.bin":    gob[:min(len(gob), 3<<19)],
		"go-tail.bin":    gob[max(0, len(gob)-(1<<20)):],
		"hello.exe":      windowsProgram(t),
		"source.txt":     goSource(t, 1<<19),
		"random.bin":     random,
		"zeros.bin":      make([]byte, 100000),
		"records.dat":    records,
		"e8.bin":         e8,
		"one.bin":        {0xE8},
		"small.txt":      []byte("hello, hello, hello world\n"),
		"chunk.bin":      gob[1<<20 : 1<<20+ChunkSize],
		"chunkplus1.bin": gob[2<<20 : 2<<20+ChunkSize+1],
	}
	if raceEnabled {
		for name, data := range files {
			files[name] = data[:min(len(data), 4*ChunkSize+100)]
		}
	}
	return files
}

// wimBlob is one stream of a WIM's blob table.
type wimBlob struct {
	flags      byte
	offset     int64
	storedSize int64
	origSize   int64
	sha        [20]byte
}

func parseResHdr(b []byte) (stored int64, flags byte, offset, orig int64) {
	v := binary.LittleEndian.Uint64(b[0:8])
	stored = int64(v & (1<<56 - 1))
	flags = byte(v >> 56)
	offset = int64(binary.LittleEndian.Uint64(b[8:16]))
	orig = int64(binary.LittleEndian.Uint64(b[16:24]))
	return
}

// parseWIM returns the header and blob table entries of a WIM file.
func parseWIM(t testing.TB, wim []byte) []wimBlob {
	t.Helper()
	if len(wim) < 208 || string(wim[:8]) != "MSWIM\x00\x00\x00" {
		t.Fatalf("not a WIM file")
	}
	if cs := binary.LittleEndian.Uint32(wim[0x14:]); cs != ChunkSize {
		t.Fatalf("chunk size %d, want %d", cs, ChunkSize)
	}
	stored, flags, off, orig := parseResHdr(wim[0x30:])
	if flags&0x04 != 0 || stored != orig {
		t.Fatalf("compressed blob table not supported by this test (flags %#x)", flags)
	}
	table := wim[off : off+stored]
	var blobs []wimBlob
	for len(table) >= 50 {
		var b wimBlob
		b.storedSize, b.flags, b.offset, b.origSize = parseResHdr(table)
		copy(b.sha[:], table[30:50])
		blobs = append(blobs, b)
		table = table[50:]
	}
	return blobs
}

// readChunks splits a compressed resource into its chunks.
func readChunks(t testing.TB, wim []byte, b wimBlob) (chunks [][]byte) {
	t.Helper()
	res := wim[b.offset : b.offset+b.storedSize]
	n := int((b.origSize + ChunkSize - 1) / ChunkSize)
	ent := 4
	if b.origSize >= 1<<32 {
		ent = 8
	}
	tsize := (n - 1) * ent
	offs := make([]int64, n+1)
	for i := 1; i < n; i++ {
		if ent == 4 {
			offs[i] = int64(binary.LittleEndian.Uint32(res[(i-1)*4:]))
		} else {
			offs[i] = int64(binary.LittleEndian.Uint64(res[(i-1)*8:]))
		}
	}
	offs[n] = int64(len(res) - tsize)
	data := res[tsize:]
	for i := 0; i < n; i++ {
		chunks = append(chunks, data[offs[i]:offs[i+1]])
	}
	return chunks
}

// decodeBlob returns the uncompressed contents of a blob.
func decodeBlob(t testing.TB, d *Decompressor, wim []byte, b wimBlob) []byte {
	t.Helper()
	if b.flags&0x04 == 0 {
		return wim[b.offset : b.offset+b.storedSize]
	}
	out := make([]byte, 0, b.origSize)
	for i, c := range readChunks(t, wim, b) {
		usize := min(ChunkSize, int(b.origSize)-i*ChunkSize)
		if len(c) == usize {
			out = append(out, c...)
			continue
		}
		dst := make([]byte, usize)
		if err := d.Decompress(dst, c); err != nil {
			t.Fatalf("blob %x chunk %d: %v", b.sha, i, err)
		}
		out = append(out, dst...)
	}
	return out
}

func writeCorpus(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDecompressWimlib decompresses every blob of WIMs written by wimlib
// with LZX at several levels and checks each blob's SHA-1.
func TestDecompressWimlib(t *testing.T) {
	wimcapture := needTool(t, "wimcapture")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	writeCorpus(t, src, corpusFiles(t))
	for _, comp := range []string{"LZX", "LZX:20", "LZX:100"} {
		t.Run(comp, func(t *testing.T) {
			wimPath := filepath.Join(dir, "out.wim")
			cmd := exec.Command(wimcapture, src, wimPath, "--compress="+comp, "--threads=1", "--no-acls")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("wimcapture: %v: %s", err, b)
			}
			wim, err := os.ReadFile(wimPath)
			if err != nil {
				t.Fatal(err)
			}
			d := NewDecompressor()
			blobs := parseWIM(t, wim)
			var chunks, total int
			for _, b := range blobs {
				data := decodeBlob(t, d, wim, b)
				if int64(len(data)) != b.origSize {
					t.Fatalf("blob %x: got %d bytes, want %d", b.sha, len(data), b.origSize)
				}
				if sha1.Sum(data) != b.sha {
					t.Fatalf("blob %x (%d bytes, flags %#x): SHA-1 mismatch after decompression", b.sha, b.origSize, b.flags)
				}
				if b.flags&0x04 != 0 {
					chunks += int((b.origSize + ChunkSize - 1) / ChunkSize)
				}
				total += len(data)
			}
			if chunks == 0 {
				t.Fatalf("no compressed blob in the WIM")
			}
			t.Logf("%s: %d blobs, %d compressed chunks, %d bytes verified", comp, len(blobs), chunks, total)
		})
	}
}

func sha1Sum(b []byte) [20]byte { return sha1.Sum(b) }

// goTool is the go command on PATH (the toolchain the tests run with).
func goTool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command in PATH: %v", err)
	}
	return p
}

// goRoot is that toolchain's GOROOT, as "go env GOROOT" reports it.
func goRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command(goTool(t), "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	return strings.TrimSpace(string(out))
}
