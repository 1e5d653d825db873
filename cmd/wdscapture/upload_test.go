package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wdscapture/wdscapture/internal/lab"
	"github.com/wdscapture/wdscapture/internal/storetest"
	"github.com/wdscapture/wdscapture/internal/tooltest"
	"github.com/wdscapture/wdscapture/store/protocol"
	"github.com/wdscapture/wdscapture/volume/exclude"
)

// The agent's upload, end to end: the wdscapture binary on lab disks
// against a real `imagestore serve` on loopback (one for the package),
// wimlib as the oracle.

const (
	techPassword   = "tech's pass; #1"
	readerPassword = "reader pass"
)

var store struct {
	once sync.Once
	srv  *storetest.Server
	err  error
	dir  string
}

// labStore returns the package's image store: LAB\jdoe (a technician)
// may add to group "Lab", LAB\reader may only read it.
func labStore(t *testing.T) *storetest.Server {
	t.Helper()
	tooltest.Require(t, "wimapply", "wimcapture", "ntfscp")
	store.once.Do(func() {
		if store.dir, store.err = os.MkdirTemp("", "wdscapture-store-"); store.err != nil {
			return
		}
		store.err = storetest.Seed(store.dir, map[string]string{"jdoe": techPassword, "reader": readerPassword},
			map[string][]string{"Technicians": {"jdoe"}, "Readers": {"reader"}}, nil)
		if store.err != nil {
			return
		}
		store.err = storetest.AddGroup(store.dir, "Lab", []string{`LAB\Technicians`, `LAB\Readers`}, []string{`LAB\Technicians`}, nil)
		if store.err != nil {
			return
		}
		store.srv, store.err = storetest.Start(store.dir, "")
	})
	if store.err != nil {
		t.Fatal(store.err)
	}
	return store.srv
}

// stopStore ends the package's store (from TestMain).
func stopStore() {
	if store.srv != nil {
		store.srv.Kill()
	}
	if store.dir != "" {
		os.RemoveAll(store.dir)
	}
	storetest.Cleanup()
}

// uploadINF is an unattended INF that captures the lab disk's Windows
// to dest and uploads it; wds adds or overrides [WDS] lines.
func uploadINF(t *testing.T, srv *storetest.Server, name, dest string, wds ...string) string {
	t.Helper()
	keys := []string{"UploadToWDSServer=Yes", "WDSServerName=" + srv.Addr, "WDSServerCertificate=" + srv.Fingerprint,
		"WDSImageGroup=Lab", `Username=LAB\jdoe`, "Password=" + techPassword}
	for _, w := range wds {
		k, _, _ := strings.Cut(w, "=")
		found := false
		for i, old := range keys {
			if strings.HasPrefix(old, k+"=") {
				keys[i], found = w, true
			}
		}
		if !found {
			keys = append(keys, w)
		}
	}
	return writeINF(t, t.TempDir(), fmt.Sprintf("[Capture]\nUnattended=Yes\nImageName=%s\nDestinationFile=%s\n\n[WDS]\n%s\n", name, dest, strings.Join(keys, "\n")))
}

// logValue reads key=value from the agent's log file.
func logValue(t *testing.T, log, key string) int64 {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`\b`+key+`=(\d+)`).FindAllSubmatch(b, -1)
	if m == nil {
		t.Fatalf("the log has no %s:\n%s", key, b)
	}
	n, _ := strconv.ParseInt(string(m[len(m)-1][1]), 10, 64)
	return n
}

// noSecret fails when the technician's password shows in any text.
func noSecret(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, techPassword) || strings.Contains(s, readerPassword) {
			t.Errorf("a password shows in:\n%s", s)
		}
	}
}

