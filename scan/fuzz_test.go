package scan

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// mbrEntry writes MBR partition entry i of sector s.
func mbrEntry(s []byte, i int, boot bool, typ byte, start, count uint32) {
	e := s[446+16*i:]
	if boot {
		e[0] = 0x80
	}
	e[4] = typ
	binary.LittleEndian.PutUint32(e[8:], start)
	binary.LittleEndian.PutUint32(e[12:], count)
	s[510], s[511] = 0x55, 0xAA
}

// fat16Boot builds a FAT16 boot sector for a volume of sectors sectors.
func fat16Boot(sectors uint16, label string) []byte {
	b := make([]byte, 512)
	copy(b, []byte{0xEB, 0x3C, 0x90})
	copy(b[3:], "MSDOS5.0")
	binary.LittleEndian.PutUint16(b[0x0B:], 512)
	b[0x0D] = 1                                 // sectors per cluster
	binary.LittleEndian.PutUint16(b[0x0E:], 1)  // reserved
	b[0x10] = 2                                 // FATs
	binary.LittleEndian.PutUint16(b[0x11:], 16) // root entries (one sector)
	binary.LittleEndian.PutUint16(b[0x13:], sectors)
	b[0x15] = 0xF8
	binary.LittleEndian.PutUint16(b[0x16:], 1) // sectors per FAT
	b[0x26] = 0x29
	binary.LittleEndian.PutUint32(b[0x27:], 0x12345678)
	copy(b[0x2B:], label+"           ")
	copy(b[0x36:], "FAT12   ")
	b[510], b[511] = 0x55, 0xAA
	return b
}

// exfatBoot builds an exFAT boot sector whose root directory (cluster 2,
// 512-byte clusters, heap at sector 4) holds a label entry.
func exfatBoot(sectors uint64, label string) []byte {
	b := make([]byte, 4096)
	copy(b, []byte{0xEB, 0x76, 0x90})
	copy(b[3:], "EXFAT   ")
	binary.LittleEndian.PutUint64(b[0x48:], sectors)
	binary.LittleEndian.PutUint32(b[0x58:], 4) // cluster heap offset
	binary.LittleEndian.PutUint32(b[0x60:], 2) // root directory cluster
	binary.LittleEndian.PutUint32(b[0x64:], 0xDEADBEEF)
	b[0x6C], b[0x6D] = 9, 0
	b[510], b[511] = 0x55, 0xAA
	e := b[4*512:]
	e[0] = 0x83
	e[1] = byte(len(label))
	for i, r := range label {
		binary.LittleEndian.PutUint16(e[2+2*i:], uint16(r))
	}
	return b
}

// ntfsVolume builds a small NTFS volume image (boot sector and $Volume
// record, 512-byte clusters, MFT at cluster 4).
func ntfsVolume(sectors uint64, label string, flags uint16) []byte {
	b := make([]byte, 16*512)
	copy(b, ntfsBootSector(sectors, 1, 4, -10))
	copy(b[4*512+3*1024:], volumeRecord(label, flags, false))
	return b
}

