package scan

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// sfdiskAttrs turns sfdisk's GPT attribute text ("RequiredPartition
// GUID:63") into attribute bits.
func sfdiskAttrs(t testing.TB, s string) uint64 {
	t.Helper()
	var bits uint64
	for _, f := range strings.Fields(s) {
		switch {
		case f == "RequiredPartition":
			bits |= 1 << 0
		case f == "NoBlockIOProtocol":
			bits |= 1 << 1
		case f == "LegacyBIOSBootable":
			bits |= 1 << 2
		case strings.HasPrefix(f, "GUID:"):
			for _, n := range strings.Split(strings.TrimPrefix(f, "GUID:"), ",") {
				b, err := strconv.Atoi(n)
				if err != nil {
					t.Fatalf("sfdisk attrs %q: %v", s, err)
				}
				bits |= 1 << uint(b)
			}
		default:
			t.Fatalf("unknown sfdisk attribute %q", f)
		}
	}
	return bits
}

// makeGPTDisk builds the typical Windows layout with sgdisk and real file
// systems: ESP (FAT32), MSR, Windows (NTFS), recovery (NTFS, required +
// no drive letter), data (exFAT).
func makeGPTDisk(t testing.TB, dir, name string) string {
	t.Helper()
	requireTools(t, "sgdisk")
	img := newImage(t, dir, name, 140<<20)
	run(t, "sgdisk", "-o",
		"-n1:2048:+40M", "-t1:EF00", "-c1:EFI system partition",
		"-n2:0:+16M", "-t2:0C01", "-c2:Microsoft reserved partition",
		"-n3:0:+32M", "-t3:0700", "-c3:Windows",
		"-n4:0:+16M", "-t4:2700", "-c4:Recovery", "-A4:set:0", "-A4:set:63",
		"-n5:0:0", "-t5:0700", "-c5:Data", img)
	tb := sfdiskJSON(t, img)
	kinds := map[int]struct {
		kind  fsKind
		label string
	}{1: {mkFAT32, "SYSTEM"}, 3: {mkNTFS, "Windows"}, 4: {mkNTFS, "WinRE"}, 5: {mkExFAT, "DATA"}}
	for _, p := range tb.PartitionTable.Partitions {
		if k, ok := kinds[partIndex(t, img, p.Node)]; ok {
			formatPartition(t, img, k.kind, k.label, p.Start*512, p.Size*512)
		}
	}
	return img
}

// checkAgainstTools compares a scanned disk with sfdisk's table and
// blkid's probe of every partition.
func checkAgainstTools(t *testing.T, img string, d *Disk) {
	t.Helper()
	tb := sfdiskJSON(t, img)
	wantTable := map[string]TableType{"gpt": TableGPT, "dos": TableMBR}[tb.PartitionTable.Label]
	if d.Table != wantTable {
		t.Fatalf("table = %q, sfdisk says %q", d.Table, tb.PartitionTable.Label)
	}
	wantID := strings.ToUpper(strings.TrimPrefix(tb.PartitionTable.ID, "0x"))
	if d.DiskID != wantID {
		t.Errorf("disk id = %q, sfdisk says %q", d.DiskID, wantID)
	}
	if len(d.Partitions) != len(tb.PartitionTable.Partitions) {
		t.Fatalf("%d partitions, sfdisk lists %d", len(d.Partitions), len(tb.PartitionTable.Partitions))
	}
	for i, sp := range tb.PartitionTable.Partitions {
		p := d.Partitions[i]
		idx := partIndex(t, img, sp.Node)
		if p.Index != idx || p.Start != sp.Start*512 || p.Size != sp.Size*512 {
			t.Errorf("partition %d: index/start/size = %d/%d/%d, sfdisk %d/%d/%d",
				i, p.Index, p.Start, p.Size, idx, sp.Start*512, sp.Size*512)
		}
		if d.Table == TableGPT {
			if p.TypeGUID != sp.Type || p.GUID != sp.UUID || p.Name != sp.Name {
				t.Errorf("partition %d: type/guid/name = %s/%s/%q, sfdisk %s/%s/%q",
					idx, p.TypeGUID, p.GUID, p.Name, sp.Type, sp.UUID, sp.Name)
			}
			if want := sfdiskAttrs(t, sp.Attrs); uint64(p.Attributes) != want {
				t.Errorf("partition %d: attributes %#x, sfdisk %#x (%s)", idx, p.Attributes, want, sp.Attrs)
			}
		} else {
			if got := strconv.FormatUint(uint64(p.MBRType), 16); got != sp.Type {
				t.Errorf("partition %d: MBR type %s, sfdisk %s", idx, got, sp.Type)
			}
			if p.Bootable != sp.Boot {
				t.Errorf("partition %d: bootable %v, sfdisk %v", idx, p.Bootable, sp.Boot)
			}
		}
		if p.Role == RoleExtended {
			if p.Volume != nil {
				t.Errorf("extended partition %d has a volume", idx)
			}
			continue
		}
		probe := blkidProbe(t, img, p.Start, p.Size)
		if p.Volume == nil {
			t.Fatalf("partition %d has no volume", idx)
		}
		if want := blkidType(probe); p.Volume.FS != want {
			t.Errorf("partition %d: fs %q, blkid %q", idx, p.Volume.FS, want)
		}
		if p.Volume.Label != probe["LABEL"] {
			t.Errorf("partition %d: label %q, blkid %q", idx, p.Volume.Label, probe["LABEL"])
		}
	}
}

