package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/internal/tooltest"
	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// TestCrashes SIGKILLs the server mid-upload and at every stage of a
// finalize (the store's crash points), restarts it and finishes: the
// upload resumes from the offset the server kept, the interrupted
// finalize is completed (or found done) after the restart, and the group
// verifies with wimlib after every crash, before and after the restart.
func TestCrashes(t *testing.T) {
	tooltest.Require(t, "wimapply", "wimverify")
	root := t.TempDir()
	writeUsers(t, root, map[string]string{`LAB\alice`: "pw"}, nil)
	newGroup(t, root, "G", []string{`LAB\alice`}, []string{`LAB\alice`})
	tmp := t.TempDir()
	sources := map[string]string{}
	base := makeWIM(t, filepath.Join(tmp, "base.wim"), 0, 20, images.CompressXPRESS, "Base")

	ts := startServer(t, root, "")
	c := newClient(t, ts)
	c.mustLogin("alice", "pw")
	if _, r := c.upload(base, "G", "Base"); r.status != http.StatusOK {
		t.Fatalf("base image: %s", r)
	}
	sources["Base.wim"] = base

	// Killed mid-upload: the bytes that arrived are kept.
	mid := makeWIM(t, filepath.Join(tmp, "mid.wim"), 1, 20, images.CompressXPRESS, "Mid")
	d := c.plan(mid, "G")
	loc, r := c.create(d.Size(), map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "Mid"})
	if loc == "" {
		t.Fatalf("create: %s", r)
	}
	c.send(loc, d, 0, d.Size()/2, 8192)
	ts.kill()
	ts = startServer(t, root, ts.addr)
	c.base = "https://" + ts.addr
	if r := c.must("HEAD", loc, nil, map[string]string{"Tus-Resumable": "1.0.0"}); r.status != http.StatusUnauthorized {
		t.Errorf("HEAD with a session from before the restart: %s", r)
	}
	c.mustLogin("alice", "pw")
	off, r := c.offset(loc)
	if off != d.Size()/2 {
		t.Fatalf("offset after a restart: %d, want %d (%s)", off, d.Size()/2, r)
	}
	c.send(loc, d, off, d.Size(), 1<<20)
	if fr, r := c.finalize(loc, nil); r.status != http.StatusOK || fr.State != protocol.StatePublished {
		t.Fatalf("finalize after a restart: %s", r)
	}
	sources["Mid.wim"] = mid
	ts.stop()

	stages := []string{"add:locked", "add:blob", "add:blobs", "add:metadata", "rwm:tables", "rwm:header", "storage:before-rename", "add:published"}
	for i, stage := range stages {
		name := "Crash " + strings.ReplaceAll(stage, ":", "-")
		wim := makeWIM(t, filepath.Join(tmp, name+".wim"), uint32(i+2), 20, images.CompressXPRESS, name)
		ts := startServer(t, root, "", store.CrashEnv+"="+stage)
		c := newClient(t, ts)
		c.mustLogin("alice", "pw")
		d := c.plan(wim, "G")
		loc, r := c.create(d.Size(), map[string]string{protocol.MetaGroup: "G", protocol.MetaName: name})
		if loc == "" {
			t.Fatalf("%s: create: %s", stage, r)
		}
		c.send(loc, d, 0, d.Size(), 1<<20)
		_, err := c.do("POST", loc+"/finalize", nil, nil)
		if err == nil || !ts.died(30*time.Second) {
			t.Fatalf("%s: the server did not die at the crash point (finalize: %v)\n%s", stage, err, ts.logs)
		}
		// Killed: the group is as before or as after, never between.
		checkGroup(t, root, "G", nil)
		published := fileExists(filepath.Join(root, "Images", "G", name+".wim"))

		ts = startServer(t, root, "")
		c.base = "https://" + ts.addr
		c.mustLogin("alice", "pw")
		fr, r := c.finalize(loc, nil)
		if r.status != http.StatusOK || fr.State != protocol.StatePublished || fr.Image == nil || fr.Image.Name != name {
			t.Fatalf("%s: finalize after the restart: %s\n%s", stage, r, ts.logs)
		}
		sources[name+".wim"] = wim
		t.Logf("%s: image published before the restart: %v", stage, published)
		ts.stop()
	}
	checkGroup(t, root, "G", sources)
	ts = startServer(t, root, "")
	c = newClient(t, ts)
	c.mustLogin("alice", "pw")
	if n := len(c.images("G")); n != len(sources) {
		t.Errorf("the group lists %d images, want %d", n, len(sources))
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestFlippedBit: an upload with one flipped bit in a stream's data is
// refused, naming the file whose data is damaged; nothing of it appears.
func TestFlippedBit(t *testing.T) {
	tooltest.Require(t, "wimverify")
	root := t.TempDir()
	writeUsers(t, root, map[string]string{`LAB\alice`: "pw"}, nil)
	newGroup(t, root, "G", []string{`LAB\alice`}, []string{`LAB\alice`})
	tmp := t.TempDir()
	ts := startServer(t, root, "")
	c := newClient(t, ts)
	c.mustLogin("alice", "pw")
	if _, r := c.upload(makeWIM(t, filepath.Join(tmp, "a.wim"), 0, 20, images.CompressXPRESS, "A"), "G", "A"); r.status != http.StatusOK {
		t.Fatalf("first image: %s", r)
	}
	wim := makeWIM(t, filepath.Join(tmp, "b.wim"), 3, 20, images.CompressXPRESS, "B")
	d := c.plan(wim, "G")
	data := make([]byte, d.Size())
	if _, err := d.ReadAt(data, 0); err != nil {
		t.Fatal(err)
	}
	// The delta's first resource starts after the header; flip a bit
	// inside it, and find the file it belongs to.
	dr, err := images.NewReader(bytesReaderAt(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	refs, _ := d.r.ImageBlobs(1)
	img, _ := d.r.Image(1)
	for _, ref := range refs {
		if _, ok := dr.BlobSize(ref.Hash); !ok {
			continue
		}
		images.Walk(img.Root, func(de *images.Dentry) error {
			if de.DataHash() == ref.Hash && victim == "" {
				victim = de.Path()
			}
			return nil
		})
		break
	}
	if victim == "" {
		t.Fatal("no stream in the delta")
	}
	data[208+300] ^= 0x04
	loc, r := c.create(int64(len(data)), map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "B"})
	if loc == "" {
		t.Fatalf("create: %s", r)
	}
	c.send(loc, bytesReaderAt(data), 0, int64(len(data)), 1<<20)
	fr, r := c.finalize(loc, nil)
	if r.status != http.StatusUnprocessableEntity || fr.State != protocol.StateFailed || fr.Error == nil ||
		fr.Error.Code != protocol.CodeDamaged || !strings.Contains(fr.Error.Message, victim) {
		t.Fatalf("damaged upload: %s; want 422 damaged naming %s", r, victim)
	}
	t.Logf("refused: %s", fr.Error.Message)
	if n := len(c.images("G")); n != 1 {
		t.Errorf("the group lists %d images after a refused upload", n)
	}
	checkGroup(t, root, "G", nil)
	// The staged bytes are gone; the answer stays for the client.
	if fileExists(filepath.Join(root, "Server", uploadsDir, filepath.Base(loc))) {
		t.Error("the damaged upload's bytes are still staged")
	}
	if fr2, r := c.finalize(loc, nil); r.status != http.StatusUnprocessableEntity || fr2.Error.Code != protocol.CodeDamaged {
		t.Errorf("asking again: %s", r)
	}
	var uerr error = fr.Error
	if !errors.As(uerr, new(*protocol.Error)) {
		t.Error("protocol.Error is not an error")
	}

	// A delta that leaves out data the group lacks (a stale dedup answer,
	// or a lying client): refused, listing what is missing.
	d = c.plan(makeWIM(t, filepath.Join(tmp, "c.wim"), 4, 20, images.CompressXPRESS, "C"), "G")
	empty, err := d.r.PlanDelta(1, func(images.BlobRef) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	loc, _ = c.create(empty.Size(), map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "C"})
	c.send(loc, empty, 0, empty.Size(), 1<<20)
	if fr, r := c.finalize(loc, nil); r.status != http.StatusUnprocessableEntity || fr.Error == nil ||
		fr.Error.Code != protocol.CodeMissingData || len(fr.Error.Missing) != d.missing {
		t.Errorf("delta without the new data: %s; want 422 missing-data listing %d streams", r, d.missing)
	}
	// Another compression type than the group's: refused, naming the group's.
	lzx := makeWIM(t, filepath.Join(tmp, "d.wim"), 5, 3, images.CompressLZX, "D")
	if fr, r := c.upload(lzx, "G", "D"); r.status != http.StatusConflict || fr.Error == nil ||
		fr.Error.Code != protocol.CodeCompression || fr.Error.Compression != "XPRESS" {
		t.Errorf("LZX image into an XPRESS group: %s", r)
	}
	// Declared at creation, the mismatch is refused before any byte.
	if loc, r := c.create(1000, map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "D2", protocol.MetaCompression: "LZX"}); loc != "" ||
		r.status != http.StatusConflict || r.apiError().Code != protocol.CodeCompression || r.apiError().Compression != "XPRESS" {
		t.Errorf("create declaring LZX for an XPRESS group: %s", r)
	}
	if loc, r := c.create(1000, map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "D3", protocol.MetaCompression: "xpress"}); loc == "" {
		t.Errorf("create declaring the group's type: %s", r)
	}
	if n := len(c.images("G")); n != 1 {
		t.Errorf("the group lists %d images after refused uploads", n)
	}
	checkGroup(t, root, "G", nil)
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
