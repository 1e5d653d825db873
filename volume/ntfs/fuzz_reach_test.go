package ntfs

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/wdscapture/wdscapture/volume"
)

// reachBase is a real NTFS image made for the fuzz targets that damage
// structures only a whole volume reaches: $Secure:$SDS and a non-resident
// $ATTRIBUTE_LIST. It holds
//
//   - links/target and 150 hard links to it in links2/ (150 $FILE_NAME
//     attributes spread over extension records: an attribute list too long
//     to stay resident),
//   - files and directories elsewhere, three of them with descriptors of
//     their own in $SDS.
var reachBase struct {
	once sync.Once
	err  error
	img  []byte
	// sdsOff and sdsLen are where $SDS's first run lies in img.
	sdsOff, sdsLen int64
	// listOff and listLen are where the target's attribute list lies.
	listOff, listLen int64
	// entries describes every path of the undamaged volume.
	entries map[string]string
}

func reachImage(f *testing.F) {
	needTools(f, "mkntfs", "wimcapture", "wimapply", "ntfssecaudit")
	reachBase.once.Do(func() {
		tree := f.TempDir()
		writeFile(f, tree, "links/target", bytes.Repeat([]byte("linked "), 100))
		for i := range 150 {
			if err := os.MkdirAll(tree+"/links2", 0o755); err != nil {
				reachBase.err = err
				return
			}
			if err := os.Link(tree+"/links/target", fmt.Sprintf("%s/links2/hard-link-number-%03d.txt", tree, i)); err != nil {
				reachBase.err = err
				return
			}
		}
		for i := range 30 {
			writeFile(f, tree, fmt.Sprintf("other/sub%d/file%02d.bin", i%3, i), bytes.Repeat([]byte{byte(i)}, 100*i))
		}
		img := imageFromTree(f, tree, 16)
		setSecurity(f, img, []secItem{
			{path: "/other", dir: true, sd: makeSD(1), attrs: volume.AttrDirectory},
			{path: "/other/sub1", dir: true, sd: makeSD(2), attrs: volume.AttrDirectory},
			{path: "/other/sub2/file05.bin", sd: makeSD(3), attrs: volume.AttrArchive},
		})
		b, err := os.ReadFile(img)
		if err != nil {
			reachBase.err = err
			return
		}
		reachBase.err = reachLocate(b)
	})
	if reachBase.err != nil {
		f.Fatal(reachBase.err)
	}
}

// reachLocate finds $SDS and the target's attribute list in img and
// describes the undamaged volume.
func reachLocate(img []byte) error {
	v, err := Open(bytes.NewReader(img), 0, int64(len(img)), Options{})
	if err != nil {
		return err
	}
	if v.sds == nil || len(v.sds.runs) == 0 || v.sds.runs[0].lcn <= 0 {
		return fmt.Errorf("the image has no non-resident $SDS")
	}
	r := v.sds.runs[0]
	reachBase.sdsOff, reachBase.sdsLen = r.lcn*v.clusterSize, min(r.length*v.clusterSize, v.sds.size)
	root, _ := v.Root()
	kids, err := v.ReadDir(root)
	if err != nil {
		return err
	}
	var links *volume.Entry
	for _, k := range kids {
		if k.Name == "links" {
			links = k
		}
	}
	if links == nil {
		return fmt.Errorf("no links directory")
	}
	lk, err := v.ReadDir(links)
	if err != nil || len(lk) != 1 {
		return fmt.Errorf("links: %d entries, %v", len(lk), err)
	}
	rec, err := v.readRecord(lk[0].Handle.(*handle).num)
	if err != nil {
		return err
	}
	for _, a := range rec.attrs {
		if a.typ != atAttributeList {
			continue
		}
		if a.resident {
			return fmt.Errorf("the target's attribute list is resident; it needs more links")
		}
		d, err := v.newStreamDesc("list", []*attr{a})
		if err != nil {
			return err
		}
		if len(d.runs) == 0 || d.runs[0].lcn <= 0 {
			return fmt.Errorf("the attribute list has no allocated first run (%d runs)", len(d.runs))
		}
		// The fuzz data goes over the first run.
		r := d.runs[0]
		reachBase.listOff, reachBase.listLen = r.lcn*v.clusterSize, min(r.length*v.clusterSize, d.size)
	}
	if reachBase.listLen == 0 {
		return fmt.Errorf("the target has no attribute list")
	}
	reachBase.img = img
	reachBase.entries, err = describeVolume(v)
	return err
}