// TestUnattendedUpload is the full run: lab disk, capture, upload; the
// store lists the image, and what it restores equals wimlib's own
// capture of the partition; the local WIM is deleted as asked. Then a
// second capture after a few files changed sends only their data.
func TestUnattendedUpload(t *testing.T) {
	srv := labStore(t)
	dir := t.TempDir()
	disk := labDisk(t, dir, "lab.img", lab.Options{})
	out := t.TempDir()
	dest := filepath.Join(out, "lab.wim")
	r := runBin(t, "--inf", uploadINF(t, srv, "Lab reference", dest, "DeleteLocalWimOnSuccess=Yes"), "--disk", disk, "--no-devices")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s\nserver:\n%s", r.code, r.stdout, r.stderr, srv.Logs())
	}
	for _, want := range []string{"[upload] sending", "[publish] verified and published by the server", "deleted " + dest} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "uploaded to "+srv.Addr+": image group Lab, file Lab reference.wim") {
		t.Errorf("stdout: %s", r.stdout)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("the local WIM is still there (%v)", err)
	}
	noSecret(t, r.stdout, r.stderr, srv.Logs())
	logText, _ := os.ReadFile(dest + ".log")
	noSecret(t, string(logText))

	// imagestore list --as shows it to the technician.
	list, err := srv.Imagestore("list", "--as", `LAB\jdoe`, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var imgs []protocol.Image
	if err := json.Unmarshal([]byte(list), &imgs); err != nil {
		t.Fatalf("list --json: %v\n%s", err, list)
	}
	if len(imgs) != 1 || imgs[0].Name != "Lab reference" || imgs[0].Architecture != "amd64" || imgs[0].Group != "Lab" {
		t.Fatalf("imagestore list --as LAB\\jdoe: %+v", imgs)
	}

	// What the store restores equals wimlib's capture of the partition.
	part := extractPartition(t, disk, dir)
	cfg := filepath.Join(dir, "wimlib.conf")
	if err := os.WriteFile(cfg, []byte("[ExclusionList]\n"+strings.Join(exclude.DefaultPatterns, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(dir, "wimlib.wim")
	tooltest.Run(t, "wimcapture", part, ref, "lab", "--config="+cfg)
	group := filepath.Join(srv.Root, "Images", "Lab")
	got, want := filepath.Join(dir, "got"), filepath.Join(dir, "want")
	// --norpfix: wimlib marks its capture for reparse-point fix-ups
	// (header flag RP_FIX), ours is not marked; the stored targets are
	// the same.
	tooltest.Run(t, "wimapply", filepath.Join(group, "Lab reference.wim"), "1", got, "--ref="+filepath.Join(group, "res.rwm"), "--norpfix")
	tooltest.Run(t, "wimapply", ref, "1", want, "--norpfix")
	tooltest.Run(t, "diff", "-r", "--no-dereference", want, got)

	// A second capture after a few files changed: only their data goes.
	changed := changeFiles(t, disk, dir, part, 3, 256<<10)
	dest2 := filepath.Join(out, "lab2.wim")
	r = runBin(t, "--inf", uploadINF(t, srv, "Lab reference 2", dest2, "WDSImageGroup=Lab"), "--disk", changed, "--no-devices")
	if r.code != 0 {
		t.Fatalf("second run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	logPath := dest2 + ".log"
	data, wire, shared, image := logValue(t, logPath, "data_bytes"), logValue(t, logPath, "wire_bytes"),
		logValue(t, logPath, "shared_bytes"), logValue(t, logPath, "image_bytes")
	missing := logValue(t, logPath, "missing_blobs")
	list, _ = srv.Imagestore("list", "--as", `LAB\jdoe`, "--json")
	json.Unmarshal([]byte(list), &imgs)
	var meta int64
	for _, im := range imgs {
		if im.Name == "Lab reference 2" {
			meta = im.MetadataBytes
		}
	}
	t.Logf("second capture: %d of the image's %d bytes on the server already; %d streams sent: %d bytes of data (metadata %d), %d bytes on the wire",
		shared, image, missing, data, meta, wire)
	if missing != 3 {
		t.Errorf("%d streams sent, want the 3 changed files", missing)
	}
	if newData := int64(3 * (256 << 10)); data < newData || data > newData+meta+64<<10 {
		t.Errorf("%d bytes of data sent for %d bytes of changed files and %d of metadata", data, newData, meta)
	}
	if wire < data || wire > data+data/20+64<<10 {
		t.Errorf("%d bytes on the wire for %d bytes of data", wire, data)
	}
	if _, err := os.Stat(dest2); err != nil {
		t.Errorf("DeleteLocalWimOnSuccess=No, but: %v", err)
	}

	// wdscapture images lists both for the technician; the architecture
	// filter works on the client.
	r = runBinEnv(t, []string{"WDSCAPTURE_PASSWORD=" + readerPassword}, "images", "--server", srv.Addr, "--server-cert", srv.Fingerprint, "--user", `LAB\reader`, "--arch", "x64")
	if r.code != 0 || !strings.Contains(r.stdout, "Lab reference.wim") || !strings.Contains(r.stdout, "Lab reference 2.wim") {
		t.Errorf("images --arch x64: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runBinEnv(t, []string{"WDSCAPTURE_PASSWORD=" + readerPassword}, "images", "--server", srv.Addr, "--server-cert", srv.Fingerprint, "--user", `LAB\reader`, "--arch", "arm64")
	if r.code != 0 || strings.Contains(r.stdout, "Lab reference") || !strings.Contains(r.stderr, "no images") {
		t.Errorf("images --arch arm64: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runBinEnv(t, []string{"WDSCAPTURE_PASSWORD=" + readerPassword}, "images", "--groups", "--server", srv.Addr, "--server-cert", srv.Fingerprint, "--user", `LAB\reader`)
	if r.code != 0 || !regexp.MustCompile(`Lab\s+XPRESS\s+\d+\s+no`).MatchString(r.stdout) {
		t.Errorf("images --groups: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// changeFiles writes a copy of disk whose C: partition has n of its files
// rewritten with size bytes of new random data each (ntfscp on the
// extracted partition part, copied back in place).
func changeFiles(t *testing.T, disk, dir, part string, n int, size int) string {
	t.Helper()
	start, _ := cPartition(t, disk)
	p2 := filepath.Join(dir, "part2.img")
	tooltest.Run(t, "cp", "--sparse=always", part, p2)
	listing := tooltest.Run(t, "wimdir", filepath.Join(dir, "wimlib.wim"), "1")
	// The lab's payload files (lib0001.dll, log0000.txt, ...), not the
	// hives or kernel32.dll, which the <WINDOWS> information comes from.
	payload := regexp.MustCompile(`^/Windows/System32/(.*/)?(lib|log|copy)\d{4}\.(dll|txt|bin)$`)
	var files []string
	for _, l := range strings.Split(listing, "\n") {
		if payload.MatchString(l) {
			files = append(files, l)
		}
	}
	if len(files) < n {
		t.Fatalf("only %d payload files in System32 to change:\n%s", len(files), listing)
	}
	for _, f := range files[:n] {
		data := make([]byte, size)
		rand.Read(data)
		local := filepath.Join(dir, "new.bin")
		if err := os.WriteFile(local, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tooltest.Run(t, "ntfscp", "-f", p2, local, f)
	}
	disk2 := filepath.Join(dir, "lab2.img")
	tooltest.Run(t, "cp", "--sparse=always", disk, disk2)
	tooltest.Run(t, "dd", "if="+p2, "of="+disk2, "bs=1M", "oflag=seek_bytes", "conv=notrunc,sparse", fmt.Sprintf("seek=%d", start), "status=none")
	return disk2
}

// TestUploadRefusedBeforeCapture: what the server refuses is found before
// anything is captured: exit 5, a message naming the INF key, nothing
// written locally.
func TestUploadRefusedBeforeCapture(t *testing.T) {
	srv := labStore(t)
	dir := t.TempDir()
	disk := labDisk(t, dir, "lab.img", lab.Options{})
	if err := storetest.AddGroup(srv.Root, "Lab LZX", []string{`LAB\Technicians`}, []string{`LAB\Technicians`}, nil); err != nil {
		t.Fatal(err)
	}
	// An image in the group, for the name clash.
	seed := filepath.Join(dir, "seed.wim")
	if r := runBin(t, "--inf", uploadINF(t, srv, "Taken", seed), "--disk", disk, "--no-devices"); r.code != 0 {
		t.Fatalf("seed upload: exit %d\n%s", r.code, r.stderr)
	}
	closed := closedAddr(t)
	wrongPin := strings.Repeat("AB:", 31) + "AB"
	// An existing LZX WIM to append to, for a group whose images are XPRESS.
	lzxWIM := filepath.Join(dir, "lzx", "existing.wim")
	os.MkdirAll(filepath.Dir(lzxWIM), 0o755)
	if r := runBin(t, "capture", makeSource(t, dir), lzxWIM, "--name", "old", "--compress", "lzx"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	lzxBefore, _ := os.ReadFile(lzxWIM)

	cases := []struct {
		name  string
		image string
		dest  string
		wds   []string
		key   string
		want  string
	}{
		{"wrong password", "x", "", []string{"Password=wrong"}, "Password", "wrong user name or password"},
		{"unknown user", "x", "", []string{`Username=LAB\nobody`}, "Password", "wrong user name or password"},
		{"no write permission", "x", "", []string{`Username=LAB\reader`, "Password=" + readerPassword}, "WDSImageGroup=Lab", "may read the group but not add images"},
		{"unknown group", "x", "", []string{"WDSImageGroup=Nope"}, "WDSImageGroup=Nope", "Nope"},
		{"name clash", "Taken", "", nil, "ImageName=Taken", `"Taken"`},
		{"server that does not answer", "x", "", []string{"WDSServerName=" + closed}, "WDSServerName=" + closed, "refused"},
		{"certificate that does not match the pin", "x", "", []string{"WDSServerCertificate=" + wrongPin}, "WDSServerCertificate=" + wrongPin, srv.Fingerprint},
		{"no way to trust the certificate", "x", "", []string{"WDSServerCertificate="}, "WDSServerCertificate", "imagestore cert"},
		{"compression conflict with the WIM appended to", "x", lzxWIM, []string{}, "DestinationFile=" + lzxWIM, "LZX"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			dest := filepath.Join(out, "lab.wim")
			extra := ""
			if tc.dest != "" {
				dest, extra = tc.dest, "Overwrite=Append"
			}
			infPath := uploadINF(t, srv, tc.image, dest, tc.wds...)
			if extra != "" {
				b, _ := os.ReadFile(infPath)
				os.WriteFile(infPath, bytes.Replace(b, []byte("[Capture]\r\n"), []byte("[Capture]\r\n"+extra+"\r\n"), 1), 0o644)
			}
			r := runBin(t, "--inf", infPath, "--disk", disk, "--no-devices")
			if r.code != exitUpload {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, exitUpload, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.key+":") || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr lacks %q and %q:\n%s", tc.key+":", tc.want, r.stderr)
			}
			if strings.Contains(r.stderr, "[write]") || strings.Contains(r.stderr, "[scan]") {
				t.Errorf("the capture started:\n%s", r.stderr)
			}
			if tc.dest == "" {
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("something was written: %v", err)
				}
			} else if after, _ := os.ReadFile(tc.dest); !bytes.Equal(after, lzxBefore) {
				t.Error("the WIM to append to changed")
			}
			noSecret(t, r.stdout, r.stderr)
		})
	}

	// A conflicting Compression in the INF is a warning: the group's type wins.
	t.Run("Compression of the INF conflicts with the group's", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "lzx.wim")
		infPath := uploadINF(t, srv, "Compression warning", dest)
		b, _ := os.ReadFile(infPath)
		os.WriteFile(infPath, bytes.Replace(b, []byte("[Capture]\r\n"), []byte("[Capture]\r\nCompression=LZX\r\n"), 1), 0o644)
		r := runBin(t, "--inf", infPath, "--disk", disk, "--no-devices")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "warning: Compression=LZX conflicts with image group Lab, whose images are XPRESS") {
			t.Errorf("no warning:\n%s", r.stderr)
		}
		if info := tooltest.Run(t, "wiminfo", dest); !strings.Contains(info, "XPRESS") {
			t.Errorf("captured with another type than the group's:\n%s", info)
		}
	})
}

// TestUploadFailsLater: the link dies after the pre-flight: the capture
// is kept, the exit code is 5, and the message's command line uploads it
// once the link is back.
func TestUploadFailsLater(t *testing.T) {
	srv := labStore(t)
	dir := t.TempDir()
	disk := labDisk(t, dir, "lab.img", lab.Options{})
	if err := storetest.AddGroup(srv.Root, "Later", []string{`LAB\Technicians`}, []string{`LAB\Technicians`}, nil); err != nil {
		t.Fatal(err)
	}
	px, err := storetest.NewProxy(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	dest := filepath.Join(t.TempDir(), "later.wim")
	infPath := uploadINF(t, srv, "Later", dest, "WDSServerName="+px.Addr, "WDSImageGroup=Later", "DeleteLocalWimOnSuccess=Yes")
	px.DownAfter(64 << 10) // the pre-flight passes; the data does not
	r := runBin(t, "--inf", infPath, "--disk", disk, "--no-devices", "--upload-retries", "2")
	if r.code != exitUpload {
		t.Fatalf("exit %d, want %d\n%s%s", r.code, exitUpload, r.stdout, r.stderr)
	}
	if _, err := os.Stat(dest); err != nil {
		t.Fatalf("the captured WIM is gone: %v", err)
	}
	m := regexp.MustCompile(`(?m)^\s*(wdscapture upload .*)$`).FindStringSubmatch(r.stderr)
	if m == nil || !strings.Contains(r.stderr, "is kept") {
		t.Fatalf("no retry command:\n%s", r.stderr)
	}
	noSecret(t, r.stdout, r.stderr)
	px.SetDown(false)
	args := shellSplit(t, m[1])
	r = runBinEnv(t, []string{"WDSCAPTURE_PASSWORD=" + techPassword}, args[1:]...)
	if r.code != 0 {
		t.Fatalf("retry %q: exit %d\n%s%s", m[1], r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "image group Later, file Later.wim") {
		t.Errorf("retry: %s", r.stdout)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("--delete-local: the WIM is still there (%v)", err)
	}
	noSecret(t, r.stdout, r.stderr)
}

// shellSplit splits a command line of words and single-quoted strings.
func shellSplit(t *testing.T, s string) []string {
	t.Helper()
	b, err := exec.Command("sh", "-c", "eval \"set -- $0\"; for a in \"$@\"; do printf '%s\\0' \"$a\"; done", s).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func runBinEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
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

// TestUploadThroughCuttingProxy: `wdscapture upload` with its default
// retry settings through a proxy that drops every connection each time
// another tenth of the WIM has passed: ten cuts, more than the 8 failures
// in a row it allows, are survived because the count restarts whenever
// data moves; the server publishes the image once, and less than 1.2
// times the data reaches it.
func TestUploadThroughCuttingProxy(t *testing.T) {
	srv := labStore(t)
	if err := storetest.AddGroup(srv.Root, "Cut", []string{`LAB\Technicians`}, []string{`LAB\Technicians`}, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	data := make([]byte, 6<<20)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(src, "random.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	wim := filepath.Join(dir, "cut.wim")
	if r := runBin(t, "capture", src, wim, "--name", "Cut", "--compress", "none"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	st, err := os.Stat(wim)
	if err != nil {
		t.Fatal(err)
	}
	px, err := storetest.NewProxy(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	px.CutEvery(st.Size() / 10)
	r := runBinEnv(t, []string{"WDSCAPTURE_PASSWORD=" + techPassword}, "upload", wim, "--server", px.Addr, "--server-cert", srv.Fingerprint,
		"--group", "Cut", "--user", `LAB\jdoe`)
	px.CutEvery(0)
	t.Logf("%d cuts; %d bytes relayed to the server for a %d-byte WIM (%.3fx)", px.Cuts(), px.Up(), st.Size(), float64(px.Up())/float64(st.Size()))
	if r.code != 0 {
		t.Fatalf("exit %d after %d cuts\n%s%s", r.code, px.Cuts(), r.stdout, r.stderr)
	}
	if px.Cuts() < 9 || strings.Count(r.stderr, "trying again") < 9 {
		t.Errorf("%d cuts, %d retries reported:\n%s", px.Cuts(), strings.Count(r.stderr, "trying again"), r.stderr)
	}
	if float64(px.Up()) >= 1.2*float64(st.Size()) {
		t.Errorf("%d bytes reached the server for a %d-byte WIM: not below 1.2x", px.Up(), st.Size())
	}
	if !strings.Contains(r.stdout, "image group Cut, file Cut.wim") {
		t.Errorf("stdout: %s", r.stdout)
	}
	list, err := srv.Imagestore("list", "--as", `LAB\jdoe`, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var imgs []protocol.Image
	json.Unmarshal([]byte(list), &imgs)
	n := 0
	for _, im := range imgs {
		if im.Group == "Cut" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("group Cut holds %d images, want 1:\n%s", n, list)
	}
}
