package ntfs

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wdscapture/wdscapture/volume"
)

// recordOffset returns the byte offset of MFT record num in the image.
func recordOffset(t testing.TB, v *Volume, num uint64) int64 {
	t.Helper()
	off := int64(num) * v.recordSize
	i := v.mft.findRun(off/v.clusterSize, 0)
	if i < 0 || v.mft.runs[i].lcn == lcnSparse {
		t.Fatalf("record %d not mapped", num)
	}
	r := v.mft.runs[i]
	return r.lcn*v.clusterSize + off - r.vcn*v.clusterSize
}

// patchRecord edits MFT record num of img in place: fixups are undone,
// edit runs on the plain record, and the update sequence is redone.
func patchRecord(t testing.TB, img string, num uint64, edit func(rec []byte)) {
	t.Helper()
	v := openImage(t, img, Options{AllowDirty: true})
	patchBlock(t, img, recordOffset(t, v, num), int(v.recordSize), "FILE", edit)
}

// patchBlock edits the multi-sector protected block of size bytes at off.
func patchBlock(t testing.TB, img string, off int64, size int, magic string, edit func(rec []byte)) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, size)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := applyFixups(b, magic); err != nil {
		t.Fatal(err)
	}
	edit(b)
	usa := int(binary.LittleEndian.Uint16(b[4:]))
	for i := 1; i < int(binary.LittleEndian.Uint16(b[6:])); i++ {
		end := i*512 - 2
		copy(b[usa+2*i:usa+2*i+2], b[end:end+2])
		copy(b[end:end+2], b[usa:usa+2])
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// attrValueOffset finds the resident value of attribute typ in a record.
func attrValueOffset(t testing.TB, b []byte, typ uint32) int {
	t.Helper()
	for off := int(binary.LittleEndian.Uint16(b[0x14:])); off+8 < len(b); {
		at := binary.LittleEndian.Uint32(b[off:])
		if at == atEnd {
			break
		}
		if at == typ && b[off+8] == 0 {
			return off + int(binary.LittleEndian.Uint16(b[off+20:]))
		}
		off += int(binary.LittleEndian.Uint32(b[off+4:]))
	}
	t.Fatalf("attribute 0x%x not found", typ)
	return 0
}

func TestOpenErrors(t *testing.T) {
	base := newImage(t, 16, "-L", "Wïndows")
	read := func() []byte {
		b, err := os.ReadFile(base)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dirty := filepath.Join(t.TempDir(), "dirty.img")
	os.WriteFile(dirty, read(), 0o644)
	patchRecord(t, dirty, recVolume, func(b []byte) {
		p := attrValueOffset(t, b, atVolumeInformation)
		binary.LittleEndian.PutUint16(b[p+10:], binary.LittleEndian.Uint16(b[p+10:])|1)
	})
	dirtyBytes, _ := os.ReadFile(dirty)

	tests := []struct {
		name    string
		data    func() []byte
		off     int64
		size    int64 // 0: len(data)-off
		opts    Options
		wantErr error  // nil: must open
		wantMsg string // substring of the error
	}{
		{name: "clean", data: read},
		{name: "at partition offset", data: func() []byte { return append(make([]byte, 1<<20), read()...) }, off: 1 << 20},
		{name: "zeros", data: func() []byte { return make([]byte, 1<<20) }, wantErr: ErrNotNTFS},
		{name: "FAT boot sector", data: func() []byte {
			b := read()
			copy(b[3:11], "MSDOS5.0")
			return b
		}, wantErr: ErrNotNTFS},
		{name: "BitLocker", data: func() []byte {
			b := read()
			copy(b[3:11], "-FVE-FS-")
			return b
		}, wantErr: ErrBitLocker},
		{name: "bad cluster size", data: func() []byte {
			b := read()
			b[0x0D] = 3
			return b
		}, wantErr: ErrNotNTFS},
		{name: "short read", data: func() []byte { return read()[:100] }, wantErr: ErrNotNTFS},
		{name: "truncated", data: read, size: 8 << 20, wantMsg: "truncated"},
		{name: "dirty", data: func() []byte { return dirtyBytes }, wantErr: ErrDirty},
		{name: "dirty allowed", data: func() []byte { return dirtyBytes }, opts: Options{AllowDirty: true}},
		{name: "MFT record 0 torn", data: func() []byte {
			b := read()
			v := openImage(t, base, Options{})
			b[recordOffset(t, v, 0)+510] ^= 0xFF
			return b
		}, wantMsg: "MFT record 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data()
			size := tc.size
			if size == 0 {
				size = int64(len(data)) - tc.off
			}
			v, err := Open(bytes.NewReader(data), tc.off, size, tc.opts)
			if tc.wantErr == nil && tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if v.Label() != "Wïndows" {
					t.Errorf("Label = %q", v.Label())
				}
				if want := binary.LittleEndian.Uint64(data[tc.off+0x48:]); v.Serial() != want {
					t.Errorf("Serial = %x, want %x", v.Serial(), want)
				}
				if v.Dirty() != (tc.name == "dirty allowed") {
					t.Errorf("Dirty = %v", v.Dirty())
				}
				if _, err := v.Root(); err != nil {
					t.Errorf("Root: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Open succeeded, want error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q lacks %q", err, tc.wantMsg)
			}
		})
	}
}

// TestEncryptedSkipped marks a file and a directory EFS-encrypted (the SI
// attribute bit) and expects both to be skipped with warnings, exactly as
// wimlib's NTFS-3G capture skips them.
func TestEncryptedSkipped(t *testing.T) {
	needTools(t, "wimcapture", "wimapply", "wimdir")
	tree := t.TempDir()
	writeFile(t, tree, "plain.txt", []byte("plain"))
	writeFile(t, tree, "secret.txt", []byte("secret"))
	writeFile(t, tree, "efsdir/inner.txt", []byte("inner"))
	img := imageFromTree(t, tree, 16)
	v := openImage(t, img, Options{})
	_, ents := walkRecords(t, v)
	for _, p := range []string{"/secret.txt", "/efsdir"} {
		patchRecord(t, img, ents[p].Handle.(*handle).num, func(b []byte) {
			si := attrValueOffset(t, b, atStandardInformation)
			binary.LittleEndian.PutUint32(b[si+0x20:], binary.LittleEndian.Uint32(b[si+0x20:])|volume.AttrEncrypted)
		})
	}
	v2, got, _ := compareImage2(t, img)
	for _, p := range []string{"/secret.txt", "/efsdir", "/efsdir/inner.txt"} {
		if got[p] != nil {
			t.Errorf("%s listed, want it skipped", p)
		}
	}
	if got["/plain.txt"] == nil {
		t.Errorf("/plain.txt missing")
	}
	if w := v2.Warnings(); len(w) != 2 || !strings.Contains(strings.Join(w, "\n"), "EFS") {
		t.Errorf("warnings %q, want two EFS warnings", w)
	}
}

// compareImage2 is compareImage without the no-warnings requirement.
func compareImage2(t *testing.T, img string) (*Volume, map[string]*pathRecord, map[string]*volume.Entry) {
	v := openImage(t, img, Options{})
	want := wimdirRecords(t, img)
	got, ents := walkRecords(t, v)
	compareRecords(t, want, got)
	return v, got, ents
}

// TestConcurrentStreams reads every stream of an image from 8 goroutines
// at once, each reader interleaved with the others, and checks the
// SHA-1s against a sequential pass.
func TestConcurrentStreams(t *testing.T) {
	needTools(t, "wimcapture", "wimapply", "ntfscp", "ntfssecaudit")
	tree := t.TempDir()
	for i := 0; i < 40; i++ {
		writeFile(t, tree, fmt.Sprintf("f%02d", i), bytes.Repeat([]byte{byte(i)}, 1000+i*20000))
	}
	os.MkdirAll(filepath.Join(tree, "c"), 0o755)
	img := imageFromTree(t, tree, 64)
	setSecurity(t, img, []secItem{{path: "/c", dir: true, sd: makeSD(1), attrs: volume.AttrDirectory | volume.AttrCompressed}})
	for i := 0; i < 8; i++ {
		ntfscp(t, img, fmt.Sprintf("/c/z%d", i), "", 0, bytes.Repeat([]byte(fmt.Sprintf("compressible %d ", i)), 30000))
	}
	v := openImage(t, img, Options{})
	_, ents := walkRecords(t, v)
	type job struct {
		e    *volume.Entry
		want [20]byte
	}
	var jobs []job
	for _, e := range ents {
		if len(e.Streams) == 0 || e.IsDir() {
			continue
		}
		rc, _ := v.OpenStream(e, 0)
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job{e, sha1.Sum(b)})
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := range jobs {
				j := jobs[(k+g*7)%len(jobs)]
				rc, err := v.OpenStream(j.e, 0)
				if err != nil {
					t.Error(err)
					return
				}
				h := sha1.New()
				buf := make([]byte, 1000+g*333) // odd sizes: reads straddle runs and units
				if _, err := io.CopyBuffer(struct{ io.Writer }{h}, struct{ io.Reader }{rc}, buf); err != nil {
					t.Error(err)
				}
				if got := h.Sum(nil); !bytes.Equal(got, j.want[:]) {
					t.Errorf("%s: concurrent read differs", j.e.Name)
				}
			}
		}(g)
	}
	wg.Wait()
	if len(jobs) < 48 {
		t.Errorf("only %d streams read", len(jobs))
	}
}

