package lab

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"
)

const (
	sectorSize   = 512
	gptEntries   = 128
	gptEntrySize = 128
	// gptArraySectors is the size of one partition entry array.
	gptArraySectors = gptEntries * gptEntrySize / sectorSize
)

// GPT partition type GUIDs (in their usual text form).
const (
	TypeESP      = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	TypeMSR      = "E3C9E316-0B5C-4DB8-817D-F92DF00215AE"
	TypeBasic    = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
	TypeRecovery = "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC"
)

// GPT attribute bits Windows sets on a recovery partition: platform
// required and no drive letter.
const recoveryAttributes = 0x8000000000000001

// gptPart is one partition table entry.
type gptPart struct {
	Type       string
	GUID       [16]byte
	Name       string
	First      uint64 // first LBA
	Last       uint64 // last LBA, inclusive
	Attributes uint64
}

// guidBytes encodes a text GUID in the mixed-endian on-disk form.
func guidBytes(s string) ([16]byte, error) {
	var g [16]byte
	var raw [16]byte
	hexs := make([]byte, 0, 32)
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			hexs = append(hexs, s[i])
		}
	}
	if len(hexs) != 32 || len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("bad GUID %q", s)
	}
	for i := range raw {
		var v byte
		for _, c := range hexs[2*i : 2*i+2] {
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | (c - '0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | (c - 'a' + 10)
			case c >= 'A' && c <= 'F':
				v = v<<4 | (c - 'A' + 10)
			default:
				return g, fmt.Errorf("bad GUID %q", s)
			}
		}
		raw[i] = v
	}
	g[0], g[1], g[2], g[3] = raw[3], raw[2], raw[1], raw[0]
	g[4], g[5] = raw[5], raw[4]
	g[6], g[7] = raw[7], raw[6]
	copy(g[8:], raw[8:])
	return g, nil
}

// randomGUID returns a version 4 GUID in on-disk form.
func randomGUID() [16]byte {
	var g [16]byte
	_, _ = rand.Read(g[:]) // crypto/rand.Read never fails
	g[7] = g[7]&0x0F | 0x40
	g[8] = g[8]&0x3F | 0x80
	return g
}

// writeGPT writes a protective MBR, the primary GPT (header at LBA 1,
// entries from LBA 2) and the backup GPT (entries, then header in the last
// sector) for a disk of totalSectors sectors.
func writeGPT(w io.WriterAt, totalSectors uint64, parts []gptPart) error {
	if len(parts) > gptEntries {
		return fmt.Errorf("gpt: %d partitions, at most %d", len(parts), gptEntries)
	}
	last := totalSectors - 1
	firstUsable := uint64(2 + gptArraySectors)
	lastUsable := last - 1 - gptArraySectors
	array := make([]byte, gptEntries*gptEntrySize)
	for i, p := range parts {
		if p.First < firstUsable || p.Last > lastUsable || p.First > p.Last {
			return fmt.Errorf("gpt: partition %d (%s) at LBA %d-%d outside %d-%d", i+1, p.Name, p.First, p.Last, firstUsable, lastUsable)
		}
		t, err := guidBytes(p.Type)
		if err != nil {
			return fmt.Errorf("gpt: partition %d type: %w", i+1, err)
		}
		e := array[i*gptEntrySize : (i+1)*gptEntrySize]
		copy(e[0:], t[:])
		copy(e[16:], p.GUID[:])
		binary.LittleEndian.PutUint64(e[32:], p.First)
		binary.LittleEndian.PutUint64(e[40:], p.Last)
		binary.LittleEndian.PutUint64(e[48:], p.Attributes)
		name := utf16.Encode([]rune(p.Name))
		if len(name) > 36 {
			return fmt.Errorf("gpt: partition name %q longer than 36 UTF-16 units", p.Name)
		}
		for j, u := range name {
			binary.LittleEndian.PutUint16(e[56+2*j:], u)
		}
	}
	arrayCRC := crc32.ChecksumIEEE(array)
	disk := randomGUID()
	header := func(self, alt, arrayLBA uint64) []byte {
		h := make([]byte, sectorSize)
		copy(h, "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], self)
		binary.LittleEndian.PutUint64(h[32:], alt)
		binary.LittleEndian.PutUint64(h[40:], firstUsable)
		binary.LittleEndian.PutUint64(h[48:], lastUsable)
		copy(h[56:], disk[:])
		binary.LittleEndian.PutUint64(h[72:], arrayLBA)
		binary.LittleEndian.PutUint32(h[80:], gptEntries)
		binary.LittleEndian.PutUint32(h[84:], gptEntrySize)
		binary.LittleEndian.PutUint32(h[88:], arrayCRC)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
		return h
	}

	mbr := make([]byte, sectorSize)
	pe := mbr[446:]
	pe[1], pe[2], pe[3] = 0x00, 0x02, 0x00 // CHS of LBA 1
	pe[4] = 0xEE
	pe[5], pe[6], pe[7] = 0xFF, 0xFF, 0xFF
	binary.LittleEndian.PutUint32(pe[8:], 1)
	size := last
	if size > 0xFFFFFFFF {
		size = 0xFFFFFFFF
	}
	binary.LittleEndian.PutUint32(pe[12:], uint32(size))
	mbr[510], mbr[511] = 0x55, 0xAA

	writes := []struct {
		lba uint64
		b   []byte
	}{
		{0, mbr},
		{1, header(1, last, 2)},
		{2, array},
		{last - gptArraySectors, array},
		{last, header(last, 1, last-gptArraySectors)},
	}
	for _, wr := range writes {
		if _, err := w.WriteAt(wr.b, int64(wr.lba)*sectorSize); err != nil {
			return fmt.Errorf("gpt: writing LBA %d: %w", wr.lba, err)
		}
	}
	return nil
}
