package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/internal/lab"
	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/syncbuf"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wdscapture-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "wdscapture")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	stopStore()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func runBin(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, o.String(), e.String()}
}

// makeSource builds a small tree with files the default exclusions and an
// INF [ExclusionList] drop.
func makeSource(t *testing.T, dir string) string {
	src := filepath.Join(dir, "src")
	for rel, data := range map[string]string{
		"Windows/System32/drivers/etc/hosts": "127.0.0.1 localhost\n",
		"Windows/CSC/cache.bin":              "offline files cache",
		"Windows/Temp/junk.tmp":              "temporary",
		"pagefile.sys":                       "paging",
		"hiberfil.sys":                       "hibernation",
		"System Volume Information/tracking": "restore points",
		"Users/Admin/Documents/report.docx":  "a report",
		"Users/Admin/AppData/Local/Temp/x":   "temp",
		"keep/pagefile.sys":                  "not at the root: kept",
	} {
		p := filepath.Join(src, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

func writeINF(t *testing.T, dir, body string) string {
	p := filepath.Join(dir, "WDSCapture.inf")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, "\n", "\r\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func wimdirSet(t *testing.T, wim string, index int) map[string]bool {
	out := tooltest.Run(t, "wimdir", wim, fmt.Sprint(index))
	m := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		m[l] = true
	}
	return m
}

func TestUnattendedCaptureWithExclusions(t *testing.T) {
	tooltest.Require(t, "wimdir", "wimverify", "wiminfo")
	dir := t.TempDir()
	src := makeSource(t, dir)
	wim := filepath.Join(dir, "out", "ref.wim")
	inf := writeINF(t, dir, fmt.Sprintf(`[Capture]
Unattended=Yes
VolumeToCapture=%s
ImageName=Reference
ImageDescription=lab run
DestinationFile=%s
Compression=LZX

[ExclusionList]
%%SYSTEMROOT%%\Temp
"\Users\*\AppData\Local\Temp"

[WDS]
UploadToWDSServer=No
Password=s3cr3t-pw
`, src, wim))
	r := runBin(t, "--inf", inf, "--no-devices")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	tooltest.Run(t, "wimverify", wim)
	if out := tooltest.Run(t, "wiminfo", wim); !strings.Contains(out, "LZX") || !strings.Contains(out, "Integrity info") {
		t.Errorf("wiminfo:\n%s", out)
	}
	got := wimdirSet(t, wim, 1)
	for _, p := range []string{"/Windows/System32/drivers/etc/hosts", "/Users/Admin/Documents/report.docx", "/keep/pagefile.sys"} {
		if !got[p] {
			t.Errorf("%s missing from the WIM", p)
		}
	}
	for _, p := range []string{"/Windows/CSC", "/Windows/Temp", "/pagefile.sys", "/hiberfil.sys", "/System Volume Information", "/Users/Admin/AppData/Local/Temp"} {
		if got[p] {
			t.Errorf("%s should have been excluded", p)
		}
	}
	logData, err := os.ReadFile(wim + ".log")
	if err != nil {
		t.Fatalf("no log file beside the WIM: %v", err)
	}
	for _, s := range []string{r.stdout, r.stderr, string(logData)} {
		if strings.Contains(s, "s3cr3t-pw") {
			t.Fatal("the password appears in the output or the log")
		}
	}
	if !strings.Contains(string(logData), "capture finished") {
		t.Errorf("log lacks the final line:\n%s", logData)
	}
}

func TestSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	src := makeSource(t, dir)
	existing := filepath.Join(dir, "existing.wim")
	if r := runBin(t, "capture", src, existing, "--name", "old", "--compress", "xpress", "--quiet"); r.code != 0 {
		t.Fatalf("setup capture: %d %s", r.code, r.stderr)
	}
	cases := []struct {
		name, inf string
		code      int
		want      []string
	}{
		{"missing keys", "[Capture]\nUnattended=Yes\nVolumeToCapture=" + src + "\n", exitUsage, []string{"ImageName", "DestinationFile"}},
		{"bad overwrite", "[Capture]\nUnattended=Yes\nVolumeToCapture=" + src + "\nImageName=x\nDestinationFile=" + dir + "/a.wim\nOverwrite=Maybe\n", exitUsage, []string{"Overwrite", ":6", "Yes", "No", "Append"}},
		{"bad compression", "[Capture]\nUnattended=Yes\nImageName=x\nDestinationFile=" + dir + "/a.wim\nCompression=zip\n", exitUsage, []string{"Compression", ":5", "XPRESS", "LZX"}},
		{"overwrite no", "[Capture]\nUnattended=Yes\nVolumeToCapture=" + src + "\nImageName=x\nDestinationFile=" + existing + "\n", exitUsage, []string{"exists", "Overwrite=No"}},
		{"append mismatch", "[Capture]\nUnattended=Yes\nVolumeToCapture=" + src + "\nImageName=x\nDestinationFile=" + existing + "\nOverwrite=Append\nCompression=LZX\n", exitUsage, []string{"XPRESS", "LZX", "share a compression"}},
		{"upload settings missing", "[Capture]\nUnattended=Yes\nVolumeToCapture=" + src + "\nImageName=x\nDestinationFile=" + dir + "/up.wim\n[WDS]\nUploadToWDSServer=Yes\nWDSServerName=127.0.0.1:1\nUsername=CORP\\u\n", exitUsage, []string{"WDSImageGroup", "Password", "is not set"}},
		{"destination inside source", "[Capture]\nUnattended=Yes\nVolumeToCapture=" + src + "\nImageName=x\nDestinationFile=" + src + "/x.wim\n", exitUsage, []string{"inside the directory being captured"}},
		{"no such volume", "[Capture]\nUnattended=Yes\nVolumeToCapture=" + dir + "/nope\nImageName=x\nDestinationFile=" + dir + "/b.wim\n", 3, []string{"VolumeToCapture", "no such file"}},
		{"not a terminal", "[Capture]\nImageName=x\n", exitUsage, []string{"not a terminal", "Unattended=Yes"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inf := writeINF(t, t.TempDir(), tc.inf)
			r := runBin(t, "--inf", inf, "--no-devices")
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stderr+r.stdout, "hunter2") {
				t.Error("password leaked")
			}
			if _, err := os.Stat(dir + "/up.wim"); err == nil {
				t.Error("upload case wrote a WIM before failing")
			}
		})
	}
}

