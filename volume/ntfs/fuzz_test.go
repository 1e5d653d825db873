package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/wdscapture/wdscapture/volume"
)

// validBoot returns a plausible NTFS boot sector.
func validBoot() []byte {
	b := make([]byte, 512)
	copy(b[3:], "NTFS    ")
	binary.LittleEndian.PutUint16(b[0x0B:], 512)
	b[0x0D] = 8
	binary.LittleEndian.PutUint64(b[0x28:], 131071)
	binary.LittleEndian.PutUint64(b[0x30:], 4)
	b[0x40] = 0xF6 // 2^10 = 1024-byte records
	b[0x44] = 1
	b[510], b[511] = 0x55, 0xAA
	return b
}

func FuzzBootSector(f *testing.F) {
	f.Add(validBoot())
	bl := validBoot()
	copy(bl[3:], "-FVE-FS-")
	f.Add(bl)
	f.Fuzz(func(t *testing.T, b []byte) {
		bs, err := parseBoot(b)
		if err != nil {
			return
		}
		if bs.clusterSize <= 0 || bs.clusterSize&(bs.clusterSize-1) != 0 || bs.recordSize < 512 || bs.recordSize > 65536 || bs.mftLCN <= 0 {
			t.Fatalf("accepted invalid geometry %+v", bs)
		}
	})
}

// fuzzVolume is a volume over a small in-memory "disk" for parser fuzzing.
func fuzzVolume(disk []byte) *Volume {
	return &Volume{r: bytes.NewReader(disk), clusterSize: 4096, totalClusters: int64(len(disk) / 4096), recordSize: 1024, sdCache: map[uint32][]byte{}}
}

// drain reads up to limit bytes of every attribute of f, the way a capture
// would, checking the reader's contract.
func drain(t *testing.T, v *Volume, attrs []*attr, limit int64) {
	groups := map[[2]any][]*attr{}
	for _, a := range attrs {
		k := [2]any{a.typ, a.name}
		groups[k] = append(groups[k], a)
	}
	for _, g := range groups {
		d, err := v.newStreamDesc("fuzz", g)
		if err != nil {
			continue
		}
		r := d.open()
		n, err := io.Copy(io.Discard, io.LimitReader(r, limit))
		if err == nil && n != min(limit, d.size) {
			t.Fatalf("read %d bytes without error, size %d", n, d.size)
		}
	}
}

func FuzzRecord(f *testing.F) {
	for _, s := range seedRecords(f) {
		f.Add(s)
	}
	disk := make([]byte, 1<<20)
	for i := range disk {
		disk[i] = byte(i * 7)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 1024 {
			return
		}
		b = append([]byte(nil), b...)
		if err := applyFixups(b, "FILE"); err != nil {
			return
		}
		r, err := parseRecord(b, 42, 256)
		if err != nil {
			return
		}
		v := fuzzVolume(disk)
		drain(t, v, r.attrs, 1<<20)
		for _, a := range r.attrs {
			if a.typ == atAttributeList && a.resident {
				parseAttrList(a.value)
			}
			if a.typ == atFileName && a.resident {
				parseFileName(a.value)
			}
		}
		f := &file{num: 42, attrs: r.attrs, flags: r.flags}
		if f.first(atIndexRoot, "$I30") != nil {
			v.readDirIndex(f)
		}
		v.makeEntry(f, nil)
	})
}

