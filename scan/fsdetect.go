package scan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// FSType names the file system found in a volume's boot sector or
// superblock. The values are stable and appear in the JSON report.
type FSType string

// File system types recognised by DetectFS.
const (
	FSUnknown   FSType = "unknown"   // nothing recognised (raw, unformatted or foreign)
	FSNTFS      FSType = "ntfs"      // "NTFS    " OEM ID
	FSFAT12     FSType = "fat12"     // FAT BPB, fewer than 4085 clusters
	FSFAT16     FSType = "fat16"     // FAT BPB, fewer than 65525 clusters
	FSFAT32     FSType = "fat32"     // FAT BPB, 65525 clusters or more
	FSExFAT     FSType = "exfat"     // "EXFAT   " OEM ID
	FSExt2      FSType = "ext2"      // ext superblock without journal or ext4 features
	FSExt3      FSType = "ext3"      // ext superblock with a journal
	FSExt4      FSType = "ext4"      // ext superblock with ext4-only features
	FSBitLocker FSType = "bitlocker" // "-FVE-FS-" OEM ID: BitLocker-encrypted volume
	FSReFS      FSType = "refs"      // "ReFS" OEM ID with "FSRS" signature
)

// FSInfo is what DetectFS learns from a volume without mounting it.
type FSInfo struct {
	// Type is the detected file system, FSUnknown when none.
	Type FSType
	// Label is the volume label, "" when there is none or it could not be
	// read without a full file system driver.
	Label string
	// Size is the size in bytes that the file system's own header claims,
	// 0 when unknown.
	Size int64
	// Serial is the volume serial number as Windows prints it
	// ("1234-ABCD" for FAT/exFAT/NTFS), "" when unknown.
	Serial string
	// Dirty reports the NTFS $Volume dirty flag (chkdsk pending / not
	// cleanly unmounted). Only set for NTFS.
	Dirty bool
	// Note explains anything odd found while probing (for example a
	// truncated partition or an unreadable $Volume record).
	Note string
}

// maxProbeRead bounds every single read DetectFS does, so that a corrupt
// header can never make it allocate much memory.
const maxProbeRead = 64 << 10

// readFull reads exactly n bytes at off from r. It returns (nil, nil) when
// the range lies (partly) outside the data, so that a short volume is
// treated as "not this file system" rather than as an I/O failure; other
// errors are returned.
func readFull(r io.ReaderAt, off int64, n int) ([]byte, error) {
	if n <= 0 || n > maxProbeRead || off < 0 {
		return nil, nil
	}
	b := make([]byte, n)
	got, err := r.ReadAt(b, off)
	if got == n {
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, nil
	}
	return nil, err
}

// DetectFS identifies the file system of the volume that occupies size
// bytes at offset off of r. It reads a few boot sectors or superblocks
// (never more than 64 KiB at a time), never writes and never mounts. An
// unrecognised volume gives FSUnknown and a nil error; the error is set
// only when reading fails.
func DetectFS(r io.ReaderAt, off, size int64) (FSInfo, error) {
	if size <= 0 || off < 0 {
		return FSInfo{Type: FSUnknown}, nil
	}
	vr := io.NewSectionReader(r, off, size)
	boot, err := readFull(vr, 0, 512)
	if err != nil {
		return FSInfo{Type: FSUnknown}, fmt.Errorf("read boot sector at offset %d: %w", off, err)
	}
	if boot != nil {
		switch {
		case bytes.Equal(boot[3:11], []byte("-FVE-FS-")):
			return probeBitLocker(boot, size), nil
		case bytes.Equal(boot[3:11], []byte("NTFS    ")):
			return probeNTFS(vr, boot, size)
		case bytes.Equal(boot[3:11], []byte("EXFAT   ")):
			return probeExFAT(vr, boot, size)
		case bytes.Equal(boot[3:7], []byte("ReFS")) && bytes.Equal(boot[16:20], []byte("FSRS")):
			return probeReFS(boot), nil
		}
		if info, ok, err := probeFAT(vr, boot, size); err != nil || ok {
			return info, err
		}
	}
	sb, err := readFull(vr, 1024, 1024)
	if err != nil {
		return FSInfo{Type: FSUnknown}, fmt.Errorf("read ext superblock at offset %d: %w", off+1024, err)
	}
	if sb != nil && binary.LittleEndian.Uint16(sb[0x38:]) == 0xEF53 {
		return probeExt(sb), nil
	}
	return FSInfo{Type: FSUnknown}, nil
}

