package server

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// TestHostileRequests: oversized headers and bodies, malformed JSON,
// blob lists and tus headers, bad offsets, path-like names and IDs,
// other users' uploads, and limits: each refused cleanly with its status,
// and the server keeps serving.
func TestHostileRequests(t *testing.T) {
	root := t.TempDir()
	writeUsers(t, root, map[string]string{`LAB\alice`: "pw", `LAB\bob`: "pw"}, nil)
	newGroup(t, root, "G", []string{`LAB\alice`, `LAB\bob`}, []string{`LAB\alice`, `LAB\bob`})
	newGroup(t, root, "ReadOnly", []string{`LAB\alice`}, []string{})
	writeConfig(t, root, map[string]any{"max_upload_bytes": 1 << 30, "max_uploads_per_user": 2})
	ts := startServer(t, root, "")
	alice, bob := newClient(t, ts), newClient(t, ts)
	alice.mustLogin("alice", "pw")
	bob.mustLogin("bob", "pw")
	tus := func(h map[string]string) map[string]string {
		out := map[string]string{"Tus-Resumable": "1.0.0"}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	meta := func(kv ...string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return tusMeta(m)
	}
	bobLoc, r := bob.create(1000, map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "Bob's"})
	if bobLoc == "" {
		t.Fatalf("create: %s", r)
	}

	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   []byte
		hdr    map[string]string
		status int
		code   string
	}{
		{"login body over the limit", "POST", protocol.PathLogin, bytes.Repeat([]byte("x"), protocol.MaxJSONBody+1), nil, 413, protocol.CodeTooLarge},
		{"login not JSON", "POST", protocol.PathLogin, []byte("user=alice"), nil, 400, protocol.CodeBadRequest},
		{"login unknown field", "POST", protocol.PathLogin, []byte(`{"user":"a","password":"b","admin":true}`), nil, 400, protocol.CodeBadRequest},
		{"login two objects", "POST", protocol.PathLogin, []byte(`{"user":"a","password":"b"}{}`), nil, 400, protocol.CodeBadRequest},
		{"login control character", "POST", protocol.PathLogin, []byte(`{"user":"a\u0000b","password":"b"}`), nil, 400, protocol.CodeBadRequest},
		{"login path-like name", "POST", protocol.PathLogin, []byte(`{"user":"..\\..\\etc","password":"b"}`), nil, 400, protocol.CodeBadRequest},
		{"finalize body over the limit", "POST", "/api/v1/uploads/" + strings.Repeat("a", 32) + "/finalize", bytes.Repeat([]byte(" "), protocol.MaxJSONBody+1), nil, 413, protocol.CodeTooLarge},
		{"dedup wrong type", "POST", "/api/v1/groups/G/dedup", make([]byte, 28), map[string]string{"Content-Type": "application/json"}, 415, protocol.CodeBadRequest},
		{"dedup torn record", "POST", "/api/v1/groups/G/dedup", make([]byte, 30), map[string]string{"Content-Type": protocol.ContentTypeBlobList}, 400, protocol.CodeBadRequest},
		{"dedup read-only group", "POST", "/api/v1/groups/ReadOnly/dedup", make([]byte, 28), map[string]string{"Content-Type": protocol.ContentTypeBlobList}, 403, protocol.CodeForbidden},
		{"dedup path-like group", "POST", "/api/v1/groups/..%2f..%2fServer/dedup", make([]byte, 28), map[string]string{"Content-Type": protocol.ContentTypeBlobList}, 404, protocol.CodeNotFound},
		{"group path-like", "GET", "/api/v1/groups/%2e%2e", nil, nil, 404, protocol.CodeNotFound},
		{"create without Tus-Resumable", "POST", protocol.PathUploads, nil, map[string]string{"Upload-Length": "10", "Upload-Metadata": meta("group", "G", "name", "x")}, 412, ""},
		{"create bad length", "POST", protocol.PathUploads, nil, tus(map[string]string{"Upload-Length": "-5", "Upload-Metadata": meta("group", "G", "name", "x")}), 400, ""},
		{"create over max size", "POST", protocol.PathUploads, nil, tus(map[string]string{"Upload-Length": strconv.Itoa(1<<30 + 1), "Upload-Metadata": meta("group", "G", "name", "x")}), 413, ""},
		{"create path-like group", "POST", protocol.PathUploads, nil, tus(map[string]string{"Upload-Length": "10", "Upload-Metadata": meta("group", "../../Server", "name", "x")}), 400, protocol.CodeBadRequest},
		{"create path-like file", "POST", protocol.PathUploads, nil, tus(map[string]string{"Upload-Length": "10", "Upload-Metadata": meta("group", "G", "name", "x", "file", "../res.rwm")}), 400, protocol.CodeBadRequest},
		{"create file not .wim", "POST", protocol.PathUploads, nil, tus(map[string]string{"Upload-Length": "10", "Upload-Metadata": meta("group", "G", "name", "x", "file", "res.rwm")}), 400, protocol.CodeBadRequest},
		{"create control character", "POST", protocol.PathUploads, nil, tus(map[string]string{"Upload-Length": "10", "Upload-Metadata": meta("group", "G", "name", "a\x07b")}), 400, protocol.CodeBadRequest},
		{"create unknown key", "POST", protocol.PathUploads, nil, tus(map[string]string{"Upload-Length": "10", "Upload-Metadata": meta("group", "G", "name", "x", "owner", `LAB\bob`)}), 400, protocol.CodeBadRequest},
		{"create no name", "POST", protocol.PathUploads, nil, tus(map[string]string{"Upload-Length": "10", "Upload-Metadata": meta("group", "G")}), 400, protocol.CodeBadRequest},
		{"create unknown group", "POST", protocol.PathUploads, nil, tus(map[string]string{"Upload-Length": "10", "Upload-Metadata": meta("group", "Nope", "name", "x")}), 404, protocol.CodeNotFound},
		{"create read-only group", "POST", protocol.PathUploads, nil, tus(map[string]string{"Upload-Length": "10", "Upload-Metadata": meta("group", "ReadOnly", "name", "x")}), 403, protocol.CodeForbidden},
		{"HEAD path-like ID", "HEAD", "/api/v1/uploads/..%2F..%2Fusers", nil, tus(nil), 404, ""},
		{"HEAD dot ID", "HEAD", "/api/v1/uploads/%2e%2e", nil, tus(nil), 404, ""},
		{"HEAD bob's upload", "HEAD", bobLoc, nil, tus(nil), 404, ""},
		{"PATCH bob's upload", "PATCH", bobLoc, []byte("x"), tus(map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}), 404, protocol.CodeNotFound},
		{"DELETE bob's upload", "DELETE", bobLoc, nil, tus(nil), 404, protocol.CodeNotFound},
		{"finalize bob's upload", "POST", bobLoc + "/finalize", nil, nil, 404, protocol.CodeNotFound},
		{"finalize path-like ID", "POST", "/api/v1/uploads/..%2Fusers/finalize", nil, nil, 404, ""},
		{"GET an upload (no downloads)", "GET", bobLoc, nil, tus(nil), 404, ""},
		{"unknown endpoint", "GET", "/api/v2/anything", nil, nil, 404, protocol.CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body *bytes.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
			} else {
				body = bytes.NewReader(nil)
			}
			r, err := alice.do(tc.method, tc.path, body, tc.hdr)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tc.status || (tc.code != "" && r.apiError().Code != tc.code) {
				t.Errorf("%s %s: %s; want %d %s", tc.method, tc.path, r, tc.status, tc.code)
			}
		})
	}

	// An upload of alice's, for bad PATCHes.
	loc, r := alice.create(100, map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "x"})
	if loc == "" {
		t.Fatalf("create: %s", r)
	}
	data := bytesReaderAt(bytes.Repeat([]byte("d"), 200))
	for _, tc := range []struct {
		name        string
		off, n      int64
		contentType string
		status      int
	}{
		{"offset ahead", 50, 10, "application/offset+octet-stream", 409},
		{"negative offset", -1, 10, "application/offset+octet-stream", 400},
		{"past the length", 0, 150, "application/offset+octet-stream", 413},
		{"wrong content type", 0, 10, "text/plain", 400},
	} {
		r, err := alice.do("PATCH", loc, bytes.NewReader(data[:tc.n]), map[string]string{"Tus-Resumable": "1.0.0",
			"Upload-Offset": strconv.FormatInt(tc.off, 10), "Content-Type": tc.contentType, "Content-Length": strconv.FormatInt(tc.n, 10)})
		if err != nil || r.status != tc.status {
			t.Errorf("PATCH %s: %v %s; want %d", tc.name, err, r, tc.status)
		}
	}
	if off, r := alice.offset(loc); off != 0 {
		t.Errorf("after bad PATCHes the offset is %d (%s)", off, r)
	}
	// Finalizing garbage: not a WIM.
	alice.send(loc, data, 0, 100, 100)
	if fr, r := alice.finalize(loc, nil); r.status != 422 || fr.Error.Code != protocol.CodeInvalidWIM {
		t.Errorf("finalize of 100 bytes of garbage: %s", r)
	}
	// The per-user limit: bob has one upload; a second is allowed, a
	// third is not.
	if loc, r := bob.create(10, map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "y"}); loc == "" {
		t.Errorf("bob's second upload: %s", r)
	}
	if loc, r := bob.create(10, map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "z"}); loc != "" || r.status != 429 || r.apiError().Code != protocol.CodeTooMany {
		t.Errorf("bob's third upload: %s", r)
	}
	// The owner may delete an upload; it is gone then.
	if r := bob.must("DELETE", bobLoc, nil, tus(nil)); r.status != http.StatusNoContent {
		t.Errorf("DELETE own upload: %s", r)
	}
	if _, r := bob.offset(bobLoc); r.status != 404 {
		t.Errorf("HEAD after DELETE: %s", r)
	}

	// Raw requests net/http would not send.
	if code := rawRequest(t, ts, "GET /api/v1/info HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", protocol.MaxHeaderBytes+4096)+"\r\n\r\n"); code != 431 {
		t.Errorf("oversized header: %d", code)
	}
	if code := rawRequest(t, ts, "GET /api/v1/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"); code != 404 && code != 307 && code != 400 {
		t.Errorf("dot-dot path: %d", code)
	}
	if code := rawRequest(t, ts, fmt.Sprintf("POST /api/v1/groups/G/dedup HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		alice.token, protocol.ContentTypeBlobList, (protocol.MaxDedupBlobs+1)*protocol.BlobRecordSize)); code != 413 {
		t.Errorf("dedup query over the limit: %d", code)
	}
	if code := rawRequest(t, ts, "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{}"); code != 413 {
		t.Errorf("huge Content-Length: %d", code)
	}
	// Still serving.
	if r := alice.must("GET", protocol.PathInfo, nil, nil); r.status != 200 {
		t.Errorf("info after hostile requests: %s", r)
	}
	if strings.Contains(ts.logs.String(), "panic") {
		t.Errorf("the server panicked:\n%s", ts.logs)
	}
}