// insertAttr inserts a resident attribute (no name) into a plain MFT
// record, keeping attributes sorted by type.
func insertAttr(t testing.TB, b []byte, typ uint32, value []byte) {
	t.Helper()
	alen := (24 + len(value) + 7) &^ 7
	used := int(binary.LittleEndian.Uint32(b[0x18:]))
	if used+alen > int(binary.LittleEndian.Uint32(b[0x1C:])) {
		t.Fatal("no room in the record")
	}
	pos := int(binary.LittleEndian.Uint16(b[0x14:]))
	for {
		at := binary.LittleEndian.Uint32(b[pos:])
		if at == atEnd || at > typ {
			break
		}
		l := int(binary.LittleEndian.Uint32(b[pos+4:]))
		if l <= 0 || pos+l > used {
			t.Fatalf("bad attribute length %d at %d", l, pos)
		}
		pos += l
	}
	copy(b[pos+alen:used+alen], append([]byte(nil), b[pos:used]...))
	a := b[pos : pos+alen]
	clear(a)
	binary.LittleEndian.PutUint32(a, typ)
	binary.LittleEndian.PutUint32(a[4:], uint32(alen))
	binary.LittleEndian.PutUint16(a[10:], 0x18)
	id := binary.LittleEndian.Uint16(b[0x28:])
	binary.LittleEndian.PutUint16(a[14:], id)
	binary.LittleEndian.PutUint16(b[0x28:], id+1)
	binary.LittleEndian.PutUint32(a[16:], uint32(len(value)))
	binary.LittleEndian.PutUint16(a[20:], 0x18)
	copy(a[24:], value)
	binary.LittleEndian.PutUint32(b[0x18:], uint32(used+alen))
}

