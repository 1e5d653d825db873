package ntfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"
	"unicode/utf16"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/volume"
)

// memNode is one entry of an in-memory volume.Source.
type memNode struct {
	e    volume.Entry
	data [][]byte // per stream
	kids []*memNode
}

// memSource is an in-memory tree, used to have the project's WIM writer
// produce WIMs with everything NTFS can hold (short names, security
// descriptors, named streams, any reparse tag), which wimapply then puts
// onto an unmounted NTFS image.
type memSource struct{ root *memNode }

func (m *memSource) Root() (*volume.Entry, error) { return &m.root.e, nil }

func (m *memSource) ReadDir(dir *volume.Entry) ([]*volume.Entry, error) {
	n := dir.Handle.(*memNode)
	var out []*volume.Entry
	for _, k := range n.kids {
		out = append(out, &k.e)
	}
	return out, nil
}

func (m *memSource) OpenStream(e *volume.Entry, i int) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(e.Handle.(*memNode).data[i])), nil
}

func (m *memSource) Close() error { return nil }

// add creates a child node; streams alternate name, data.
func (n *memNode) add(e volume.Entry, streams ...any) *memNode {
	c := &memNode{e: e}
	for i := 0; i < len(streams); i += 2 {
		name, data := streams[i].(string), streams[i+1].([]byte)
		c.e.Streams = append(c.e.Streams, volume.Stream{Name: name, Size: int64(len(data))})
		c.data = append(c.data, data)
	}
	c.e.Handle = c
	n.kids = append(n.kids, c)
	return c
}

