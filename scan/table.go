package scan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

// TableType is the kind of partitioning found on a disk.
type TableType string

// Partitioning kinds.
const (
	TableGPT         TableType = "gpt"         // GUID partition table (behind a protective MBR)
	TableMBR         TableType = "mbr"         // master boot record, with logical partitions in extended ones
	TableSuperfloppy TableType = "superfloppy" // no table: a file system starts in sector 0
	TableNone        TableType = "none"        // neither a table nor a file system: empty or foreign
)

// Well-known GPT partition type GUIDs (upper case, as in the report).
const (
	GUIDEFISystem     = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	GUIDMSReserved    = "E3C9E316-0B5C-4DB8-817D-F92DF00215AE"
	GUIDBasicData     = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
	GUIDWinRecovery   = "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC"
	GUIDLDMMetadata   = "5808C8AA-7E8F-42E0-85D2-E1E90434CFB3"
	GUIDLDMData       = "AF9B60A0-1431-4F62-BC68-3311714A69AD"
	GUIDStorageSpaces = "E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D"
	GUIDLinuxData     = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	GUIDLinuxSwap     = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
	GUIDBIOSBoot      = "21686148-6449-6E6F-744E-656564454649"
)

// GPT partition attribute bits that matter to Windows.
const (
	GPTAttrRequired   GPTAttributes = 1 << 0  // platform required (OEM/recovery): never lettered
	GPTAttrReadOnly   GPTAttributes = 1 << 60 // basic data: read-only
	GPTAttrShadowCopy GPTAttributes = 1 << 61 // basic data: shadow copy
	GPTAttrHidden     GPTAttributes = 1 << 62 // basic data: hidden
	GPTAttrNoLetter   GPTAttributes = 1 << 63 // basic data: no drive letter by default
)

// Limits that keep a corrupt table from costing time or memory.
const (
	maxGPTEntriesBytes = 1 << 20 // the spec's minimum is 16 KiB; 1 MiB is generous
	maxLogical         = 128     // logical partitions followed in one extended partition
)

// roFile presents a read-only window of an io.ReaderAt as the file type
// that go-diskfs's partition readers take. It has no write method, so the
// library cannot write through it.
type roFile struct {
	*io.SectionReader
	name string
}

func newROFile(r io.ReaderAt, off, n int64, name string) roFile {
	return roFile{io.NewSectionReader(r, off, n), name}
}

func (f roFile) Stat() (fs.FileInfo, error) { return roInfo{f.name, f.Size()}, nil }
func (f roFile) Close() error               { return nil }

type roInfo struct {
	name string
	size int64
}

func (i roInfo) Name() string       { return i.name }
func (i roInfo) Size() int64        { return i.size }
func (i roInfo) Mode() fs.FileMode  { return 0o444 }
func (i roInfo) ModTime() time.Time { return time.Time{} }
func (i roInfo) IsDir() bool        { return false }
func (i roInfo) Sys() any           { return nil }

// maskedReader reads r but returns zeros for the n bytes at off.
type maskedReader struct {
	r      io.ReaderAt
	off, n int64
}

func (m maskedReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := m.r.ReadAt(p, off)
	lo, hi := max(off, m.off), min(off+int64(n), m.off+m.n)
	for i := lo; i < hi; i++ {
		p[i-off] = 0
	}
	return n, err
}

// layout is the partitioning of one disk.
type layout struct {
	table      TableType
	id         string
	sectorSize int
	parts      []*Partition
	warnings   []string
}

func (l *layout) warnf(format string, args ...any) {
	l.warnings = append(l.warnings, fmt.Sprintf(format, args...))
}