// looksLikeBootSector reports whether sector 0 of a disk holds a file
// system boot sector rather than a master boot record, which makes the disk
// a partition-less "superfloppy".
func looksLikeBootSector(boot []byte) bool {
	if len(boot) < 512 {
		return false
	}
	if strongBootSignature(boot) {
		return true
	}
	_, ok := parseFATBPB(boot)
	return ok
}

// strongBootSignature reports whether sector 0 carries one of the OEM IDs
// that no master boot record has.
func strongBootSignature(boot []byte) bool {
	return len(boot) >= 512 && (bytes.Equal(boot[3:11], []byte("-FVE-FS-")) ||
		bytes.Equal(boot[3:11], []byte("NTFS    ")) ||
		bytes.Equal(boot[3:11], []byte("EXFAT   ")) ||
		bytes.Equal(boot[3:7], []byte("ReFS")) && bytes.Equal(boot[16:20], []byte("FSRS")))
}

func serial32(v uint32) string {
	return fmt.Sprintf("%04X-%04X", v>>16, v&0xFFFF)
}

func probeBitLocker(boot []byte, size int64) FSInfo {
	info := FSInfo{Type: FSBitLocker}
	// The BitLocker boot sector keeps an NTFS-like BPB; the total sector
	// count at 0x28 is usually 0, so the partition size is the volume size.
	bps := int64(binary.LittleEndian.Uint16(boot[0x0B:]))
	if n := int64(binary.LittleEndian.Uint64(boot[0x28:])); validSectorSize(bps) && n > 0 && n <= size/bps {
		info.Size = n * bps
	}
	return info
}

func probeReFS(boot []byte) FSInfo {
	info := FSInfo{Type: FSReFS}
	sectors := binary.LittleEndian.Uint64(boot[0x18:])
	bps := uint64(binary.LittleEndian.Uint32(boot[0x20:]))
	if validSectorSize(int64(bps)) && sectors > 0 && sectors < (1<<62)/bps {
		info.Size = int64(sectors * bps)
	}
	return info
}

func validSectorSize(n int64) bool {
	return n >= 256 && n <= 4096 && n&(n-1) == 0
}

// probeNTFS reads the NTFS boot sector and then the $Volume record (MFT
// record 3) for the label and the dirty flag.
func probeNTFS(vr *io.SectionReader, boot []byte, size int64) (FSInfo, error) {
	info := FSInfo{Type: FSNTFS}
	bps := int64(binary.LittleEndian.Uint16(boot[0x0B:]))
	if !validSectorSize(bps) {
		info.Note = fmt.Sprintf("NTFS boot sector has invalid bytes per sector %d", bps)
		return info, nil
	}
	total := binary.LittleEndian.Uint64(boot[0x28:])
	if total > 0 && total < uint64(size/bps)+1 {
		// The NTFS sector count excludes the backup boot sector at the end.
		info.Size = int64(total) * bps
	} else {
		info.Note = fmt.Sprintf("NTFS boot sector claims %d sectors, more than the partition holds", total)
	}
	info.Serial = serial32(binary.LittleEndian.Uint32(boot[0x48:]))

	spc := int64(boot[0x0D])
	if spc > 0x80 { // newer NTFS: 2^(256-n) sectors per cluster
		shift := 256 - spc
		if shift > 20 {
			info.Note = "NTFS boot sector has an invalid cluster size"
			return info, nil
		}
		spc = 1 << shift
	}
	if spc == 0 || spc&(spc-1) != 0 {
		info.Note = "NTFS boot sector has an invalid cluster size"
		return info, nil
	}
	cluster := spc * bps
	var recSize int64
	if c := int8(boot[0x40]); c > 0 {
		recSize = int64(c) * cluster
	} else if c < 0 && c >= -20 {
		recSize = 1 << uint(-c)
	}
	if recSize < 256 || recSize > maxProbeRead || recSize&(recSize-1) != 0 {
		info.Note = "NTFS boot sector has an invalid MFT record size"
		return info, nil
	}
	mftLCN := binary.LittleEndian.Uint64(boot[0x30:])
	if mftLCN == 0 || mftLCN > uint64(size/cluster) {
		info.Note = "NTFS boot sector points the MFT outside the volume"
		return info, nil
	}
	recOff := int64(mftLCN)*cluster + 3*recSize
	rec, err := readFull(vr, recOff, int(recSize))
	if err != nil {
		return info, fmt.Errorf("read NTFS $Volume record at volume offset %d: %w", recOff, err)
	}
	if rec == nil {
		info.Note = "NTFS $Volume record lies outside the volume"
		return info, nil
	}
	label, flags, err := parseVolumeRecord(rec)
	if err != nil {
		info.Note = fmt.Sprintf("NTFS $Volume record unreadable: %v", err)
		return info, nil
	}
	info.Label = label
	info.Dirty = flags&0x0001 != 0
	return info, nil
}

