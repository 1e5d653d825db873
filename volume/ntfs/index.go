package ntfs

import (
	"encoding/binary"
	"fmt"
)

// indexEntry is one entry of a directory ($I30) index.
type indexEntry struct {
	ref uint64 // MFT reference: record number | sequence << 48
	fn  fileName
}

const (
	ieSubnode = 0x01
	ieLast    = 0x02
)

// parseIndexNode decodes the index node whose INDEX_HEADER starts at
// hdrOff in b, calling entry with each (non-terminal) entry's bytes and sub
// with each child VCN. The key of an entry e is e[16:16+keyLength].
func parseIndexNode(b []byte, hdrOff int, entry func(e []byte) error, sub func(int64)) error {
	if hdrOff+16 > len(b) {
		return corruptf("index header truncated")
	}
	first := hdrOff + int(binary.LittleEndian.Uint32(b[hdrOff:]))
	end := hdrOff + int(binary.LittleEndian.Uint32(b[hdrOff+4:]))
	if end > len(b) || end < hdrOff || first < hdrOff+16 || first > end {
		return corruptf("index header (entries %d..%d) out of bounds", first, end)
	}
	for off := first; ; {
		if off+16 > end {
			return corruptf("index entries not terminated by a last entry")
		}
		l := int(binary.LittleEndian.Uint16(b[off+8:]))
		kl := int(binary.LittleEndian.Uint16(b[off+10:]))
		flags := binary.LittleEndian.Uint16(b[off+12:])
		if l < 16 || l&7 != 0 || l > end-off {
			return corruptf("index entry at offset %d has bad length %d", off, l)
		}
		if flags&ieSubnode != 0 {
			if l < 24 {
				return corruptf("index entry at offset %d too short for a subnode pointer", off)
			}
			vcn := int64(binary.LittleEndian.Uint64(b[off+l-8:]))
			if vcn < 0 || vcn > maxVCN {
				return corruptf("index entry at offset %d: subnode VCN %d invalid", off, vcn)
			}
			sub(vcn)
		}
		if flags&ieLast != 0 {
			return nil
		}
		if 16+kl > l {
			return corruptf("index entry at offset %d: key length %d exceeds entry", off, kl)
		}
		if err := entry(b[off : off+l]); err != nil {
			return fmt.Errorf("index entry at offset %d: %w", off, err)
		}
		off += l
	}
}

// maxBitmapSize bounds the $I30 $BITMAP (one bit per index block).
const maxBitmapSize = 16 << 20

// i30Entry decodes a directory index entry.
func i30Entry(e []byte) (indexEntry, error) {
	kl := int(binary.LittleEndian.Uint16(e[10:]))
	fn, err := parseFileName(e[16 : 16+kl])
	if err != nil {
		return indexEntry{}, err
	}
	return indexEntry{ref: binary.LittleEndian.Uint64(e), fn: fn}, nil
}

// readDirIndex returns every entry of directory f's $I30 index.
func (v *Volume) readDirIndex(f *file) ([]indexEntry, error) {
	var out []indexEntry
	err := v.readIndex(f, "$I30", func(e []byte) error {
		ie, err := i30Entry(e)
		if err == nil {
			out = append(out, ie)
		}
		return err
	})
	return out, err
}

// readIndex calls add for every entry of f's index name, walking the B+
// tree from $INDEX_ROOT through the INDX blocks it points to. Blocks are
// visited once each, and only when marked in use in the index's $BITMAP,
// so freed blocks never yield stale entries and loops cannot hang.
func (v *Volume) readIndex(f *file, name string, add func(e []byte) error) error {
	where := fmt.Sprintf("MFT record %d index %s", f.num, name)
	root := f.first(atIndexRoot, name)
	if root == nil || !root.resident || len(root.value) < 32 {
		return fmt.Errorf("%s: %w", where, corruptf("directory has no valid $INDEX_ROOT"))
	}
	bsize := int64(binary.LittleEndian.Uint32(root.value[8:]))
	var queue []int64
	sub := func(vcn int64) { queue = append(queue, vcn) }
	if err := parseIndexNode(root.value, 16, add, sub); err != nil {
		return fmt.Errorf("%s $INDEX_ROOT: %w", where, err)
	}
	if len(queue) == 0 {
		return nil
	}
	if bsize < 512 || bsize > 65536 || bsize&(bsize-1) != 0 {
		return fmt.Errorf("%s: %w", where, corruptf("index block size %d invalid", bsize))
	}
	exts := f.attrsOf(atIndexAllocation, name)
	if len(exts) == 0 {
		return fmt.Errorf("%s: %w", where, corruptf("index has subnodes but no $INDEX_ALLOCATION"))
	}
	alloc, err := v.newStreamDesc(where+" $INDEX_ALLOCATION", exts)
	if err != nil {
		return err
	}
	var bitmap []byte
	if bm := f.attrsOf(atBitmap, name); len(bm) > 0 {
		bd, err := v.newStreamDesc(where+" $BITMAP", bm)
		if err != nil {
			return err
		}
		if bitmap, err = bd.readAll(maxBitmapSize); err != nil {
			return err
		}
	}
	vcnUnit := v.clusterSize
	if bsize < v.clusterSize {
		vcnUnit = 512
	}
	visited := make(map[int64]bool)
	block := make([]byte, bsize)
	st := alloc.open()
	for len(queue) > 0 {
		vcn := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if visited[vcn] {
			return fmt.Errorf("%s: %w", where, corruptf("index block VCN %d referenced twice (loop)", vcn))
		}
		visited[vcn] = true
		off := vcn * vcnUnit
		if off/vcnUnit != vcn || off+bsize > alloc.size {
			return fmt.Errorf("%s: %w", where, corruptf("index block VCN %d beyond $INDEX_ALLOCATION (%d bytes)", vcn, alloc.size))
		}
		bit := off / bsize
		if bitmap != nil && (bit/8 >= int64(len(bitmap)) || bitmap[bit/8]&(1<<(bit%8)) == 0) {
			return fmt.Errorf("%s: %w", where, corruptf("index block VCN %d is referenced but marked free in $BITMAP", vcn))
		}
		if _, err := alloc.readAt(block, off, st); err != nil {
			return err
		}
		if err := applyFixups(block, "INDX"); err != nil {
			return fmt.Errorf("%s: index block VCN %d: %w", where, vcn, err)
		}
		if got := int64(binary.LittleEndian.Uint64(block[0x10:])); got != vcn {
			return fmt.Errorf("%s: %w", where, corruptf("index block at VCN %d says it is VCN %d", vcn, got))
		}
		if err := parseIndexNode(block, 0x18, add, sub); err != nil {
			return fmt.Errorf("%s: index block VCN %d: %w", where, vcn, err)
		}
	}
	return nil
}