// TestNoSpace: an upload that does not fit is refused before any byte
// is sent, whether its size is known or deferred.
func TestNoSpace(t *testing.T) {
	root := t.TempDir()
	writeUsers(t, root, map[string]string{`LAB\alice`: "pw"}, nil)
	newGroup(t, root, "G", []string{`LAB\alice`}, []string{`LAB\alice`})
	free, err := freeBytes(root)
	if err != nil {
		t.Fatal(err)
	}
	// A reserve of all but 1 MiB of the free space: a 1 MiB upload needs
	// twice that.
	writeConfig(t, root, map[string]any{"reserve_bytes": free - 1<<20})
	ts := startServer(t, root, "")
	c := newClient(t, ts)
	c.mustLogin("alice", "pw")
	_, r := c.create(1<<20, map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "x"})
	if e := r.apiError(); r.status != http.StatusInsufficientStorage || e.Code != protocol.CodeNoSpace || e.Need == 0 || e.Free == 0 {
		t.Errorf("create of 1 MiB with about 1 MiB free: %s", r)
	}
	if g := c.groups(); len(g) != 1 || g[0].FreeBytes > 4<<20 {
		t.Errorf("groups report %+v", g)
	}
	writeConfig(t, root, map[string]any{"reserve_bytes": free * 4})
	ts.stop()
	ts = startServer(t, root, "")
	c = newClient(t, ts)
	c.mustLogin("alice", "pw")
	r = c.must("POST", protocol.PathUploads, nil, map[string]string{"Tus-Resumable": "1.0.0", "Upload-Defer-Length": "1",
		"Upload-Metadata": tusMeta(map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "x"})})
	if r.status != http.StatusInsufficientStorage {
		t.Errorf("create of unknown size on a full disk: %s", r)
	}
}