// describeVolume walks v and describes every path it lists: everything a
// capture takes from the entry, and the SHA-1 of each stream.
func describeVolume(v *Volume) (map[string]string, error) {
	out := map[string]string{}
	root, err := v.Root()
	if err != nil {
		return nil, err
	}
	type item struct {
		path string
		e    *volume.Entry
	}
	queue := []item{{"", root}}
	for n := 0; len(queue) > 0 && n < 10000; n++ {
		it := queue[0]
		queue = queue[1:]
		e := it.e
		var b strings.Builder
		fmt.Fprintf(&b, "%q %#x %d/%d/%d sd %x tag %#x rp %x link %v", e.ShortName, e.Attributes, e.CreationTime, e.LastWriteTime, e.LastAccessTime,
			sha1.Sum(e.Security), e.ReparseTag, sha1.Sum(e.ReparseData), e.LinkID != 0)
		for i, s := range e.Streams {
			h := sha1.New()
			rc, err := v.OpenStream(e, i)
			if err == nil {
				_, err = io.Copy(h, io.LimitReader(rc, 1<<20))
				rc.Close()
			}
			fmt.Fprintf(&b, " [%q %d %x %v]", s.Name, s.Size, h.Sum(nil), err)
		}
		out[it.path] = b.String()
		if e.IsDir() && e.Attributes&volume.AttrReparsePoint == 0 {
			kids, err := v.ReadDir(e)
			if err != nil {
				out[it.path+"/"] = "ReadDir: " + err.Error()
				continue
			}
			for _, k := range kids {
				queue = append(queue, item{it.path + "/" + k.Name, k})
			}
		}
	}
	return out, nil
}

// reachOpen opens the base image with patch written at off (cut to max
// bytes).
func reachOpen(off, max int64, patch []byte) (*Volume, error) {
	if int64(len(patch)) > max {
		patch = patch[:max]
	}
	disk := &overlay{base: reachBase.img, off: off, patch: patch}
	return Open(disk, 0, int64(len(reachBase.img)), Options{AllowDirty: true})
}

// FuzzSDS writes fuzz data over $Secure:$SDS of a real volume. Opening it
// must still succeed (a damaged descriptor store costs descriptors, not
// the volume: a file whose descriptor is gone fails its directory's
// listing with an error naming it); every location in the security index must point at an
// entry of a primary 256 KiB block whose header names it (id, own offset,
// length) and that lies inside the stream; and the damage may change
// security descriptors only: every path is listed with everything else as
// before.
func FuzzSDS(f *testing.F) {
	reachImage(f)
	f.Add(append([]byte(nil), reachBase.img[reachBase.sdsOff:reachBase.sdsOff+min(reachBase.sdsLen, 4096)]...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := reachOpen(reachBase.sdsOff, reachBase.sdsLen, data)
		if err != nil {
			t.Fatalf("Open fails on a damaged $SDS: %v", err)
		}
		st := v.sds.open()
		for id, loc := range v.sdIndex {
			hdr := loc.off - sdsHeaderSize
			block := hdr / sdsBlock
			if hdr < 0 || hdr%16 != 0 || block%2 != 0 || loc.length < 0 || loc.off+loc.length > (block+1)*sdsBlock || loc.off+loc.length > v.sds.size {
				t.Fatalf("security id %d indexed at %d (+%d bytes): not inside a primary block of the %d-byte stream", id, loc.off, loc.length, v.sds.size)
			}
			h := make([]byte, sdsHeaderSize)
			if _, err := v.sds.readAt(h, hdr, st); err != nil {
				t.Fatalf("security id %d: header: %v", id, err)
			}
			le := binary.LittleEndian
			if le.Uint32(h[4:]) != id || int64(le.Uint64(h[8:])) != hdr || int64(le.Uint32(h[16:])) != loc.length+sdsHeaderSize {
				t.Fatalf("security id %d at %d: the entry header says id %d, offset %d, length %d", id, hdr, le.Uint32(h[4:]), le.Uint64(h[8:]), le.Uint32(h[16:]))
			}
		}
		got, err := describeVolume(v)
		if err != nil {
			t.Fatalf("walk: %v", err)
		}
		compareReach(t, got, func(path string) bool { return false }, true)
	})
}