func letters(d *Disk) map[int]string {
	m := map[int]string{}
	for _, p := range d.Partitions {
		if p.Volume != nil {
			m[p.Index] = p.Volume.Letter
		}
	}
	return m
}

func TestGPTDisk(t *testing.T) {
	requireTools(t, "sgdisk", "sfdisk", "blkid", "mkntfs", "mkfs.vfat", "mkfs.exfat")
	img := makeGPTDisk(t, t.TempDir(), "gpt.img")
	before := fileDigest(t, img)
	rep := scanImages(t, Options{}, img)
	if after := fileDigest(t, img); after != before {
		t.Errorf("scanning changed the image: %s -> %s", before, after)
	}
	if len(rep.Disks) != 1 {
		t.Fatalf("%d disks", len(rep.Disks))
	}
	d := rep.Disks[0]
	if d.Error != "" || len(d.Warnings) != 0 {
		t.Fatalf("error %q warnings %q", d.Error, d.Warnings)
	}
	checkAgainstTools(t, img, d)
	wantRoles := []string{RoleESP, RoleMSR, RoleBasicData, RoleRecovery, RoleBasicData}
	for i, p := range d.Partitions {
		if p.Role != wantRoles[i] {
			t.Errorf("partition %d role %q, want %q", p.Index, p.Role, wantRoles[i])
		}
	}
	got := letters(d)
	want := map[int]string{1: "", 2: "", 3: "C", 4: "", 5: "D"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("partition %d letter %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	// mkntfs leaves the last sector of the partition for the backup boot
	// sector, so the NTFS size is one sector short of the partition.
	win := d.Partitions[2]
	if win.Volume.Size != win.Size-512 {
		t.Errorf("NTFS size %d, partition %d", win.Volume.Size, win.Size)
	}
	if win.Volume.State != StateNotChecked || win.Volume.Dirty {
		t.Errorf("NTFS state %v dirty %v, want not_checked and clean", win.Volume.State, win.Volume.Dirty)
	}
	if d.Partitions[1].Volume.FS != FSUnknown {
		t.Errorf("MSR fs %q", d.Partitions[1].Volume.FS)
	}
}

func TestGPTBackupHeader(t *testing.T) {
	requireTools(t, "sgdisk", "sfdisk", "blkid", "mkntfs", "mkfs.vfat", "mkfs.exfat")
	dir := t.TempDir()
	img := makeGPTDisk(t, dir, "gpt.img")
	good := scanImages(t, Options{}, img).Disks[0]
	// Wipe the primary header: the backup at the last LBA must be used.
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 512), 512); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d := scanImages(t, Options{}, img).Disks[0]
	if d.Error != "" || d.Table != TableGPT {
		t.Fatalf("table %q error %q", d.Table, d.Error)
	}
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "backup GPT") {
		t.Errorf("warnings %q, want one about the backup GPT", d.Warnings)
	}
	if len(d.Partitions) != len(good.Partitions) {
		t.Fatalf("%d partitions from backup, %d from primary", len(d.Partitions), len(good.Partitions))
	}
	for i := range d.Partitions {
		a, b := d.Partitions[i], good.Partitions[i]
		if a.Start != b.Start || a.Size != b.Size || a.TypeGUID != b.TypeGUID || a.Volume.Letter != b.Volume.Letter {
			t.Errorf("partition %d differs: %+v vs %+v", i, a, b)
		}
	}
	// Wipe the backup too: the protective MBR now points at nothing.
	st, _ := os.Stat(img)
	f, _ = os.OpenFile(img, os.O_WRONLY, 0)
	if _, err := f.WriteAt(make([]byte, 512), st.Size()-512); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d = scanImages(t, Options{}, img).Disks[0]
	if d.Error == "" || len(d.Partitions) != 0 {
		t.Errorf("no valid GPT: error %q, %d partitions", d.Error, len(d.Partitions))
	}
}

