package images

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

// interruptedTail appends what a writer killed in the middle of an append
// leaves: n bytes past the end of the committed WIM.
func interruptedTail(t *testing.T, wim string, n int) {
	t.Helper()
	f, err := os.OpenFile(wim, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	rand.Read(b)
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func appendImage(t *testing.T, wim, name, content string) {
	t.Helper()
	r, err := Open(wim)
	if err != nil {
		t.Fatal(err)
	}
	integrity := r.HasIntegrity()
	r.Close()
	w, err := Append(wim, Options{Compression: CompressXPRESS, Integrity: integrity})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage(context.Background(), memsource.New(memsource.Text(name+".txt", content)), ImageOptions{Name: name}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func space(t *testing.T, wim string) Space {
	t.Helper()
	r, err := Open(wim)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return r.Space()
}

// TestAppendDropsInterruptedTail: the bytes a killed append left past the
// end of the WIM are overwritten by the next append, not kept for good.
func TestAppendDropsInterruptedTail(t *testing.T) {
	wim := filepath.Join(t.TempDir(), "t.wim")
	writeWIM(t, wim, strictSource(), Options{Compression: CompressXPRESS}, ImageOptions{Name: "one"})
	interruptedTail(t, wim, 3<<20)
	if u := space(t, wim).Unused(); u < 3<<20 {
		t.Fatalf("Unused = %d after a 3 MiB tail", u)
	}
	appendImage(t, wim, "two", "second image")
	if u := space(t, wim).Unused(); u >= 1<<20 {
		t.Errorf("after the next append %d bytes are still unused; the interrupted tail was kept", u)
	}
	if err := Verify(wim, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestOptimize rewrites a WIM with dead space (replaced tables of several
// appends and an interrupted append's tail) and checks the result with
// wimlib: same images, same files, same GUID, no dead space.
func TestOptimize(t *testing.T) {
	tooltest.Require(t, "wimverify", "wimdir", "wiminfo")
	wim := filepath.Join(t.TempDir(), "o.wim")
	writeWIM(t, wim, strictSource(), Options{Compression: CompressXPRESS, Integrity: true}, ImageOptions{Name: "one", Boot: true})
	for i := range 3 {
		appendImage(t, wim, fmt.Sprintf("img%d", i), strings.Repeat("data ", 1000*(i+1)))
	}
	// An append that was killed leaves a tail no later append sees
	// (written here after the last append).
	interruptedTail(t, wim, 2<<20)
	r, _ := Open(wim)
	guid := r.GUID()
	r.Close()
	var dirs []string
	for i := 1; i <= 4; i++ {
		dirs = append(dirs, tooltest.Run(t, "wimdir", wim, fmt.Sprint(i)))
	}
	before, after, err := Optimize(context.Background(), wim, OptimizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if before.Unused() < 2<<20 || after.Unused() != 0 || after.Size >= before.Size {
		t.Errorf("before %+v (unused %d), after %+v (unused %d)", before, before.Unused(), after, after.Unused())
	}
	tooltest.Run(t, "wimverify", wim)
	for i := 1; i <= 4; i++ {
		if got := tooltest.Run(t, "wimdir", wim, fmt.Sprint(i)); got != dirs[i-1] {
			t.Errorf("image %d lists differently after optimize", i)
		}
	}
	r, err = Open(wim)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.GUID() != guid || r.BootIndex() != 1 || !r.HasIntegrity() || len(r.Images()) != 4 {
		t.Errorf("GUID %x (was %x), boot index %d, integrity %v, %d images", r.GUID(), guid, r.BootIndex(), r.HasIntegrity(), len(r.Images()))
	}
	ents, _ := os.ReadDir(filepath.Dir(wim))
	if len(ents) != 1 {
		t.Errorf("files left beside the WIM: %v", ents)
	}
}

// TestOptimizeInterrupted cancels Optimize while it copies: the WIM stays
// byte for byte as it was and no partial file is left.
func TestOptimizeInterrupted(t *testing.T) {
	wim := filepath.Join(t.TempDir(), "i.wim")
	writeWIM(t, wim, strictSource(), Options{Compression: CompressLZX}, ImageOptions{Name: "one"})
	appendImage2 := func() {
		w, err := Append(wim, Options{Compression: CompressLZX})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.AddImage(context.Background(), memsource.New(memsource.Text("x", "x")), ImageOptions{Name: "two"}); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	appendImage2()
	orig, _ := os.ReadFile(wim)
	for _, phase := range []string{"copy", "verify"} {
		ctx, cancel := context.WithCancel(context.Background())
		_, _, err := Optimize(ctx, wim, OptimizeOptions{Progress: func(p string, done, total uint64) {
			if p == phase {
				cancel()
			}
		}})
		cancel()
		if err == nil {
			t.Fatalf("%s: Optimize succeeded although canceled", phase)
		}
		now, _ := os.ReadFile(wim)
		if !bytes.Equal(orig, now) {
			t.Fatalf("%s: the WIM changed", phase)
		}
		if ents, _ := os.ReadDir(filepath.Dir(wim)); len(ents) != 1 {
			t.Errorf("%s: files left beside the WIM: %v", phase, ents)
		}
	}
}

// TestStalePartialRemoved: a partial file left by a killed writer (no lock
// held) is removed by the next write to the same name; one a live writer
// holds is not.
func TestStalePartialRemoved(t *testing.T) {
	dir := t.TempDir()
	wim := filepath.Join(dir, "s.wim")
	stale := filepath.Join(dir, ".s.wim.partial-123")
	os.WriteFile(stale, []byte("left by a killed writer"), 0o600)
	live, err := Create(wim, Options{Compression: CompressNone})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("the stale partial file is still there")
	}
	other, err := Create(wim, Options{Compression: CompressNone})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live.tmpPath); err != nil {
		t.Errorf("a live writer's partial file was removed: %v", err)
	}
	other.Abort()
	live.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left: %v", ents)
	}
}
