package scan

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"testing"
)

func TestDetectFSAgainstBlkid(t *testing.T) {
	cases := []struct {
		kind  fsKind
		size  int64
		label string
	}{
		{mkNTFS, 8 << 20, "Windows ÄÖ"},
		{mkNTFS, 16 << 20, ""},
		{mkFAT32, 40 << 20, "ESP"},
		{mkFAT16, 20 << 20, "DATA16"},
		{mkExFAT, 8 << 20, "Daten Ü"},
		{mkExt4, 8 << 20, "root"},
		{mkExt2, 4 << 20, ""},
		{mkExt3, 8 << 20, "journal"},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind)+"/"+tc.label, func(t *testing.T) {
			requireTools(t, "blkid")
			img := mkfs(t, t.TempDir(), tc.kind, tc.label, tc.size, 0)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			info, err := DetectFS(f, 0, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			probe := blkidProbe(t, img, 0, tc.size)
			if info.Type != blkidType(probe) {
				t.Errorf("type %q, blkid %q", info.Type, blkidType(probe))
			}
			if info.Label != probe["LABEL"] || info.Label != tc.label {
				t.Errorf("label %q, blkid %q, made %q", info.Label, probe["LABEL"], tc.label)
			}
			wantSerial := probe["UUID"]
			if tc.kind == mkNTFS && len(wantSerial) == 16 {
				// Windows shows the low 32 bits of the 64-bit NTFS serial.
				wantSerial = wantSerial[8:12] + "-" + wantSerial[12:16]
			}
			if !strings.EqualFold(info.Serial, wantSerial) {
				t.Errorf("serial %q, blkid UUID %q", info.Serial, probe["UUID"])
			}
			if info.Size <= 0 || info.Size > tc.size {
				t.Errorf("size %d of %d", info.Size, tc.size)
			}
			if info.Note != "" || info.Dirty {
				t.Errorf("note %q dirty %v on a fresh file system", info.Note, info.Dirty)
			}
		})
	}
}

// TestNTFSDirtyFlag uses ntfsfix, which marks a volume dirty so that
// Windows runs chkdsk, and `ntfsfix -d`, which clears the flag.
func TestNTFSDirtyFlag(t *testing.T) {
	requireTools(t, "mkntfs", "ntfsfix")
	img := mkfs(t, t.TempDir(), mkNTFS, "Dirty", 8<<20, 0)
	check := func(want bool) {
		t.Helper()
		d := scanImages(t, Options{}, img).Disks[0]
		v := d.Partitions[0].Volume
		if v.Dirty != want {
			t.Fatalf("dirty = %v, want %v", v.Dirty, want)
		}
		wantState := StateNotChecked
		if want {
			wantState = StateDirty
		}
		if v.State != wantState {
			t.Errorf("state %v, want %v", v.State, wantState)
		}
	}
	check(false)
	run(t, "ntfsfix", img)
	check(true)
	run(t, "ntfsfix", "-d", img)
	check(false)
}

// ntfsBootSector builds a minimal NTFS boot sector for unit tests.
func ntfsBootSector(totalSectors uint64, spc byte, mftLCN uint64, recSize int8) []byte {
	b := make([]byte, 512)
	copy(b, []byte{0xEB, 0x52, 0x90})
	copy(b[3:], "NTFS    ")
	binary.LittleEndian.PutUint16(b[0x0B:], 512)
	b[0x0D] = spc
	binary.LittleEndian.PutUint64(b[0x28:], totalSectors)
	binary.LittleEndian.PutUint64(b[0x30:], mftLCN)
	b[0x40] = byte(recSize)
	binary.LittleEndian.PutUint32(b[0x48:], 0xCAFEF00D)
	b[510], b[511] = 0x55, 0xAA
	return b
}

// volumeRecord builds MFT record 3 with a label and volume flags, with a
// correct update sequence array over its two sectors.
func volumeRecord(label string, flags uint16, torn bool) []byte {
	rec := make([]byte, 1024)
	copy(rec, "FILE")
	binary.LittleEndian.PutUint16(rec[4:], 0x30) // USA offset
	binary.LittleEndian.PutUint16(rec[6:], 3)    // USN + 2 sectors
	binary.LittleEndian.PutUint16(rec[0x14:], 0x38)
	binary.LittleEndian.PutUint16(rec[0x16:], 1) // in use
	off := 0x38
	name := []byte{}
	for _, r := range label {
		name = binary.LittleEndian.AppendUint16(name, uint16(r))
	}
	addResident := func(typ uint32, val []byte) {
		alen := (24 + len(val) + 7) &^ 7
		binary.LittleEndian.PutUint32(rec[off:], typ)
		binary.LittleEndian.PutUint32(rec[off+4:], uint32(alen))
		binary.LittleEndian.PutUint32(rec[off+0x10:], uint32(len(val)))
		binary.LittleEndian.PutUint16(rec[off+0x14:], 24)
		copy(rec[off+24:], val)
		off += alen
	}
	addResident(0x60, name)
	vi := make([]byte, 12)
	vi[8], vi[9] = 3, 1
	binary.LittleEndian.PutUint16(vi[10:], flags)
	addResident(0x70, vi)
	binary.LittleEndian.PutUint32(rec[off:], 0xFFFFFFFF)
	binary.LittleEndian.PutUint32(rec[0x18:], uint32(off+8))
	// Update sequence: USN 0x0007; the real last words go into the array.
	usn := []byte{7, 0}
	copy(rec[0x30:], usn)
	for i := 1; i <= 2; i++ {
		end := i*512 - 2
		copy(rec[0x30+2*i:], rec[end:end+2])
		copy(rec[end:], usn)
	}
	if torn {
		rec[1022] = 0x99
	}
	return rec
}