func makeMBRDisk(t testing.TB, dir, name string) string {
	t.Helper()
	requireTools(t, "sfdisk")
	img := newImage(t, dir, name, 100<<20)
	script := "label: dos\nlabel-id: 0x12345678\n" +
		"start=2048, size=65536, type=7, bootable\n" +
		"start=67584, size=32768, type=27\n" +
		"start=100352, type=5\n" +
		"size=32768, type=e\n" +
		"size=32768, type=83\n" +
		"size=16384, type=7\n" // left unformatted (RAW): Windows still letters it
	cmd := fmt.Sprintf("printf '%s' | sfdisk -q %s", strings.ReplaceAll(script, "\n", `\n`), img)
	run(t, "sh", "-c", cmd)
	formatPartition(t, img, mkNTFS, "MBRWIN", 2048*512, 65536*512)
	formatPartition(t, img, mkNTFS, "Recovery", 67584*512, 32768*512)
	formatPartition(t, img, mkFAT16, "LOGICAL", 102400*512, 32768*512)
	formatPartition(t, img, mkExt4, "linux", 137216*512, 32768*512)
	return img
}

func TestMBRDisk(t *testing.T) {
	requireTools(t, "sfdisk", "blkid", "mkntfs", "mkfs.vfat", "mkfs.ext4")
	img := makeMBRDisk(t, t.TempDir(), "mbr.img")
	d := scanImages(t, Options{}, img).Disks[0]
	if d.Error != "" || len(d.Warnings) != 0 {
		t.Fatalf("error %q warnings %q", d.Error, d.Warnings)
	}
	checkAgainstTools(t, img, d)
	want := map[int]string{1: "C", 2: "", 5: "D", 6: "", 7: "E"}
	got := letters(d)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("partition %d letter %q, want %q", k, got[k], v)
		}
	}
	if raw := d.Partitions[5].Volume; raw.FS != FSUnknown || raw.Letter != "E" {
		t.Errorf("RAW logical partition: fs %q letter %q", raw.FS, raw.Letter)
	}
	if !d.Partitions[3].Logical || !d.Partitions[4].Logical || d.Partitions[0].Logical {
		t.Errorf("logical flags wrong: %v %v %v", d.Partitions[0].Logical, d.Partitions[3].Logical, d.Partitions[4].Logical)
	}
}

func TestTwoDisksLetterOrder(t *testing.T) {
	requireTools(t, "sgdisk", "sfdisk", "mkntfs", "mkfs.vfat", "mkfs.exfat", "mkfs.ext4")
	dir := t.TempDir()
	a := makeGPTDisk(t, dir, "a.img")
	b := makeMBRDisk(t, dir, "b.img")
	for _, order := range [][]string{{a, b}, {b, a}} {
		rep := scanImages(t, Options{}, order...)
		var got []string
		for _, v := range rep.Volumes() {
			if v.Volume.Letter != "" {
				got = append(got, fmt.Sprintf("%s:%s%d", v.Volume.Letter, v.Disk.Name, v.Partition.Index))
			}
		}
		var want []string
		if order[0] == a {
			want = []string{"C:a.img3", "D:a.img5", "E:b.img1", "F:b.img5", "G:b.img7"}
		} else {
			want = []string{"C:b.img1", "D:b.img5", "E:b.img7", "F:a.img3", "G:a.img5"}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("letters %v, want %v", got, want)
		}
		// Stable: a second scan gives the same letters.
		again := scanImages(t, Options{}, order...)
		for i, v := range again.Volumes() {
			if v.Volume.Letter != rep.Volumes()[i].Volume.Letter {
				t.Errorf("second scan changed letter of %s%d", v.Disk.Name, v.Partition.Index)
			}
		}
	}
}

