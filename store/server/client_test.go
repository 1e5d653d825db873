package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/internal/syncbuf"
	"github.com/wdscapture/wdscapture/store/auth"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// This file is the test client of the protocol (the real one is package
// upload, issue 16) and the harness that runs `imagestore serve` as a
// real process on loopback.

// bin is the imagestore binary, built on first use (fuzz workers, which
// run TestMain too, never need it).
var (
	bin      string
	binDir   string
	binOnce  sync.Once
	binError error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binError = os.MkdirTemp("", "imagestore-server-test-")
		if binError != nil {
			return
		}
		bin = filepath.Join(binDir, "imagestore")
		args := []string{"build", "-o", bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, "../../cmd/imagestore")...).CombinedOutput(); err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return bin
}

// testServer is one `imagestore serve` process.
type testServer struct {
	t    *testing.T
	root string
	addr string
	fp   string
	cmd  *exec.Cmd
	logs *syncbuf.Buffer
	// exited is closed when the process has ended, with err.
	exited chan struct{}
	err    error
}

// allLogs collects every server process's log of a test, for the checks
// that no secret is ever logged.
var allLogs syncbuf.Buffer

var serveLine = regexp.MustCompile(`on https://(\S+)\n`)
var fpLine = regexp.MustCompile(`fingerprint ([0-9A-F:]{95})\n`)

// startServer runs imagestore serve on a free loopback port (or addr,
// to come back on the same port after a restart) with env added.
func startServer(t *testing.T, root, addr string, env ...string) *testServer {
	t.Helper()
	return startServerArgs(t, root, addr, nil, env...)
}

// startServerArgs is startServer with more serve flags.
func startServerArgs(t *testing.T, root, addr string, args []string, env ...string) *testServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	cmd := exec.Command(buildBinary(t), append([]string{"serve", "--root", root, "--listen", addr}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, root: root, cmd: cmd, logs: &syncbuf.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = io.MultiWriter(ts.logs, &allLogs)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	br := bufio.NewReader(stdout)
	deadline := time.Now().Add(60 * time.Second)
	for ts.fp == "" && time.Now().Before(deadline) {
		line, err := br.ReadString('\n')
		out.WriteString(line)
		if m := serveLine.FindStringSubmatch(line); m != nil {
			ts.addr = m[1]
		}
		if m := fpLine.FindStringSubmatch(line); m != nil {
			ts.fp = m[1]
		}
		if err != nil {
			break
		}
	}
	go io.Copy(io.Discard, br)
	go func() {
		ts.err = cmd.Wait()
		close(ts.exited)
	}()
	if ts.fp == "" || ts.addr == "" {
		cmd.Process.Kill()
		<-ts.exited
		t.Fatalf("imagestore serve did not start:\n%s\n%s", out.String(), ts.logs.String())
	}
	t.Cleanup(func() { ts.kill() })
	return ts
}

// kill SIGKILLs the server (if it still runs) and waits for it.
func (ts *testServer) kill() {
	select {
	case <-ts.exited:
	default:
		ts.cmd.Process.Signal(syscall.SIGKILL)
	}
	ts.wait()
}

func (ts *testServer) wait() error {
	select {
	case <-ts.exited:
		return ts.err
	case <-time.After(2 * time.Minute):
		ts.t.Fatalf("imagestore serve did not end")
		return nil
	}
}

// stop sends SIGTERM and waits for a graceful exit.
func (ts *testServer) stop() error {
	ts.cmd.Process.Signal(syscall.SIGTERM)
	return ts.wait()
}

// died reports whether the server exits within the time (a crash point
// fired).
func (ts *testServer) died(within time.Duration) bool {
	select {
	case <-ts.exited:
		return true
	case <-time.After(within):
		return false
	}
}

// cheap are argon2id parameters for test accounts (the server checks
// any hash with the parameters stored in it).
var cheap = auth.HashParams{Memory: 64, Time: 1, Threads: 1}

// writeUsers makes the users file: user name -> password, and groups.
func writeUsers(t *testing.T, root string, users map[string]string, groups map[string][]string) {
	t.Helper()
	if _, err := auth.EnsureServerDir(root); err != nil {
		t.Fatal(err)
	}
	u := &auth.Users{Domains: []auth.Domain{{Name: "LAB", DNS: []string{"lab.example.com"}}}}
	for name, pw := range users {
		h, err := auth.HashPasswordWith(pw, cheap)
		if err != nil {
			t.Fatal(err)
		}
		u.Users = append(u.Users, auth.User{Name: name, Hash: h})
	}
	for g, members := range groups {
		u.Groups = append(u.Groups, auth.Group{Name: g, Members: members})
	}
	if err := auth.SaveUsers(auth.UsersPath(root), u); err != nil {
		t.Fatal(err)
	}
}

// writeConfig writes ROOT/Server/serve.json.
func writeConfig(t *testing.T, root string, cfg map[string]any) {
	t.Helper()
	if _, err := auth.EnsureServerDir(root); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(ConfigPath(root), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// client speaks the protocol to a testServer, pinning its certificate.
type client struct {
	t     *testing.T
	base  string
	hc    *http.Client
	token string
	// sent counts the upload bytes PATCHed.
	sent int64
}

func newClient(t *testing.T, ts *testServer) *client {
	return &client{t: t, base: "https://" + ts.addr, hc: pinnedClient(ts.fp)}
}

func pinnedClient(fp string) *http.Client {
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{
			MinVersion:         tls.VersionTLS13,
			InsecureSkipVerify: true, // the pin below is the check
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 || Fingerprint(cs.PeerCertificates[0].Raw) != fp {
					return errors.New("server certificate does not match the pinned fingerprint")
				}
				return nil
			},
		},
		ForceAttemptHTTP2: false,
	}}
}