// FuzzAttrList writes fuzz data over the non-resident $ATTRIBUTE_LIST of
// links/target in a real volume and walks the whole volume. The damage must
// stay with the file that owns the list: every other path is listed exactly
// as before (the links2 directory, whose every entry is that file, may
// fail as a whole or list the file as before).
func FuzzAttrList(f *testing.F) {
	reachImage(f)
	orig := reachBase.img[reachBase.listOff : reachBase.listOff+reachBase.listLen]
	f.Add(append([]byte(nil), orig...))
	f.Add(append([]byte(nil), orig[:len(orig)/2]...))
	f.Add(bytes.Repeat([]byte{0xFF}, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := reachOpen(reachBase.listOff, reachBase.listLen, data)
		if err != nil {
			t.Fatalf("Open fails on a damaged attribute list of an ordinary file: %v", err)
		}
		got, err := describeVolume(v)
		if err != nil {
			t.Fatalf("walk: %v", err)
		}
		target := func(path string) bool {
			return path == "/links/target" || path == "/links/" || strings.HasPrefix(path, "/links2/")
		}
		compareReach(t, got, target, false)
	})
}

// compareReach compares a walk of the damaged volume with the undamaged
// one. Paths for which damaged is true may differ or be missing. Any other
// path must be listed as before (with sdOnly: but for its security
// descriptor), unless the listing of a directory above it failed with an
// error, which stops a capture loudly.
func compareReach(t *testing.T, got map[string]string, damaged func(string) bool, sdOnly bool) {
	t.Helper()
	var paths []string
	for p := range reachBase.entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		want := reachBase.entries[p]
		g, ok := got[p]
		switch {
		case damaged(p):
		case !ok:
			if !listingFailed(got, p) {
				t.Fatalf("%s is no longer listed, and no directory above it failed", p)
			}
		case sdOnly:
			if stripSD(g) != stripSD(want) {
				t.Fatalf("%s changed beyond its security descriptor:\n got %s\nwant %s", p, g, want)
			}
		case g != want:
			t.Fatalf("%s changed:\n got %s\nwant %s", p, g, want)
		}
	}
	for p := range got {
		if _, ok := reachBase.entries[p]; !ok && !damaged(p) && !strings.HasPrefix(got[p], "ReadDir: ") {
			t.Fatalf("%s appeared", p)
		}
	}
}

// listingFailed reports whether the walk recorded a ReadDir error for a
// directory above path.
func listingFailed(got map[string]string, path string) bool {
	for dir := path; dir != ""; {
		dir = dir[:strings.LastIndex(dir, "/")]
		if strings.HasPrefix(got[dir+"/"], "ReadDir: ") {
			return true
		}
	}
	return false
}

// stripSD drops the security descriptor from a description.
func stripSD(s string) string {
	i := strings.Index(s, " sd ")
	j := strings.Index(s, " tag ")
	if i < 0 || j < i {
		return s
	}
	return s[:i] + s[j:]
}
