package xpress

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func putResHdr(b []byte, r resHdr) {
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], r.size)
	copy(b[:7], s[:7])
	b[7] = r.flags
	binary.LittleEndian.PutUint64(b[8:], r.offset)
	binary.LittleEndian.PutUint64(b[16:], r.orig)
}

// recompressWIM rewrites the WIM at in into out with every resource
// re-compressed by our Compressor (levels taken in turn per blob), so that
// wimlib's own tools can judge our output: blob table, XML data and header
// are rebuilt around the new resources, without an integrity table.
func recompressWIM(t *testing.T, in, out string) (chunks, raw int) {
	t.Helper()
	w := openWIM(t, in)
	d := NewDecompressor()
	comps := []*Compressor{NewCompressor(LevelFast), NewCompressor(LevelDefault), NewCompressor(LevelHigh)}
	hdrs, sums := w.blobs(t)
	bootMD := parseResHdr(w.data[96:])

	var file bytes.Buffer
	file.Write(make([]byte, 208))
	var table bytes.Buffer
	var newBoot resHdr
	cs := w.chunkSize
	dst := make([]byte, cs)
	for i, h := range hdrs {
		var whole []byte
		for _, ch := range w.chunks(t, h) {
			buf := make([]byte, ch.size)
			if len(ch.stored) == ch.size || h.flags&resFlagCompressed == 0 {
				copy(buf, ch.stored)
			} else if err := d.Decompress(buf, ch.stored); err != nil {
				t.Fatalf("blob %d: %v", i, err)
			}
			whole = append(whole, buf...)
		}
		nr := resHdr{flags: h.flags | resFlagCompressed, offset: uint64(file.Len()), orig: uint64(len(whole))}
		if len(whole) == 0 {
			nr.flags = h.flags
		} else {
			n := (len(whole) + cs - 1) / cs
			var offs []byte
			var body bytes.Buffer
			for k := range n {
				if k > 0 {
					offs = binary.LittleEndian.AppendUint32(offs, uint32(body.Len()))
				}
				chunk := whole[k*cs : min((k+1)*cs, len(whole))]
				c := comps[(i+k)%len(comps)]
				if m := c.Compress(dst[:len(chunk)], chunk); m > 0 {
					body.Write(dst[:m])
					chunks++
				} else {
					body.Write(chunk)
					raw++
				}
			}
			file.Write(offs)
			file.Write(body.Bytes())
			nr.size = uint64(len(offs) + body.Len())
		}
		if h.offset == bootMD.offset && h.flags&resFlagMetadata != 0 {
			newBoot = nr
		}
		var e [50]byte
		putResHdr(e[:], nr)
		copy(e[24:30], w.data[parseResHdr(w.data[48:]).offset+uint64(i)*50+24:][:6]) // part number, reference count
		copy(e[30:], sums[i][:])
		table.Write(e[:])
	}
	hdr := bytes.Clone(w.data[:208])
	putResHdr(hdr[48:], resHdr{size: uint64(table.Len()), offset: uint64(file.Len()), orig: uint64(table.Len())})
	file.Write(table.Bytes())
	xml := parseResHdr(w.data[72:])
	xmlData := w.data[xml.offset : xml.offset+xml.size]
	xml.offset = uint64(file.Len())
	putResHdr(hdr[72:], xml)
	file.Write(xmlData)
	putResHdr(hdr[96:], newBoot)
	putResHdr(hdr[124:], resHdr{})
	copy(file.Bytes(), hdr)
	if err := os.WriteFile(out, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return chunks, raw
}

// TestWimlibReadsOurChunks proves the compressor against wimlib's decoder:
// every resource of a wimcapture-made XPRESS WIM is re-compressed by us, and
// wimverify and wimapply must accept the result and give back the tree byte
// for byte.
func TestWimlibReadsOurChunks(t *testing.T) {
	wimcapture := requireTool(t, "wimcapture")
	wimverify := requireTool(t, "wimverify")
	wimapply := requireTool(t, "wimapply")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestTree(t, tree)
	for _, chunk := range []int{32768, 65536} {
		t.Run(fmt.Sprintf("chunk%d", chunk), func(t *testing.T) {
			orig := filepath.Join(dir, fmt.Sprintf("orig%d.wim", chunk))
			args := []string{tree, orig, "--compress=XPRESS", fmt.Sprintf("--chunk-size=%d", chunk)}
			if msg, err := exec.Command(wimcapture, args...).CombinedOutput(); err != nil {
				t.Fatalf("wimcapture: %v\n%s", err, msg)
			}
			ours := filepath.Join(dir, fmt.Sprintf("ours%d.wim", chunk))
			n, raw := recompressWIM(t, orig, ours)
			if n == 0 {
				t.Fatal("no chunk was compressed")
			}
			if msg, err := exec.Command(wimverify, ours).CombinedOutput(); err != nil {
				t.Fatalf("wimverify rejects our chunks: %v\n%s", err, msg)
			}
			applied := filepath.Join(dir, fmt.Sprintf("applied%d", chunk))
			if msg, err := exec.Command(wimapply, ours, "1", applied).CombinedOutput(); err != nil {
				t.Fatalf("wimapply: %v\n%s", err, msg)
			}
			files := 0
			err := filepath.WalkDir(tree, func(p string, de fs.DirEntry, err error) error {
				if err != nil || de.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(tree, p)
				want, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				got, err := os.ReadFile(filepath.Join(applied, rel))
				if err != nil {
					return fmt.Errorf("applied tree: %w", err)
				}
				if !bytes.Equal(got, want) {
					return fmt.Errorf("%s differs after wimapply", rel)
				}
				files++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("wimverify and wimapply accept %d chunks of ours (%d stored raw); %d files equal", n, raw, files)
		})
	}
}