// readLayout reads the partition table of a disk of size bytes whose
// logical sector size is sectorSize (512 or 4096; 0 means 512 with a
// 4096-byte GPT probe). Volumes are not probed here.
func readLayout(r io.ReaderAt, size int64, sectorSize int) (*layout, error) {
	if sectorSize == 0 {
		sectorSize = 512
	}
	if !validSectorSize(int64(sectorSize)) || sectorSize < 512 {
		return nil, fmt.Errorf("invalid logical sector size %d", sectorSize)
	}
	l := &layout{table: TableNone, sectorSize: sectorSize}
	s0, err := readFull(r, 0, 512)
	if err != nil {
		return nil, fmt.Errorf("read sector 0: %w", err)
	}
	if s0 == nil {
		l.warnf("disk is smaller than one sector")
		return l, nil
	}
	mbrSig := s0[510] == 0x55 && s0[511] == 0xAA
	protective := false
	if mbrSig {
		for i := 0; i < 4; i++ {
			if s0[446+16*i+4] == 0xEE {
				protective = true
			}
		}
	}
	// GPT: behind a protective MBR, or (leniently) with no MBR signature.
	if protective || !mbrSig {
		sizes := []int{sectorSize}
		if sectorSize == 512 {
			sizes = append(sizes, 4096)
		}
		for _, ss := range sizes {
			ok, err := readGPT(r, size, ss, l)
			if err != nil {
				return l, err
			}
			if ok {
				if !protective {
					l.warnf("GPT found without a protective MBR")
				}
				return l, nil
			}
		}
		if protective {
			l.table = TableGPT
			return l, errors.New("protective MBR present but neither the primary nor the backup GPT header is valid")
		}
	}
	// A FAT BPB is a weak signature: an MBR whose boot loader kept the BPB
	// of an earlier FAT superfloppy (GRUB does) also has one. There, a
	// plausible partition table wins. The NTFS/exFAT/ReFS/BitLocker OEM IDs
	// are strong and always mean a superfloppy.
	if looksLikeBootSector(s0) && (strongBootSignature(s0) || !mbrSig || !plausibleMBR(s0, size/int64(sectorSize))) {
		l.table = TableSuperfloppy
		l.parts = []*Partition{{Index: 0, Start: 0, Size: size, Role: RoleSuperfloppy}}
		return l, nil
	}
	if mbrSig {
		if err := readMBR(r, size, s0, l); err != nil {
			return l, err
		}
		return l, nil
	}
	// No table, no boot sector: a whole-disk ext file system still counts.
	if info, err := DetectFS(r, 0, size); err == nil && info.Type != FSUnknown {
		l.table = TableSuperfloppy
		l.parts = []*Partition{{Index: 0, Start: 0, Size: size, Role: RoleSuperfloppy}}
	}
	return l, nil
}

// plausibleMBR reports whether sector 0 holds a partition table that makes
// sense for a disk of diskSectors sectors: every boot flag 0x00 or 0x80,
// at least one entry, and every entry inside the disk.
func plausibleMBR(s0 []byte, diskSectors int64) bool {
	n := 0
	for i := 0; i < 4; i++ {
		e := s0[446+16*i : 446+16*i+16]
		if e[0] != 0 && e[0] != 0x80 {
			return false
		}
		start := int64(binary.LittleEndian.Uint32(e[8:]))
		count := int64(binary.LittleEndian.Uint32(e[12:]))
		if e[4] == 0 && count == 0 {
			continue
		}
		if e[4] == 0 || start == 0 || count == 0 || start+count > diskSectors {
			return false
		}
		n++
	}
	return n > 0
}

// gptHeader is the part of a GPT header that readGPT checks before it lets
// go-diskfs parse the table.
type gptHeader struct {
	myLBA, firstUsable, lastUsable, entriesLBA uint64
	count, entrySize, entriesCRC               uint32
}