func TestSuperfloppy(t *testing.T) {
	cases := []struct {
		kind  fsKind
		size  int64
		label string
		want  FSType
	}{
		{mkNTFS, 16 << 20, "WholeNTFS", FSNTFS},
		{mkFAT32, 40 << 20, "WHOLEFAT32", FSFAT32},
		{mkFAT16, 16 << 20, "WHOLEFAT16", FSFAT16},
		{mkExFAT, 16 << 20, "WholeExFAT", FSExFAT},
		{mkExt4, 16 << 20, "wholeext4", FSExt4},
		{mkExt2, 8 << 20, "wholeext2", FSExt2},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			requireTools(t, "blkid")
			img := mkfs(t, t.TempDir(), tc.kind, tc.label, tc.size, 0)
			d := scanImages(t, Options{}, img).Disks[0]
			if d.Table != TableSuperfloppy || d.Error != "" || len(d.Partitions) != 1 {
				t.Fatalf("table %q error %q partitions %d", d.Table, d.Error, len(d.Partitions))
			}
			p := d.Partitions[0]
			probe := blkidProbe(t, img, 0, tc.size)
			if p.Index != 0 || p.Start != 0 || p.Size != tc.size {
				t.Errorf("partition %+v", p)
			}
			if p.Volume.FS != tc.want || blkidType(probe) != tc.want {
				t.Errorf("fs %q, blkid %q, want %q", p.Volume.FS, blkidType(probe), tc.want)
			}
			if p.Volume.Label != probe["LABEL"] || p.Volume.Label != tc.label {
				t.Errorf("label %q, blkid %q, made %q", p.Volume.Label, probe["LABEL"], tc.label)
			}
			if p.Volume.Letter != "C" {
				t.Errorf("letter %q, want C", p.Volume.Letter)
			}
			if p.Volume.Size <= 0 || p.Volume.Size > tc.size {
				t.Errorf("volume size %d of %d", p.Volume.Size, tc.size)
			}
		})
	}
}

