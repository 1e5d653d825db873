package lab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// memDisk is an in-memory io.ReaderAt/io.WriterAt.
type memDisk []byte

func (m memDisk) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > int64(len(m)) {
		return 0, errors.New("read out of range")
	}
	return copy(b, m[off:]), nil
}

func (m memDisk) WriteAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > int64(len(m)) {
		return 0, errors.New("write out of range")
	}
	return copy(m[off:], b), nil
}

// tinyFAT32 builds a small FAT32-shaped volume: one sector per cluster,
// a root directory (cluster 2) holding directory "EFI" (cluster 3) whose
// ".." wrongly names cluster 2, as go-diskfs writes it.
func tinyFAT32() []byte {
	const total, reserved, fatSize = 2048, 32, 16
	v := make([]byte, total*512)
	bs := v[:512]
	copy(bs[3:], "godiskfs")
	binary.LittleEndian.PutUint16(bs[0x0B:], 512)
	bs[0x0D] = 1
	binary.LittleEndian.PutUint16(bs[0x0E:], reserved)
	bs[0x10] = 2
	binary.LittleEndian.PutUint32(bs[0x20:], total)
	binary.LittleEndian.PutUint32(bs[0x24:], fatSize)
	binary.LittleEndian.PutUint32(bs[0x2C:], 2)
	binary.LittleEndian.PutUint16(bs[0x30:], 1)
	binary.LittleEndian.PutUint16(bs[0x32:], 6)
	copy(bs[0x52:], "FAT32   ")
	bs[510], bs[511] = 0x55, 0xAA
	copy(v[512:], "RRaA")
	fat := v[reserved*512:]
	for c, val := range []uint32{0x0FFFFFF8, 0x0FFFFFFF, 0x0FFFFFFF, 0x0FFFFFFF} {
		binary.LittleEndian.PutUint32(fat[4*c:], val)
	}
	data := (reserved + 2*fatSize) * 512
	root := v[data:]
	copy(root, "EFI        ")
	root[11] = 0x10
	binary.LittleEndian.PutUint16(root[26:], 3)
	efi := v[data+512:]
	copy(efi, ".          ")
	copy(efi[32:], "..         ")
	binary.LittleEndian.PutUint16(efi[32+26:], 2)
	return v
}

func TestFixFAT32(t *testing.T) {
	v := tinyFAT32()
	d := memDisk(v)
	if err := fixFAT32(d, d, 0, int64(len(v)), 2048); err != nil {
		t.Fatal(err)
	}
	data := (32 + 2*16) * 512
	tests := []struct {
		what string
		got  uint32
		want uint32
	}{
		{"hidden sectors", binary.LittleEndian.Uint32(v[0x1C:]), 2048},
		{"heads", uint32(binary.LittleEndian.Uint16(v[0x1A:])), 255},
		{"sectors per track", uint32(binary.LittleEndian.Uint16(v[0x18:])), 63},
		{"'..' cluster", uint32(binary.LittleEndian.Uint16(v[data+512+32+26:])), 0},
		{"free clusters", binary.LittleEndian.Uint32(v[512+0x1E8:]), 2048 - 64 - 2},
		{"next free", binary.LittleEndian.Uint32(v[512+0x1EC:]), 4},
		{"backup hidden sectors", binary.LittleEndian.Uint32(v[6*512+0x1C:]), 2048},
		{"backup free clusters", binary.LittleEndian.Uint32(v[7*512+0x1E8:]), 2048 - 64 - 2},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.what, tc.got, tc.want)
		}
	}
	bad := tinyFAT32()
	binary.LittleEndian.PutUint32(bad[0x20:], 1<<30) // larger than the volume
	if err := fixFAT32(memDisk(bad), memDisk(bad), 0, int64(len(bad)), 1); err == nil {
		t.Error("a FAT32 larger than its partition was accepted")
	}
}

// FuzzFixFAT32 feeds damaged boot sectors and directories: errors are fine,
// panics, hangs and huge allocations are not.
func FuzzFixFAT32(f *testing.F) {
	seed := tinyFAT32()
	f.Add(seed[:4096], uint16(0))
	f.Add(seed[:512], uint16(3))
	f.Fuzz(func(t *testing.T, head []byte, root uint16) {
		v := tinyFAT32()
		copy(v, head[:min(len(head), 8192)])
		if root != 0 {
			binary.LittleEndian.PutUint32(v[0x2C:], uint32(root))
		}
		d := memDisk(v)
		if err := fixFAT32(d, d, 0, int64(len(v)), 7); err == nil {
			if h := binary.LittleEndian.Uint32(v[0x1C:]); h != 7 {
				t.Fatalf("fixFAT32 succeeded but hidden sectors = %d", h)
			}
			if !bytes.Equal(v[:512], v[binary.LittleEndian.Uint16(v[0x32:])*512:][:512]) {
				t.Fatal("fixFAT32 succeeded but the backup boot sector differs")
			}
		}
	})
}