// checkGPTHeader validates signature, CRC and geometry of a GPT header read
// from sector lba of a disk with diskSectors sectors. intact reports that
// the header passed the checks go-diskfs itself makes (signature,
// revision, size, reserved field and CRC): go-diskfs trusts the sizes of
// such a header, so an intact header with bad geometry must never reach
// it.
func checkGPTHeader(b []byte, lba, diskSectors uint64) (h gptHeader, intact bool, err error) {
	if len(b) < 92 || !bytes.Equal(b[0:8], []byte("EFI PART")) {
		return h, false, errors.New("no EFI PART signature")
	}
	if binary.LittleEndian.Uint32(b[8:]) != 0x00010000 {
		return h, false, fmt.Errorf("unsupported GPT revision 0x%08X", binary.LittleEndian.Uint32(b[8:]))
	}
	if hs := binary.LittleEndian.Uint32(b[12:]); hs != 92 {
		return h, false, fmt.Errorf("unsupported GPT header size %d", hs)
	}
	if binary.LittleEndian.Uint32(b[20:]) != 0 {
		return h, false, errors.New("GPT header reserved field is not zero")
	}
	hdr := bytes.Clone(b[:92])
	want := binary.LittleEndian.Uint32(hdr[16:])
	binary.LittleEndian.PutUint32(hdr[16:], 0)
	if got := crc32.ChecksumIEEE(hdr); got != want {
		return h, false, fmt.Errorf("GPT header CRC mismatch (stored %08X, computed %08X)", want, got)
	}
	h.myLBA = binary.LittleEndian.Uint64(b[24:])
	h.firstUsable = binary.LittleEndian.Uint64(b[40:])
	h.lastUsable = binary.LittleEndian.Uint64(b[48:])
	h.entriesLBA = binary.LittleEndian.Uint64(b[72:])
	h.count = binary.LittleEndian.Uint32(b[80:])
	h.entrySize = binary.LittleEndian.Uint32(b[84:])
	h.entriesCRC = binary.LittleEndian.Uint32(b[88:])
	if h.myLBA != lba {
		return h, true, fmt.Errorf("GPT header at LBA %d says it is at LBA %d", lba, h.myLBA)
	}
	if h.entrySize < 128 || h.entrySize%8 != 0 || h.entrySize > 4096 {
		return h, true, fmt.Errorf("invalid GPT entry size %d", h.entrySize)
	}
	if uint64(h.count)*uint64(h.entrySize) > maxGPTEntriesBytes {
		return h, true, fmt.Errorf("GPT entry array of %d entries of %d bytes is implausibly large", h.count, h.entrySize)
	}
	if h.entriesLBA < 1 || h.entriesLBA >= diskSectors {
		return h, true, fmt.Errorf("GPT entry array at LBA %d is outside the disk", h.entriesLBA)
	}
	return h, true, nil
}

// checkGPTEntries reads the entry array of h and verifies its CRC.
func checkGPTEntries(r io.ReaderAt, h gptHeader, ss int) error {
	n := int64(h.count) * int64(h.entrySize)
	b := make([]byte, n)
	got, err := r.ReadAt(b, int64(h.entriesLBA)*int64(ss))
	if int64(got) != n {
		if err == nil || errors.Is(err, io.EOF) {
			return errors.New("GPT entry array runs past the end of the disk")
		}
		return fmt.Errorf("read GPT entry array: %w", err)
	}
	if crc32.ChecksumIEEE(b) != h.entriesCRC {
		return errors.New("GPT entry array CRC mismatch")
	}
	return nil
}

// readGPT looks for a GPT with sector size ss. It validates the headers
// itself (so that go-diskfs never sees a header whose sizes could make it
// allocate without bound) and then lets go-diskfs decode the entries. It
// reports false when there is no valid GPT at this sector size.
func readGPT(r io.ReaderAt, size int64, ss int, l *layout) (bool, error) {
	sectors := uint64(size / int64(ss))
	if sectors < 3 {
		return false, nil
	}
	b, err := readFull(r, int64(ss), ss)
	if err != nil {
		return false, fmt.Errorf("read GPT header at LBA 1: %w", err)
	}
	if b == nil {
		return false, nil
	}
	primary, _, perr := checkGPTHeader(b, 1, sectors)
	if perr == nil {
		perr = checkGPTEntries(r, primary, ss)
	}
	hdr := primary
	src := r
	if perr != nil {
		// go-diskfs trusts the sizes in a header whose CRC is right, so it
		// is shown a zeroed primary header sector: it then falls back to
		// the backup header, which is checked here first.
		src = maskedReader{r: r, off: int64(ss), n: int64(ss)}
		bb, err := readFull(r, int64(sectors-1)*int64(ss), ss)
		if err != nil {
			return false, fmt.Errorf("read backup GPT header at LBA %d: %w", sectors-1, err)
		}
		backup, _, berr := checkGPTHeader(bb, sectors-1, sectors)
		if berr == nil {
			berr = checkGPTEntries(r, backup, ss)
		}
		if berr != nil {
			if bytes.HasPrefix(b, []byte("EFI PART")) {
				l.warnf("%d-byte sectors: primary GPT invalid (%v); backup GPT invalid (%v)", ss, perr, berr)
			}
			return false, nil
		}
		l.warnf("primary GPT invalid (%v); using the backup GPT at LBA %d", perr, sectors-1)
		hdr = backup
	}
	t, err := gpt.Read(newROFile(src, 0, size, "disk"), ss, ss)
	if err != nil {
		return false, fmt.Errorf("decode GPT: %w", err)
	}
	l.table = TableGPT
	l.sectorSize = ss
	l.id = strings.ToUpper(t.GUID)
	for _, p := range t.Partitions {
		part := &Partition{
			Index:      p.Index,
			Start:      lbaBytes(p.Start, ss),
			TypeGUID:   strings.ToUpper(string(p.Type)),
			Name:       p.Name,
			Attributes: GPTAttributes(p.Attributes),
			GUID:       strings.ToUpper(p.GUID),
		}
		switch {
		case p.Start < hdr.firstUsable || p.Start > p.End || p.End > hdr.lastUsable || p.End >= sectors:
			part.Problem = fmt.Sprintf("entry %d spans LBA %d-%d, outside the usable area %d-%d",
				p.Index, p.Start, p.End, hdr.firstUsable, min(hdr.lastUsable, sectors-1))
			if p.Start <= p.End && p.End < sectors {
				part.Size = int64(p.End-p.Start+1) * int64(ss)
			}
		default:
			part.Size = int64(p.End-p.Start+1) * int64(ss)
		}
		part.Role = gptRole(part.TypeGUID)
		l.parts = append(l.parts, part)
	}
	return true, nil
}