// parseVolumeRecord applies the update sequence fixups to an MFT record and
// returns the $VOLUME_NAME string and the $VOLUME_INFORMATION flags.
func parseVolumeRecord(rec []byte) (label string, flags uint16, err error) {
	if !bytes.Equal(rec[0:4], []byte("FILE")) {
		return "", 0, errors.New("no FILE signature")
	}
	usaOff := int(binary.LittleEndian.Uint16(rec[4:]))
	usaCount := int(binary.LittleEndian.Uint16(rec[6:]))
	if usaCount < 1 || usaCount-1 != len(rec)/512 || usaOff+2*usaCount > len(rec) || usaOff < 0x28 {
		return "", 0, errors.New("bad update sequence array")
	}
	usn := rec[usaOff : usaOff+2]
	for i := 1; i < usaCount; i++ {
		end := i*512 - 2
		if !bytes.Equal(rec[end:end+2], usn) {
			return "", 0, fmt.Errorf("update sequence mismatch in sector %d (torn write)", i-1)
		}
		copy(rec[end:end+2], rec[usaOff+2*i:usaOff+2*i+2])
	}
	if binary.LittleEndian.Uint16(rec[0x16:])&1 == 0 {
		return "", 0, errors.New("record not in use")
	}
	off := int(binary.LittleEndian.Uint16(rec[0x14:]))
	used := int(binary.LittleEndian.Uint32(rec[0x18:]))
	if used > len(rec) || used < 0 {
		used = len(rec)
	}
	foundInfo := false
	for off+16 <= used {
		typ := binary.LittleEndian.Uint32(rec[off:])
		if typ == 0xFFFFFFFF {
			break
		}
		alen := int(binary.LittleEndian.Uint32(rec[off+4:]))
		if alen < 16 || alen%8 != 0 || off+alen > used {
			return "", 0, fmt.Errorf("attribute at record offset %d has bad length %d", off, alen)
		}
		nonResident := rec[off+8] != 0
		if !nonResident && alen >= 24 && (typ == 0x60 || typ == 0x70) {
			vlen := int(binary.LittleEndian.Uint32(rec[off+0x10:]))
			voff := int(binary.LittleEndian.Uint16(rec[off+0x14:]))
			if vlen < 0 || voff < 0 || voff+vlen > alen {
				return "", 0, fmt.Errorf("attribute 0x%X value out of bounds", typ)
			}
			val := rec[off+voff : off+voff+vlen]
			switch typ {
			case 0x60:
				label = decodeUTF16LE(val)
			case 0x70:
				if len(val) >= 12 {
					flags = binary.LittleEndian.Uint16(val[10:])
					foundInfo = true
				}
			}
		}
		off += alen
	}
	if !foundInfo {
		return label, 0, errors.New("no $VOLUME_INFORMATION attribute")
	}
	return label, flags, nil
}