func TestOverwriteAndAppend(t *testing.T) {
	tooltest.Require(t, "wiminfo", "wimverify")
	dir := t.TempDir()
	src := makeSource(t, dir)
	wim := filepath.Join(dir, "x.wim")
	run := func(overwrite, name string) result {
		inf := writeINF(t, t.TempDir(), fmt.Sprintf("[Capture]\nUnattended=Yes\nVolumeToCapture=%s\nImageName=%s\nDestinationFile=%s\nOverwrite=%s\n", src, name, wim, overwrite))
		return runBin(t, "--inf", inf, "--no-devices")
	}
	if r := run("No", "one"); r.code != 0 {
		t.Fatalf("%d %s", r.code, r.stderr)
	}
	if r := run("Append", "two"); r.code != 0 {
		t.Fatalf("%d %s", r.code, r.stderr)
	}
	if out := tooltest.Run(t, "wiminfo", wim); !strings.Contains(out, "Image Count:    2") {
		t.Fatalf("after append:\n%s", out)
	}
	if r := run("Yes", "fresh"); r.code != 0 {
		t.Fatalf("%d %s", r.code, r.stderr)
	}
	out := tooltest.Run(t, "wiminfo", wim)
	if !strings.Contains(out, "Image Count:    1") || !strings.Contains(out, "fresh") {
		t.Fatalf("after overwrite:\n%s", out)
	}
	tooltest.Run(t, "wimverify", wim)
}

// bigSource makes a tree that takes a few seconds to compress with LZX.
func bigSource(t *testing.T, dir string) string {
	src := filepath.Join(dir, "big")
	os.MkdirAll(src, 0o755)
	buf := make([]byte, 8<<20)
	x := uint32(1)
	for i := range buf {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		buf[i] = "abcdefghij"[x%10] // compressible but not trivially
	}
	for i := 0; i < 12; i++ {
		buf[i] ^= byte(i)
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%02d.bin", i)), buf, 0o644); err != nil {
			t.Fatal(err)
		}
		buf[100000*i+7] ^= 1
	}
	return src
}