// TestObjectID gives a file and a directory 16-byte $OBJECT_ID attributes
// (the size NTFS-3G supports) and checks ObjectID against wimlib's
// capture (wimdir prints the GUIDs).
func TestObjectID(t *testing.T) {
	needTools(t, "wimcapture", "wimapply", "wimdir")
	tree := t.TempDir()
	writeFile(t, tree, "full.txt", []byte("full"))
	writeFile(t, tree, "dir/none.txt", []byte("none"))
	img := imageFromTree(t, tree, 16)
	v := openImage(t, img, Options{})
	_, ents := walkRecords(t, v)
	full := make([]byte, 64)
	for i := range full {
		full[i] = byte(i + 1)
	}
	patchRecord(t, img, ents["/full.txt"].Handle.(*handle).num, func(b []byte) { insertAttr(t, b, atObjectID, full[:16]) })
	patchRecord(t, img, ents["/dir"].Handle.(*handle).num, func(b []byte) { insertAttr(t, b, atObjectID, full[16:32]) })
	// Index /full.txt's object id in $Extend\$ObjId:$O with birth ids.
	ext, err := v.loadFile(recExtend)
	if err != nil {
		t.Fatal(err)
	}
	extEnts, err := v.readDirIndex(ext)
	if err != nil {
		t.Fatal(err)
	}
	var objID uint64
	for _, e := range extEnts {
		if e.fn.name == "$ObjId" {
			objID = e.ref & refMask
		}
	}
	if objID == 0 {
		t.Fatal("fixture assumption: mkntfs made $Extend\\$ObjId")
	}
	entry := make([]byte, 88)
	binary.LittleEndian.PutUint16(entry[0:], 32)  // data offset
	binary.LittleEndian.PutUint16(entry[2:], 56)  // data length
	binary.LittleEndian.PutUint16(entry[8:], 88)  // entry length
	binary.LittleEndian.PutUint16(entry[10:], 16) // key length
	copy(entry[16:], full[:16])
	binary.LittleEndian.PutUint64(entry[32:], ents["/full.txt"].Handle.(*handle).num|1<<48)
	copy(entry[40:], full[16:])
	patchRecord(t, img, objID, func(b []byte) { insertIndexRootEntry(t, b, "$O", entry) })

	v2, got, ents2 := compareImage(t, img)
	if oid := v2.ObjectID(ents2["/full.txt"]); !bytes.Equal(oid, full) {
		t.Errorf("ObjectID(/full.txt) = %x, want %x", oid, full)
	}
	if oid := v2.ObjectID(ents2["/dir"]); !bytes.Equal(oid, full[16:32]) {
		t.Errorf("ObjectID(/dir) = %x, want %x", oid, full[16:32])
	}
	if !strings.Contains(got["/full.txt"].OID, "Domain ID=") || !strings.Contains(got["/dir"].OID, "Object ID=") {
		t.Errorf("object ids not exercised: %q %q", got["/full.txt"].OID, got["/dir"].OID)
	}
	if oid := v2.ObjectID(ents2["/dir/none.txt"]); oid != nil {
		t.Errorf("ObjectID(/dir/none.txt) = %x, want nil", oid)
	}
}

