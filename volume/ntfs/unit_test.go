package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

func TestDecodeRunlist(t *testing.T) {
	tests := []struct {
		name        string
		b           []byte
		start, last int64
		want        []run
		wantErr     bool
	}{
		{name: "one run", b: []byte{0x11, 0x04, 0x10, 0x00}, last: 3, want: []run{{0, 16, 4}}},
		{name: "negative delta", b: []byte{0x11, 0x02, 0x20, 0x11, 0x03, 0xF0, 0x00}, last: 4, want: []run{{0, 32, 2}, {2, 16, 3}}},
		{name: "sparse then data", b: []byte{0x01, 0x05, 0x11, 0x02, 0x08, 0x00}, last: 6, want: []run{{0, lcnSparse, 5}, {5, 8, 2}}},
		{name: "adjacent holes merge", b: []byte{0x01, 0x05, 0x01, 0x03, 0x00}, last: 7, want: []run{{0, lcnSparse, 8}}},
		{name: "extent starting later", b: []byte{0x21, 0x10, 0x00, 0x01, 0x00}, start: 100, last: 115, want: []run{{100, 256, 16}}},
		{name: "shorter than extent", b: []byte{0x11, 0x01, 0x10, 0x00}, last: 9, want: []run{{0, 16, 1}}},
		{name: "empty", b: []byte{0x00}, last: -1},
		{name: "unterminated", b: []byte{0x11, 0x04, 0x10}, last: 3, wantErr: true},
		{name: "zero length", b: []byte{0x11, 0x00, 0x10, 0x00}, last: 3, wantErr: true},
		{name: "negative length", b: []byte{0x11, 0x80, 0x10, 0x00}, last: 3, wantErr: true},
		{name: "beyond last VCN", b: []byte{0x11, 0x08, 0x10, 0x00}, last: 3, wantErr: true},
		{name: "negative LCN", b: []byte{0x11, 0x02, 0xF0, 0x00}, last: 1, wantErr: true},
		{name: "beyond volume", b: []byte{0x21, 0x02, 0x00, 0x10, 0x00}, last: 1, wantErr: true},
		{name: "length field too wide", b: []byte{0x19, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x00}, last: 1, wantErr: true},
		{name: "bad VCN range", b: []byte{0x00}, start: 5, last: 2, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeRunlist(tc.b, tc.start, tc.last, 4096)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, errCorrupt) {
				t.Errorf("error %v does not wrap errCorrupt", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("runs = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecompressLZNT1(t *testing.T) {
	stored := append([]byte{0xFF, 0x3F}, bytes.Repeat([]byte("0123456789abcdef"), 256)...)
	abc := []byte{0x05, 0xB0, 0x08, 'a', 'b', 'c', 0x03, 0x20} // "abc" + copy(len 6, back 3)
	tests := []struct {
		name    string
		src     []byte
		want    []byte // prefix of the output; the rest must be zero
		wantErr bool
	}{
		{name: "stored chunk", src: stored, want: stored[2:]},
		{name: "back-reference overlapping itself", src: abc, want: []byte("abcabcabc")},
		{name: "end marker stops", src: append(append([]byte{}, abc...), 0, 0, 0xFF, 0x3F, 'x'), want: []byte("abcabcabc")},
		{name: "second chunk starts at 4096", src: append(append([]byte{}, abc...), abc...),
			want: append(append([]byte("abcabcabc"), make([]byte, 4096-9)...), "abcabcabc"...)},
		{name: "literals only", src: []byte{0x03, 0xB0, 0x00, 'x', 'y', 'z'}, want: []byte("xyz")},
		{name: "reference before start", src: []byte{0x03, 0xB0, 0x01, 0x00, 0x10}, wantErr: true},
		{name: "distance too far", src: []byte{0x05, 0xB0, 0x02, 'a', 0x00, 0x30}, wantErr: true},
		{name: "chunk overruns input", src: []byte{0x10, 0xB0, 0x00, 'a'}, wantErr: true},
		{name: "truncated token", src: []byte{0x02, 0xB0, 0x02, 'a', 0x03}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, 16384)
			err := decompressLZNT1(dst, tc.src)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if !bytes.Equal(dst[:len(tc.want)], tc.want) || !bytes.Equal(dst[len(tc.want):], make([]byte, len(dst)-len(tc.want))) {
				t.Errorf("output %q…, want %q then zeros", dst[:min(len(dst), len(tc.want)+8)], tc.want)
			}
		})
	}
}

func TestParseBoot(t *testing.T) {
	mod := func(f func(b []byte)) []byte {
		b := validBoot()
		f(b)
		return b
	}
	tests := []struct {
		name    string
		b       []byte
		rec     int64
		cluster int64
		wantErr error
	}{
		{name: "valid", b: validBoot(), rec: 1024, cluster: 4096},
		{name: "4 KiB records as clusters", b: mod(func(b []byte) { b[0x40] = 1 }), rec: 4096, cluster: 4096},
		{name: "64 KiB clusters", b: mod(func(b []byte) { b[0x0D] = 128; binary.LittleEndian.PutUint64(b[0x28:], 1<<24) }), rec: 1024, cluster: 65536},
		{name: "2 MiB clusters (encoded)", b: mod(func(b []byte) { b[0x0D] = 0xF4; b[0x44] = 0xF4; binary.LittleEndian.PutUint64(b[0x28:], 1<<30) }), rec: 1024, cluster: 2 << 20},
		{name: "BitLocker", b: mod(func(b []byte) { copy(b[3:], "-FVE-FS-") }), wantErr: ErrBitLocker},
		{name: "exFAT", b: mod(func(b []byte) { copy(b[3:], "EXFAT   ") }), wantErr: ErrNotNTFS},
		{name: "no signature", b: mod(func(b []byte) { b[510] = 0 }), wantErr: ErrNotNTFS},
		{name: "sector size 100", b: mod(func(b []byte) { b[0x0B] = 100; b[0x0C] = 0 }), wantErr: ErrNotNTFS},
		{name: "MFT outside volume", b: mod(func(b []byte) { binary.LittleEndian.PutUint64(b[0x30:], 1<<40) }), wantErr: ErrNotNTFS},
		{name: "record size 256", b: mod(func(b []byte) { b[0x40] = 0xF8 }), wantErr: ErrNotNTFS},
		{name: "record size 2^100", b: mod(func(b []byte) { b[0x40] = 0x9C }), wantErr: ErrNotNTFS},
		{name: "short", b: validBoot()[:200], wantErr: ErrNotNTFS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bs, err := parseBoot(tc.b)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if bs.recordSize != tc.rec || bs.clusterSize != tc.cluster {
				t.Errorf("record %d cluster %d, want %d %d", bs.recordSize, bs.clusterSize, tc.rec, tc.cluster)
			}
		})
	}
}

func TestApplyFixups(t *testing.T) {
	mk := func() []byte {
		b := make([]byte, 1024)
		copy(b, "FILE")
		binary.LittleEndian.PutUint16(b[4:], 0x30)
		binary.LittleEndian.PutUint16(b[6:], 3)
		binary.LittleEndian.PutUint16(b[0x30:], 0x0007) // USN
		binary.LittleEndian.PutUint16(b[0x32:], 0xAAAA) // real end of sector 0
		binary.LittleEndian.PutUint16(b[0x34:], 0xBBBB) // real end of sector 1
		binary.LittleEndian.PutUint16(b[510:], 0x0007)  // USN in place
		binary.LittleEndian.PutUint16(b[1022:], 0x0007) // USN in place
		return b
	}
	b := mk()
	if err := applyFixups(b, "FILE"); err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint16(b[510:]) != 0xAAAA || binary.LittleEndian.Uint16(b[1022:]) != 0xBBBB {
		t.Errorf("fixups not applied")
	}
	for name, f := range map[string]func(b []byte){
		"torn sector":   func(b []byte) { b[1022] = 9 },
		"wrong magic":   func(b []byte) { copy(b, "BAAD") },
		"count wrong":   func(b []byte) { b[6] = 2 },
		"offset beyond": func(b []byte) { binary.LittleEndian.PutUint16(b[4:], 600) },
	} {
		b := mk()
		f(b)
		if err := applyFixups(b, "FILE"); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: err = %v, want corruption", name, err)
		}
	}
}