// lbaBytes converts an LBA to a byte offset, giving 0 when the result
// would not fit an int64 (only possible for entries far outside the disk,
// which are flagged as a Problem naming the real LBAs).
func lbaBytes(lba uint64, ss int) int64 {
	if lba > uint64(math.MaxInt64)/uint64(ss) {
		return 0
	}
	return int64(lba) * int64(ss)
}

// isExtended reports whether an MBR type byte marks an extended partition.
func isExtended(t byte) bool { return t == 0x05 || t == 0x0F || t == 0x85 }

// readMBR decodes the primary entries with go-diskfs and follows the EBR
// chain of each extended partition itself (go-diskfs does not).
func readMBR(r io.ReaderAt, size int64, s0 []byte, l *layout) error {
	ss := int64(l.sectorSize)
	sectors := size / ss
	t, err := mbr.Read(newROFile(r, 0, min(size, 512), "disk"), l.sectorSize, l.sectorSize)
	if err != nil {
		return fmt.Errorf("decode MBR: %w", err)
	}
	l.table = TableMBR
	l.id = fmt.Sprintf("%08X", binary.LittleEndian.Uint32(s0[440:]))
	next, extended := 5, 0
	for _, p := range t.Partitions {
		typ := byte(p.Type)
		if typ == 0 || p.Size == 0 {
			continue
		}
		part := mbrPartition(p.Index, int64(p.Start), int64(p.Size), typ, p.Bootable, sectors, ss)
		l.parts = append(l.parts, part)
		if isExtended(typ) {
			if extended++; extended == 2 {
				l.warnf("more than one extended partition: their logical partitions are numbered on from the first's, as Linux does; Windows reads only one")
			}
			if part.Problem == "" {
				next = readLogical(r, int64(p.Start), sectors, next, l)
			}
		}
	}
	return nil
}

// markOverlaps records, on every partition whose range overlaps another's,
// the other's index and a Problem. An extended container holds its
// logical partitions and overlaps nothing else by that.
func markOverlaps(parts []*Partition) {
	for i, a := range parts {
		for _, b := range parts[i+1:] {
			if a.Size <= 0 || b.Size <= 0 || a.Start >= b.Start+b.Size || b.Start >= a.Start+a.Size {
				continue
			}
			if (a.Role == RoleExtended && b.Logical) || (b.Role == RoleExtended && a.Logical) {
				continue
			}
			for _, x := range [][2]*Partition{{a, b}, {b, a}} {
				p, q := x[0], x[1]
				p.Overlaps = append(p.Overlaps, q.Index)
				msg := fmt.Sprintf("overlaps partition %d (bytes %d-%d)", q.Index, q.Start, q.Start+q.Size)
				if p.Problem == "" {
					p.Problem = msg
				} else {
					p.Problem += "; " + msg
				}
			}
		}
	}
}