// TestGPT4K writes a GPT with 4096-byte sectors with go-diskfs and checks
// that the 4 KiB probe finds it on an image (read with 512 by default).
func TestGPT4K(t *testing.T) {
	dir := t.TempDir()
	img := newImage(t, dir, "4k.img", 64<<20)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	tbl := &gpt.Table{
		LogicalSectorSize: 4096, PhysicalSectorSize: 4096, ProtectiveMBR: true,
		Partitions: []*gpt.Partition{
			{Index: 1, Start: 256, End: 256 + 2559, Type: gpt.EFISystemPartition, Name: "ESP"},
			{Index: 2, Start: 2816, End: 2816 + 8191, Type: gpt.MicrosoftBasicData, Name: "Data",
				Attributes: uint64(GPTAttrNoLetter)},
			{Index: 3, Start: 11008, End: 11008 + 2047, Type: gpt.MicrosoftBasicData, Name: "More"},
		},
	}
	st := file.New(f, false)
	w, err := st.Writable()
	if err != nil {
		t.Fatal(err)
	}
	if err := tbl.Write(w, 64<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d := scanImages(t, Options{}, img).Disks[0]
	if d.Table != TableGPT || d.SectorSize != 4096 || d.Error != "" {
		t.Fatalf("table %q sector %d error %q warnings %q", d.Table, d.SectorSize, d.Error, d.Warnings)
	}
	if len(d.Partitions) != 3 {
		t.Fatalf("%d partitions", len(d.Partitions))
	}
	for i, p := range d.Partitions {
		w := tbl.Partitions[i]
		if p.Start != int64(w.Start)*4096 || p.Size != int64(w.End-w.Start+1)*4096 || p.Name != w.Name {
			t.Errorf("partition %d: %+v, wrote %+v", i, p, w)
		}
	}
	if got := letters(d); got[1] != "" || got[2] != "" || got[3] != "C" {
		t.Errorf("letters %v, want only partition 3 = C", got)
	}
	if !strings.Contains(d.Partitions[1].Volume.NoLetter, "no drive letter") {
		t.Errorf("no-letter reason %q", d.Partitions[1].Volume.NoLetter)
	}
}

func TestBitLockerPartition(t *testing.T) {
	requireTools(t, "sgdisk")
	dir := t.TempDir()
	img := newImage(t, dir, "bl.img", 32<<20)
	run(t, "sgdisk", "-o", "-n1:2048:0", "-t1:0700", img)
	boot := make([]byte, 512)
	copy(boot, []byte{0xEB, 0x58, 0x90})
	copy(boot[3:], "-FVE-FS-")
	boot[0x0B], boot[0x0C] = 0x00, 0x02 // 512 bytes per sector
	boot[0x0D] = 8
	boot[510], boot[511] = 0x55, 0xAA
	bl := filepath.Join(dir, "boot.bin")
	if err := os.WriteFile(bl, boot, 0o644); err != nil {
		t.Fatal(err)
	}
	placeAt(t, img, 2048*512, bl)
	opened := false
	opts := Options{OpenVolume: func(r io.ReaderAt, off, size int64) (fs.FS, func() error, error) {
		opened = true
		return nil, nil, fmt.Errorf("should not be called")
	}}
	d := scanImages(t, opts, img).Disks[0]
	v := d.Partitions[0].Volume
	if v.FS != FSBitLocker || v.State != StateBitLocker || v.Letter != "C" {
		t.Errorf("fs %q state %v letter %q", v.FS, v.State, v.Letter)
	}
	if !strings.Contains(v.Reason, "manage-bde") {
		t.Errorf("reason %q does not say how to fix", v.Reason)
	}
	if opened {
		t.Error("the NTFS opener was called for a BitLocker volume")
	}
}

func TestEmptyAndTinyDisks(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		size int64
	}{{"empty", 0}, {"tiny", 100}, {"zeros", 1 << 20}}
	for _, tc := range cases {
		img := newImage(t, dir, tc.name, tc.size)
		d := scanImages(t, Options{}, img).Disks[0]
		if d.Table != TableNone || len(d.Partitions) != 0 || d.Error != "" {
			t.Errorf("%s: table %q partitions %d error %q", tc.name, d.Table, len(d.Partitions), d.Error)
		}
	}
	rep := scanImages(t, Options{}, filepath.Join(dir, "missing.img"))
	if d := rep.Disks[0]; !strings.Contains(d.Error, "missing.img") {
		t.Errorf("missing image: error %q", d.Error)
	}
}

// rawGPTEntry is one entry for buildGPT.
type rawGPTEntry struct {
	typeGUID   [16]byte
	start, end uint64
	attrs      uint64
}

var basicDataBytes = [16]byte{0xA2, 0xA0, 0xD0, 0xEB, 0xE5, 0xB9, 0x33, 0x44, 0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7}

// buildGPT writes a GPT by hand (protective MBR, primary and backup
// headers with correct CRCs) so that tests can give it values no tool
// would write. fix may change the primary header before its CRC is set.
func buildGPT(sectors uint64, entries []rawGPTEntry, fix func(hdr []byte)) []byte {
	img := make([]byte, sectors*512)
	mbrEntry(img, 0, false, 0xEE, 1, uint32(min(sectors-1, 0xFFFFFFFF)))
	arr := make([]byte, 128*128)
	for i, e := range entries {
		b := arr[i*128:]
		copy(b, e.typeGUID[:])
		b[16] = byte(i + 1) // unique GUID
		binary.LittleEndian.PutUint64(b[32:], e.start)
		binary.LittleEndian.PutUint64(b[40:], e.end)
		binary.LittleEndian.PutUint64(b[48:], e.attrs)
	}
	header := func(my, alt, entriesLBA uint64, fix func([]byte)) []byte {
		h := make([]byte, 92)
		copy(h, "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], my)
		binary.LittleEndian.PutUint64(h[32:], alt)
		binary.LittleEndian.PutUint64(h[40:], 34)
		binary.LittleEndian.PutUint64(h[48:], sectors-34)
		h[56] = 0x42 // disk GUID
		binary.LittleEndian.PutUint64(h[72:], entriesLBA)
		binary.LittleEndian.PutUint32(h[80:], 128)
		binary.LittleEndian.PutUint32(h[84:], 128)
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(arr))
		if fix != nil {
			fix(h)
		}
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
		return h
	}
	copy(img[512:], header(1, sectors-1, 2, fix))
	copy(img[2*512:], arr)
	copy(img[(sectors-33)*512:], arr)
	copy(img[(sectors-1)*512:], header(sectors-1, 1, sectors-33, nil))
	return img
}