// TestIndexSDS lays out $SDS as Windows does — 256 KiB blocks each
// followed by its mirror — with entries in the first and third block and
// different bytes in the mirror, and checks every id resolves to its
// primary copy.
func TestIndexSDS(t *testing.T) {
	sds := make([]byte, 3*sdsBlock+1000)
	put := func(pos int, id uint32, sd []byte) int {
		binary.LittleEndian.PutUint32(sds[pos:], 0x1234) // hash (not checked)
		binary.LittleEndian.PutUint32(sds[pos+4:], id)
		binary.LittleEndian.PutUint64(sds[pos+8:], uint64(pos))
		binary.LittleEndian.PutUint32(sds[pos+16:], uint32(20+len(sd)))
		copy(sds[pos+20:], sd)
		return pos + (20+len(sd)+15)&^15
	}
	want := map[uint32][]byte{}
	pos := 0
	for id := uint32(0x100); id < 0x110; id++ {
		want[id] = makeSD(int(id))
		pos = put(pos, id, want[id])
	}
	// The mirror block: same ids, other bytes; must be ignored.
	mpos := sdsBlock
	for id := uint32(0x100); id < 0x104; id++ {
		mpos = put(mpos, id, []byte("mirror copy"))
	}
	pos = 2 * sdsBlock
	for id := uint32(0x200); id < 0x204; id++ {
		want[id] = makeSD(int(id))
		pos = put(pos, id, want[id])
	}
	d := &streamDesc{v: &Volume{clusterSize: 4096}, isRes: true, resident: sds, size: int64(len(sds)), initSize: int64(len(sds))}
	idx, err := indexSDS(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != len(want) {
		t.Errorf("%d ids indexed, want %d", len(idx), len(want))
	}
	for id, sd := range want {
		loc, ok := idx[id]
		if !ok {
			t.Errorf("id 0x%x missing", id)
			continue
		}
		if got := sds[loc.off : loc.off+loc.length]; !bytes.Equal(got, sd) {
			t.Errorf("id 0x%x: %x, want %x", id, got, sd)
		}
	}
}
