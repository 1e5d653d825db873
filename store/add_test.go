package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

var testCompressions = []images.Compression{images.CompressNone, images.CompressXPRESS, images.CompressLZX}

// TestAddExportWithWimlib adds an image and exports it again, for every
// compression type, and checks with wimlib: wiminfo shows the image's XML,
// wimapply --ref=res.rwm restores the tree, wimverify accepts the export
// and wimapply restores it too; the export copies the resources as the
// group stores them.
func TestAddExportWithWimlib(t *testing.T) {
	tooltest.Require(t, "wimapply", "wiminfo", "wimverify")
	ctx := context.Background()
	for _, comp := range testCompressions {
		t.Run(comp.String(), func(t *testing.T) {
			s, root := newStore(t)
			dir := t.TempDir()
			wim := makeWIM(t, filepath.Join(dir, "src.wim"), testTree(0, 30), comp, true, "Win11 Ent")
			var phases []string
			res, err := s.Add(ctx, "Win11", openWIM(t, wim), wim, AddOptions{Description: "the lab image", CreateGroup: true,
				Progress: func(p Progress) {
					if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
						phases = append(phases, p.Phase)
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			if !res.GroupCreated || res.FileName != "Win11 Ent.wim" || res.SharedStreams != 0 || res.NewStreams == 0 {
				t.Errorf("result %+v", res)
			}
			if want := []string{"check", "copy", "write"}; !reflect.DeepEqual(phases, want) {
				t.Errorf("progress phases %q, want %q", phases, want)
			}
			gd := groupDir(root, "Win11")
			out := tooltest.Run(t, "wiminfo", filepath.Join(gd, res.FileName), "1")
			for _, want := range []string{"Name:                   Win11 Ent", "Description:            the lab image",
				"Product Name:           Windows 11 Enterprise", "Architecture:           x86_64", "Languages:              en-US de-DE"} {
				if !strings.Contains(out, want) {
					t.Errorf("wiminfo lacks %q:\n%s", want, out)
				}
			}
			applyEqual(t, wim, gd, res.FileName)
			tooltest.Run(t, "wimverify", filepath.Join(gd, res.FileName), "--ref="+filepath.Join(gd, ResourceFile))

			exp := filepath.Join(dir, "export.wim")
			er, err := s.Export(ctx, "win11", "Win11 Ent", exp, ExportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if er.Compression != comp || er.Info.Name != "Win11 Ent" {
				t.Errorf("export result %+v", er)
			}
			tooltest.Run(t, "wimverify", exp)
			if out := tooltest.Run(t, "wiminfo", exp); !strings.Contains(out, "Integrity info") || !strings.Contains(out, "Compression:    "+compName(comp)) {
				t.Errorf("wiminfo of the export:\n%s", out)
			}
			tmp := t.TempDir()
			tooltest.Run(t, "wimapply", wim, "1", filepath.Join(tmp, "a"))
			tooltest.Run(t, "wimapply", exp, "1", filepath.Join(tmp, "b"))
			if a, b := digest(t, filepath.Join(tmp, "a")), digest(t, filepath.Join(tmp, "b")); fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("exported image differs from the source")
			}
			// Raw copies: every stream of the export is stored exactly as
			// in the source WIM (same stored size, same compression).
			src, ex := openWIM(t, wim), openWIM(t, exp)
			for _, b := range ex.Blobs() {
				sb, ok := src.Blob(b.Hash)
				if !ok || sb.StoredSize != b.StoredSize || sb.Compressed != b.Compressed {
					t.Errorf("stream %x: export %+v, source %+v", b.Hash, b, sb)
				}
			}
			if _, err := s.Export(ctx, "win11", "Win11 Ent", exp, ExportOptions{}); !errors.Is(err, ErrConflict) {
				t.Errorf("export over an existing file without Overwrite: %v", err)
			}
			if _, err := s.Export(ctx, "win11", "Win11 Ent", exp, ExportOptions{Overwrite: true, Name: "Renamed"}); err != nil {
				t.Errorf("export with Overwrite: %v", err)
			} else if out := tooltest.Run(t, "wiminfo", exp, "1"); !strings.Contains(out, "Renamed") {
				t.Errorf("export --name not applied:\n%s", out)
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".") {
					t.Errorf("export left %s behind", e.Name())
				}
			}
		})
	}
}

func compName(c images.Compression) string {
	if c == images.CompressNone {
		return "None"
	}
	return c.String()
}

// TestSecondImageGrowsOnlyByNewData adds a second image that shares 95%
// of its files with the first: res.rwm grows by the new streams' stored
// bytes plus its new blob table and XML data, nothing else.
func TestSecondImageGrowsOnlyByNewData(t *testing.T) {
	tooltest.Require(t, "wimapply", "wimverify")
	ctx := context.Background()
	s, root := newStore(t)
	dir := t.TempDir()
	one := makeWIM(t, filepath.Join(dir, "one.wim"), testTree(0, 40), images.CompressXPRESS, false, "one")
	two := makeWIM(t, filepath.Join(dir, "two.wim"), testTree(1, 40), images.CompressXPRESS, false, "two")
	if _, err := s.Add(ctx, "G", openWIM(t, one), one, AddOptions{CreateGroup: true}); err != nil {
		t.Fatal(err)
	}
	res := filepath.Join(groupDir(root, "G"), ResourceFile)
	before := fileSize(t, res)
	r1, r2 := openWIM(t, one), openWIM(t, two)
	var newBytes uint64
	for _, b := range r2.Blobs() {
		if _, ok := r1.Blob(b.Hash); !ok {
			newBytes += b.StoredSize
		}
	}
	ar, err := s.Add(ctx, "G", r2, two, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ar.NewBytes != newBytes || ar.NewStreams != 3 {
		t.Errorf("add copied %d streams (%d bytes); the new data is 3 streams, %d bytes", ar.NewStreams, ar.NewBytes, newBytes)
	}
	// The new blob table goes in the room the first add left after its
	// own: the file grows by the new data alone.
	growth := uint64(fileSize(t, res) - before)
	if growth != newBytes {
		t.Errorf("res.rwm grew by %d bytes, want the new data's %d", growth, newBytes)
	}
	t.Logf("second image: %d new stored bytes, res.rwm grew by %d (%.2f%% of the image's %d stored bytes)",
		newBytes, growth, float64(growth)/float64(fileSize(t, two))*100, fileSize(t, two))
	// More images: the tables move between the unused ranges and the end;
	// wimlib reads every state.
	for i := uint32(2); i < 5; i++ {
		w := makeWIM(t, filepath.Join(dir, fmt.Sprintf("v%d.wim", i)), testTree(i, 40+int(i)*30), images.CompressXPRESS, false, fmt.Sprintf("v%d", i))
		if _, err := s.Add(ctx, "G", openWIM(t, w), w, AddOptions{}); err != nil {
			t.Fatal(err)
		}
		tooltest.Run(t, "wimverify", res)
		applyEqual(t, w, groupDir(root, "G"), fmt.Sprintf("v%d.wim", i))
	}
	applyEqual(t, one, groupDir(root, "G"), "one.wim")
	applyEqual(t, two, groupDir(root, "G"), "two.wim")
	if _, err := s.Verify(ctx, "G", nil); err != nil {
		t.Fatal(err)
	}
}

// xmlOf returns the raw XML data of a WIM (UTF-16).
func xmlOf(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(leUint64(data[0x48+8:]))
	size := int64(leUint64(data[0x48:]) & (1<<56 - 1))
	return data[off : off+size]
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// TestCompressionRules: a new group takes its first image's type; a later
// image of another type is refused with an error that names both types and
// says how to convert; a pinned group refuses other types from the start.
func TestCompressionRules(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	dir := t.TempDir()
	x := makeWIM(t, filepath.Join(dir, "x.wim"), testTree(0, 5), images.CompressXPRESS, false, "x")
	l := makeWIM(t, filepath.Join(dir, "l.wim"), testTree(1, 5), images.CompressLZX, false, "l")
	if g, _ := s.Group("G"); g != nil {
		t.Fatal("group exists before its first add")
	}
	if _, err := s.Add(ctx, "G", openWIM(t, x), x, AddOptions{CreateGroup: true}); err != nil {
		t.Fatal(err)
	}
	g, err := s.Group("G")
	if err != nil || g.Compression != "XPRESS" {
		t.Fatalf("group after its first image: %+v, %v", g, err)
	}
	state := groupState(t, groupDir(root, "G"))
	_, err = s.Add(ctx, "G", openWIM(t, l), l, AddOptions{})
	var ce *CompressionError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCompressionMismatch) {
		t.Fatalf("LZX image into an XPRESS group: %v", err)
	}
	for _, want := range []string{`"G"`, "XPRESS", "LZX", "wimexport " + l + " 1 NEW.wim --compress=XPRESS", "wdscapture capture --compress xpress"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if got := groupState(t, groupDir(root, "G")); !reflect.DeepEqual(got, state) {
		t.Errorf("a refused add changed the group: %v -> %v", state, got)
	}
	lzx := images.CompressLZX
	if err := s.CreateGroup(ctx, "Pinned", GroupOptions{Compression: &lzx}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, "Pinned", openWIM(t, x), x, AddOptions{}); !errors.As(err, &ce) || ce.GroupType != images.CompressLZX {
		t.Errorf("XPRESS image into a group pinned to LZX: %v", err)
	}
	if _, err := s.Add(ctx, "Pinned", openWIM(t, l), l, AddOptions{}); err != nil {
		t.Errorf("LZX image into a group pinned to LZX: %v", err)
	}
	// Once its last image is deleted (and nothing pins it), a group takes
	// any type again.
	if _, err := s.Delete(ctx, "G", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, "G", openWIM(t, l), l, AddOptions{}); err != nil {
		t.Errorf("LZX image into an emptied group: %v", err)
	}
	if g, _ := s.Group("G"); g.Compression != "LZX" {
		t.Errorf("emptied group took %q", g.Compression)
	}
}

// TestFlippedBitIsRefused flips one bit of a source WIM: in stream data
// (no integrity table: the copy's SHA-1 check finds it), anywhere under an
// integrity table, and in the metadata. Each add fails naming the file
// (and the damaged file of the image), and the group is unchanged.
func TestFlippedBitIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	base := makeWIM(t, filepath.Join(dir, "base.wim"), testTree(0, 20), images.CompressXPRESS, false, "base")
	for _, tc := range []struct {
		name      string
		integrity bool
		where     string // "stream" or "metadata"
		wantPath  string
	}{
		{"stream", false, "stream", `\Windows\big.bin`},
		{"stream with integrity table", true, "stream", ""},
		{"metadata", false, "metadata", "metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, root := newStore(t)
			if _, err := s.Add(ctx, "G", openWIM(t, base), base, AddOptions{CreateGroup: true}); err != nil {
				t.Fatal(err)
			}
			state := groupState(t, groupDir(root, "G"))
			src := makeWIM(t, filepath.Join(t.TempDir(), "v.wim"), testTree(1, 20), images.CompressXPRESS, tc.integrity, "v")
			r := openWIM(t, src)
			var off uint64
			if tc.where == "metadata" {
				m, _ := r.MetadataBlob(1)
				off = m.Offset + m.StoredSize/2
			} else {
				img, _ := r.Image(1)
				for h, u := range images.ImageStreams(img) {
					if u.Path == `\Windows\big.bin` {
						b, _ := r.Blob(h)
						off = b.Offset + b.StoredSize/2
					}
				}
			}
			data, _ := os.ReadFile(src)
			data[off] ^= 0x20
			bad := filepath.Join(t.TempDir(), "flipped.wim")
			os.WriteFile(bad, data, 0o644)
			br, err := images.Open(bad)
			if err != nil {
				t.Fatal(err)
			}
			defer br.Close()
			// base holds big.bin: give the variant a new big.bin by adding
			// to a fresh group when the stream would be shared.
			_, err = s.Add(ctx, "G2", br, bad, AddOptions{CreateGroup: true})
			var de *DamagedError
			if !errors.As(err, &de) || !errors.Is(err, ErrDamaged) || de.File != bad {
				t.Fatalf("add of a WIM with a flipped bit: %v, want a DamagedError naming %s", err, bad)
			}
			if tc.wantPath != "" && !strings.Contains(err.Error(), tc.wantPath) {
				t.Errorf("error does not name %s: %v", tc.wantPath, err)
			}
			if g, err := s.Group("G2"); !errors.Is(err, ErrNotFound) {
				t.Errorf("the refused add left its new group: %+v, %v", g, err)
			}
			if _, err := s.Add(ctx, "G", br, bad, AddOptions{}); tc.where == "metadata" || tc.integrity {
				if !errors.Is(err, ErrDamaged) {
					t.Errorf("add into the existing group: %v, want ErrDamaged", err)
				}
			} else if err != nil {
				// big.bin is in the group already: the flipped copy in
				// the WIM is never stored, and the image is intact.
				t.Errorf("add into a group that holds the damaged stream intact: %v", err)
			}
			if tc.where == "metadata" || tc.integrity {
				if got := groupState(t, groupDir(root, "G")); !reflect.DeepEqual(got, state) {
					t.Errorf("a refused add changed the group: %v -> %v", state, got)
				}
			}
		})
	}
}

// TestNameClash: an image name or file name the group has (in any case)
// is a conflict, and bad names are refused before they reach a path.
func TestNameClash(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	dir := t.TempDir()
	a := makeWIM(t, filepath.Join(dir, "a.wim"), testTree(0, 5), images.CompressXPRESS, false, "Win11")
	b := makeWIM(t, filepath.Join(dir, "b.wim"), testTree(1, 5), images.CompressXPRESS, false, "Other")
	if _, err := s.Add(ctx, "G", openWIM(t, a), a, AddOptions{CreateGroup: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts AddOptions
		want error
	}{
		{AddOptions{Name: "WIN11"}, ErrConflict},
		{AddOptions{FileName: "win11.WIM"}, ErrConflict},
		{AddOptions{FileName: "../../x.wim"}, ErrBadName},
		{AddOptions{FileName: "x.txt"}, ErrBadName},
		{AddOptions{Index: 2}, nil},
	} {
		_, err := s.Add(ctx, "G", openWIM(t, b), b, tc.opts)
		if tc.want == nil {
			if err == nil || !strings.Contains(err.Error(), "no image 2") {
				t.Errorf("%+v: %v", tc.opts, err)
			}
		} else if !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.opts, err, tc.want)
		}
	}
	if _, err := s.Add(ctx, "../G", openWIM(t, b), b, AddOptions{CreateGroup: true}); !errors.Is(err, ErrBadName) {
		t.Errorf("group ../G: %v", err)
	}
	if _, err := s.Add(ctx, "NoSuchGroup", openWIM(t, b), b, AddOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("add to a missing group without CreateGroup: %v", err)
	}
}

// TestConcurrentAdds runs adds to one group at once: different images all
// succeed, the same name succeeds once and conflicts otherwise, and the
// group verifies afterwards.
func TestConcurrentAdds(t *testing.T) {
	tooltest.Require(t, "wimapply")
	ctx := context.Background()
	s, root := newStore(t)
	dir := t.TempDir()
	var wims []string
	for i := range 4 {
		wims = append(wims, makeWIM(t, filepath.Join(dir, fmt.Sprintf("w%d.wim", i)), testTree(uint32(i), 20), images.CompressLZX, false, fmt.Sprintf("img%d", i)))
	}
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each image twice: the second of each pair must conflict.
			w := wims[i%4]
			r, err := images.Open(w)
			if err != nil {
				errs[i] = err
				return
			}
			defer r.Close()
			_, errs[i] = s.Add(ctx, "G", r, w, AddOptions{CreateGroup: true})
		}()
	}
	wg.Wait()
	for i := range 4 {
		a, b := errs[i], errs[i+4]
		ok := (a == nil) != (b == nil)
		if !ok || (a != nil && !errors.Is(a, ErrConflict)) || (b != nil && !errors.Is(b, ErrConflict)) {
			t.Errorf("image %d added twice at once: %v / %v; want one success and one conflict", i, a, b)
		}
	}
	if _, err := s.Verify(ctx, "G", nil); err != nil {
		t.Fatal(err)
	}
	for i, w := range wims {
		applyEqual(t, w, groupDir(root, "G"), fmt.Sprintf("img%d.wim", i))
	}
}