func TestHandMadeGPT(t *testing.T) {
	const sectors = 2048
	good := []rawGPTEntry{{basicDataBytes, 40, 1000, 0}}
	cases := []struct {
		name      string
		img       []byte
		wantParts int
		wantErr   string
		wantWarn  string
		problem   string
	}{
		{"valid", buildGPT(sectors, good, nil), 1, "", "", ""},
		{"huge entry count, valid CRC", buildGPT(sectors, good, func(h []byte) {
			binary.LittleEndian.PutUint32(h[80:], 0xFFFFFFFF)
		}), 1, "", "implausibly large", ""},
		{"entry size zero, valid CRC", buildGPT(sectors, good, func(h []byte) {
			binary.LittleEndian.PutUint32(h[84:], 0)
		}), 1, "", "entry size", ""},
		{"entries outside the disk, valid CRC", buildGPT(sectors, good, func(h []byte) {
			binary.LittleEndian.PutUint64(h[72:], 1<<60)
		}), 1, "", "outside the disk", ""},
		{"entries CRC wrong: backup used", buildGPT(sectors, good, func(h []byte) {
			binary.LittleEndian.PutUint32(h[88:], 1)
		}), 1, "", "backup GPT", ""},
		{"entry past the disk", buildGPT(sectors, []rawGPTEntry{{basicDataBytes, 40, 1 << 40, 0}}, nil), 1, "", "", "outside the usable area"},
		{"entry at absurd LBA", buildGPT(sectors, []rawGPTEntry{{basicDataBytes, 1 << 62, 1<<62 + 5, 0}}, nil), 1, "", "", "outside the usable area"},
		{"start after end", buildGPT(sectors, []rawGPTEntry{{basicDataBytes, 900, 100, 0}}, nil), 1, "", "", "outside the usable area"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &Disk{Name: "x", Size: int64(len(tc.img))}
			ScanDisk(t.Context(), bytes.NewReader(tc.img), d, Options{})
			if len(d.Partitions) != tc.wantParts {
				t.Fatalf("%d partitions, want %d (error %q)", len(d.Partitions), tc.wantParts, d.Error)
			}
			if !strings.Contains(d.Error, tc.wantErr) || (tc.wantErr == "" && d.Error != "") {
				t.Errorf("error %q, want %q", d.Error, tc.wantErr)
			}
			if tc.wantWarn != "" && (len(d.Warnings) == 0 || !strings.Contains(d.Warnings[0], tc.wantWarn)) {
				t.Errorf("warnings %q, want %q", d.Warnings, tc.wantWarn)
			}
			if d.Table != TableGPT || d.DiskID != "00000042-0000-0000-0000-000000000000" {
				t.Errorf("table %q id %q", d.Table, d.DiskID)
			}
			for _, p := range d.Partitions {
				if !strings.Contains(p.Problem, tc.problem) || (tc.problem == "" && p.Problem != "") {
					t.Errorf("problem %q, want %q", p.Problem, tc.problem)
				}
				if p.Start < 0 || p.Size < 0 || p.Start+p.Size > d.Size && p.Size != 0 {
					t.Errorf("geometry start %d size %d on a %d-byte disk", p.Start, p.Size, d.Size)
				}
				if tc.problem != "" && p.Volume != nil && p.Volume.Letter != "" {
					t.Errorf("bad entry got letter %q", p.Volume.Letter)
				}
			}
		})
	}
}

