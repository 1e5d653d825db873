package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/crashtest"
	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

// The stages of Commit that commitStage reports, in order.
var (
	appendStages = []string{"tables", "header", "header-sync", "synced"}
	createStages = append(appendStages, "renamed")
)

// crashOptions are the writer options of the crash tests: the commit does
// not depend on the compression, so none keeps them fast under -race.
var crashOptions = Options{Compression: CompressNone, Integrity: true}

// crashTree is what the crash tests add to a WIM: new blobs and shared
// ones, and more than one output block.
func crashTree() *memsource.Source {
	src := memsource.Rich(memsource.RichOptions{ManyFiles: 30, Depth: 4})
	src.Root_.Children = append(src.Root_.Children,
		memsource.Regular("bulk.bin", memsource.Pattern{N: 5 << 20, Seed: 77}))
	return src
}

// commitNew captures crashTree into path (mode "create" or "append") and
// commits.
func commitNew(path, mode string) error {
	opts := crashOptions
	var w *Writer
	var err error
	if mode == "append" {
		w, err = Append(path, opts)
	} else {
		w, err = Create(path, opts)
	}
	if err != nil {
		return err
	}
	if _, err := w.AddImage(context.Background(), crashTree(), ImageOptions{Name: "new"}); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

// TestCommitCrashChild is the process TestCommitKilled kills: it captures
// into $CRASH_WIM ($CRASH_MODE create or append) and stops at the armed
// commit stage.
func TestCommitCrashChild(t *testing.T) {
	point, ok := crashtest.Armed()
	if !ok {
		t.Skip("run as the child of TestCommitKilled")
	}
	commitStage = func(stage string) error {
		crashtest.Reached(stage)
		return nil
	}
	if err := commitNew(os.Getenv("CRASH_WIM"), os.Getenv("CRASH_MODE")); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("the commit finished without reaching %q", point)
}

// oldWIM writes the one-image WIM the append tests start from.
func oldWIM(t *testing.T, path string) []byte {
	t.Helper()
	writeWIM(t, path, memsource.Rich(memsource.RichOptions{ManyFiles: 10, Depth: 3}), crashOptions, ImageOptions{Name: "old"})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkAppended checks the WIM an append was stopped in: it verifies (with
// wimlib and with us) and holds the old image, unchanged, plus the new one
// exactly when the new header was written.
func checkAppended(t *testing.T, wim string, before []byte, newHeader bool) {
	t.Helper()
	tooltest.Run(t, "wimverify", wim)
	if err := Verify(wim, VerifyOptions{}); err != nil {
		t.Errorf("our verify: %v", err)
	}
	after, err := os.ReadFile(wim)
	if err != nil {
		t.Fatal(err)
	}
	want := "Image Count:    1"
	if newHeader {
		want = "Image Count:    2"
	} else if !bytes.HasPrefix(after, before) {
		t.Errorf("the old WIM's bytes changed (%d bytes before, %d after)", len(before), len(after))
	}
	if out := tooltest.Run(t, "wiminfo", wim); !strings.Contains(out, want) {
		t.Errorf("want %q:\n%s", want, out)
	}
	// Image 1 is the old image whatever happened (reference counts aside:
	// the new image shares blobs).
	old := filepath.Join(t.TempDir(), "old.wim")
	if err := os.WriteFile(old, before, 0o644); err != nil {
		t.Fatal(err)
	}
	got := tooltest.ParseWimdirDetailed(tooltest.Run(t, "wimdir", "--detailed", wim, "1"))
	exp := tooltest.ParseWimdirDetailed(tooltest.Run(t, "wimdir", "--detailed", old, "1"))
	if len(got) != len(exp) {
		t.Errorf("image 1 lists %d paths, the old WIM's %d", len(got), len(exp))
	}
	for p, e := range exp {
		if g := got[p]; g == nil || fmt.Sprint(*g) != fmt.Sprint(*e) {
			t.Errorf("%s: image 1 has %+v, the old WIM %+v", p, g, *e)
		}
	}
}

// checkCreated checks the directory a create was stopped in: the WIM is
// under its name only once renamed, and no other file carries the WIM magic
// unless it is complete (a file killed between its synced header and the
// rename is a whole WIM under a temporary name).
func checkCreated(t *testing.T, dir, wim string, renamed, headerWritten bool) {
	t.Helper()
	if _, err := os.Stat(wim); (err == nil) != renamed {
		t.Errorf("%s exists: %v, want %v", wim, err == nil, renamed)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, wimMagic[:]) {
			continue
		}
		if !headerWritten {
			t.Errorf("%s carries the WIM magic before the header was written", e.Name())
		}
		if out, err := tooltest.Try("wimverify", p); err != nil {
			t.Errorf("%s looks like a WIM but does not verify: %v\n%s", e.Name(), err, out)
		}
	}
}

// TestCommitKilled kills a real child process (SIGKILL) at each stage of
// the commit, appending to an existing WIM and creating a new one, and
// checks that the old WIM stays intact and that no new file looks valid
// unless it is complete.
func TestCommitKilled(t *testing.T) {
	tooltest.Require(t, "wimverify", "wiminfo", "wimdir")
	dir := t.TempDir()
	base := filepath.Join(dir, "base.wim")
	before := oldWIM(t, base)
	for i, stage := range appendStages {
		t.Run("append/"+stage, func(t *testing.T) {
			t.Parallel()
			wim := filepath.Join(t.TempDir(), "x.wim")
			if err := os.WriteFile(wim, before, 0o644); err != nil {
				t.Fatal(err)
			}
			crashtest.Kill(t, "TestCommitCrashChild", stage, "CRASH_WIM="+wim, "CRASH_MODE=append")
			checkAppended(t, wim, before, i >= 2)
		})
	}
	for i, stage := range createStages {
		t.Run("create/"+stage, func(t *testing.T) {
			t.Parallel()
			d := t.TempDir()
			wim := filepath.Join(d, "new.wim")
			crashtest.Kill(t, "TestCommitCrashChild", stage, "CRASH_WIM="+wim, "CRASH_MODE=create")
			checkCreated(t, d, wim, stage == "renamed", i >= 2)
		})
	}
}

var errInjected = errors.New("injected commit failure")

// TestCommitFailures fails the commit at each stage (a failed fsync, a
// failed or torn header write) in process and checks that an append leaves
// the old WIM byte for byte as it was and a create leaves no file at all.
func TestCommitFailures(t *testing.T) {
	tooltest.Require(t, "wimverify", "wiminfo", "wimdir")
	dir := t.TempDir()
	before := oldWIM(t, filepath.Join(dir, "base.wim"))
	type fault struct {
		name  string
		stage string // commitStage fails here, or
		torn  int    // the header write stops after this many bytes
	}
	faults := []fault{{name: "torn header 8", torn: 8}, {name: "torn header 100", torn: 100}}
	for _, s := range appendStages {
		faults = append(faults, fault{name: s, stage: s})
	}
	for _, mode := range []string{"append", "create"} {
		for _, f := range faults {
			t.Run(mode+"/"+f.name, func(t *testing.T) {
				if f.stage != "" {
					commitStage = func(stage string) error {
						if stage == f.stage {
							return fmt.Errorf("%s: %w", stage, errInjected)
						}
						return nil
					}
				} else {
					writeHeader = func(file *os.File, b []byte) (int, error) {
						n, err := file.WriteAt(b[:f.torn], 0)
						if err != nil {
							return n, err
						}
						return n, fmt.Errorf("header write after %d bytes: %w", n, errInjected)
					}
				}
				defer func() {
					commitStage = func(string) error { return nil }
					writeHeader = func(f *os.File, b []byte) (int, error) { return f.WriteAt(b, 0) }
				}()
				d := t.TempDir()
				wim := filepath.Join(d, "x.wim")
				if mode == "append" {
					if err := os.WriteFile(wim, before, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if err := commitNew(wim, mode); !errors.Is(err, errInjected) {
					t.Fatalf("commit: %v, want the injected failure", err)
				}
				if mode == "create" {
					if ents, _ := os.ReadDir(d); len(ents) != 0 {
						t.Errorf("a failed create left %d files", len(ents))
					}
					return
				}
				checkAppended(t, wim, before, false)
				if after, _ := os.ReadFile(wim); !bytes.Equal(after, before) {
					t.Errorf("the failed append changed the file (%d bytes before, %d after)", len(before), len(after))
				}
			})
		}
	}
}