func TestDetectNTFSSynthetic(t *testing.T) {
	const spc = 8 // 4 KiB clusters
	mk := func(boot, rec []byte) []byte {
		img := make([]byte, 1<<20)
		copy(img, boot)
		copy(img[4*4096+3*1024:], rec)
		return img
	}
	cases := []struct {
		name      string
		img       []byte
		wantLabel string
		wantDirty bool
		wantNote  string
	}{
		{"clean", mk(ntfsBootSector(2047, spc, 4, -10), volumeRecord("Sys", 0, false)), "Sys", false, ""},
		{"dirty", mk(ntfsBootSector(2047, spc, 4, -10), volumeRecord("Sys", 0x0001, false)), "Sys", true, ""},
		{"torn record", mk(ntfsBootSector(2047, spc, 4, -10), volumeRecord("Sys", 1, true)), "", false, "torn write"},
		{"mft outside", mk(ntfsBootSector(2047, spc, 1<<40, -10), nil), "", false, "MFT outside"},
		{"bad record size", mk(ntfsBootSector(2047, spc, 4, 100), nil), "", false, "MFT record size"},
		{"huge sector count", mk(ntfsBootSector(1<<50, spc, 4, -10), volumeRecord("X", 0, false)), "X", false, "more than the partition"},
		{"no record", mk(ntfsBootSector(2047, spc, 4, -10), nil), "", false, "no FILE signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, err := DetectFS(bytes.NewReader(tc.img), 0, int64(len(tc.img)))
			if err != nil {
				t.Fatal(err)
			}
			if info.Type != FSNTFS || info.Label != tc.wantLabel || info.Dirty != tc.wantDirty {
				t.Errorf("got %+v", info)
			}
			if !strings.Contains(info.Note, tc.wantNote) || (tc.wantNote == "" && info.Note != "") {
				t.Errorf("note %q, want it to mention %q", info.Note, tc.wantNote)
			}
			if info.Serial != "CAFE-F00D" {
				t.Errorf("serial %q", info.Serial)
			}
		})
	}
}

func TestDetectOtherSignatures(t *testing.T) {
	refs := make([]byte, 4096)
	copy(refs[3:], "ReFS\x00\x00\x00\x00")
	copy(refs[16:], "FSRS")
	binary.LittleEndian.PutUint64(refs[0x18:], 8)
	binary.LittleEndian.PutUint32(refs[0x20:], 512)
	mbrCode := make([]byte, 4096)
	copy(mbrCode, []byte{0xFA, 0x33, 0xC0, 0x8E, 0xD0})
	mbrCode[510], mbrCode[511] = 0x55, 0xAA
	grub := make([]byte, 4096) // GRUB's MBR jumps over a zeroed BPB
	copy(grub, []byte{0xEB, 0x63, 0x90})
	grub[510], grub[511] = 0x55, 0xAA
	cases := []struct {
		name string
		data []byte
		want FSType
		size int64
	}{
		{"refs", refs, FSReFS, 4096},
		{"mbr boot code", mbrCode, FSUnknown, 0},
		{"grub mbr", grub, FSUnknown, 0},
		{"zeros", make([]byte, 4096), FSUnknown, 0},
		{"short", []byte("NTFS"), FSUnknown, 0},
	}
	for _, tc := range cases {
		info, err := DetectFS(bytes.NewReader(tc.data), 0, int64(len(tc.data)))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if info.Type != tc.want || info.Size != tc.size {
			t.Errorf("%s: %+v, want %s size %d", tc.name, info, tc.want, tc.size)
		}
		if looksLikeBootSector(tc.data) != (tc.want != FSUnknown) && len(tc.data) >= 512 {
			t.Errorf("%s: looksLikeBootSector disagrees", tc.name)
		}
	}
}

// failingReader returns an I/O error for every read.
type failingReader struct{}

func (failingReader) ReadAt(p []byte, off int64) (int, error) { return 0, os.ErrPermission }

func TestDetectFSReadError(t *testing.T) {
	if _, err := DetectFS(failingReader{}, 4096, 1<<20); err == nil || !strings.Contains(err.Error(), "4096") {
		t.Errorf("err = %v, want a read error naming the offset", err)
	}
	if _, err := readLayout(failingReader{}, 1<<20, 512); err == nil {
		t.Error("readLayout on a failing reader gave no error")
	}
}
