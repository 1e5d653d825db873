package server

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/protocol"
)

const testWindowsXML = `<WINDOWS><ARCH>9</ARCH><PRODUCTNAME>Windows 11 Enterprise</PRODUCTNAME><EDITIONID>Enterprise</EDITIONID>` +
	`<INSTALLATIONTYPE>Client</INSTALLATIONTYPE><HAL>acpiapic</HAL><PRODUCTTYPE>WinNT</PRODUCTTYPE>` +
	`<VERSION><MAJOR>10</MAJOR><MINOR>0</MINOR><BUILD>22631</BUILD><SPBUILD>2861</SPBUILD><SPLEVEL>0</SPLEVEL></VERSION>` +
	`<SYSTEMROOT>WINDOWS</SYSTEMROOT><LANGUAGES><LANGUAGE>en-US</LANGUAGE><DEFAULT>en-US</DEFAULT></LANGUAGES></WINDOWS>`

// testTree is a small Windows-like tree; trees of different variants
// share all files but one in twenty (a reference machine after an
// update).
func testTree(variant uint32, files int) *memsource.Source {
	var sys []*memsource.File
	for i := range files {
		seed := uint32(i + 1)
		if variant != 0 && i%20 == int(variant%20) {
			seed += 7919 * variant
		}
		sys = append(sys, memsource.Regular(fmt.Sprintf("file%03d.dll", i), memsource.Pattern{N: int64(3000 + 2531*i), Seed: seed}))
	}
	return memsource.New(
		memsource.Text("readme.txt", strings.Repeat("identical text, stored once\n", 200)),
		memsource.Regular("empty.txt", memsource.Bytes(nil)),
		memsource.Dir("Windows",
			memsource.Dir("System32", sys...),
			memsource.Text(fmt.Sprintf("variant-%d.txt", variant), fmt.Sprintf("variant %d\n", variant)),
			memsource.Regular("big.bin", memsource.Pattern{N: 400000, Seed: 42})),
		memsource.Dir("Program Files", memsource.Dir("Empty Dir")),
	)
}