// mountPointData builds the reparse data (after the 8-byte header) of a
// junction or symlink to target.
func mountPointData(target string, symlink bool) []byte {
	sub := utf16le(`\??\` + target)
	prn := utf16le(target)
	var b []byte
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(sub)))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(sub)+2))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(prn)))
	if symlink {
		b = binary.LittleEndian.AppendUint32(b, 0) // absolute
	}
	b = append(b, sub...)
	b = append(b, 0, 0)
	b = append(b, prn...)
	return append(b, 0, 0)
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// richTree returns a tree with the metadata a Windows volume carries.
func richTree() *memSource {
	rng := rand.New(rand.NewPCG(5, 6))
	rb := func(n int) []byte { return randBytes(rng, n) }
	ft := func(i int) uint64 { return 132000000000000000 + uint64(i)*10000000*86400 + uint64(i)*1234567 }
	times := func(e volume.Entry, i int) volume.Entry {
		e.CreationTime, e.LastWriteTime, e.LastAccessTime = ft(i), ft(i)+7, ft(i)+99
		return e
	}
	root := &memNode{e: times(volume.Entry{Attributes: volume.AttrDirectory, Security: makeSD(0)}, 0)}
	root.e.Handle = root
	pf := root.add(times(volume.Entry{Name: "Program Files", ShortName: "PROGRA~1", Attributes: volume.AttrDirectory | volume.AttrReadOnly, Security: makeSD(1)}, 1),
		"dirstream", []byte("named stream on a directory"))
	pf.add(times(volume.Entry{Name: "Long File Name.txt", ShortName: "LONGFI~1.TXT", Attributes: volume.AttrArchive | volume.AttrReadOnly, Security: makeSD(2)}, 2),
		"", rb(5000), "Zone.Identifier", []byte("[ZoneTransfer]\r\nZoneId=3\r\n"), "empty", []byte{})
	pf.add(times(volume.Entry{Name: "Ünïcødé Fïlé.txt", ShortName: "UNICOD~1.TXT", Attributes: volume.AttrArchive, Security: makeSD(3)}, 3),
		"", []byte("unicode"))
	root.add(times(volume.Entry{Name: "SHORT.TXT", ShortName: "SHORT.TXT", Attributes: volume.AttrArchive, Security: makeSD(2)}, 4),
		"", []byte("win32 and dos name"))
	root.add(times(volume.Entry{Name: "Documents and Settings", Attributes: volume.AttrDirectory | volume.AttrHidden | volume.AttrSystem | volume.AttrReparsePoint | volume.AttrNotContentIndexed,
		ReparseTag: volume.ReparseTagMountPoint, ReparseData: mountPointData(`C:\Users`, false), Security: makeSD(4)}, 5))
	root.add(times(volume.Entry{Name: "link.txt", Attributes: volume.AttrArchive | volume.AttrReparsePoint,
		ReparseTag: volume.ReparseTagSymlink, ReparseData: mountPointData(`C:\SHORT.TXT`, true), Security: makeSD(5)}, 6))
	root.add(times(volume.Entry{Name: "compact.exe", Attributes: volume.AttrArchive | volume.AttrReparsePoint | volume.AttrSparseFile,
		ReparseTag: 0x80000017, ReparseData: []byte{1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}, Security: makeSD(6)}, 7),
		"WofCompressedData", rb(3000))
	root.add(times(volume.Entry{Name: "dedup.dat", Attributes: volume.AttrArchive | volume.AttrReparsePoint,
		ReparseTag: 0x80000013, ReparseData: rb(200), Security: makeSD(7)}, 8))
	root.add(times(volume.Entry{Name: "cloud.docx", Attributes: volume.AttrArchive | volume.AttrReparsePoint | volume.AttrOffline,
		ReparseTag: 0x9000001A, ReparseData: rb(100), Security: makeSD(8)}, 9), "", rb(777))
	root.add(times(volume.Entry{Name: "hidden system.sys", ShortName: "HIDDEN~1.SYS", Attributes: volume.AttrHidden | volume.AttrSystem | volume.AttrArchive | volume.AttrNotContentIndexed | volume.AttrTemporary, Security: makeSD(9)}, 10),
		"", rb(70000))
	data := rb(4321)
	d := root.add(times(volume.Entry{Name: "Windows", Attributes: volume.AttrDirectory, Security: makeSD(10)}, 11))
	d.add(times(volume.Entry{Name: "hardlink-a.dll", Attributes: volume.AttrArchive, LinkID: 77, Security: makeSD(11)}, 12), "", data)
	root.add(times(volume.Entry{Name: "hardlink-b.dll", Attributes: volume.AttrArchive, LinkID: 77, Security: makeSD(11)}, 12), "", data)
	comp := bytes.Repeat([]byte("compress me please "), 20000)
	root.add(times(volume.Entry{Name: "compressed.log", Attributes: volume.AttrArchive | volume.AttrCompressed, Security: makeSD(12)}, 13), "", comp)
	sparse := make([]byte, 1<<20)
	copy(sparse[300000:], rb(5000))
	root.add(times(volume.Entry{Name: "sparse.db", Attributes: volume.AttrArchive | volume.AttrSparseFile, Security: makeSD(13)}, 14), "", sparse)
	root.add(times(volume.Entry{Name: "no-sd.txt", Attributes: volume.AttrNormal}, 15), "", []byte("no security descriptor"))
	many := root.add(times(volume.Entry{Name: "many", ShortName: "", Attributes: volume.AttrDirectory, Security: makeSD(14)}, 16))
	for i := 0; i < 400; i++ {
		many.add(times(volume.Entry{Name: fmt.Sprintf("Some Long Name %03d.txt", i), ShortName: fmt.Sprintf("SOML%04d.TXT", i),
			Attributes: volume.AttrArchive, Security: makeSD(20 + i%5)}, 17+i%9), "", []byte(fmt.Sprint(i)))
	}
	return &memSource{root: root}
}

// TestParityRichImage writes a WIM with the project's images writer from
// an in-memory tree carrying short names, security descriptors, named
// streams, attributes and reparse points of several kinds, applies it to an
// unmounted NTFS image with wimapply, and requires (1) every path to match
// wimlib's capture of that image and (2) what we read to equal the tree
// that went in.
func TestParityRichImage(t *testing.T) {
	needTools(t, "wimcapture", "wimapply", "wimdir", "mkntfs")
	src := richTree()
	wim := filepath.Join(t.TempDir(), "rich.wim")
	w, err := images.Create(wim, images.Options{Compression: images.CompressNone})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage(context.Background(), src, images.ImageOptions{Name: "rich"}); err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	img := newImage(t, 64)
	runCmd(t, "wimapply", wim, "1", img)
	v, _, ents := compareImage(t, img)

	// Round trip: the source tree against what we read.
	var check func(n *memNode, path string)
	checked := 0
	check = func(n *memNode, path string) {
		p := path
		if p == "" {
			p = "/"
		}
		g := ents[p]
		if g == nil {
			t.Errorf("%s: missing", p)
			return
		}
		checked++
		// NTFS-3G's apply changes three things, all visible in wimlib's
		// capture too: it does not set COMPRESSED/SPARSE, gives files
		// without a descriptor its default one, and creates an empty
		// unnamed stream on reparse points.
		we := n.e
		w := &we
		w.Attributes &^= volume.AttrCompressed | volume.AttrSparseFile
		if w.Security == nil {
			w.Security = g.Security
		}
		if w.Attributes&volume.AttrReparsePoint != 0 && !w.IsDir() && (len(w.Streams) == 0 || w.Streams[0].Name != "") {
			w.Streams = append([]volume.Stream{{}}, w.Streams...)
		}
		if w.Attributes == 0 {
			w.Attributes = volume.AttrNormal
		}
		if g.ShortName != w.ShortName || g.Attributes&^(volume.AttrCompressed|volume.AttrSparseFile) != w.Attributes || !bytes.Equal(g.Security, w.Security) ||
			g.CreationTime != w.CreationTime || g.LastWriteTime != w.LastWriteTime || g.LastAccessTime != w.LastAccessTime ||
			g.ReparseTag != w.ReparseTag || !bytes.Equal(g.ReparseData, w.ReparseData) {
			t.Errorf("%s:\n got  short=%q attrs=0x%x times=%d/%d/%d tag=0x%x rp=%x sd=%x\n want short=%q attrs=0x%x times=%d/%d/%d tag=0x%x rp=%x sd=%x", p,
				g.ShortName, g.Attributes, g.CreationTime, g.LastWriteTime, g.LastAccessTime, g.ReparseTag, g.ReparseData, g.Security,
				w.ShortName, w.Attributes, w.CreationTime, w.LastWriteTime, w.LastAccessTime, w.ReparseTag, w.ReparseData, w.Security)
		}
		if fmt.Sprint(g.Streams) != fmt.Sprint(w.Streams) {
			t.Errorf("%s: streams %v, want %v", p, g.Streams, w.Streams)
		}
		for i, st := range n.e.Streams {
			for j, gs := range g.Streams {
				if gs.Name != st.Name {
					continue
				}
				rc, err := v.OpenStream(g, j)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				if err != nil || !bytes.Equal(got, n.data[i]) {
					t.Errorf("%s stream %q: contents differ (%v)", p, st.Name, err)
				}
			}
		}
		for _, k := range n.kids {
			check(k, path+"/"+k.e.Name)
		}
	}
	check(src.root, "")
	// The fixture must really hold a "Win32 & DOS" name.
	root := ents["/"]
	rf, err := v.loadFile(root.Handle.(*handle).num)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := v.readDirIndex(rf)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range idx {
		if e.fn.name == "SHORT.TXT" || e.fn.name == "PROGRA~1" || e.fn.name == "Program Files" {
			ns = append(ns, fmt.Sprintf("%s:%d", e.fn.name, e.fn.namespace))
		}
	}
	sort.Strings(ns)
	if fmt.Sprint(ns) != "[PROGRA~1:2 Program Files:1 SHORT.TXT:3]" {
		t.Errorf("root index name namespaces %v, want PROGRA~1 DOS, Program Files Win32, SHORT.TXT Win32&DOS", ns)
	}
	t.Logf("%d source entries equal after WIM → wimapply → our reader", checked)
}

// TestCaptureWithImagesWriter captures the rich NTFS image through this
// package and the project's WIM writer, and compares wimdir of that WIM
// with wimdir of wimlib's own capture of the same image: the whole
// raw-NTFS capture path against the reference.
func TestCaptureWithImagesWriter(t *testing.T) {
	needTools(t, "wimcapture", "wimapply", "wimdir", "mkntfs")
	src := richTree()
	dir := t.TempDir()
	rich := filepath.Join(dir, "rich.wim")
	w, err := images.Create(rich, images.Options{Compression: images.CompressNone})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage(context.Background(), src, images.ImageOptions{Name: "rich"}); err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	img := newImage(t, 64)
	runCmd(t, "wimapply", rich, "1", img)

	v := openImage(t, img, Options{})
	compareRecords(t, wimdirRecords(t, img), wimRecords(t, captureWithWriter(t, v)))
}

// captureWithWriter writes v as a WIM (XPRESS) with the images package,
// checks it with wimverify and returns its path.
func captureWithWriter(t *testing.T, v *Volume) string {
	t.Helper()
	needTools(t, "wimverify")
	ours := filepath.Join(t.TempDir(), "ours.wim")
	w, err := images.Create(ours, images.Options{Compression: images.CompressXPRESS})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage(context.Background(), v, images.ImageOptions{Name: "ntfs"}); err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	runCmd(t, "wimverify", ours)
	return ours
}