// reply is a response with its body read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) apiError() *protocol.Error {
	var e protocol.Error
	if json.Unmarshal(r.body, &e) != nil {
		return &protocol.Error{Code: "(not JSON)", Message: string(r.body)}
	}
	return &e
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body)) }

// do sends a request; hdr adds headers (the session token is added when
// the client has one).
func (c *client) do(method, path string, body io.Reader, hdr map[string]string) (reply, error) {
	u := path
	if !strings.HasPrefix(path, "https://") {
		u = c.base + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return reply{}, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range hdr {
		if k == "Content-Length" {
			req.ContentLength, _ = strconv.ParseInt(v, 10, 64)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, err
}

func (c *client) must(method, path string, body io.Reader, hdr map[string]string) reply {
	c.t.Helper()
	r, err := c.do(method, path, body, hdr)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// login logs in and keeps the token; it returns the reply.
func (c *client) login(user, password string) reply {
	c.t.Helper()
	r := c.must("POST", protocol.PathLogin, jsonBody(protocol.LoginRequest{User: user, Password: password}), map[string]string{"Content-Type": "application/json"})
	if r.status == http.StatusOK {
		var lr protocol.LoginResponse
		if err := json.Unmarshal(r.body, &lr); err != nil {
			c.t.Fatal(err)
		}
		c.token = lr.Token
	}
	return r
}

func (c *client) mustLogin(user, password string) {
	c.t.Helper()
	if r := c.login(user, password); r.status != http.StatusOK {
		c.t.Fatalf("login %s: %s", user, r)
	}
}

func (c *client) images(group string) []protocol.Image {
	c.t.Helper()
	p := protocol.PathImages
	if group != "" {
		p += "?group=" + url.QueryEscape(group)
	}
	r := c.must("GET", p, nil, nil)
	if r.status != http.StatusOK {
		c.t.Fatalf("GET %s: %s", p, r)
	}
	var ir protocol.ImagesResponse
	if err := json.Unmarshal(r.body, &ir); err != nil {
		c.t.Fatal(err)
	}
	return ir.Images
}

func (c *client) groups() []protocol.Group {
	c.t.Helper()
	r := c.must("GET", protocol.PathGroups, nil, nil)
	if r.status != http.StatusOK {
		c.t.Fatalf("GET groups: %s", r)
	}
	var gr protocol.GroupsResponse
	if err := json.Unmarshal(r.body, &gr); err != nil {
		c.t.Fatal(err)
	}
	return gr.Groups
}

// dedup asks which of refs the group lacks.
func (c *client) dedup(group string, refs []images.BlobRef) (protocol.Bitmap, reply) {
	c.t.Helper()
	body := protocol.AppendBlobList(nil, refs)
	r := c.must("POST", "/api/v1/groups/"+url.PathEscape(group)+"/dedup", bytes.NewReader(body),
		map[string]string{"Content-Type": protocol.ContentTypeBlobList})
	if r.status != http.StatusOK {
		return nil, r
	}
	if err := protocol.CheckBitmap(r.body, len(refs)); err != nil {
		c.t.Fatal(err)
	}
	return protocol.Bitmap(r.body), r
}

func tusMeta(kv map[string]string) string {
	var parts []string
	for k, v := range kv {
		parts = append(parts, k+" "+base64.StdEncoding.EncodeToString([]byte(v)))
	}
	return strings.Join(parts, ",")
}

// create makes an upload of size bytes and returns its URL path.
func (c *client) create(size int64, meta map[string]string) (string, reply) {
	c.t.Helper()
	r := c.must("POST", protocol.PathUploads, nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.FormatInt(size, 10), "Upload-Metadata": tusMeta(meta)})
	if r.status != http.StatusCreated {
		return "", r
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		c.t.Fatal(err)
	}
	return loc.Path, r
}

// offset asks where an upload continues (tus HEAD).
func (c *client) offset(path string) (int64, reply) {
	c.t.Helper()
	r := c.must("HEAD", path, nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if r.status != http.StatusOK {
		return -1, r
	}
	off, err := strconv.ParseInt(r.header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		c.t.Fatalf("HEAD %s: Upload-Offset %q", path, r.header.Get("Upload-Offset"))
	}
	return off, r
}

// patch sends n bytes of src from off.
func (c *client) patch(path string, src io.ReaderAt, off, n int64) (reply, error) {
	r, err := c.do("PATCH", path, io.NewSectionReader(src, off, n), map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": strconv.FormatInt(off, 10),
		"Content-Type": "application/offset+octet-stream", "Content-Length": strconv.FormatInt(n, 10)})
	if err == nil && r.status == http.StatusNoContent {
		c.sent += n
	}
	return r, err
}

// send uploads src[from:size] in chunks of chunk bytes.
func (c *client) send(path string, src io.ReaderAt, from, size, chunk int64) {
	c.t.Helper()
	for off := from; off < size; off += chunk {
		n := min(chunk, size-off)
		r, err := c.patch(path, src, off, n)
		if err != nil || r.status != http.StatusNoContent {
			c.t.Fatalf("PATCH %s at %d: %v %s", path, off, err, r)
		}
	}
}

// finalize asks until the answer is final (200 or an error).
func (c *client) finalize(path string, req *protocol.FinalizeRequest) (protocol.FinalizeResponse, reply) {
	c.t.Helper()
	for range 120 {
		var body io.Reader
		hdr := map[string]string{}
		if req != nil {
			body, hdr["Content-Type"] = jsonBody(req), "application/json"
		}
		r := c.must("POST", path+"/finalize", body, hdr)
		var fr protocol.FinalizeResponse
		json.Unmarshal(r.body, &fr)
		if r.status != http.StatusAccepted {
			return fr, r
		}
		time.Sleep(500 * time.Millisecond)
	}
	c.t.Fatalf("finalize %s never ended", path)
	return protocol.FinalizeResponse{}, reply{}
}

// delta is what the client sends for image 1 of the WIM at path: the
// dedup answer applied.
type delta struct {
	*images.Delta
	missing, total int
	r              *images.Reader
}

// plan asks the dedup question for the WIM's image and lays out the
// delta.
func (c *client) plan(path, group string) *delta {
	c.t.Helper()
	r, err := images.Open(path)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { r.Close() })
	refs, err := r.ImageBlobs(1)
	if err != nil {
		c.t.Fatal(err)
	}
	bm, rep := c.dedup(group, refs)
	if bm == nil {
		c.t.Fatalf("dedup: %s", rep)
	}
	need := map[[20]byte]bool{}
	for i, ref := range refs {
		if bm.Missing(i) {
			need[ref.Hash] = true
		}
	}
	if got := rep.header.Get(protocol.HeaderMissingCount); got != strconv.Itoa(len(need)) {
		c.t.Errorf("%s %s, bitmap has %d", protocol.HeaderMissingCount, got, len(need))
	}
	d, err := r.PlanDelta(1, func(b images.BlobRef) bool { return need[b.Hash] })
	if err != nil {
		c.t.Fatal(err)
	}
	return &delta{Delta: d, missing: len(need), total: len(refs), r: r}
}

// upload runs the whole protocol for the WIM at path: dedup, create,
// send, finalize.
func (c *client) upload(path, group, name string) (protocol.FinalizeResponse, reply) {
	c.t.Helper()
	d := c.plan(path, group)
	loc, r := c.create(d.Size(), map[string]string{protocol.MetaGroup: group, protocol.MetaName: name})
	if loc == "" {
		return protocol.FinalizeResponse{}, r
	}
	c.send(loc, d, 0, d.Size(), 1<<20)
	return c.finalize(loc, nil)
}

// dial opens a raw TLS connection to the server (for hostile requests
// net/http would not send).
func dial(t *testing.T, ts *testServer) *tls.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", ts.addr, &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	return conn
}

// rawRequest sends raw bytes and returns the status line's code.
func rawRequest(t *testing.T, ts *testServer, raw string) int {
	t.Helper()
	conn := dial(t, ts)
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("raw request: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

var _ = context.Background

// execCommand runs a command to its end and returns its combined output.
func execCommand(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	done := make(chan struct{})
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go func() {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	}()
	err := cmd.Wait()
	close(done)
	return out.String(), err
}

func sleep() { time.Sleep(250 * time.Millisecond) }