// TestExpiry: an abandoned upload is removed after upload_expiry, and the
// record of a finished one too.
func TestExpiry(t *testing.T) {
	root := t.TempDir()
	writeUsers(t, root, map[string]string{`LAB\alice`: "pw"}, nil)
	newGroup(t, root, "G", []string{`LAB\alice`}, []string{`LAB\alice`})
	writeConfig(t, root, map[string]any{"upload_expiry": "2s"})
	ts := startServer(t, root, "")
	c := newClient(t, ts)
	c.mustLogin("alice", "pw")
	tmp := t.TempDir()
	if _, r := c.upload(makeWIM(t, filepath.Join(tmp, "a.wim"), 0, 5, images.CompressXPRESS, "A"), "G", "A"); r.status != http.StatusOK {
		t.Fatalf("upload: %s", r)
	}
	loc, r := c.create(1000, map[string]string{protocol.MetaGroup: "G", protocol.MetaName: "abandoned"})
	if loc == "" {
		t.Fatalf("create: %s", r)
	}
	c.send(loc, bytesReaderAt(make([]byte, 1000)), 0, 500, 500)
	if len(stagedFiles(t, root)) == 0 {
		t.Fatal("nothing staged")
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(stagedFiles(t, root)) > 0 && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
	}
	if left := stagedFiles(t, root); len(left) > 0 {
		t.Errorf("still staged after the expiry: %v", left)
	}
	if _, r := c.offset(loc); r.status != http.StatusNotFound {
		t.Errorf("HEAD of an expired upload: %s", r)
	}
	if !strings.Contains(ts.logs.String(), "abandoned upload expired") {
		t.Errorf("no log line for the expiry")
	}
}

// TestConnectionLimit: idle connections past max_connections wait; the
// server's other clients are served again as soon as one closes.
func TestConnectionLimit(t *testing.T) {
	root := t.TempDir()
	writeConfig(t, root, map[string]any{"max_connections": 4})
	ts := startServer(t, root, "")
	var idle []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	time.Sleep(200 * time.Millisecond)
	c := newClient(t, ts)
	c.hc.Timeout = 1500 * time.Millisecond
	if _, err := c.do("GET", protocol.PathInfo, nil, nil); err == nil {
		t.Error("a fifth connection was served while four were open (limit 4)")
	}
	idle[0].Close()
	c.hc = pinnedClient(ts.fp)
	if r := c.must("GET", protocol.PathInfo, nil, nil); r.status != http.StatusOK {
		t.Errorf("after one closed: %s", r)
	}
}
