package main

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
	"github.com/wdscapture/wdscapture/store"
)

// tree is a small tree; variants share all files but two.
func tree(variant uint32) *memsource.Source {
	var files []*memsource.File
	for i := range 24 {
		seed := uint32(i + 1)
		if variant != 0 && i%12 == int(variant%12) {
			seed += 1000 * variant
		}
		files = append(files, memsource.Regular(fmt.Sprintf("f%02d.dll", i), memsource.Pattern{N: int64(1500 + 2111*i), Seed: seed}))
	}
	return memsource.New(
		memsource.Text("readme.txt", strings.Repeat("text\n", 999)),
		memsource.Dir("Windows", memsource.Dir("System32", files...),
			memsource.Regular("big.bin", memsource.Pattern{N: 200000, Seed: 9})),
	)
}

// capture writes a WIM of tree(variant) named name.
func capture(t *testing.T, dir, name string, variant uint32, comp images.Compression) string {
	t.Helper()
	path := filepath.Join(dir, name+".wim")
	w, err := images.Create(path, images.Options{Compression: comp, Integrity: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage(context.Background(), tree(variant), images.ImageOptions{Name: name, Description: "desc " + name,
		WindowsXML: "<WINDOWS><ARCH>12</ARCH><PRODUCTNAME>Windows 11 Pro</PRODUCTNAME><LANGUAGES><LANGUAGE>fr-FR</LANGUAGE><DEFAULT>fr-FR</DEFAULT></LANGUAGES></WINDOWS>"}); err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

// digestTree maps each path of an applied tree to its content's SHA-1.
func digestTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			fmt.Fprintf(&b, "%s/\n", rel)
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %x\n", rel, sha1.Sum(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// applies checks with wimapply --ref that the group's image restores the
// tree its source WIM restores.
func applies(t *testing.T, root, group, file, source string) {
	t.Helper()
	gd := filepath.Join(root, "Images", group)
	tmp := t.TempDir()
	tooltest.Run(t, "wimapply", source, "1", filepath.Join(tmp, "want"))
	tooltest.Run(t, "wimapply", filepath.Join(gd, file), "1", filepath.Join(tmp, "got"), "--ref="+filepath.Join(gd, store.ResourceFile))
	if a, b := digestTree(t, filepath.Join(tmp, "want")), digestTree(t, filepath.Join(tmp, "got")); a != b || len(a) < 100 {
		t.Errorf("%s/%s does not restore %s", group, file, source)
	}
}

func listJSON(t *testing.T, args ...string) []store.ImageEntry {
	t.Helper()
	r := mustRun(t, append([]string{"list", "--json"}, args...)...)
	var l []store.ImageEntry
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	return l
}

func TestAddListExportVerifyCommands(t *testing.T) {
	tooltest.Require(t, "wimapply", "wimverify", "wiminfo")
	root, dir := t.TempDir(), t.TempDir()
	one := capture(t, dir, "one", 0, images.CompressXPRESS)
	two := capture(t, dir, "two", 1, images.CompressXPRESS)
	lzx := capture(t, dir, "lzx", 2, images.CompressLZX)
	r := mustRun(t, "add", one, "--group", "Lab", "--root", root, "--name", "Win11 Pro", "--description", "pilot build")
	if !strings.Contains(r.stdout, `image group "Lab" created`) || !strings.Contains(r.stdout, "as Win11 Pro.wim") {
		t.Errorf("add output: %s", r.stdout)
	}
	if !strings.Contains(r.stderr, "copying") {
		t.Errorf("add shows no progress: %q", r.stderr)
	}
	r = mustRun(t, "add", two, "--group", "lab", "--root", root, "--read-filter", `LAB\Pilot`, "--quiet")
	if !strings.Contains(r.stdout, "2 new streams") || r.stderr != "" {
		t.Errorf("second add: %q %q", r.stdout, r.stderr)
	}
	if r := runStore(t, nil, "add", two, "--group", "Lab", "--root", root); r.code != exitConflict || !strings.Contains(r.stderr, `"two.wim"`) {
		t.Errorf("same image twice: exit %d: %s", r.code, r.stderr)
	}
	if r := runStore(t, nil, "add", lzx, "--group", "Lab", "--root", root); r.code != exitFailure || !strings.Contains(r.stderr, "--compress=XPRESS") {
		t.Errorf("LZX into XPRESS group: exit %d: %s", r.code, r.stderr)
	}
	if r := runStore(t, nil, "add", one, "--root", root); r.code != exitUsage {
		t.Errorf("add without --group: exit %d", r.code)
	}
	if r := runStore(t, nil, "add", filepath.Join(dir, "nope.wim"), "--group", "Lab", "--root", root); r.code != exitFailure {
		t.Errorf("add of a missing file: exit %d", r.code)
	}
	applies(t, root, "Lab", "Win11 Pro.wim", one)
	applies(t, root, "Lab", "two.wim", two)

	all := listJSON(t, "--root", root) // sorted by file name
	if len(all) != 2 || all[1].Name != "Win11 Pro" || all[1].Architecture != "arm64" || all[1].Languages[0] != "fr-FR" ||
		all[1].Description != "pilot build" || all[0].ReadFilter[0] != `LAB\Pilot` || len(all[1].ReadFilter) != 0 {
		t.Errorf("list --json: %+v", all)
	}
	addUser(t, root, "tom")
	addUser(t, root, "pia", "Pilot")
	if l := listJSON(t, "--root", root, "--as", `LAB\tom`); len(l) != 1 || l[0].FileName != "Win11 Pro.wim" {
		t.Errorf("list --as LAB\\tom: %+v", l)
	}
	if l := listJSON(t, "--root", root, "--as", `pia`); len(l) != 2 {
		t.Errorf("list --as pia (in LAB\\Pilot): %+v", l)
	}
	if r := runStore(t, nil, "list", "--root", root, "--as", `LAB\nobody`); r.code != exitNotFound || !strings.Contains(r.stderr, "unknown user") {
		t.Errorf("list --as an unknown user: exit %d: %s", r.code, r.stderr)
	}
	r = mustRun(t, "list", "--root", root)
	if !strings.Contains(r.stdout, "Win11 Pro.wim") || !strings.Contains(r.stdout, "arm64") {
		t.Errorf("list:\n%s", r.stdout)
	}

	out := filepath.Join(dir, "out.wim")
	r = mustRun(t, "export", "Lab", "two", out, "--root", root)
	if !strings.Contains(r.stdout, "verified") {
		t.Errorf("export output: %s", r.stdout)
	}
	tooltest.Run(t, "wimverify", out)
	if r := runStore(t, nil, "export", "Lab", "nope", filepath.Join(dir, "x.wim"), "--root", root); r.code != exitNotFound {
		t.Errorf("export of a missing image: exit %d: %s", r.code, r.stderr)
	}
	if r := runStore(t, nil, "export", "Lab", "two", out, "--root", root); r.code != exitConflict {
		t.Errorf("export over an existing file: exit %d: %s", r.code, r.stderr)
	}
	mustRun(t, "export", "Lab", "two", out, "--root", root, "--overwrite", "--quiet")

	r = mustRun(t, "verify", "--root", root)
	if !strings.Contains(r.stdout, "Lab: OK (2 images") {
		t.Errorf("verify: %s", r.stdout)
	}
	mustRun(t, "replace", "Lab", "Win11 Pro.wim", two, "--root", root, "--quiet")
	applies(t, root, "Lab", "Win11 Pro.wim", two)
	mustRun(t, "delete", "Lab", "two", "--root", root)
	r = mustRun(t, "verify", "Lab", "--root", root)
	if !strings.Contains(r.stdout, "used by no image") {
		t.Errorf("verify after replace and delete: %s", r.stdout)
	}
	r = mustRun(t, "optimize", "Lab", "--root", root)
	if !strings.Contains(r.stdout, "optimized") {
		t.Errorf("optimize: %s", r.stdout)
	}
	applies(t, root, "Lab", "Win11 Pro.wim", two)

	// One flipped bit in res.rwm: verify exits 3 naming the file.
	res := filepath.Join(root, "Images", "Lab", store.ResourceFile)
	data, _ := os.ReadFile(res)
	data[len(data)/3] ^= 1
	os.WriteFile(res, data, 0o644)
	r = runStore(t, nil, "verify", "--root", root, "--quiet")
	if r.code != exitDamaged || !strings.Contains(r.stdout, res) {
		t.Errorf("verify of a damaged group: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestFlippedBitCommand: a WIM with one flipped bit is refused with exit
// status 3 naming it, and nothing of it appears.
func TestFlippedBitCommand(t *testing.T) {
	root, dir := t.TempDir(), t.TempDir()
	one := capture(t, dir, "one", 0, images.CompressLZX)
	data, _ := os.ReadFile(one)
	data[len(data)/2] ^= 0x40
	bad := filepath.Join(dir, "bad.wim")
	os.WriteFile(bad, data, 0o644)
	r := runStore(t, nil, "add", bad, "--group", "G", "--root", root)
	if r.code != exitDamaged || !strings.Contains(r.stderr, bad) || !strings.Contains(r.stderr, "integrity") {
		t.Errorf("add of a flipped WIM: exit %d: %s", r.code, r.stderr)
	}
	if l := listJSON(t, "--root", root); len(l) != 0 {
		t.Errorf("images after a refused add: %+v", l)
	}
}

// TestConcurrentAddProcesses starts imagestore processes that add to one
// group at once: different images all succeed, the same image twice
// succeeds once and conflicts once, and the group verifies.
func TestConcurrentAddProcesses(t *testing.T) {
	tooltest.Require(t, "wimapply")
	root, dir := t.TempDir(), t.TempDir()
	var wims []string
	for i := range 3 {
		wims = append(wims, capture(t, dir, fmt.Sprintf("img%d", i), uint32(i), images.CompressXPRESS))
	}
	jobs := append(append([]string{}, wims...), wims[0])
	codes := make([]int, len(jobs))
	var wg sync.WaitGroup
	for i, w := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = runStore(t, nil, "add", w, "--group", "G", "--root", root, "--quiet").code
		}()
	}
	wg.Wait()
	if codes[1] != 0 || codes[2] != 0 || !(codes[0] == 0 && codes[3] == exitConflict || codes[0] == exitConflict && codes[3] == 0) {
		t.Errorf("exit codes %v: want 0 for each image and one conflict (%d) for the duplicate", codes, exitConflict)
	}
	mustRun(t, "verify", "G", "--root", root, "--quiet")
	for i, w := range wims {
		applies(t, root, "G", fmt.Sprintf("img%d.wim", i), w)
	}
}

// addUser adds LAB\name to the store's users file, in groups LAB\g.
func addUser(t *testing.T, root, name string, groups ...string) {
	t.Helper()
	if r := runWithStdin(t, "", "user", "domain", "LAB", "--root", root); r.code != 0 {
		t.Fatalf("user domain: %s", r.stderr)
	}
	args := []string{"user", "add", name, "--root", root}
	for _, g := range groups {
		args = append(args, "--group", g)
	}
	if r := runWithStdin(t, "pass word\n", args...); r.code != 0 {
		t.Fatalf("user add %s: %s", name, r.stderr)
	}
}

// killedRun runs imagestore with CrashEnv set to stage and reports whether
// SIGKILL ended it (the stage was reached).
func killedRun(t *testing.T, stage string, args ...string) bool {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), store.CrashEnv+"="+stage)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	t.Logf("imagestore %s with %s=%s ended without being killed: %v\n%s", strings.Join(args, " "), store.CrashEnv, stage, err, out)
	return false
}

// TestCrashAtEveryStage kills imagestore (SIGKILL) at every stage of an
// add (the finalize of an upload runs the same code), of an optimize and
// of a delete; after each kill the group verifies, every image in it
// applies with wimapply --ref, the interrupted image is either wholly
// there or not at all, and the same command run again completes.
func TestCrashAtEveryStage(t *testing.T) {
	tooltest.Require(t, "wimapply")
	dir := t.TempDir()
	one := capture(t, dir, "one", 0, images.CompressXPRESS)
	two := capture(t, dir, "two", 1, images.CompressXPRESS)
	addStages := []string{"add:locked", "add:blob", "add:blob#2", "add:blobs", "add:metadata", "rwm:tables", "rwm:header",
		"add:settings", "storage:before-rename", "storage:before-rename#2", "storage:before-rename#3", "add:published"}
	check := func(t *testing.T, root string, want map[string]string) {
		t.Helper()
		if r := runStore(t, nil, "verify", "G", "--root", root, "--quiet"); r.code != 0 {
			t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if want == nil {
			return
		}
		for _, e := range listJSON(t, "--root", root) {
			src, ok := want[e.FileName]
			if !ok {
				t.Errorf("unexpected image %s", e.FileName)
				continue
			}
			applies(t, root, "G", e.FileName, src)
		}
	}
	t.Run("first add", func(t *testing.T) {
		for _, stage := range addStages {
			t.Run(stage, func(t *testing.T) {
				root := t.TempDir()
				if !killedRun(t, stage, "add", one, "--group", "G", "--root", root, "--quiet") {
					t.Fatalf("stage %s was never reached", stage)
				}
				check(t, root, map[string]string{"one.wim": one})
				r := runStore(t, nil, "add", one, "--group", "G", "--root", root, "--quiet")
				published := stage == "add:published"
				if published && r.code != exitConflict || !published && r.code != 0 {
					t.Fatalf("add again after the crash: exit %d: %s", r.code, r.stderr)
				}
				check(t, root, nil)
				if l := listJSON(t, "--root", root); len(l) != 1 {
					t.Errorf("images after the second add: %+v", l)
				}
				leftovers(t, root)
			})
		}
	})
	t.Run("second add", func(t *testing.T) {
		for _, stage := range addStages {
			t.Run(stage, func(t *testing.T) {
				root := t.TempDir()
				mustRun(t, "add", one, "--group", "G", "--root", root, "--quiet")
				if !killedRun(t, stage, "add", two, "--group", "G", "--root", root, "--quiet", "--read-filter", `LAB\Pilot`) {
					t.Fatalf("stage %s was never reached", stage)
				}
				check(t, root, map[string]string{"one.wim": one, "two.wim": two})
				l := listJSON(t, "--root", root)
				if len(l) == 2 && (len(l[1].ReadFilter) != 1 || l[1].ReadFilter[0] != `LAB\Pilot`) {
					t.Errorf("the image appeared without its read filter: %+v", l[1])
				}
				r := runStore(t, nil, "add", two, "--group", "G", "--root", root, "--quiet", "--read-filter", `LAB\Pilot`)
				if len(l) == 2 && r.code != exitConflict || len(l) == 1 && r.code != 0 {
					t.Fatalf("add again after the crash (%d images before): exit %d: %s", len(l), r.code, r.stderr)
				}
				check(t, root, nil)
				leftovers(t, root)
			})
		}
	})
	t.Run("optimize and delete", func(t *testing.T) {
		for _, stage := range []string{"optimize:written", "storage:before-rename", "delete:removed"} {
			t.Run(stage, func(t *testing.T) {
				root := t.TempDir()
				mustRun(t, "add", one, "--group", "G", "--root", root, "--quiet")
				mustRun(t, "add", two, "--group", "G", "--root", root, "--quiet", "--read-filter", `LAB\Pilot`)
				if stage == "delete:removed" {
					if !killedRun(t, stage, "delete", "G", "two", "--root", root) {
						t.Fatalf("stage %s was never reached", stage)
					}
				} else {
					mustRun(t, "delete", "G", "two", "--root", root)
					if !killedRun(t, stage, "optimize", "G", "--root", root, "--quiet") {
						t.Fatalf("stage %s was never reached", stage)
					}
				}
				check(t, root, map[string]string{"one.wim": one})
				mustRun(t, "optimize", "G", "--root", root, "--quiet")
				check(t, root, nil)
				// The deleted image's filter must not apply to a new image
				// of the same file name.
				mustRun(t, "add", two, "--group", "G", "--root", root, "--quiet")
				addUser(t, root, "tom")
				if l := listJSON(t, "--root", root, "--as", `LAB\tom`); len(l) != 2 {
					t.Errorf("after re-adding two without a filter, LAB\\tom sees %d images", len(l))
				}
				leftovers(t, root)
			})
		}
	})
}

// leftovers fails when a group folder holds temporary files after a
// command completed there.
func leftovers(t *testing.T, root string) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(root, "Images", "G"))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".partial-") {
			t.Errorf("temporary file %s left in the group", e.Name())
		}
	}
}