// insertIndexRootEntry puts entry first in the resident $INDEX_ROOT named
// name of a plain MFT record, growing the attribute and the record.
func insertIndexRootEntry(t testing.TB, b []byte, name string, entry []byte) {
	t.Helper()
	n := len(entry)
	used := int(binary.LittleEndian.Uint32(b[0x18:]))
	if used+n > int(binary.LittleEndian.Uint32(b[0x1C:])) {
		t.Fatal("no room in the record")
	}
	for off := int(binary.LittleEndian.Uint16(b[0x14:])); binary.LittleEndian.Uint32(b[off:]) != atEnd; off += int(binary.LittleEndian.Uint32(b[off+4:])) {
		nl := int(b[off+9])
		no := int(binary.LittleEndian.Uint16(b[off+10:]))
		if binary.LittleEndian.Uint32(b[off:]) != atIndexRoot || decodeUTF16(b[off+no:off+no+2*nl]) != name {
			continue
		}
		voff := off + int(binary.LittleEndian.Uint16(b[off+20:]))
		h := voff + 16
		at := h + int(binary.LittleEndian.Uint32(b[h:]))
		copy(b[at+n:used+n], append([]byte(nil), b[at:used]...))
		copy(b[at:], entry)
		for _, f := range []int{off + 4, off + 16, h + 4, h + 8, 0x18} {
			binary.LittleEndian.PutUint32(b[f:], binary.LittleEndian.Uint32(b[f:])+uint32(n))
		}
		return
	}
	t.Fatalf("no $INDEX_ROOT %s", name)
}

// growAttrValue appends n zero bytes to the resident value of attribute
// typ in a plain MFT record.
func growAttrValue(t testing.TB, b []byte, typ uint32, n int) {
	t.Helper()
	used := int(binary.LittleEndian.Uint32(b[0x18:]))
	if used+n > int(binary.LittleEndian.Uint32(b[0x1C:])) || n%8 != 0 {
		t.Fatal("no room in the record")
	}
	for off := int(binary.LittleEndian.Uint16(b[0x14:])); binary.LittleEndian.Uint32(b[off:]) != atEnd; off += int(binary.LittleEndian.Uint32(b[off+4:])) {
		if binary.LittleEndian.Uint32(b[off:]) != typ {
			continue
		}
		end := off + int(binary.LittleEndian.Uint32(b[off+4:]))
		copy(b[end+n:used+n], append([]byte(nil), b[end:used]...))
		clear(b[end : end+n])
		for _, f := range []int{off + 4, off + 16, 0x18} {
			binary.LittleEndian.PutUint32(b[f:], binary.LittleEndian.Uint32(b[f:])+uint32(n))
		}
		return
	}
	t.Fatalf("no attribute 0x%x", typ)
}

