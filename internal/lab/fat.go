package lab

import (
	"encoding/binary"
	"fmt"
	"io"
)

// fixFAT32 completes the FAT32 file system go-diskfs wrote at off so that
// fsck.fat finds nothing to fix and Windows sees a partition's usual boot
// sector: hidden sectors = the partition's first LBA, 255/63 geometry,
// ".." of top-level directories pointing at cluster 0 (the root), and the
// FSInfo free-cluster count filled in.
func fixFAT32(disk io.ReaderAt, w io.WriterAt, off, size int64, firstLBA uint64) error {
	bs := make([]byte, sectorSize)
	if _, err := disk.ReadAt(bs, off); err != nil {
		return fmt.Errorf("reading FAT32 boot sector: %w", err)
	}
	bps := int64(binary.LittleEndian.Uint16(bs[0x0B:]))
	spc := int64(bs[0x0D])
	reserved := int64(binary.LittleEndian.Uint16(bs[0x0E:]))
	nfats := int64(bs[0x10])
	total := int64(binary.LittleEndian.Uint32(bs[0x20:]))
	fatSize := int64(binary.LittleEndian.Uint32(bs[0x24:]))
	root := binary.LittleEndian.Uint32(bs[0x2C:])
	fsinfo := int64(binary.LittleEndian.Uint16(bs[0x30:]))
	backup := int64(binary.LittleEndian.Uint16(bs[0x32:]))
	if bps != sectorSize || spc == 0 || nfats == 0 || fatSize == 0 || string(bs[0x52:0x57]) != "FAT32" {
		return fmt.Errorf("unexpected FAT32 boot sector (bytes/sector %d, sectors/cluster %d, FATs %d)", bps, spc, nfats)
	}
	dataStart := reserved + nfats*fatSize
	if total*bps > size || dataStart >= total || fsinfo == 0 || fsinfo >= reserved || backup == 0 || backup+fsinfo >= reserved || root < 2 {
		return fmt.Errorf("FAT32 layout does not fit its %d-byte partition (total %d sectors, data at %d, FSInfo %d, backup %d, reserved %d, root cluster %d)",
			size, total, dataStart, fsinfo, backup, reserved, root)
	}
	clusters := (total - dataStart) / spc
	if clusters+2 > fatSize*bps/4 {
		return fmt.Errorf("FAT32 has %d clusters but a FAT of %d entries", clusters, fatSize*bps/4)
	}
	copy(bs[3:11], "MSWIN4.1")
	binary.LittleEndian.PutUint16(bs[0x18:], 63)
	binary.LittleEndian.PutUint16(bs[0x1A:], 255)
	binary.LittleEndian.PutUint32(bs[0x1C:], uint32(firstLBA))
	for _, s := range []int64{0, backup} {
		if _, err := w.WriteAt(bs, off+s*bps); err != nil {
			return fmt.Errorf("writing FAT32 boot sector: %w", err)
		}
	}

	fat := make([]byte, fatSize*bps)
	if _, err := disk.ReadAt(fat, off+reserved*bps); err != nil {
		return fmt.Errorf("reading the FAT: %w", err)
	}
	clusterSize := spc * bps
	clusterOff := func(c uint32) int64 { return off + (dataStart+(int64(c)-2)*spc)*bps }
	next := func(c uint32) uint32 { return binary.LittleEndian.Uint32(fat[4*int64(c):]) & 0x0FFFFFFF }

	// Top-level directories: their ".." must say cluster 0.
	buf := make([]byte, clusterSize)
scan:
	for c, n := root, 0; c >= 2 && c < 0x0FFFFFF8 && int64(c) < clusters+2; c, n = next(c), n+1 {
		if n > int(clusters) {
			return fmt.Errorf("FAT32 root directory cluster chain loops")
		}
		if _, err := disk.ReadAt(buf, clusterOff(c)); err != nil {
			return fmt.Errorf("reading the root directory: %w", err)
		}
		for e := 0; e+32 <= len(buf); e += 32 {
			d := buf[e : e+32]
			if d[0] == 0 {
				break scan
			}
			if d[0] == 0xE5 || d[11] == 0x0F || d[11]&0x10 == 0 || d[0] == '.' {
				continue
			}
			sub := uint32(binary.LittleEndian.Uint16(d[20:]))<<16 | uint32(binary.LittleEndian.Uint16(d[26:]))
			if sub < 2 || int64(sub) >= clusters+2 {
				continue
			}
			dots := make([]byte, 64)
			if _, err := disk.ReadAt(dots, clusterOff(sub)); err != nil {
				return fmt.Errorf("reading a directory: %w", err)
			}
			if string(dots[32:43]) == "..         " {
				clear(dots[32+20 : 32+22])
				clear(dots[32+26 : 32+28])
				if _, err := w.WriteAt(dots[32:64], clusterOff(sub)+32); err != nil {
					return fmt.Errorf("writing a directory: %w", err)
				}
			}
		}
	}

	// FSInfo: free clusters and the next free hint.
	free, hint := uint32(0), uint32(0xFFFFFFFF)
	for c := uint32(2); int64(c) < clusters+2; c++ {
		if next(c) == 0 {
			free++
			if hint == 0xFFFFFFFF {
				hint = c
			}
		}
	}
	fi := make([]byte, sectorSize)
	if _, err := disk.ReadAt(fi, off+fsinfo*bps); err != nil {
		return fmt.Errorf("reading FSInfo: %w", err)
	}
	if string(fi[0:4]) != "RRaA" {
		return fmt.Errorf("FAT32 FSInfo sector has no signature")
	}
	binary.LittleEndian.PutUint32(fi[0x1E8:], free)
	binary.LittleEndian.PutUint32(fi[0x1EC:], hint)
	for _, s := range []int64{fsinfo, backup + fsinfo} {
		if _, err := w.WriteAt(fi, off+s*bps); err != nil {
			return fmt.Errorf("writing FSInfo: %w", err)
		}
	}
	return nil
}