func FuzzRunlist(f *testing.F) {
	f.Add([]byte{0x21, 0x10, 0x00, 0x01, 0x00}, int64(0), int64(15))
	f.Add([]byte{0x11, 0x05, 0x10, 0x01, 0x03, 0x21, 0x02, 0xF0, 0xFF, 0x00}, int64(0), int64(9))
	f.Add([]byte{0x48, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00}, int64(0), int64(1<<40))
	f.Fuzz(func(t *testing.T, b []byte, start, last int64) {
		runs, err := decodeRunlist(b, start, last, 1<<30)
		if err != nil {
			return
		}
		vcn := start
		for _, r := range runs {
			if r.vcn != vcn || r.length <= 0 || (r.lcn != lcnSparse && (r.lcn < 0 || r.lcn+r.length > 1<<30)) {
				t.Fatalf("bad run %+v at vcn %d", r, vcn)
			}
			vcn += r.length
		}
		if vcn > last+1 {
			t.Fatalf("runs end at %d beyond last VCN %d", vcn, last)
		}
	})
}

func FuzzIndexNode(f *testing.F) {
	for _, s := range seedIndexBlocks(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		entry := func(e []byte) error {
			n++
			_, err := i30Entry(e)
			return err
		}
		sub := func(vcn int64) {
			if vcn < 0 {
				t.Fatalf("negative VCN")
			}
		}
		parseIndexNode(b, 16, entry, sub)
		if len(b)%512 == 0 && len(b) > 0 {
			c := append([]byte(nil), b...)
			if applyFixups(c, "INDX") == nil {
				parseIndexNode(c, 0x18, entry, sub)
			}
		}
		if n > len(b)/16 {
			t.Fatalf("%d entries from %d bytes", n, len(b))
		}
	})
}

func FuzzLZNT1(f *testing.F) {
	f.Add([]byte{0x05, 0xB0, 0x00, 'a', 'b', 'c', 0x00, 0x00})
	f.Add([]byte{0x07, 0xB0, 0x02, 'a', 0x03, 0x00, 0x00, 0x00})
	f.Add(append([]byte{0xFF, 0x3F}, bytes.Repeat([]byte{'x'}, 4096)...))
	f.Fuzz(func(t *testing.T, src []byte) {
		dst := make([]byte, 65536)
		decompressLZNT1(dst, src)
	})
}

// fuzzBase is a small real NTFS image (mkntfs + wimapply + ntfscp) shared
// by FuzzVolume iterations.
var fuzzBase struct {
	once sync.Once
	img  []byte
	mft  int64
	err  error
}

func baseImage(f *testing.F) ([]byte, int64) {
	needTools(f, "mkntfs", "wimcapture", "wimapply", "ntfscp", "ntfssecaudit")
	fuzzBase.once.Do(func() {
		tree := f.TempDir()
		for i := 0; i < 40; i++ {
			writeFile(f, tree, "d/file"+string(rune('a'+i%26))+string(rune('a'+i/26)), bytes.Repeat([]byte{byte(i)}, i*300))
		}
		os.MkdirAll(tree+"/c", 0o755)
		img := imageFromTree(f, tree, 8)
		setSecurity(f, img, []secItem{{path: "/c", dir: true, sd: makeSD(1), attrs: volume.AttrDirectory | volume.AttrCompressed}})
		ntfscp(f, img, "/c/z", "", 0, bytes.Repeat([]byte("compress "), 20000))
		ntfscp(f, img, "/d/filea", "ads", 0, []byte("named"))
		fuzzBase.img, fuzzBase.err = os.ReadFile(img)
		v, err := Open(bytes.NewReader(fuzzBase.img), 0, int64(len(fuzzBase.img)), Options{})
		if err == nil {
			fuzzBase.mft = v.mft.runs[0].lcn * v.clusterSize
		} else {
			fuzzBase.err = err
		}
	})
	if fuzzBase.err != nil {
		f.Fatal(fuzzBase.err)
	}
	return fuzzBase.img, fuzzBase.mft
}