// TestSecurityIDs covers both places a descriptor can live. wimapply (via
// NTFS-3G) stores descriptors inline in $SECURITY_DESCRIPTOR with a 48-byte
// $STANDARD_INFORMATION; Windows stores them once in $Secure:$SDS and
// refers to them by the security id of a 72-byte $STANDARD_INFORMATION.
// The fixture upgrades two files to the Windows form, pointing at the
// descriptors mkntfs put in $SDS, and keeps their inline attribute, which
// must then be ignored — as NTFS-3G and wimlib do.
func TestSecurityIDs(t *testing.T) {
	needTools(t, "wimcapture", "wimapply", "wimdir")
	tree := t.TempDir()
	for _, n := range []string{"inline.txt", "sds100.txt", "sds101.txt"} {
		writeFile(t, tree, n, []byte(n))
	}
	img := imageFromTree(t, tree, 16)
	v := openImage(t, img, Options{})
	if len(v.sdIndex) < 2 {
		t.Fatalf("fixture assumption: mkntfs's $SDS holds 2+ descriptors, has %d", len(v.sdIndex))
	}
	_, ents := walkRecords(t, v)
	for name, id := range map[string]uint32{"/sds100.txt": 0x100, "/sds101.txt": 0x101} {
		patchRecord(t, img, ents[name].Handle.(*handle).num, func(b []byte) {
			si := attrValueOffset(t, b, atStandardInformation)
			if l := binary.LittleEndian.Uint32(b[si-24+16:]); l != 48 {
				t.Fatalf("fixture assumption: 48-byte $STANDARD_INFORMATION, have %d", l)
			}
			growAttrValue(t, b, atStandardInformation, 24)
			binary.LittleEndian.PutUint32(b[si+0x34:], id)
		})
	}
	v2, got, ents2 := compareImage(t, img)
	inline := ents2["/inline.txt"].Security
	for name, id := range map[string]uint32{"/sds100.txt": 0x100, "/sds101.txt": 0x101} {
		loc := v2.sdIndex[id]
		want := make([]byte, loc.length)
		if _, err := v2.sds.readAt(want, loc.off, nil); err != nil {
			t.Fatal(err)
		}
		if sd := ents2[name].Security; !bytes.Equal(sd, want) || bytes.Equal(sd, inline) {
			t.Errorf("%s: SD %x, want $SDS id 0x%x %x (inline one is %x)", name, sd, id, want, inline)
		}
	}
	if got["/sds100.txt"].SD == got["/sds101.txt"].SD {
		t.Errorf("ids 0x100 and 0x101 gave the same descriptor")
	}
}

// TestHibernation checks \hiberfil.sys signatures the way NTFS-3G does.
func TestHibernation(t *testing.T) {
	needTools(t, "wimcapture", "wimapply")
	tests := []struct {
		name    string
		content []byte
		want    bool
	}{
		{name: "HIBR", content: append([]byte("HIBR"), make([]byte, 8188)...), want: true},
		{name: "hibr", content: append([]byte("hibr"), make([]byte, 8188)...), want: true},
		{name: "zeros", content: make([]byte, 8192)},
		{name: "wake", content: append([]byte("wake"), make([]byte, 8188)...)},
		{name: "none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tree := t.TempDir()
			writeFile(t, tree, "file.txt", []byte("x"))
			if tc.content != nil {
				writeFile(t, tree, "HiberFil.sys", tc.content)
			}
			img := imageFromTree(t, tree, 16)
			v, err := OpenFile(img, Options{})
			if tc.want {
				if !errors.Is(err, ErrHibernated) {
					t.Fatalf("Open error %v, want ErrHibernated", err)
				}
				v, err = OpenFile(img, Options{AllowDirty: true})
			}
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			if v.Hibernated() != tc.want {
				t.Errorf("Hibernated() = %v, want %v", v.Hibernated(), tc.want)
			}
		})
	}
}