// TestDeltaAdd adds a "delta WIM" (the image's metadata and only the
// streams the group lacks, as an upload client sends it): the add takes
// the rest from res.rwm. A delta that lacks a stream the group does not
// have either is refused, naming the file.
func TestDeltaAdd(t *testing.T) {
	tooltest.Require(t, "wimapply", "wimverify")
	ctx := context.Background()
	s, root := newStore(t)
	dir := t.TempDir()
	one := makeWIM(t, filepath.Join(dir, "one.wim"), testTree(0, 20), images.CompressXPRESS, true, "one")
	two := makeWIM(t, filepath.Join(dir, "two.wim"), testTree(2, 20), images.CompressXPRESS, true, "two")
	if _, err := s.Add(ctx, "G", openWIM(t, one), one, AddOptions{CreateGroup: true}); err != nil {
		t.Fatal(err)
	}
	r2 := openWIM(t, two)
	img, _ := r2.Image(1)
	streams := images.ImageStreams(img)
	var hashes [][20]byte
	for h := range streams {
		hashes = append(hashes, h)
	}
	have, err := s.HasStreams("G", hashes)
	if err != nil {
		t.Fatal(err)
	}
	var missing []images.BlobCopy
	var missingPath string
	for i, h := range hashes {
		if !have[i] {
			missing = append(missing, images.BlobCopy{Hash: h, Refs: streams[h].Refs})
			missingPath = streams[h].Path
		}
	}
	if len(missing) == 0 || len(missing) == len(hashes) {
		t.Fatalf("HasStreams: %d of %d missing", len(missing), len(hashes))
	}
	writeDelta := func(path string, list []images.BlobCopy) {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w, err := images.NewRawWriter(f, r2.Compression(), images.RawOptions{Integrity: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.CopyBlobs(ctx, r2, list); err != nil {
			t.Fatal(err)
		}
		if err := w.CopyImage(ctx, r2, 1, r2.Images()[0]); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	short := filepath.Join(dir, "short-delta.wim")
	writeDelta(short, missing[1:])
	_, err = s.Add(ctx, "G", openWIM(t, short), short, AddOptions{})
	var me *MissingDataError
	if !errors.As(err, &me) || len(me.Missing) != 1 || me.Missing[0].Hash != missing[0].Hash || !strings.Contains(err.Error(), short) {
		t.Fatalf("delta lacking a stream: %v", err)
	}
	delta := filepath.Join(dir, "delta.wim")
	writeDelta(delta, missing)
	if fileSize(t, delta) >= fileSize(t, two)/2 {
		t.Errorf("delta %d bytes, full WIM %d: the delta should carry only the new data", fileSize(t, delta), fileSize(t, two))
	}
	res, err := s.Add(ctx, "G", openWIM(t, delta), delta, AddOptions{})
	if err != nil {
		t.Fatalf("delta add: %v (missing path %s)", err, missingPath)
	}
	if res.NewStreams != len(missing) || res.SharedStreams != len(hashes)-len(missing) {
		t.Errorf("delta add result %+v", res)
	}
	applyEqual(t, two, groupDir(root, "G"), "two.wim")
	have, _ = s.HasStreams("G", append(hashes, [20]byte{}, [20]byte{1}))
	for i, h := range have {
		if h != (i < len(hashes)+1) {
			t.Errorf("HasStreams after the add: entry %d = %v", i, h)
		}
	}
}

// TestReplace replaces an image's content: it keeps its file, name and
// read filter, and applies as the new WIM.
func TestReplace(t *testing.T) {
	tooltest.Require(t, "wimapply")
	ctx := context.Background()
	s, root := newStore(t)
	dir := t.TempDir()
	one := makeWIM(t, filepath.Join(dir, "one.wim"), testTree(0, 10), images.CompressXPRESS, false, "one")
	two := makeWIM(t, filepath.Join(dir, "two.wim"), testTree(3, 10), images.CompressXPRESS, false, "new content")
	if _, err := s.Add(ctx, "G", openWIM(t, one), one, AddOptions{CreateGroup: true, ReadFilter: []string{`LAB\Pilot`}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Replace(ctx, "G", "ONE", openWIM(t, two), two, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.FileName != "one.wim" || res.Info.Name != "one" {
		t.Errorf("replace result %+v", res)
	}
	applyEqual(t, two, groupDir(root, "G"), "one.wim")
	list, _ := s.ListGroup("G", nil)
	if len(list) != 1 || !reflect.DeepEqual(list[0].ReadFilter, []string{`LAB\Pilot`}) {
		t.Errorf("after replace: %+v", list)
	}
	if _, err := s.Replace(ctx, "G", "nope", openWIM(t, two), two, AddOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("replace of a missing image: %v", err)
	}
}

// TestDeleteThenOptimize deletes one of two images: res.rwm keeps its data
// (verify reports it unused) until optimize, which shrinks res.rwm to what
// the other image uses; that image still applies and the group verifies.
func TestDeleteThenOptimize(t *testing.T) {
	tooltest.Require(t, "wimapply", "wimverify")
	ctx := context.Background()
	s, root := newStore(t)
	dir := t.TempDir()
	one := makeWIM(t, filepath.Join(dir, "one.wim"), testTree(0, 30), images.CompressLZX, false, "one")
	two := makeWIM(t, filepath.Join(dir, "two.wim"), testTree(5, 30), images.CompressLZX, false, "two")
	for _, w := range []string{one, two} {
		if _, err := s.Add(ctx, "G", openWIM(t, w), w, AddOptions{CreateGroup: true}); err != nil {
			t.Fatal(err)
		}
	}
	gd := groupDir(root, "G")
	full := fileSize(t, filepath.Join(gd, ResourceFile))
	if _, err := s.Delete(ctx, "G", "two.wim"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "G", "two.wim"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	vr, err := s.Verify(ctx, "G", nil)
	if err != nil || vr[0].Unreferenced != 3 || vr[0].Images != 1 {
		t.Fatalf("verify after delete: %+v, %v", vr, err)
	}
	or, err := s.Optimize(ctx, "G", nil)
	if err != nil {
		t.Fatal(err)
	}
	after := fileSize(t, filepath.Join(gd, ResourceFile))
	if or.Removed != 3 || or.Before != full || or.After != after || after >= full {
		t.Errorf("optimize: %+v (file %d -> %d)", or, full, after)
	}
	// Optimized: only what image one uses, each stream once, then the
	// tables and room for the next add's tables.
	var want int64 = 208
	r1 := openWIM(t, one)
	for _, b := range r1.Blobs() {
		want += int64(b.StoredSize) + 50
	}
	xml := int64(len(xmlOf(t, filepath.Join(gd, ResourceFile))))
	want += xml
	tables := int64(len(r1.Blobs()))*50 + xml
	if after < want || after > want+2*tables+4096+64 {
		t.Errorf("optimized res.rwm is %d bytes, want %d (header, image one's streams, tables) and room for about %d more", after, want, tables)
	}
	vr, err = s.Verify(ctx, "G", nil)
	if err != nil || vr[0].Unreferenced != 0 {
		t.Errorf("verify after optimize: %+v, %v", vr, err)
	}
	tooltest.Run(t, "wimverify", filepath.Join(gd, ResourceFile))
	applyEqual(t, one, gd, "one.wim")
}

// TestVerifyFindsDamage flips a bit in res.rwm and in a metadata WIM:
// Verify reports each, naming the file (and the image's files whose data
// is bad).
func TestVerifyFindsDamage(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	dir := t.TempDir()
	one := makeWIM(t, filepath.Join(dir, "one.wim"), testTree(0, 10), images.CompressXPRESS, false, "one")
	two := makeWIM(t, filepath.Join(dir, "two.wim"), testTree(1, 10), images.CompressXPRESS, false, "two")
	for _, w := range []string{one, two} {
		if _, err := s.Add(ctx, "G", openWIM(t, w), w, AddOptions{CreateGroup: true}); err != nil {
			t.Fatal(err)
		}
	}
	gd := groupDir(root, "G")
	res := filepath.Join(gd, ResourceFile)
	rr := openWIM(t, res)
	var victim images.BlobInfo
	for _, b := range rr.Blobs() {
		if b.Size == 300000 { // big.bin
			victim = b
		}
	}
	flip(t, res, int64(victim.Offset+victim.StoredSize/2))
	flip(t, filepath.Join(gd, "two.wim"), 300) // inside the metadata resource
	vr, err := s.Verify(ctx, "", nil)
	if !errors.Is(err, ErrDamaged) || len(vr) != 1 || len(vr[0].Problems) != 2 {
		t.Fatalf("verify of a damaged group: %+v, %v", vr, err)
	}
	msg := fmt.Sprint(vr[0].Problems)
	for _, want := range []string{res, `one.wim:\Windows\big.bin`, filepath.Join(gd, "two.wim")} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems do not name %s: %s", want, msg)
		}
	}
	// A damaged stream is never exported.
	if _, err := s.Export(ctx, "G", "one", filepath.Join(dir, "x.wim"), ExportOptions{}); !errors.Is(err, ErrDamaged) {
		t.Errorf("export of a damaged image: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.wim")); err == nil {
		t.Errorf("a failed export left its file")
	}
}

func flip(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x08
	f.WriteAt(b, off)
}

// TestAddOwnFiles: adding the group's own files is refused or harmless: its
// res.rwm holds no image; one of its metadata WIMs is a delta the group
// completes, so it conflicts with itself and adds as a copy under a new
// name.
func TestAddOwnFiles(t *testing.T) {
	tooltest.Require(t, "wimapply")
	ctx := context.Background()
	s, root := newStore(t)
	one := makeWIM(t, filepath.Join(t.TempDir(), "one.wim"), testTree(0, 5), images.CompressXPRESS, false, "one")
	if _, err := s.Add(ctx, "G", openWIM(t, one), one, AddOptions{CreateGroup: true}); err != nil {
		t.Fatal(err)
	}
	gd := groupDir(root, "G")
	res := filepath.Join(gd, ResourceFile)
	if _, err := s.Add(ctx, "G", openWIM(t, res), res, AddOptions{}); err == nil || !strings.Contains(err.Error(), "holds no image") {
		t.Errorf("add of res.rwm: %v", err)
	}
	meta := filepath.Join(gd, "one.wim")
	if _, err := s.Add(ctx, "G", openWIM(t, meta), meta, AddOptions{}); !errors.Is(err, ErrConflict) {
		t.Errorf("add of the group's own image: %v", err)
	}
	if _, err := s.Add(ctx, "G", openWIM(t, meta), meta, AddOptions{Name: "copy"}); err != nil {
		t.Fatalf("add of the group's own image under a new name: %v", err)
	}
	applyEqual(t, one, gd, "copy.wim")
}