// seedImages builds small disks covering every parser path.
func seedImages(t testing.TB) [][]byte {
	var seeds [][]byte

	// MBR: NTFS primary, extended with two logical partitions (FAT16 and
	// exFAT) chained through EBRs.
	m := make([]byte, 160*512)
	mbrEntry(m, 0, true, 0x07, 8, 24)
	mbrEntry(m, 1, false, 0x05, 40, 100)
	copy(m[8*512:], ntfsVolume(23, "MbrNTFS", 0))
	ebr1 := m[40*512:]
	mbrEntry(ebr1, 0, false, 0x0E, 2, 40)
	mbrEntry(ebr1, 1, false, 0x05, 50, 40)
	copy(m[42*512:], fat16Boot(40, "LOGICAL"))
	ebr2 := m[90*512:]
	mbrEntry(ebr2, 0, false, 0x07, 2, 30)
	copy(m[92*512:], exfatBoot(30, "exLab"))
	seeds = append(seeds, m)

	// Superfloppies.
	seeds = append(seeds, ntfsVolume(15, "Floppy", 1))
	seeds = append(seeds, append(fat16Boot(64, "FLOP"), make([]byte, 63*512)...))
	ext := make([]byte, 4096)
	binary.LittleEndian.PutUint16(ext[1024+0x38:], 0xEF53)
	binary.LittleEndian.PutUint32(ext[1024+0x60:], 0x40) // extents: ext4
	binary.LittleEndian.PutUint32(ext[1024+0x04:], 4)
	copy(ext[1024+0x78:], "extlabel")
	seeds = append(seeds, ext)
	bl := make([]byte, 1024)
	copy(bl[3:], "-FVE-FS-")
	bl[510], bl[511] = 0x55, 0xAA
	seeds = append(seeds, bl)

	// GPT written by go-diskfs with an NTFS and an exFAT partition.
	p := filepath.Join(t.TempDir(), "gpt.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	const size = 192 * 512
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	tbl := &gpt.Table{LogicalSectorSize: 512, PhysicalSectorSize: 512, ProtectiveMBR: true,
		Partitions: []*gpt.Partition{
			{Index: 1, Start: 40, End: 79, Type: gpt.MicrosoftBasicData, Name: "Windows"},
			{Index: 2, Start: 80, End: 119, Type: gpt.MicrosoftWindowsRecovery, Name: "WinRE", Attributes: 1},
		}}
	w, err := file.New(f, false).Writable()
	if err != nil {
		t.Fatal(err)
	}
	if err := tbl.Write(w, size); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(ntfsVolume(39, "GptNTFS", 0), 40*512); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(exfatBoot(40, "re"), 80*512); err != nil {
		t.Fatal(err)
	}
	f.Close()
	g, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	seeds = append(seeds, g)
	return seeds
}

// TestSeedImages checks that the hand-made seeds parse as intended, so
// that the fuzzer starts from inputs that reach every parser.
func TestSeedImages(t *testing.T) {
	seeds := seedImages(t)
	want := []struct {
		table  TableType
		fs     []FSType
		labels []string
		ltrs   []string
	}{
		{TableMBR, []FSType{FSNTFS, FSFAT12, FSExFAT}, []string{"MbrNTFS", "LOGICAL", "exLab"}, []string{"C", "D", "E"}},
		{TableSuperfloppy, []FSType{FSNTFS}, []string{"Floppy"}, []string{"C"}},
		{TableSuperfloppy, []FSType{FSFAT12}, []string{"FLOP"}, []string{"C"}},
		{TableSuperfloppy, []FSType{FSExt4}, []string{"extlabel"}, []string{"C"}},
		{TableSuperfloppy, []FSType{FSBitLocker}, []string{""}, []string{"C"}},
		{TableGPT, []FSType{FSNTFS, FSExFAT}, []string{"GptNTFS", "re"}, []string{"C", ""}},
	}
	for i, s := range seeds {
		d := &Disk{Name: "seed", Size: int64(len(s)), SectorSize: 512}
		ScanDisk(t.Context(), bytes.NewReader(s), d, Options{})
		AssignLetters([]*Disk{d})
		if d.Table != want[i].table || d.Error != "" || len(d.Warnings) != 0 {
			t.Errorf("seed %d: table %q error %q warnings %q", i, d.Table, d.Error, d.Warnings)
			continue
		}
		var got []*Volume
		for _, p := range d.Partitions {
			if p.Volume != nil {
				got = append(got, p.Volume)
			}
		}
		if len(got) != len(want[i].fs) {
			t.Errorf("seed %d: %d volumes, want %d", i, len(got), len(want[i].fs))
			continue
		}
		for j, v := range got {
			if v.FS != want[i].fs[j] || v.Label != want[i].labels[j] || v.Letter != want[i].ltrs[j] {
				t.Errorf("seed %d volume %d: fs %q label %q letter %q, want %q %q %q",
					i, j, v.FS, v.Label, v.Letter, want[i].fs[j], want[i].labels[j], want[i].ltrs[j])
			}
		}
	}
	if d := seeds[1]; true {
		info, _ := DetectFS(bytes.NewReader(d), 0, int64(len(d)))
		if !info.Dirty {
			t.Error("dirty NTFS seed not reported dirty")
		}
	}
}

// FuzzScanDisk feeds arbitrary bytes to the partition table, file system
// detection, letter assignment and report writers. claimed is the disk
// size the scan is told (reads past the data fail like a short device).
func FuzzScanDisk(f *testing.F) {
	for _, s := range seedImages(f) {
		f.Add(s, int64(len(s)), false)
	}
	f.Add(make([]byte, 1024), int64(1<<40), true)
	gen := ImageStateGeneralizeResealOOBE
	fsys := windowsFS(gen, gen, fstest.MapFS{"hiberfil.sys": hiberfil("wake", 64)})
	opener := func(r io.ReaderAt, off, size int64) (fs.FS, func() error, error) {
		// Touch the volume the way a reader would, then serve a tree.
		buf := make([]byte, 512)
		_, _ = r.ReadAt(buf, off)
		return fsys, func() error { return nil }, nil
	}
	f.Fuzz(func(t *testing.T, data []byte, claimed int64, big bool) {
		if claimed < 0 || claimed > 1<<50 {
			claimed = int64(len(data))
		}
		ss := 512
		if big {
			ss = 4096
		}
		d := &Disk{Name: "fuzz", Size: claimed, SectorSize: ss}
		ScanDisk(context.Background(), bytes.NewReader(data), d, Options{OpenVolume: opener, Inspect: fakeInspect})
		AssignLetters([]*Disk{d})
		for _, p := range d.Partitions {
			if p.Size < 0 || p.Start < 0 {
				t.Fatalf("negative geometry %+v", p)
			}
		}
		rep := &Report{Version: ReportVersion, Disks: []*Disk{d}}
		var buf bytes.Buffer
		if err := rep.WriteText(&buf); err != nil {
			t.Fatal(err)
		}
		checkTextWidth(t, buf.String())
		buf.Reset()
		if err := rep.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		var back Report
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
			t.Fatalf("JSON does not read back: %v", err)
		}
		if _, err := DetectFS(bytes.NewReader(data), 0, claimed); err != nil {
			t.Fatalf("DetectFS on a bytes.Reader failed: %v", err)
		}
	})
}

// FuzzDetectFS feeds arbitrary bytes to the boot sector and superblock
// probes directly, as the contents of one volume.
func FuzzDetectFS(f *testing.F) {
	f.Add(ntfsVolume(15, "NTFS", 1))
	f.Add(append(fat16Boot(64, "FAT"), make([]byte, 63*512)...))
	f.Add(exfatBoot(8, "exFAT"))
	for _, s := range seedImages(f)[3:5] { // ext superblock, BitLocker
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := DetectFS(bytes.NewReader(data), 0, int64(len(data)))
		if err != nil {
			t.Fatalf("DetectFS on a bytes.Reader failed: %v", err)
		}
		if info.Type == "" || info.Size < 0 {
			t.Fatalf("bad result %+v", info)
		}
		if info.Size > int64(len(data)) && info.Type != FSExt2 && info.Type != FSExt3 && info.Type != FSExt4 &&
			info.Type != FSReFS && info.Note == "" {
			t.Fatalf("size %d beyond %d-byte volume without a note: %+v", info.Size, len(data), info)
		}
		_ = looksLikeBootSector(data)
	})
}
