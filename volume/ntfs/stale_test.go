package ntfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestFreedIndexBlocksIgnored reproduces what deleting many files leaves
// behind: INDX blocks that are free in the $I30 $BITMAP and no longer
// referenced, but still hold the old entries. The fixture cuts all but
// the last subtree from a 3,000-entry directory's $INDEX_ROOT and frees
// the unreachable blocks. A reader that scans allocation blocks lists
// ghosts; ours, walking the tree, must list exactly the reachable entries,
// and match wimlib.
func TestFreedIndexBlocksIgnored(t *testing.T) {
	needTools(t, "wimcapture", "wimapply", "wimdir")
	tree := t.TempDir()
	for i := 0; i < 3000; i++ {
		writeFile(t, tree, fmt.Sprintf("big/file_%04d.txt", i), []byte(fmt.Sprint(i)))
	}
	img := imageFromTree(t, tree, 64)
	v := openImage(t, img, Options{})
	_, ents := walkRecords(t, v)
	num := ents["/big"].Handle.(*handle).num
	f, err := v.loadFile(num)
	if err != nil {
		t.Fatal(err)
	}
	all, err := v.readDirIndex(f)
	if err != nil {
		t.Fatal(err)
	}
	alloc, err := v.newStreamDesc("test", f.attrsOf(atIndexAllocation, "$I30"))
	if err != nil {
		t.Fatal(err)
	}
	bsize := int64(binary.LittleEndian.Uint32(f.first(atIndexRoot, "$I30").value[8:]))
	if bm := f.first(atBitmap, "$I30"); bm == nil || !bm.resident {
		t.Fatal("fixture assumption: $I30 $BITMAP resident in the base record")
	}

	// Find the first node on the path of last entries that has more than
	// one entry, and cut it down to its last entry.
	cut := func(b []byte, h int) (next int64, done bool) {
		first := h + int(binary.LittleEndian.Uint32(b[h:]))
		for off := first; ; {
			l := int(binary.LittleEndian.Uint16(b[off+8:]))
			flags := binary.LittleEndian.Uint16(b[off+12:])
			if flags&ieLast == 0 {
				off += l
				continue
			}
			if flags&ieSubnode == 0 {
				t.Fatal("fixture assumption: last entries have subnodes")
			}
			next = int64(binary.LittleEndian.Uint64(b[off+l-8:]))
			if off == first {
				return next, false
			}
			copy(b[first:], append([]byte(nil), b[off:off+l]...))
			binary.LittleEndian.PutUint32(b[h+4:], uint32(first-h+l))
			return next, true
		}
	}
	var next int64
	done := false
	patchRecord(t, img, num, func(b []byte) { next, done = cut(b, attrValueOffset(t, b, atIndexRoot)+16) })
	for depth := 0; !done; depth++ {
		if depth > 10 {
			t.Fatal("fixture assumption: no node with several subtrees")
		}
		i := alloc.findRun(next, 0)
		r := alloc.runs[i]
		patchBlock(t, img, r.lcn*v.clusterSize+(next-r.vcn)*v.clusterSize, int(bsize), "INDX", func(b []byte) {
			next, done = cut(b, 0x18)
		})
	}
	// Entries still reachable from the patched tree.
	v2 := openImage(t, img, Options{})
	f2, err := v2.loadFile(num)
	if err != nil {
		t.Fatal(err)
	}
	reach := map[int64]bool{}
	want := map[string]bool{}
	var queue []int64
	addName := func(e []byte) error {
		ie, err := i30Entry(e)
		want[ie.fn.name] = true
		return err
	}
	addSub := func(c int64) { queue = append(queue, c) }
	parseIndexNode(f2.first(atIndexRoot, "$I30").value, 16, addName, addSub)
	blk := make([]byte, bsize)
	for len(queue) > 0 {
		vcn := queue[0]
		queue = queue[1:]
		reach[vcn] = true
		if _, err := alloc.readAt(blk, vcn*v.clusterSize, nil); err != nil {
			t.Fatal(err)
		}
		if err := applyFixups(blk, "INDX"); err != nil {
			t.Fatal(err)
		}
		parseIndexNode(blk, 0x18, addName, addSub)
	}
	// DOS-only names are not listed; the fixture has none.
	freed := 0
	patchRecord(t, img, num, func(b []byte) {
		p := attrValueOffset(t, b, atBitmap)
		for vcn := int64(0); vcn*v.clusterSize < alloc.size; vcn += bsize / v.clusterSize {
			bit := vcn * v.clusterSize / bsize
			if !reach[vcn] && b[p+int(bit/8)]&(1<<(bit%8)) != 0 {
				b[p+int(bit/8)] &^= 1 << (bit % 8)
				freed++
			}
		}
	})
	if freed == 0 || len(want) >= 3000 {
		t.Fatalf("fixture did not free blocks (freed %d, %d reachable)", freed, len(want))
	}
	_, got, _ := compareImage(t, img)
	listed := 0
	for p := range got {
		if name, ok := strings.CutPrefix(p, "/big/"); ok {
			listed++
			if !want[name] {
				t.Errorf("ghost entry %s from a freed index block", p)
			}
		}
	}
	if listed != len(want) {
		t.Errorf("listed %d entries, %d reachable", listed, len(want))
	}
	t.Logf("%d of %d entries reachable after freeing %d INDX blocks; %d listed", len(want), len(all), freed, listed)
}

// TestStaleEntry makes a directory entry's sequence number disagree with
// its MFT record (the record was reused): an error on a clean volume, a
// warning and a skipped entry on a dirty one opened with AllowDirty.
func TestStaleEntry(t *testing.T) {
	needTools(t, "wimcapture", "wimapply")
	tree := t.TempDir()
	writeFile(t, tree, "keep.txt", []byte("keep"))
	writeFile(t, tree, "stale.txt", []byte("stale"))
	img := imageFromTree(t, tree, 16)
	v := openImage(t, img, Options{})
	_, ents := walkRecords(t, v)
	patchRecord(t, img, ents["/stale.txt"].Handle.(*handle).num, func(b []byte) {
		binary.LittleEndian.PutUint16(b[0x10:], binary.LittleEndian.Uint16(b[0x10:])+1)
	})
	v = openImage(t, img, Options{})
	root, err := v.Root()
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.ReadDir(root)
	if err == nil || !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("ReadDir error %v, want a stale-entry error", err)
	}
	patchRecord(t, img, recVolume, func(b []byte) {
		p := attrValueOffset(t, b, atVolumeInformation)
		b[p+10] |= 1
	})
	v = openImage(t, img, Options{AllowDirty: true})
	root, _ = v.Root()
	kids, err := v.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(kids) != 1 || kids[0].Name != "keep.txt" || len(v.Warnings()) != 1 {
		t.Errorf("dirty volume: %d entries, warnings %q; want keep.txt only and one warning", len(kids), v.Warnings())
	}
}
