package ntfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/volume"
)

// writeFile writes data to dir/rel, creating parents.
func writeFile(t testing.TB, dir, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// Sizes chosen around NTFS boundaries: resident values, cluster and
// compression-unit edges, multi-megabyte non-resident data.
var fileSizes = []int{0, 1, 100, 600, 700, 1023, 4095, 4096, 4097, 65535, 65536, 65537, 300001, 3 << 20}

// buildTree generates the Linux tree for the main parity test.
func buildTree(t testing.TB, dir string) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range fileSizes {
		writeFile(t, dir, fmt.Sprintf("sizes/random_%d", n), randBytes(rng, n))
		writeFile(t, dir, fmt.Sprintf("sizes/text_%d", n), bytes.Repeat([]byte("abcdefghij"), n/10+1)[:n])
	}
	// Names: Unicode incl. surrogate pairs, case variants, long names.
	for _, name := range []string{"héllo wörld.txt", "日本語ファイル", "emoji 😀 name", "Case", "CASE", "a.b.c.d", strings.Repeat("L", 200)} {
		writeFile(t, dir, "names/"+name, []byte(name))
	}
	// A deep path.
	deep := "deep"
	for i := 0; i < 60; i++ {
		deep += fmt.Sprintf("/level%02d", i)
	}
	writeFile(t, dir, deep+"/leaf.txt", []byte("deep"))
	// One file with 150 names across three directories.
	target := writeFile(t, dir, "links/target.dat", randBytes(rng, 5000))
	for i := 0; i < 150; i++ {
		d := filepath.Join(dir, fmt.Sprintf("links/d%d", i%3))
		os.MkdirAll(d, 0o755)
		if err := os.Link(target, filepath.Join(d, fmt.Sprintf("link%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Symlinks become symlink reparse points.
	os.MkdirAll(filepath.Join(dir, "syms"), 0o755)
	for name, to := range map[string]string{"rel": "../sizes/random_1", "abs": "/sizes/random_1", "dangling": "nowhere/at/all", "todir": "../names"} {
		if err := os.Symlink(to, filepath.Join(dir, "syms", name)); err != nil {
			t.Fatal(err)
		}
	}
	// A directory of 8,200 entries (many INDX blocks, multi-level index).
	big := filepath.Join(dir, "bigdir")
	os.MkdirAll(big, 0o755)
	for i := 0; i < 8200; i++ {
		name := fmt.Sprintf("entry_%05d_%x.txt", i, rng.Uint32())
		if err := os.WriteFile(filepath.Join(big, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A sparse file with 5,000 data islands: 10,000 runs, which NTFS-3G
	// spreads over 25+ attribute extents behind an $ATTRIBUTE_LIST.
	f, err := os.Create(filepath.Join(dir, "frag.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5000; i++ {
		if _, err := f.WriteAt(randBytes(rng, 4096), int64(i)*8192); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(5000*8192 + 12345); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Times with sub-second precision.
	for i, rel := range []string{"sizes/random_1", "names/Case", "links/target.dat"} {
		mt := time.Date(2019+i, 3, 4, 5, 6, 7, 123456700+i*100, time.UTC)
		at := time.Date(2020, 1, 2, 3, 4, 5, 987654300, time.UTC)
		if err := os.Chtimes(filepath.Join(dir, rel), at, mt); err != nil {
			t.Fatal(err)
		}
	}
}

// makeSD builds a self-relative security descriptor: DACL first, then
// owner and group, as Windows lays them out. i varies the ACEs.
func makeSD(i int) []byte {
	sid := func(auth byte, subs ...uint32) []byte {
		b := []byte{1, byte(len(subs)), 0, 0, 0, 0, 0, auth}
		for _, s := range subs {
			b = binary.LittleEndian.AppendUint32(b, s)
		}
		return b
	}
	ace := func(typ, flags byte, mask uint32, s []byte) []byte {
		b := []byte{typ, flags, 0, 0}
		binary.LittleEndian.PutUint16(b[2:], uint16(8+len(s)))
		b = binary.LittleEndian.AppendUint32(b, mask)
		return append(b, s...)
	}
	aces := [][]byte{
		ace(0, 0x03, 0x1F01FF, sid(5, 18)),
		ace(0, 0x03, 0x1F01FF, sid(5, 32, 544)),
		ace(0, 0x00, 0x1200A9|uint32(i%7)<<1, sid(5, 21, 1111, 2222, 3333, uint32(1000+i))),
	}
	if i%2 == 1 {
		aces = append(aces, ace(1, 0, 0x10000, sid(1, 0)))
	}
	var acl []byte
	for _, a := range aces {
		acl = append(acl, a...)
	}
	hdr := []byte{2, 0, 0, 0, byte(len(aces)), 0, 0, 0}
	binary.LittleEndian.PutUint16(hdr[2:], uint16(8+len(acl)))
	dacl := append(hdr, acl...)
	owner, group := sid(5, 32, 544), sid(5, 18)
	sd := make([]byte, 20)
	sd[0] = 1
	binary.LittleEndian.PutUint16(sd[2:], 0x8004) // self-relative, DACL present
	binary.LittleEndian.PutUint32(sd[16:], 20)
	binary.LittleEndian.PutUint32(sd[4:], uint32(20+len(dacl)))
	binary.LittleEndian.PutUint32(sd[8:], uint32(20+len(dacl)+len(owner)))
	sd = append(sd, dacl...)
	sd = append(sd, owner...)
	return append(sd, group...)
}

// setSecurity sets security descriptors and attributes on an unmounted
// image with ntfssecaudit's restore mode (no FUSE).
type secItem struct {
	path  string
	dir   bool
	sd    []byte
	attrs uint32
}

func setSecurity(t testing.TB, img string, items []secItem) {
	t.Helper()
	needTools(t, "ntfssecaudit")
	var b strings.Builder
	for _, it := range items {
		if it.dir {
			fmt.Fprintf(&b, "Directory %s\n", it.path)
		} else {
			fmt.Fprintf(&b, "File %s\n", it.path)
		}
		b.WriteString("Security key : none\n")
		for off := 0; off < len(it.sd); off += 16 {
			fmt.Fprintf(&b, "        %06x ", off)
			for w := off; w < off+16 && w < len(it.sd); w += 4 {
				fmt.Fprintf(&b, " %x", it.sd[w:min(w+4, len(it.sd))])
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "Windows attrib : 0x%x\n", it.attrs)
	}
	bk := filepath.Join(t.TempDir(), "acl.backup")
	if err := os.WriteFile(bk, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runCmd(t, "ntfssecaudit", "-se", img, bk)
	if !strings.Contains(out, fmt.Sprintf("%d ACLs have been applied", len(items))) {
		t.Fatalf("ntfssecaudit did not apply all %d ACLs:\n%s", len(items), out)
	}
}

// ntfscp copies data into path (stream name optional, attribute type
// optional) of the unmounted image.
func ntfscp(t testing.TB, img, path, stream string, attrType int, data []byte) {
	t.Helper()
	needTools(t, "ntfscp")
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-q"}
	if stream != "" {
		args = append(args, "-N", stream)
	}
	if attrType != 0 {
		args = append(args, "-a", fmt.Sprint(attrType))
	}
	runCmd(t, "ntfscp", append(args, img, src, path)...)
}

// TestParityWithWimlib builds an NTFS image without mounting it — a
// generated Linux tree applied by wimapply, then named streams, LZNT1
// files, reparse points, security descriptors and attributes added with
// ntfscp and ntfssecaudit — and requires every path to match what
// wimlib's NTFS-3G capture of the same image records.
func TestParityWithWimlib(t *testing.T) {
	needTools(t, "wimcapture", "wimapply", "wimdir", "mkntfs", "ntfscp", "ntfssecaudit")
	tree := t.TempDir()
	buildTree(t, tree)
	os.MkdirAll(filepath.Join(tree, "compressed"), 0o755)
	img := imageFromTree(t, tree, 256)

	rng := rand.New(rand.NewPCG(3, 4))
	// 60 named streams on one file, including empty and large ones.
	for i := 0; i < 60; i++ {
		var data []byte
		switch i % 4 {
		case 1:
			data = randBytes(rng, 10+i)
		case 2:
			data = randBytes(rng, 5000+i*100)
		case 3:
			data = []byte(strings.Repeat("ads", i))
		}
		ntfscp(t, img, "/sizes/random_1", fmt.Sprintf("stream%02d", i), 0, data)
	}
	ntfscp(t, img, "/names", "dirstream", 0, []byte("a named stream on a directory"))
	ntfscp(t, img, "/", "rootstream", 0, []byte("a named stream on the root"))

	// Attributes and security descriptors (stored in $Secure:$SDS); the
	// compressed directory makes NTFS-3G write new files LZNT1-compressed.
	items := []secItem{
		{path: "/compressed", dir: true, attrs: volume.AttrDirectory | volume.AttrCompressed},
		{path: "/sizes/random_0", attrs: volume.AttrReadOnly | volume.AttrHidden | volume.AttrSystem | volume.AttrArchive},
		{path: "/sizes/text_4096", attrs: volume.AttrHidden},
		{path: "/names", dir: true, attrs: volume.AttrDirectory | volume.AttrSystem | volume.AttrNotContentIndexed},
		{path: "/links/target.dat", attrs: volume.AttrArchive | volume.AttrTemporary},
		{path: "/sizes/random_100", attrs: volume.AttrOffline | volume.AttrArchive},
	}
	for i := range items {
		items[i].sd = makeSD(i)
	}
	setSecurity(t, img, items)

	compressible := bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 40000)
	var mixed []byte
	mixed = append(mixed, compressible[:70000]...)
	mixed = append(mixed, randBytes(rng, 70000)...) // incompressible units are stored raw
	mixed = append(mixed, make([]byte, 200000)...)  // all-zero units become holes
	mixed = append(mixed, compressible[:12345]...)
	lznt := map[string][]byte{
		"/compressed/fox.txt":   compressible,
		"/compressed/mixed.bin": mixed,
		"/compressed/small.txt": compressible[:3000],
		"/compressed/rand.bin":  randBytes(rng, 100000),
	}
	for p, data := range lznt {
		ntfscp(t, img, p, "", 0, data)
	}
	ntfscp(t, img, "/compressed/fox.txt", "ads", 0, compressible[:50000])

	v, got, ents := compareImage(t, img)
	t.Run("images writer", func(t *testing.T) {
		compareRecords(t, wimdirRecords(t, img), wimRecords(t, captureWithWriter(t, v)))
	})

	// Beyond wimdir's view: exact 100 ns times, the structures the
	// fixture was meant to exercise, and logical contents.
	for i, rel := range []string{"/sizes/random_1", "/names/Case", "/links/target.dat"} {
		e := ents[rel]
		mt := time.Date(2019+i, 3, 4, 5, 6, 7, 123456700+i*100, time.UTC)
		at := time.Date(2020, 1, 2, 3, 4, 5, 987654300, time.UTC)
		if e == nil {
			t.Fatalf("%s missing", rel)
		}
		if want := toFiletime(mt); e.LastWriteTime != want {
			t.Errorf("%s: LastWriteTime %d, want %d (100 ns precision)", rel, e.LastWriteTime, want)
		}
		if want := toFiletime(at); e.LastAccessTime != want {
			t.Errorf("%s: LastAccessTime %d, want %d", rel, e.LastAccessTime, want)
		}
	}
	frag := ents["/frag.bin"].Handle.(*handle)
	ff, err := v.loadFile(frag.num)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ff.attrsOf(atData, "")); n < 25 {
		t.Errorf("frag.bin has %d $DATA extents, the fixture needs 25+", n)
	} else {
		t.Logf("frag.bin: %d $DATA extents, %d runs", n, len(frag.streams[0].runs))
	}
	lf, err := v.loadFile(ents["/links/target.dat"].Handle.(*handle).num)
	if err != nil {
		t.Fatal(err)
	}
	if lf.names != 151 {
		t.Errorf("links/target.dat has %d $FILE_NAME attributes, want 151", lf.names)
	}
	if n := len(strings.Split(got["/links/target.dat"].Links, ",")); n != 151 {
		t.Errorf("link group of links/target.dat has %d names, want 151", n)
	}
	if n := len(ents["/sizes/random_1"].Streams); n != 61 {
		t.Errorf("sizes/random_1 has %d streams, want 61", n)
	}
	for p, data := range lznt {
		e := ents[p]
		h := e.Handle.(*handle)
		if h.streams[0].unit == 0 && p != "/compressed/small.txt" {
			t.Errorf("%s is not LZNT1-compressed on disk; the fixture is wrong", p)
		}
		rc, err := v.OpenStream(e, 0)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(rc); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !bytes.Equal(buf.Bytes(), data) {
			t.Errorf("%s: logical contents differ from what was written", p)
		}
	}
	if e := ents["/compressed/fox.txt"]; e.Attributes&volume.AttrCompressed == 0 {
		t.Errorf("fox.txt attributes 0x%x lack COMPRESSED", e.Attributes)
	}
	big, err := v.ReadDir(ents["/bigdir"])
	if err != nil || len(big) != 8200 {
		t.Errorf("bigdir: %d entries, %v; want 8200", len(big), err)
	}
	for p, tag := range map[string]uint32{"/syms/rel": volume.ReparseTagSymlink, "/syms/todir": volume.ReparseTagSymlink} {
		if e := ents[p]; e.ReparseTag != tag || len(e.ReparseData) == 0 {
			t.Errorf("%s: reparse tag 0x%x with %d data bytes, want tag 0x%x", p, e.ReparseTag, len(e.ReparseData), tag)
		}
	}
	if sd := ents["/names"].Security; !bytes.Equal(sd, makeSD(3)) {
		t.Errorf("/names SD = %x, want %x", sd, makeSD(3))
	}
}

// toFiletime converts a time to a FILETIME.
func toFiletime(tm time.Time) uint64 {
	return uint64(tm.Unix()+11644473600)*10000000 + uint64(tm.Nanosecond()/100)
}

// compareImage checks our walk of img against wimlib's capture.
func compareImage(t *testing.T, img string) (*Volume, map[string]*pathRecord, map[string]*volume.Entry) {
	v := openImage(t, img, Options{})
	want := wimdirRecords(t, img)
	got, ents := walkRecords(t, v)
	compareRecords(t, want, got)
	if w := v.Warnings(); len(w) > 0 {
		t.Errorf("unexpected warnings: %q", w)
	}
	return v, got, ents
}
