package ntfs

import (
	"encoding/binary"
	"fmt"
)

// bootSector holds the geometry read from the NTFS boot sector.
type bootSector struct {
	bytesPerSector int64
	clusterSize    int64
	totalSectors   int64
	mftLCN         int64
	recordSize     int64
	indexSize      int64
	serial         uint64
}

// parseBoot validates and decodes an NTFS boot sector (at least 512 bytes).
func parseBoot(b []byte) (*bootSector, error) {
	if len(b) < 512 {
		return nil, fmt.Errorf("boot sector: %w: only %d bytes", ErrNotNTFS, len(b))
	}
	switch string(b[3:11]) {
	case "NTFS    ":
	case "-FVE-FS-":
		return nil, fmt.Errorf("boot sector OEM ID %q: %w", b[3:11], ErrBitLocker)
	default:
		return nil, fmt.Errorf("boot sector OEM ID %q: %w", b[3:11], ErrNotNTFS)
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return nil, fmt.Errorf("boot sector: %w: missing 0x55AA signature", ErrNotNTFS)
	}
	bs := &bootSector{bytesPerSector: int64(binary.LittleEndian.Uint16(b[0x0B:]))}
	if bs.bytesPerSector < 256 || bs.bytesPerSector > 4096 || bs.bytesPerSector&(bs.bytesPerSector-1) != 0 {
		return nil, fmt.Errorf("boot sector: %w: bytes per sector %d invalid", ErrNotNTFS, bs.bytesPerSector)
	}
	spc := int64(b[0x0D])
	switch {
	case spc == 0:
		return nil, fmt.Errorf("boot sector: %w: sectors per cluster is 0", ErrNotNTFS)
	case spc > 0x80:
		if 256-spc > 12 {
			return nil, fmt.Errorf("boot sector: %w: sectors per cluster 2^%d too large", ErrNotNTFS, 256-spc)
		}
		spc = 1 << (256 - spc)
	case spc&(spc-1) != 0:
		return nil, fmt.Errorf("boot sector: %w: sectors per cluster %d not a power of two", ErrNotNTFS, spc)
	}
	bs.clusterSize = spc * bs.bytesPerSector
	if bs.clusterSize > 2<<20 {
		return nil, fmt.Errorf("boot sector: %w: cluster size %d too large", ErrNotNTFS, bs.clusterSize)
	}
	bs.totalSectors = int64(binary.LittleEndian.Uint64(b[0x28:]))
	bs.mftLCN = int64(binary.LittleEndian.Uint64(b[0x30:]))
	if bs.totalSectors <= 0 || bs.totalSectors > maxVCN {
		return nil, fmt.Errorf("boot sector: %w: total sectors %d invalid", ErrNotNTFS, bs.totalSectors)
	}
	clusters := bs.totalSectors * bs.bytesPerSector / bs.clusterSize
	if bs.mftLCN <= 0 || bs.mftLCN >= clusters {
		return nil, fmt.Errorf("boot sector: %w: $MFT cluster %d outside the volume (%d clusters)", ErrNotNTFS, bs.mftLCN, clusters)
	}
	var err error
	if bs.recordSize, err = sizeField(int8(b[0x40]), bs.clusterSize); err != nil {
		return nil, fmt.Errorf("boot sector: %w: MFT record size: %v", ErrNotNTFS, err)
	}
	if bs.indexSize, err = sizeField(int8(b[0x44]), bs.clusterSize); err != nil {
		return nil, fmt.Errorf("boot sector: %w: index block size: %v", ErrNotNTFS, err)
	}
	bs.serial = binary.LittleEndian.Uint64(b[0x48:])
	return bs, nil
}

// sizeField decodes the "clusters per record" encoding: positive values
// count clusters, negative values n mean 2^-n bytes. The result must be a
// power of two between 512 bytes and 64 KiB.
func sizeField(v int8, clusterSize int64) (int64, error) {
	var s int64
	if v > 0 {
		s = int64(v) * clusterSize
	} else {
		if -int(v) > 16 {
			return 0, fmt.Errorf("encoded size %d out of range", v)
		}
		s = 1 << (-int(v))
	}
	if s < 512 || s > 65536 || s&(s-1) != 0 {
		return 0, fmt.Errorf("size %d bytes not a power of two between 512 and 65536", s)
	}
	return s, nil
}