func decodeUTF16LE(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// fatBPB holds the fields of a FAT boot sector that DetectFS uses.
type fatBPB struct {
	bps, spc, reserved, fats, rootEntries int64
	totalSectors, fatSectors              int64
	rootCluster                           uint32
	fat32                                 bool
}

// parseFATBPB validates a FAT BIOS parameter block the way a strict driver
// would: a jump instruction, power-of-two sector and cluster sizes, at
// least one reserved sector and FAT, a valid media byte and a non-zero
// sector count.
func parseFATBPB(b []byte) (fatBPB, bool) {
	var p fatBPB
	if len(b) < 512 {
		return p, false
	}
	if !(b[0] == 0xEB && b[2] == 0x90) && b[0] != 0xE9 {
		return p, false
	}
	p.bps = int64(binary.LittleEndian.Uint16(b[0x0B:]))
	p.spc = int64(b[0x0D])
	p.reserved = int64(binary.LittleEndian.Uint16(b[0x0E:]))
	p.fats = int64(b[0x10])
	p.rootEntries = int64(binary.LittleEndian.Uint16(b[0x11:]))
	p.totalSectors = int64(binary.LittleEndian.Uint16(b[0x13:]))
	media := b[0x15]
	p.fatSectors = int64(binary.LittleEndian.Uint16(b[0x16:]))
	if p.totalSectors == 0 {
		p.totalSectors = int64(binary.LittleEndian.Uint32(b[0x20:]))
	}
	if p.fatSectors == 0 {
		p.fatSectors = int64(binary.LittleEndian.Uint32(b[0x24:]))
		p.rootCluster = binary.LittleEndian.Uint32(b[0x2C:])
		p.fat32 = true
	}
	if !validSectorSize(p.bps) || p.bps < 512 || p.spc == 0 || p.spc&(p.spc-1) != 0 ||
		p.reserved == 0 || p.fats == 0 || p.fats > 4 || p.totalSectors == 0 ||
		p.fatSectors == 0 || (media != 0xF0 && media < 0xF8) {
		return p, false
	}
	if p.fat32 && p.rootEntries != 0 {
		return p, false
	}
	return p, true
}

func probeFAT(vr *io.SectionReader, boot []byte, size int64) (FSInfo, bool, error) {
	p, ok := parseFATBPB(boot)
	if !ok {
		return FSInfo{}, false, nil
	}
	info := FSInfo{Size: p.totalSectors * p.bps}
	if info.Size > size {
		info.Note = fmt.Sprintf("FAT boot sector claims %d bytes, more than the partition's %d", info.Size, size)
	}
	rootDirSectors := (p.rootEntries*32 + p.bps - 1) / p.bps
	firstData := p.reserved + p.fats*p.fatSectors + rootDirSectors
	if firstData >= p.totalSectors {
		return FSInfo{}, false, nil
	}
	clusters := (p.totalSectors - firstData) / p.spc
	// Microsoft's FAT specification: the type follows from the cluster
	// count alone.
	var bpbLabelOff, sigOff int
	switch {
	case clusters < 4085:
		info.Type = FSFAT12
		bpbLabelOff, sigOff = 0x2B, 0x26
	case clusters < 65525:
		info.Type = FSFAT16
		bpbLabelOff, sigOff = 0x2B, 0x26
	default:
		info.Type = FSFAT32
		bpbLabelOff, sigOff = 0x47, 0x42
	}
	if info.Type == FSFAT32 != p.fat32 {
		info.Note = "FAT type by cluster count disagrees with the BPB layout"
		if p.fat32 {
			bpbLabelOff, sigOff = 0x47, 0x42
		} else {
			bpbLabelOff, sigOff = 0x2B, 0x26
		}
	}
	if boot[sigOff] == 0x29 {
		info.Serial = serial32(binary.LittleEndian.Uint32(boot[sigOff+1:]))
	}
	// Windows shows the label from the root directory's volume label
	// entry; the BPB copy is a fallback ("NO NAME" means none).
	var dirOff int64
	var dirLen int64
	if p.fat32 {
		if p.rootCluster >= 2 {
			dirOff = (firstData + int64(p.rootCluster-2)*p.spc) * p.bps
			dirLen = p.spc * p.bps
		}
	} else {
		dirOff = (p.reserved + p.fats*p.fatSectors) * p.bps
		dirLen = rootDirSectors * p.bps
	}
	dirLen = min(dirLen, maxProbeRead)
	label, found := "", false
	if dirLen >= 32 && dirOff > 0 {
		dir, err := readFull(vr, dirOff, int(dirLen))
		if err != nil {
			return info, true, fmt.Errorf("read FAT root directory at volume offset %d: %w", dirOff, err)
		}
		label, found = fatDirLabel(dir)
	}
	if !found && boot[sigOff] == 0x29 {
		if l := strings.TrimRight(string(boot[bpbLabelOff:bpbLabelOff+11]), " \x00"); l != "NO NAME" {
			label = l
		}
	}
	info.Label = cp437ish(label)
	return info, true, nil
}

// fatDirLabel finds the volume label entry in a FAT directory.
func fatDirLabel(dir []byte) (string, bool) {
	for i := 0; i+32 <= len(dir); i += 32 {
		e := dir[i : i+32]
		switch {
		case e[0] == 0x00:
			return "", false
		case e[0] == 0xE5:
			continue
		case e[11] == 0x0F: // long file name part
			continue
		case e[11]&0x08 != 0 && e[11]&0x10 == 0:
			return strings.TrimRight(string(e[0:11]), " \x00"), true
		}
	}
	return "", false
}

// cp437ish keeps ASCII label bytes and replaces others by '?': FAT labels
// are in the OEM code page, which the report does not try to guess.
func cp437ish(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7E {
			b[i] = '?'
		}
	}
	return string(b)
}

