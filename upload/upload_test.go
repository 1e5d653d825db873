package upload

import (
	"context"
	"errors"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/internal/storetest"
)

// TestUploadAndDedup: a first image goes to an empty group whole and
// applies as its source does; a second capture with one file in twenty
// changed sends only those files' data; the same image again sends
// nothing but its metadata.
func TestUploadAndDedup(t *testing.T) {
	srv := sharedServer(t)
	group := newGroup(t, srv, "Dedup", nil)
	dir := t.TempDir()
	a := makeWIM(t, dir, "first", 0, 40, 64<<10, images.CompressXPRESS)
	b := makeWIM(t, dir, "second", 1, 40, 64<<10, images.CompressXPRESS)
	c := connect(t, config(srv))
	ctx := context.Background()

	var mu sync.Mutex
	var events []Progress
	res, err := c.Upload(ctx, Request{Path: a, Group: group, Progress: func(p Progress) {
		mu.Lock()
		events = append(events, p)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatalf("first upload: %v", err)
	}
	if res.Image.Name != "first" || res.Image.FileName != "first.wim" || res.Group != group {
		t.Errorf("published %+v in %q", res.Image, res.Group)
	}
	if res.Plan.SharedBytes != 0 || res.Plan.MissingBlobs != res.Plan.Blobs {
		t.Errorf("first upload into an empty group shares data: %+v", res.Plan)
	}
	st, _ := os.Stat(a)
	if res.Plan.Total > st.Size() || res.Plan.Total < st.Size()*8/10 {
		t.Errorf("delta of %d bytes for a WIM of %d", res.Plan.Total, st.Size())
	}
	if res.BodyBytes != res.Plan.Total {
		t.Errorf("sent %d body bytes for a delta of %d", res.BodyBytes, res.Plan.Total)
	}
	if res.WireBytes < res.Plan.Total || res.WireBytes > res.Plan.Total+res.Plan.Total/20+64<<10 {
		t.Errorf("%d bytes on the wire for %d of data", res.WireBytes, res.Plan.Total)
	}
	stages := map[Stage]bool{}
	var last Progress
	for _, e := range events {
		stages[e.Stage] = true
		if e.Stage == StageSend {
			last = e
		}
	}
	if !stages[StageDedup] || !stages[StageSend] || !stages[StageFinalize] || last.Sent != last.Total {
		t.Errorf("progress: stages %v, last send event %+v", stages, last)
	}
	checkPublished(t, srv.Root, group, "first.wim", a)

	// One file in twenty changed: only their data goes.
	res2, err := c.Upload(ctx, Request{Path: b, Group: group, Description: "after the update"})
	if err != nil {
		t.Fatalf("second upload: %v", err)
	}
	if res2.Plan.MissingBlobs < 2 || res2.Plan.MissingBlobs > 4 {
		t.Errorf("second image: %d of %d blobs missing, want the 2 changed files and the variant file", res2.Plan.MissingBlobs, res2.Plan.Blobs)
	}
	if res2.WireBytes > res2.Plan.ImageBytes/5 {
		t.Errorf("second image: %d bytes on the wire for %d bytes of image data (%d shared)", res2.WireBytes, res2.Plan.ImageBytes, res2.Plan.SharedBytes)
	}
	if res2.Image.Description != "after the update" {
		t.Errorf("description %q", res2.Image.Description)
	}
	checkPublished(t, srv.Root, group, "second.wim", b)

	// The same image under another name: metadata only.
	res3, err := c.Upload(ctx, Request{Path: a, Group: group, Name: "first again"})
	if err != nil {
		t.Fatalf("third upload: %v", err)
	}
	if res3.Plan.MissingBlobs != 0 || res3.Plan.SharedBytes != res3.Plan.ImageBytes || res3.NewBytes != 0 {
		t.Errorf("re-upload: %+v, new bytes %d", res3.Plan, res3.NewBytes)
	}
	if res3.WireBytes > res.WireBytes/50 {
		t.Errorf("re-upload: %d bytes on the wire, first upload %d", res3.WireBytes, res.WireBytes)
	}
	imgs, err := c.Images(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, im := range imgs {
		names = append(names, im.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "first,first again,second" {
		t.Errorf("group lists %v", names)
	}
	if strings.Contains(srv.Logs(), password) {
		t.Error("the server logged the password")
	}
}

// TestCuttingProxy: a proxy drops every connection each time another
// tenth of the data has passed. The upload completes, one verified image
// is published, and less than 1.2 times the data is sent.
func TestCuttingProxy(t *testing.T) {
	srv := sharedServer(t)
	group := newGroup(t, srv, "Flaky", nil)
	wim := bigWIM(t)
	st, _ := os.Stat(wim)
	px, err := storetest.NewProxy(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	cfg := config(srv)
	cfg.Server = px.Addr
	c := connect(t, cfg)
	px.CutEvery(st.Size() / 10)
	res, err := c.Upload(context.Background(), Request{Path: wim, Group: group})
	if err != nil {
		t.Fatalf("upload through the cutting proxy: %v (%d cuts)", err, px.Cuts())
	}
	px.CutEvery(0)
	data := res.Plan.Total
	t.Logf("data %d bytes, %d cuts, %d resumes; relayed to the server %d (%.3fx), body bytes sent %d (%.3fx), wire bytes %d (%.3fx)",
		data, px.Cuts(), res.Resumes, px.Up(), float64(px.Up())/float64(data), res.BodyBytes, float64(res.BodyBytes)/float64(data),
		res.WireBytes, float64(res.WireBytes)/float64(data))
	if px.Cuts() < 9 {
		t.Errorf("only %d cuts", px.Cuts())
	}
	if res.Resumes < px.Cuts()-1 {
		t.Errorf("%d resumes for %d cuts", res.Resumes, px.Cuts())
	}
	if float64(res.WireBytes) >= 1.2*float64(data) || float64(px.Up()) >= 1.2*float64(data) {
		t.Errorf("sent %d bytes (%d reached the server) for %d bytes of data: not below 1.2x", res.WireBytes, px.Up(), data)
	}
	imgs, err := c.Images(context.Background(), group)
	if err != nil || len(imgs) != 1 {
		t.Fatalf("group holds %v (%v)", imgs, err)
	}
	checkPublished(t, srv.Root, group, "big.wim", wim)
}

// TestServerRestart: the server is killed (SIGKILL) and restarted while
// the data is on its way, twice, and once more while the image is being
// finalized: the client logs in again, resumes at the server's offset and
// the image is published once, verified.
func TestServerRestart(t *testing.T) {
	root := t.TempDir()
	if err := seedStore(root, nil); err != nil {
		t.Fatal(err)
	}
	srv, err := storetest.Start(root, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	group := newGroup(t, srv, "Restart", nil)
	wim := bigWIM(t)
	cfg := config(srv)
	cfg.ChunkSize = 1 << 20 // many PATCHes, so that the kills land mid-transfer
	c := connect(t, cfg)

	var mu sync.Mutex
	kills := 0
	killAt := []float64{0.3, 0.7}
	finalizeKilled := false
	var wg sync.WaitGroup
	restart := func() {
		defer wg.Done()
		srv.Kill()
		time.Sleep(500 * time.Millisecond)
		if err := srv.Restart(); err != nil {
			t.Error(err)
		}
	}
	res, err := c.Upload(context.Background(), Request{Path: wim, Group: group, Progress: func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case p.Stage == StageSend && p.Err == nil && kills < len(killAt) && float64(p.Sent) >= killAt[kills]*float64(p.Total):
			kills++
			wg.Add(1)
			go restart()
		case p.Stage == StageFinalize && p.Err == nil && !finalizeKilled:
			finalizeKilled = true
			wg.Add(1)
			go restart()
		}
	}})
	wg.Wait()
	if err != nil {
		t.Fatalf("upload across restarts: %v\nserver log:\n%s", err, srv.Logs())
	}
	if kills != 2 || !finalizeKilled || res.Resumes < 2 {
		t.Errorf("%d kills during the transfer, finalize killed %v, %d resumes", kills, finalizeKilled, res.Resumes)
	}
	t.Logf("data %d bytes, body bytes sent %d (%.3fx), %d resumes", res.Plan.Total, res.BodyBytes, float64(res.BodyBytes)/float64(res.Plan.Total), res.Resumes)
	if float64(res.BodyBytes) >= 1.2*float64(res.Plan.Total) {
		t.Errorf("sent %d bytes for %d of data", res.BodyBytes, res.Plan.Total)
	}
	imgs, err := c.Images(context.Background(), group)
	if err != nil || len(imgs) != 1 || imgs[0].Name != "big" {
		t.Fatalf("group holds %v (%v)", imgs, err)
	}
	checkPublished(t, srv.Root, group, "big.wim", wim)
}

// TestErrors: every refusal is a typed error, found before any data is
// sent.
func TestErrors(t *testing.T) {
	srv := sharedServer(t)
	ctx := context.Background()
	group := newGroup(t, srv, "Errors", nil)
	readOnly := "ReadOnly"
	if err := storetest.AddGroup(srv.Root, readOnly, []string{readersGroup, techGroup}, []string{`LAB\Admins`}, nil); err != nil {
		t.Fatal(err)
	}
	lzx := images.CompressLZX
	newGroup(t, srv, "LZX only", &lzx)
	if err := storetest.AddGroup(srv.Root, "Hidden", []string{techGroup}, []string{techGroup}, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wim := makeWIM(t, dir, "small", 0, 4, 4<<10, images.CompressXPRESS)
	c := connect(t, config(srv))
	if _, err := c.Upload(ctx, Request{Path: wim, Group: group}); err != nil {
		t.Fatal(err)
	}
	blackhole, err := storetest.NewBlackhole()
	if err != nil {
		t.Fatal(err)
	}
	defer blackhole.Close()
	closed := closedPort(t)

	connectCases := []struct {
		name string
		edit func(*Config)
		kind error
		want string
	}{
		{"wrong password", func(c *Config) { c.Password = secret("wrong") }, ErrAuth, "wrong user name or password"},
		{"unknown user", func(c *Config) { c.User = `LAB\nobody` }, ErrAuth, "wrong user name or password"},
		{"pin mismatch", func(c *Config) { c.Trust.Fingerprint = strings.Repeat("AB:", 31) + "AB" }, ErrPinMismatch, srv.Fingerprint},
		{"no trust configured", func(c *Config) { c.Trust = Trust{} }, ErrUntrusted, srv.Fingerprint},
		{"connection refused", func(c *Config) { c.Server = closed }, ErrUnreachable, "refused"},
		{"server does not answer", func(c *Config) { c.Server = blackhole.Addr; c.ConnectTimeout = 500 * time.Millisecond }, ErrUnreachable, "timeout"},
		{"bad server name", func(c *Config) { c.Server = "http://" + srv.Addr }, ErrUnreachable, "https"},
	}
	for _, tc := range connectCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(srv)
			tc.edit(&cfg)
			start := time.Now()
			_, err := Connect(ctx, cfg)
			checkErr(t, err, tc.kind, tc.want)
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}

	reader := config(srv)
	reader.User, reader.Password = userReader, secret(readerPass)
	rc := connect(t, reader)
	preflight := []struct {
		name string
		c    *Client
		chk  Check
		kind error
		want string
	}{
		{"unknown group", c, Check{Group: "No Such Group", Name: "x"}, ErrUnknownGroup, "No Such Group"},
		{"invalid group name", c, Check{Group: "../etc", Name: "x"}, ErrUnknownGroup, "group name"},
		{"group the user may only read", c, Check{Group: readOnly, Name: "x"}, ErrForbidden, "not add images"},
		{"group the user may not see", rc, Check{Group: "Hidden", Name: "x"}, ErrUnknownGroup, "Hidden"},
		{"name clash", c, Check{Group: group, Name: "small"}, ErrNameExists, `"small"`},
		{"file name clash", c, Check{Group: group, Name: "Small"}, ErrNameExists, "small.wim"},
		{"compression conflict", c, Check{Group: "LZX only", Name: "x", Compression: "XPRESS"}, ErrCompression, "LZX"},
	}
	for _, tc := range preflight {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.Preflight(ctx, tc.chk)
			checkErr(t, err, tc.kind, tc.want)
		})
	}
	t.Run("group passes", func(t *testing.T) {
		g, err := c.Preflight(ctx, Check{Group: "LZX only", Name: "new", Compression: "LZX"})
		if err != nil || g.Compression != "LZX" || !g.MayWrite || g.FreeBytes == 0 {
			t.Errorf("Preflight = %+v, %v", g, err)
		}
	})

	// Upload runs the same checks before sending anything.
	uploads := []struct {
		name string
		req  Request
		kind error
	}{
		{"upload: name clash", Request{Path: wim, Group: group}, ErrNameExists},
		{"upload: compression conflict", Request{Path: wim, Group: "LZX only"}, ErrCompression},
		{"upload: read-only group", Request{Path: wim, Group: readOnly}, ErrForbidden},
		{"upload: no such image", Request{Path: wim, Index: 2, Group: group}, ErrLocal},
		{"upload: no such file", Request{Path: dir + "/missing.wim", Group: group}, ErrLocal},
	}
	for _, tc := range uploads {
		t.Run(tc.name, func(t *testing.T) {
			before := c.WireBytes()
			_, err := c.Upload(ctx, tc.req)
			checkErr(t, err, tc.kind, "")
			if sent := c.WireBytes() - before; sent > 16<<10 {
				t.Errorf("%d bytes sent before the refusal", sent)
			}
		})
	}
	if strings.Contains(srv.Logs(), password) || strings.Contains(srv.Logs(), readerPass) {
		t.Error("the server logged a password")
	}
}

var big struct {
	once sync.Once
	path string
}

// bigWIM returns a WIM of about 32 MB of incompressible data, made once
// for the tests that cut connections: large against what a dropped
// connection loses (the data in flight), as real images are.
func bigWIM(t *testing.T) string {
	big.once.Do(func() {
		dir, err := os.MkdirTemp("", "upload-test-big-")
		if err != nil {
			t.Fatal(err)
		}
		big.path = makeWIM(t, dir, "big", 0, 64, 512<<10, images.CompressNone)
	})
	if big.path == "" {
		t.Fatal("no big WIM")
	}
	return big.path
}

func checkErr(t *testing.T, err error, kind error, want string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want %v", err, kind)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T is not *Error", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("error %q holds the password", err)
	}
}