// makeWIM captures a test tree into path.
func makeWIM(t testing.TB, path string, variant uint32, files int, comp images.Compression, name string) string {
	t.Helper()
	w, err := images.Create(path, images.Options{Compression: comp, Integrity: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage(context.Background(), testTree(variant, files), images.ImageOptions{Name: name, Description: "test " + name, WindowsXML: testWindowsXML}); err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

// newGroup creates an image group in the store at root.
func newGroup(t *testing.T, root, name string, read, write []string) {
	t.Helper()
	s, err := store.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(context.Background(), name, store.GroupOptions{Read: read, Write: write}); err != nil {
		t.Fatal(err)
	}
}

// addDirect adds a WIM with the store library (the admin's imagestore add).
func addDirect(t *testing.T, root, group, wim string, filter []string) {
	t.Helper()
	s, err := store.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	r, err := images.Open(wim)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := s.Add(context.Background(), group, r, wim, store.AddOptions{Index: 1, ReadFilter: filter}); err != nil {
		t.Fatal(err)
	}
}

// checkGroup verifies a group with wimlib: every image's metadata WIM
// with res.rwm as reference (wimverify), and the named images applied
// equal wimlib's apply of their source WIMs.
func checkGroup(t *testing.T, root, group string, sources map[string]string) {
	t.Helper()
	gd := filepath.Join(root, "Images", group)
	res := filepath.Join(gd, store.ResourceFile)
	wims, _ := filepath.Glob(filepath.Join(gd, "*.wim"))
	for _, w := range wims {
		tooltest.Run(t, "wimverify", w, "--ref="+res)
	}
	for file, src := range sources {
		tmp := t.TempDir()
		tooltest.Run(t, "wimapply", filepath.Join(gd, file), "1", filepath.Join(tmp, "got"), "--ref="+res)
		tooltest.Run(t, "wimapply", src, "1", filepath.Join(tmp, "want"))
		tooltest.Run(t, "diff", "-r", "--no-dereference", filepath.Join(tmp, "want"), filepath.Join(tmp, "got"))
	}
}

func imageNames(imgs []protocol.Image) []string {
	var out []string
	for _, im := range imgs {
		out = append(out, im.Group+"/"+im.Name)
	}
	slices.Sort(out)
	return out
}

// TestEnumerationAndLogin: two users see different images (group ACLs
// and an image read filter), the metadata fields arrive, a wrong
// password and a missing session are refused, logout ends the session,
// the printed fingerprint is the certificate's, TLS 1.2 is refused.
func TestEnumerationAndLogin(t *testing.T) {
	tooltest.Require(t, "wimapply")
	root := t.TempDir()
	writeUsers(t, root, map[string]string{`LAB\alice`: "alice pw", `LAB\bob`: "bob pw"},
		map[string][]string{`LAB\Techs`: {`LAB\alice`, `LAB\bob`}, `LAB\Pilot`: {`LAB\bob`}})
	newGroup(t, root, "Shared", []string{`LAB\Techs`}, []string{`LAB\alice`})
	newGroup(t, root, "Bob only", []string{`LAB\bob`}, []string{`LAB\bob`})
	tmp := t.TempDir()
	addDirect(t, root, "Shared", makeWIM(t, filepath.Join(tmp, "a.wim"), 0, 10, images.CompressXPRESS, "Win11 Base"), nil)
	addDirect(t, root, "Shared", makeWIM(t, filepath.Join(tmp, "b.wim"), 1, 10, images.CompressXPRESS, "Win11 Pilot"), []string{`LAB\Pilot`})
	addDirect(t, root, "Bob only", makeWIM(t, filepath.Join(tmp, "c.wim"), 2, 10, images.CompressXPRESS, "Bob's"), nil)

	ts := startServer(t, root, "")
	certPEM, err := os.ReadFile(filepath.Join(root, "Server", "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(certPEM)
	if cert, err := x509.ParseCertificate(blk.Bytes); err != nil || Fingerprint(cert.Raw) != ts.fp {
		t.Errorf("printed fingerprint %s is not the certificate's (%v)", ts.fp, err)
	}
	if st, err := os.Stat(filepath.Join(root, "Server", "tls", "key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v", err, st.Mode())
	}

	alice, bob := newClient(t, ts), newClient(t, ts)
	if r := alice.must("GET", protocol.PathImages, nil, nil); r.status != http.StatusUnauthorized || r.apiError().Code != protocol.CodeUnauthorized {
		t.Errorf("images without a session: %s", r)
	}
	if r := alice.login("alice", "guess-123"); r.status != http.StatusUnauthorized || r.apiError().Code != protocol.CodeUnauthorized {
		t.Errorf("wrong password: %s", r)
	}
	if r := alice.login("nobody", "x"); r.status != http.StatusUnauthorized || r.apiError().Message != "wrong user name or password" {
		t.Errorf("unknown user: %s", r)
	}
	alice.mustLogin("alice@lab.example.com", "alice pw")
	bob.mustLogin(`LAB\bob`, "bob pw")

	if got, want := imageNames(alice.images("")), []string{"Shared/Win11 Base"}; !slices.Equal(got, want) {
		t.Errorf("alice sees %q, want %q", got, want)
	}
	bobSees := bob.images("")
	if got, want := imageNames(bobSees), []string{"Bob only/Bob's", "Shared/Win11 Base", "Shared/Win11 Pilot"}; !slices.Equal(got, want) {
		t.Errorf("bob sees %q, want %q", got, want)
	}
	if got := alice.images("Bob only"); len(got) != 0 {
		t.Errorf("alice lists Bob only: %v", imageNames(got))
	}
	im := bobSees[0]
	if im.Architecture != "amd64" || im.ProductName != "Windows 11 Enterprise" || im.HAL != "acpiapic" ||
		!slices.Equal(im.Languages, []string{"en-US"}) || im.Version == "" || im.TotalBytes == 0 || im.FileCount == 0 ||
		im.FileName == "" || im.Compression != "XPRESS" || len(im.GroupRead) == 0 {
		t.Errorf("image metadata incomplete: %+v", im)
	}
	ag := alice.groups()
	if len(ag) != 1 || ag[0].Name != "Shared" || !ag[0].MayWrite || ag[0].Compression != "XPRESS" || ag[0].Images != 1 || ag[0].FreeBytes == 0 {
		t.Errorf("alice's groups: %+v", ag)
	}
	if bg := bob.groups(); len(bg) != 2 || bg[1].Name != "Shared" || bg[1].MayWrite || bg[1].Images != 2 {
		t.Errorf("bob's groups: %+v", bg)
	}
	if r := alice.must("GET", "/api/v1/groups/Bob%20only", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("alice reads Bob only: %s", r)
	}

	if r := alice.must("POST", protocol.PathLogout, nil, nil); r.status != http.StatusNoContent {
		t.Errorf("logout: %s", r)
	}
	if r := alice.must("GET", protocol.PathGroups, nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("after logout: %s", r)
	}

	// TLS 1.2 and plain HTTP are refused.
	old := pinnedClient(ts.fp)
	old.Transport.(*http.Transport).TLSClientConfig.MinVersion = 0
	old.Transport.(*http.Transport).TLSClientConfig.MaxVersion = 0x0303
	if _, err := old.Get("https://" + ts.addr + protocol.PathInfo); err == nil {
		t.Error("a TLS 1.2 client was served")
	}
	if resp, err := http.Get("http://" + ts.addr + protocol.PathInfo); err == nil && resp.StatusCode == http.StatusOK {
		t.Error("plain HTTP was served")
	}
	// A client pinning another fingerprint does not connect.
	if _, err := pinnedClient(strings.Repeat("00:", 31) + "00").Get("https://" + ts.addr + protocol.PathInfo); err == nil {
		t.Error("a wrong pin connected")
	}

	// Graceful stop, and the same certificate after a restart; sessions
	// do not survive it.
	if err := ts.stop(); err != nil {
		t.Errorf("SIGTERM: %v\n%s", err, ts.logs)
	}
	ts2 := startServer(t, root, "")
	if ts2.fp != ts.fp {
		t.Errorf("fingerprint changed across restarts: %s then %s", ts.fp, ts2.fp)
	}
	bob.base = "https://" + ts2.addr
	if r := bob.must("GET", protocol.PathGroups, nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("session survived a restart: %s", r)
	}
	checkNoSecrets(t, ts.logs.String()+ts2.logs.String(), "alice pw", "bob pw", "guess-123", alice.token, bob.token)
}

// checkNoSecrets fails when a log holds a password, token or hash.
func checkNoSecrets(t *testing.T, logs string, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, "$argon2id$", "Bearer") {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the server log contains %q", s)
		}
	}
}

// TestThrottle: failed logins past the free ones bar the user name (in
// every name form) and then the address, before any password check.
func TestThrottle(t *testing.T) {
	root := t.TempDir()
	writeUsers(t, root, map[string]string{`LAB\alice`: "alice pw", `LAB\carol`: "carol pw"}, nil)
	writeConfig(t, root, map[string]any{"login_free_failures": 2, "login_free_failures_addr": 5, "login_delay": "6s", "login_max_delay": "12s"})
	ts := startServer(t, root, "")
	c := newClient(t, ts)
	for i := range 2 {
		if r := c.login("alice", "guess"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %s", i+1, r)
		}
	}
	// The third failure bars alice (in any name form) for login_delay.
	if r := c.login(`LAB\alice`, "guess"); r.status != http.StatusUnauthorized {
		t.Fatalf("failure 3: %s", r)
	}
	r := c.login("alice@lab.example.com", "alice pw")
	if r.status != http.StatusTooManyRequests || r.apiError().Code != protocol.CodeThrottled || r.header.Get("Retry-After") == "" {
		t.Fatalf("right password while barred: %s (Retry-After %q)", r, r.header.Get("Retry-After"))
	}
	// Another user from the same address is not barred yet...
	if r := c.login("carol", "carol pw"); r.status != http.StatusOK {
		t.Errorf("carol: %s", r)
	}
	// ...until the address has had its free failures too.
	for range 3 {
		c.login("mallory", "x")
	}
	if r := c.login("carol", "carol pw"); r.status != http.StatusTooManyRequests {
		t.Errorf("carol from an address with 6 failures: %s", r)
	}
	// Retry-After tells how long; after it the right password works.
	wait, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if wait < 1 || wait > 6 {
		t.Errorf("Retry-After %d, want 1..6 s", wait)
	}
	time.Sleep(6100 * time.Millisecond)
	if r := c.login("alice", "alice pw"); r.status != http.StatusOK {
		t.Errorf("alice after the delay: %s", r)
	}
	checkNoSecrets(t, ts.logs.String(), "alice pw", "carol pw", "guess", c.token)
}

// TestUploadDedupResume uploads an image, then a 95% identical one
// interrupted halfway and resumed from the offset the server gives: the
// dedup answer leaves out what the group has, the group grows by little,
// and wimlib verifies and applies both images.
func TestUploadDedupResume(t *testing.T) {
	tooltest.Require(t, "wimapply", "wimverify")
	root := t.TempDir()
	writeUsers(t, root, map[string]string{`LAB\alice`: "pw"}, nil)
	newGroup(t, root, "Win11", []string{`LAB\alice`}, []string{`LAB\alice`})
	ts := startServer(t, root, "")
	c := newClient(t, ts)
	c.mustLogin("alice", "pw")
	tmp := t.TempDir()
	first := makeWIM(t, filepath.Join(tmp, "first.wim"), 0, 40, images.CompressXPRESS, "Reference")
	second := makeWIM(t, filepath.Join(tmp, "second.wim"), 1, 40, images.CompressXPRESS, "Reference, updated")

	fr, r := c.upload(first, "Win11", "Reference")
	if r.status != http.StatusOK || fr.State != protocol.StatePublished || fr.Image == nil || fr.Image.FileName != "Reference.wim" {
		t.Fatalf("first upload: %s", r)
	}
	if g := c.groups(); len(g) != 1 || g[0].Compression != "XPRESS" {
		t.Errorf("after the first image the group is %+v", g)
	}
	resBefore := fileSize(t, filepath.Join(root, "Images", "Win11", store.ResourceFile))

	d := c.plan(second, "Win11")
	if d.missing == 0 || d.missing*10 > d.total {
		t.Fatalf("dedup of a 95%% identical image: %d of %d streams missing", d.missing, d.total)
	}
	loc, r := c.create(d.Size(), map[string]string{protocol.MetaGroup: "Win11", protocol.MetaName: "Reference, updated", protocol.MetaDescription: "after an update"})
	if loc == "" {
		t.Fatalf("create: %s", r)
	}
	half := d.Size() / 2
	c.send(loc, d, 0, half, 4096)
	// The connection drops in the middle of a PATCH body: what arrived is
	// kept, and the client asks where to go on.
	conn := dial(t, ts)
	head := fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Upload-Offset: %d\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n",
		loc, ts.addr, c.token, half, d.Size()-half)
	part := make([]byte, 3000)
	d.ReadAt(part, half)
	conn.Write(append([]byte(head), part...))
	time.Sleep(300 * time.Millisecond)
	conn.Close()
	off, r := c.offset(loc)
	if off < half || off > half+3000 {
		t.Fatalf("offset after %d bytes and a cut PATCH of 3000: %d (%s)", half, off, r)
	}
	t.Logf("after the cut PATCH the server has %d bytes (%d of the cut one)", off, off-half)
	half = off
	// A PATCH at a wrong offset is refused.
	if r, _ := c.patch(loc, d, half-10, 10); r.status != http.StatusConflict {
		t.Errorf("PATCH at a wrong offset: %s", r)
	}
	// Finalizing early is refused, the upload stays.
	if fr, r := c.finalize(loc, nil); r.status != http.StatusConflict || fr.State != "" && fr.State != protocol.StateComplete {
		if r.apiError().Code != protocol.CodeIncomplete {
			t.Errorf("early finalize: %s", r)
		}
	}
	c.send(loc, d, half, d.Size(), 1<<20)
	fr, r = c.finalize(loc, nil)
	if r.status != http.StatusOK || fr.State != protocol.StatePublished || fr.Image.Description != "after an update" {
		t.Fatalf("second upload: %s", r)
	}
	// Asking again gives the same answer.
	if fr2, r := c.finalize(loc, nil); r.status != http.StatusOK || fr2.Image.FileName != fr.Image.FileName {
		t.Errorf("finalize again: %s", r)
	}
	grew := fileSize(t, filepath.Join(root, "Images", "Win11", store.ResourceFile)) - resBefore
	if grew > d.PayloadSize()+64<<10 {
		t.Errorf("res.rwm grew by %d bytes for %d bytes of new data", grew, d.PayloadSize())
	}
	t.Logf("second image: %d of %d streams sent, %d payload bytes, delta %d bytes, res.rwm +%d", d.missing, d.total, d.PayloadSize(), d.Size(), grew)
	checkGroup(t, root, "Win11", map[string]string{"Reference.wim": first, fr.Image.FileName: second})
	// The staged files are gone.
	if left := stagedFiles(t, root); len(left) != 2 { // the two .state records
		t.Errorf("staging holds %v", left)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func stagedFiles(t *testing.T, root string) []string {
	ents, err := os.ReadDir(filepath.Join(root, "Server", uploadsDir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestConcurrentUploads: two clients upload to one group at once; with
// different names both are published, with the same name one is and the
// other gets a clear conflict, then publishes under another name without
// sending the data again.
func TestConcurrentUploads(t *testing.T) {
	tooltest.Require(t, "wimapply", "wimverify")
	root := t.TempDir()
	writeUsers(t, root, map[string]string{`LAB\alice`: "pw", `LAB\bob`: "pw"}, map[string][]string{`LAB\Techs`: {`LAB\alice`, `LAB\bob`}})
	newGroup(t, root, "G", []string{`LAB\Techs`}, []string{`LAB\Techs`})
	ts := startServer(t, root, "")
	tmp := t.TempDir()
	wims := map[string]string{}
	for i, n := range []string{"A", "B", "C", "D"} {
		wims[n] = makeWIM(t, filepath.Join(tmp, n+".wim"), uint32(i+1), 20, images.CompressXPRESS, n)
	}
	alice, bob := newClient(t, ts), newClient(t, ts)
	alice.mustLogin("alice", "pw")
	bob.mustLogin("bob", "pw")

	var wg sync.WaitGroup
	results := make([]protocol.FinalizeResponse, 2)
	replies := make([]reply, 2)
	for i, c := range []*client{alice, bob} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := []string{"A", "B"}[i]
			results[i], replies[i] = c.upload(wims[name], "G", name)
		}()
	}
	wg.Wait()
	for i := range 2 {
		if replies[i].status != http.StatusOK || results[i].State != protocol.StatePublished {
			t.Errorf("concurrent upload %d: %s", i, replies[i])
		}
	}

	// Same name: both pass the early check, then finalize at once.
	var locs [2]string
	for i, c := range []*client{alice, bob} {
		d := c.plan(wims[[]string{"C", "D"}[i]], "G")
		loc, r := c.create(d.Size(), map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "Same"})
		if loc == "" {
			t.Fatalf("create: %s", r)
		}
		c.send(loc, d, 0, d.Size(), 1<<20)
		locs[i] = loc
	}
	for i, c := range []*client{alice, bob} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], replies[i] = c.finalize(locs[i], nil)
		}()
	}
	wg.Wait()
	ok, clash := -1, -1
	for i := range 2 {
		switch {
		case replies[i].status == http.StatusOK && results[i].State == protocol.StatePublished:
			ok = i
		case replies[i].status == http.StatusConflict && results[i].Error != nil && results[i].Error.Code == protocol.CodeConflict && results[i].State == protocol.StateComplete:
			clash = i
		}
	}
	if ok < 0 || clash < 0 {
		t.Fatalf("same name at once: %s and %s", replies[0], replies[1])
	}
	c := []*client{alice, bob}[clash]
	fr, r := c.finalize(locs[clash], &protocol.FinalizeRequest{Name: "Same (2)"})
	if r.status != http.StatusOK || fr.Image.Name != "Same (2)" {
		t.Fatalf("finalize with a new name: %s", r)
	}
	names := imageNames(alice.images("G"))
	if want := []string{"G/A", "G/B", "G/Same", "G/Same (2)"}; !slices.Equal(names, want) {
		t.Errorf("group holds %q, want %q", names, want)
	}
	checkGroup(t, root, "G", map[string]string{"A.wim": wims["A"], "B.wim": wims["B"]})
	// A new upload under a taken name is refused before any byte is sent.
	if loc, r := alice.create(100, map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "A"}); loc != "" || r.status != http.StatusConflict {
		t.Errorf("create with a taken name: %s", r)
	}
}