func mbrPartition(index int, start, count int64, typ byte, boot bool, diskSectors, ss int64) *Partition {
	part := &Partition{
		Index:    index,
		Start:    start * ss,
		Size:     count * ss,
		MBRType:  typ,
		Bootable: boot,
		Role:     mbrRole(typ),
	}
	switch {
	case start == 0 || start >= diskSectors:
		part.Problem = fmt.Sprintf("entry %d starts at sector %d, outside the disk (%d sectors)", index, start, diskSectors)
	case start+count > diskSectors:
		part.Problem = fmt.Sprintf("entry %d ends at sector %d, past the end of the disk (%d sectors); truncated",
			index, start+count-1, diskSectors)
		part.Size = (diskSectors - start) * ss
	}
	return part
}

// readLogical follows the chain of extended boot records that starts at
// sector extStart, numbering logical partitions from index (5 for the
// first extended partition, like Linux does), and returns the next free
// number.
func readLogical(r io.ReaderAt, extStart, diskSectors int64, index int, l *layout) int {
	ss := int64(l.sectorSize)
	seen := map[int64]bool{}
	next := extStart
	for range maxLogical {
		if seen[next] {
			l.warnf("extended partition chain loops back to sector %d", next)
			return index
		}
		seen[next] = true
		if next >= diskSectors {
			l.warnf("extended boot record at sector %d lies outside the disk", next)
			return index
		}
		t, err := mbr.Read(newROFile(r, next*ss, 512, "ebr"), l.sectorSize, l.sectorSize)
		if err != nil {
			l.warnf("extended boot record at sector %d unreadable: %v", next, err)
			return index
		}
		e1, e2 := t.Partitions[0], t.Partitions[1]
		if e1.Type != 0 && e1.Size != 0 {
			part := mbrPartition(index, next+int64(e1.Start), int64(e1.Size), byte(e1.Type), e1.Bootable, diskSectors, ss)
			part.Logical = true
			l.parts = append(l.parts, part)
			index++
		}
		if !isExtended(byte(e2.Type)) || e2.Size == 0 {
			return index
		}
		next = extStart + int64(e2.Start)
	}
	l.warnf("more than %d logical partitions; the rest are ignored", maxLogical)
	return index
}

// Partition roles: what a partition is for, as the report names it.
const (
	RoleESP           = "esp"
	RoleMSR           = "msr"
	RoleRecovery      = "recovery"
	RoleBasicData     = "basic_data"
	RoleLDMMetadata   = "ldm_metadata"
	RoleLDMData       = "ldm_data"
	RoleStorageSpaces = "storage_spaces"
	RoleLinux         = "linux"
	RoleLinuxSwap     = "linux_swap"
	RoleBIOSBoot      = "bios_boot"
	RoleExtended      = "extended"
	RoleHidden        = "hidden"
	RoleOEM           = "oem"
	RoleOther         = "other"
	RoleSuperfloppy   = "superfloppy"
)

func gptRole(guid string) string {
	switch guid {
	case GUIDEFISystem:
		return RoleESP
	case GUIDMSReserved:
		return RoleMSR
	case GUIDBasicData:
		return RoleBasicData
	case GUIDWinRecovery:
		return RoleRecovery
	case GUIDLDMMetadata:
		return RoleLDMMetadata
	case GUIDLDMData:
		return RoleLDMData
	case GUIDStorageSpaces:
		return RoleStorageSpaces
	case GUIDLinuxData:
		return RoleLinux
	case GUIDLinuxSwap:
		return RoleLinuxSwap
	case GUIDBIOSBoot:
		return RoleBIOSBoot
	}
	return RoleOther
}

func mbrRole(t byte) string {
	switch t {
	case 0x01, 0x04, 0x06, 0x07, 0x0B, 0x0C, 0x0E:
		return RoleBasicData
	case 0x05, 0x0F, 0x85:
		return RoleExtended
	case 0x11, 0x14, 0x16, 0x17, 0x1B, 0x1C, 0x1E:
		return RoleHidden
	case 0x27:
		return RoleRecovery
	case 0x12, 0x84, 0xDE:
		return RoleOEM
	case 0x42:
		return RoleLDMData
	case 0xEF:
		return RoleESP
	case 0x83:
		return RoleLinux
	case 0x82:
		return RoleLinuxSwap
	}
	return RoleOther
}