// FuzzVolume overwrites part of the MFT of a real image with fuzz data,
// then opens the volume, walks the whole tree and reads every stream
// (capped): hostile metadata must give errors, never a panic or hang.
func FuzzVolume(f *testing.F) {
	img, mft := baseImage(f)
	for _, rec := range []uint16{0, 3, 5, 9, 64, 66, 70} {
		f.Add(rec, append([]byte(nil), img[mft+int64(rec)*1024:mft+int64(rec+1)*1024]...))
	}
	f.Fuzz(func(t *testing.T, rec uint16, data []byte) {
		if len(data) > 4096 {
			return
		}
		disk := &overlay{base: img, off: mft + int64(rec%96)*1024, patch: data}
		v, err := Open(disk, 0, int64(len(img)), Options{AllowDirty: true})
		if err != nil {
			if errors.Is(err, ErrBitLocker) {
				t.Fatalf("MFT damage reported as BitLocker: %v", err)
			}
			return
		}
		walkCapped(t, v)
	})
}

// overlay is base with patch written at off, without copying base.
type overlay struct {
	base  []byte
	off   int64
	patch []byte
}

func (o *overlay) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(o.base)) {
		return 0, io.EOF
	}
	n := copy(p, o.base[off:])
	// Apply the part of the patch that overlaps [off, off+n).
	lo, hi := max(off, o.off), min(off+int64(n), o.off+int64(len(o.patch)))
	if lo < hi {
		copy(p[lo-off:hi-off], o.patch[lo-o.off:hi-o.off])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// walkCapped walks v, reading at most 1 MiB of each stream.
func walkCapped(t *testing.T, v *Volume) {
	root, err := v.Root()
	if err != nil {
		return
	}
	queue := []*volume.Entry{root}
	for n := 0; len(queue) > 0 && n < 10000; n++ {
		e := queue[0]
		queue = queue[1:]
		for i := range e.Streams {
			rc, err := v.OpenStream(e, i)
			if err != nil {
				t.Fatalf("OpenStream: %v", err)
			}
			io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
			rc.Close()
		}
		if e.IsDir() && e.Attributes&volume.AttrReparsePoint == 0 {
			kids, err := v.ReadDir(e)
			if err == nil {
				queue = append(queue, kids...)
			}
		}
	}
}

// seedRecords returns real MFT records (fixups in place) from the base
// image, or a minimal hand-made one when the tools are missing.
func seedRecords(f *testing.F) [][]byte {
	if os.Getenv("CI") == "" {
		for _, tool := range []string{"mkntfs", "wimapply"} {
			if _, err := lookPath(tool); err != nil {
				return [][]byte{make([]byte, 1024)}
			}
		}
	}
	img, mft := baseImage(f)
	var out [][]byte
	for _, rec := range []int64{0, 3, 5, 9, 64, 66, 70} {
		out = append(out, append([]byte(nil), img[mft+rec*1024:mft+(rec+1)*1024]...))
	}
	return out
}

// seedIndexBlocks returns the root's $INDEX_ROOT value and the INDX
// blocks of /d from the base image.
func seedIndexBlocks(f *testing.F) [][]byte {
	if os.Getenv("CI") == "" {
		if _, err := lookPath("mkntfs"); err != nil {
			return [][]byte{make([]byte, 64)}
		}
	}
	img, _ := baseImage(f)
	v, err := Open(bytes.NewReader(img), 0, int64(len(img)), Options{})
	if err != nil {
		f.Fatal(err)
	}
	root, err := v.loadFile(recRoot)
	if err != nil {
		f.Fatal(err)
	}
	out := [][]byte{root.first(atIndexRoot, "$I30").value}
	rootEntry, _ := v.Root()
	kids, _ := v.ReadDir(rootEntry)
	for _, k := range kids {
		if k.Name != "d" {
			continue
		}
		df, err := v.loadFile(k.Handle.(*handle).num)
		if err != nil {
			f.Fatal(err)
		}
		d, err := v.newStreamDesc("d", df.attrsOf(atIndexAllocation, "$I30"))
		if err != nil {
			f.Fatal(err)
		}
		blk := make([]byte, 4096)
		d.readAt(blk, 0, nil)
		out = append(out, blk)
	}
	return out
}