func probeExFAT(vr *io.SectionReader, boot []byte, size int64) (FSInfo, error) {
	info := FSInfo{Type: FSExFAT}
	bpsShift := boot[0x6C]
	spcShift := boot[0x6D]
	if bpsShift < 9 || bpsShift > 12 || int(bpsShift)+int(spcShift) > 25 {
		info.Note = "exFAT boot sector has invalid sector or cluster size"
		return info, nil
	}
	bps := int64(1) << bpsShift
	length := binary.LittleEndian.Uint64(boot[0x48:])
	if length > 0 && length <= uint64(size/bps) {
		info.Size = int64(length) * bps
	} else {
		info.Note = fmt.Sprintf("exFAT boot sector claims %d sectors, more than the partition holds", length)
	}
	info.Serial = serial32(binary.LittleEndian.Uint32(boot[0x64:]))
	heap := int64(binary.LittleEndian.Uint32(boot[0x58:]))
	root := int64(binary.LittleEndian.Uint32(boot[0x60:]))
	cluster := bps << spcShift
	if root < 2 {
		return info, nil
	}
	dirOff := heap*bps + (root-2)*cluster
	dir, err := readFull(vr, dirOff, int(min(cluster, maxProbeRead)))
	if err != nil {
		return info, fmt.Errorf("read exFAT root directory at volume offset %d: %w", dirOff, err)
	}
	for i := 0; i+32 <= len(dir); i += 32 {
		e := dir[i : i+32]
		if e[0] == 0x00 {
			break
		}
		if e[0] == 0x83 { // volume label entry, in use
			n := int(e[1])
			if n > 11 {
				n = 11
			}
			info.Label = decodeUTF16LE(e[2 : 2+2*n])
			break
		}
	}
	return info, nil
}

func probeExt(sb []byte) FSInfo {
	compat := binary.LittleEndian.Uint32(sb[0x5C:])
	incompat := binary.LittleEndian.Uint32(sb[0x60:])
	roCompat := binary.LittleEndian.Uint32(sb[0x64:])
	info := FSInfo{Type: FSExt2}
	const (
		compatJournal   = 0x4
		incompatExtents = 0x40
		incompat64bit   = 0x80
		incompatFlexBG  = 0x200
		roHugeFile      = 0x8
		roGDTCsum       = 0x10
		roDirNlink      = 0x20
		roExtraIsize    = 0x40
		roMetadataCsum  = 0x400
	)
	switch {
	case incompat&(incompatExtents|incompat64bit|incompatFlexBG) != 0,
		roCompat&(roHugeFile|roGDTCsum|roDirNlink|roExtraIsize|roMetadataCsum) != 0:
		info.Type = FSExt4
	case compat&compatJournal != 0:
		info.Type = FSExt3
	}
	logBlock := binary.LittleEndian.Uint32(sb[0x18:])
	if logBlock <= 6 {
		blocks := uint64(binary.LittleEndian.Uint32(sb[0x04:]))
		if incompat&incompat64bit != 0 {
			blocks |= uint64(binary.LittleEndian.Uint32(sb[0x150:])) << 32
		}
		bs := uint64(1024) << logBlock
		if blocks < (1<<62)/bs {
			info.Size = int64(blocks * bs)
		}
	}
	l := sb[0x78:0x88]
	if i := bytes.IndexByte(l, 0); i >= 0 {
		l = l[:i]
	}
	info.Label = string(bytes.ToValidUTF8(l, []byte("?")))
	u := sb[0x68:0x78]
	info.Serial = fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	return info
}