func TestEBRChains(t *testing.T) {
	mk := func(build func(img []byte)) []byte {
		img := make([]byte, 4096*512)
		build(img)
		return img
	}
	cases := []struct {
		name     string
		img      []byte
		logical  int
		wantWarn string
	}{
		{"loop to itself", mk(func(img []byte) {
			mbrEntry(img, 0, false, 0x0F, 100, 2000)
			ebr := img[100*512:]
			mbrEntry(ebr, 0, false, 0x07, 1, 10)
			mbrEntry(ebr, 1, false, 0x05, 0, 20) // next EBR = the extended start again
		}), 1, "loops back"},
		{"long chain", mk(func(img []byte) {
			mbrEntry(img, 0, false, 0x05, 100, 3900)
			for i := range 200 {
				ebr := img[(100+i*10)*512:]
				mbrEntry(ebr, 0, false, 0x83, 1, 5)
				mbrEntry(ebr, 1, false, 0x05, uint32(i+1)*10, 10)
			}
		}), maxLogical, "more than 128"},
		{"chain leaves the disk", mk(func(img []byte) {
			mbrEntry(img, 0, false, 0x05, 100, 100)
			ebr := img[100*512:]
			mbrEntry(ebr, 0, false, 0x07, 1, 10)
			mbrEntry(ebr, 1, false, 0x05, 1<<30, 10)
		}), 1, "outside the disk"},
		{"EBR without signature", mk(func(img []byte) {
			mbrEntry(img, 0, false, 0x05, 100, 100)
		}), 0, "unreadable"},
		{"dynamic disk", mk(func(img []byte) {
			mbrEntry(img, 0, false, 0x42, 100, 1000)
		}), 0, "dynamic disk"},
		{"logical past the end", mk(func(img []byte) {
			mbrEntry(img, 0, false, 0x05, 100, 100)
			mbrEntry(img[100*512:], 0, false, 0x07, 1, 1<<30)
		}), 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &Disk{Name: "x", Size: int64(len(tc.img))}
			ScanDisk(t.Context(), bytes.NewReader(tc.img), d, Options{})
			n := 0
			for _, p := range d.Partitions {
				if p.Logical {
					n++
					if p.Start+p.Size > d.Size {
						t.Errorf("logical %d runs past the disk: %+v", p.Index, p)
					}
				}
			}
			if d.Table != TableMBR || n != tc.logical || d.Error != "" {
				t.Errorf("table %q, %d logical partitions (want %d), error %q", d.Table, n, tc.logical, d.Error)
			}
			if tc.wantWarn != "" && (len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], tc.wantWarn)) {
				t.Errorf("warnings %q, want one mentioning %q", d.Warnings, tc.wantWarn)
			}
		})
	}
}

// TestFATBPBInMBR: a boot loader that kept an old FAT BPB in front of a
// real partition table must not turn the disk into a superfloppy.
func TestFATBPBInMBR(t *testing.T) {
	img := make([]byte, 2048*512)
	copy(img, fat16Boot(2048, "OLDFAT"))
	for i := 446; i < 510; i++ {
		img[i] = 0
	}
	mbrEntry(img, 0, true, 0x07, 63, 1000)
	copy(img[63*512:], ntfsVolume(999, "Inside", 0))
	d := &Disk{Size: int64(len(img))}
	ScanDisk(t.Context(), bytes.NewReader(img), d, Options{})
	if d.Table != TableMBR || len(d.Partitions) != 1 || d.Partitions[0].Volume.Label != "Inside" {
		t.Fatalf("table %q partitions %+v", d.Table, d.Partitions)
	}
	// The same BPB with boot code (no plausible table) is a superfloppy.
	img2 := bytes.Clone(img)
	copy(img2[446:], "Non-system disk or disk error\r\nReplace and strike any key")
	d = &Disk{Size: int64(len(img2))}
	ScanDisk(t.Context(), bytes.NewReader(img2), d, Options{})
	if d.Table != TableSuperfloppy || d.Partitions[0].Volume.FS != FSFAT12 {
		t.Fatalf("table %q fs %q", d.Table, d.Partitions[0].Volume.FS)
	}
}

// fileDigest returns the SHA-256 and modification time of a file.
func fileDigest(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x@%d", sha256.Sum256(b), st.ModTime().UnixNano())
}