// TestInterrupt sends SIGINT, then SIGKILL, in the middle of captures and
// checks that no half-written file looks like a WIM and that an appended
// WIM keeps its old image.
func TestInterrupt(t *testing.T) {
	tooltest.Require(t, "wimverify", "wiminfo")
	dir := t.TempDir()
	src := bigSource(t, dir)
	small := makeSource(t, dir)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			out := t.TempDir()
			wim := filepath.Join(out, "x.wim")
			if r := runBin(t, "capture", small, wim, "--name", "old", "--compress", "lzx", "--check", "--quiet"); r.code != 0 {
				t.Fatal(r.stderr)
			}
			before, _ := os.ReadFile(wim)
			for _, mode := range []string{"Append", "new"} {
				target := wim
				overwrite := "Append"
				if mode == "new" {
					target = filepath.Join(out, "new.wim")
					overwrite = "No"
				}
				inf := writeINF(t, t.TempDir(), fmt.Sprintf("[Capture]\nUnattended=Yes\nVolumeToCapture=%s\nImageName=big-%s\nDestinationFile=%s\nOverwrite=%s\n", src, mode, target, overwrite))
				cmd := exec.Command(binary, "--inf", inf, "--no-devices", "--threads", "1")
				e := &syncbuf.Buffer{}
				cmd.Stderr = e
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				// Wait until data is being written.
				deadline := time.Now().Add(60 * time.Second)
				for !strings.Contains(e.String(), "[write]") && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if !strings.Contains(e.String(), "[write]") {
					// Signalling a capture that never began writing
					// would test nothing.
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("%s: the capture did not start writing within a minute:\n%s", mode, e.String())
				}
				time.Sleep(300 * time.Millisecond)
				cmd.Process.Signal(sig)
				err := cmd.Wait()
				if err == nil {
					t.Fatalf("%s: the capture finished before the signal; make the source bigger", mode)
				}
				if sig == syscall.SIGINT {
					if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
						t.Errorf("%s: exit %v, want %d\n%s", mode, err, exitInterrupted, e.String())
					}
				}
				if mode == "new" {
					ents, _ := os.ReadDir(out)
					for _, en := range ents {
						b, _ := os.ReadFile(filepath.Join(out, en.Name()))
						if en.Name() != "x.wim" && bytes.HasPrefix(b, []byte("MSWIM\x00\x00\x00")) {
							t.Errorf("%s looks like a WIM after the interrupted capture", en.Name())
						}
					}
					if _, err := os.Stat(target); err == nil {
						t.Errorf("%s exists after the interrupted capture", target)
					}
				}
			}
			tooltest.Run(t, "wimverify", wim)
			if out := tooltest.Run(t, "wiminfo", wim); !strings.Contains(out, "Image Count:    1") {
				t.Errorf("the old WIM lost its image:\n%s", out)
			}
			if sig == syscall.SIGINT {
				after, _ := os.ReadFile(wim)
				if !bytes.Equal(before, after) {
					t.Errorf("the interrupted append changed the old WIM")
				}
			}
		})
	}
}

func TestCLIErrorsAndHelp(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"capture", "--help"}, 0, "-compress"},
		{[]string{"capture", dir}, exitUsage, "SRC and DEST.wim"},
		{[]string{"capture", dir, dir + "/x.wim"}, exitUsage, "--name"},
		{[]string{"capture", dir, dir + "/x.wim", "--name", "x", "--compress", "zip"}, exitUsage, "XPRESS, LZX, None"},
		{[]string{"verify", dir + "/missing.wim"}, 1, "no such file"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"info", "/etc/passwd"}, 1, "not a WIM"},
	} {
		r := runBin(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.want) {
			t.Errorf("%v: exit %d, output %q; want exit %d mentioning %q", tc.args, r.code, r.stdout+r.stderr, tc.code, tc.want)
		}
	}
}

// ntfsImage writes src onto a fresh NTFS volume image (no mounting).
func ntfsImage(t *testing.T, dir string, src *memsource.Source) string {
	t.Helper()
	tooltest.Require(t, "mkntfs", "wimapply")
	img := filepath.Join(dir, "ntfs.img")
	if err := lab.NTFSImage(context.Background(), img, src, "Windows", 64<<20); err != nil {
		t.Fatal(err)
	}
	return img
}

func TestCaptureNTFSImage(t *testing.T) {
	tooltest.Require(t, "wimcapture", "wimdir")
	dir := t.TempDir()
	img := ntfsImage(t, dir, memsource.Rich(memsource.RichOptions{ManyFiles: 50, Depth: 5}))
	ours := filepath.Join(dir, "ours.wim")
	if r := runBin(t, "capture", img, ours, "--name", "ntfs", "--compress", "lzx", "--check", "--quiet"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	ref := filepath.Join(dir, "ref.wim")
	tooltest.Run(t, "wimcapture", img, ref, "--config=/dev/null")
	a := tooltest.ParseWimdirDetailed(tooltest.Run(t, "wimdir", "--detailed", ours, "1"))
	b := tooltest.ParseWimdirDetailed(tooltest.Run(t, "wimdir", "--detailed", ref, "1"))
	if len(a) != len(b) || len(a) < 80 {
		t.Fatalf("ours lists %d paths, wimlib %d", len(a), len(b))
	}
	for p, e := range b {
		o := a[p]
		if o == nil {
			t.Errorf("%s missing from our capture", p)
			continue
		}
		e.LinkGroup, o.LinkGroup = "", ""
		if fmt.Sprint(*o) != fmt.Sprint(*e) {
			t.Errorf("%s differs:\nours   %+v\nwimlib %+v", p, *o, *e)
		}
	}
}

func TestRefuseHibernatedVolume(t *testing.T) {
	dir := t.TempDir()
	img := ntfsImage(t, dir, memsource.New(
		memsource.Regular("hiberfil.sys", memsource.Bytes(append([]byte("HIBR"), make([]byte, 8192)...))),
		memsource.Dir("Windows", memsource.Text("win.ini", "[fonts]")),
	))
	r := runBin(t, "capture", img, filepath.Join(dir, "x.wim"), "--name", "x", "--quiet")
	if r.code != exitNothing || !strings.Contains(r.stderr, "hibernated") {
		t.Fatalf("exit %d, stderr %q; want exit %d saying the volume is hibernated", r.code, r.stderr, exitNothing)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.wim")); err == nil {
		t.Error("a WIM was written for a hibernated volume")
	}
}
