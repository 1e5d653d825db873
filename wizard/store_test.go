package wizard

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/storetest"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// The upload page against a real `imagestore serve` on loopback.

const techPassword = "tech pass #1"

// newTestStore starts an image store of its own for a test (killed at
// its end): LAB\jdoe, a technician, may read group Archive and add to
// groups Lab (no images yet) and Lab LZX (LZX).
func newTestStore(t *testing.T) *storetest.Server {
	t.Helper()
	root := t.TempDir()
	err := storetest.Seed(root, map[string]string{"jdoe": techPassword}, map[string][]string{"Technicians": {"jdoe"}}, nil)
	lzx := images.CompressLZX
	for _, g := range []struct {
		name  string
		write string
		comp  *images.Compression
	}{{"Archive", `LAB\Admins`, nil}, {"Lab", `LAB\Technicians`, nil}, {"Lab LZX", `LAB\Technicians`, &lzx}} {
		if err == nil {
			err = storetest.AddGroup(root, g.name, []string{`LAB\Technicians`}, []string{g.write}, g.comp)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	srv, err := storetest.Start(root, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	return srv
}

var fingerprintRE = regexp.MustCompile(`[0-9A-F]{1,2}(:[0-9A-F]{1,2}){3,}`)

// maskStore replaces the store's port and certificate fingerprint in the
// golden files of d.
func maskStore(d *driver, srv *storetest.Server) {
	d.mask = func(s string) string {
		s = strings.ReplaceAll(s, srv.Addr, "127.0.0.1:PORT")
		return fingerprintRE.ReplaceAllString(s, "FINGERPRINT")
	}
}

// TestUploadConnect: Connect asks for the credentials, lists the groups
// the server has (the read-only one marked, each with its compression);
// a wrong password is said under the password; the group chosen sets the
// capture's compression, and the summary shows it.
func TestUploadConnect(t *testing.T) {
	srv := newTestStore(t)
	tmp := goldenDir(t)
	d := newDriver(t, "", Options{})
	maskStore(d, srv)
	d.press(keys(toDest, []string{tmp + "/new.wim", "enter", "enter", "right", "enter", srv.Addr, "enter", srv.Fingerprint, "enter", "enter"})...)
	d.onPage(pageUpload).want("enter the user name and password")
	d.press(`LAB\jdoe`, "enter", "wrong", "enter")
	d.want(`! log in as LAB\jdoe`, "wrong user name or", "Not connected.").wantNot("Archive")
	d.press("ctrl+u", techPassword, "enter")
	d.want(`Connected as LAB\jdoe: 3 image groups, 2 you may add images to.`, "read only: you may not add images", "new: XPRESS", "LZX")
	d.goldenAs("groups", tmp)
	// The read-only group cannot be chosen.
	d.press("up", "enter").want("you may not add images to Archive")
	d.press("down", "down", "enter", "right", "enter")
	d.onPage(pageSummary).want("Ready.", "Compression   LZX (the image group's)", "Image group   Lab LZX (LZX, 0 images)", "Delete local  yes, once the server has verified")
	d.goldenAs("summary", tmp)
	// Another compression chosen afterwards: the group's is used, and the
	// summary says so.
	d.a.sess.s.Set(inf.KeyCompression, "XPRESS")
	d.run(d.a.show(pageSummary))
	d.want("Ready.", "Compression   LZX (the image group's, not XPRESS: its images share data)")
	if _, err := os.Stat(filepath.Join(tmp, "new.wim")); !os.IsNotExist(err) {
		t.Errorf("something was written before the capture: %v", err)
	}
}

// TestFinishUpload: the finish page says where the image landed in the
// store (and that the local WIM was deleted as asked), or, when the
// upload failed after the capture, that the WIM is kept and how to
// upload it later.
func TestFinishUpload(t *testing.T) {
	tmp := goldenDir(t)
	wim := filepath.Join(tmp, "reference.wim")
	smallWIM(t, wim, "Reference")
	info := images2Info(t, wim)
	os.Remove(wim)
	d := newDriver(t, "", Options{})
	d.a.sess.runResult = &agent.Result{Dest: wim, Image: info, Size: 12 << 20, Verified: true, Duration: 83 * time.Second,
		Upload: &agent.UploadResult{Server: "wds01.corp.example", Group: "Lab", Image: protocol.Image{Name: "Reference", FileName: "Reference.wim"},
			SentBytes: 3 << 20, DataBytes: 3 << 20, SharedBytes: 9 << 20, LocalDeleted: true}}
	d.run(d.a.show(pageFinish))
	d.want("verified and published", "wds01.corp.example: image group Lab, file Reference.wim", "75% of the data was there already", "(deleted)")
	d.goldenAs("published", tmp)

	smallWIM(t, wim, "Reference")
	d = newDriver(t, "", Options{})
	retry := agent.RetryCommand(wim, 1, "wds01.corp.example", "", "Lab", `CORP\capture`, "Reference", false)
	d.a.sess.runResult = &agent.Result{Dest: wim, Image: info, Verified: true, Duration: 83 * time.Second}
	d.a.sess.runErr = &agent.CaptureError{Kind: agent.KindUpload, Err: &agent.UploadError{Err: errors.New("upload to wds01.corp.example: the image store cannot be reached"), WIM: wim, Index: 1, RetryCommand: retry}}
	d.run(d.a.show(pageFinish))
	d.want("the upload failed: the WIM is kept", "cannot be reached", "To upload it later: wdscapture upload").wantNot("(deleted)")
	d.goldenAs("upload_failed", tmp)
}

// TestUploadLeaveWhileConnecting: Esc while Connect waits for a server
// that does not answer, and back: the page is not stuck waiting, and
// the stale answer is ignored.
func TestUploadLeaveWhileConnecting(t *testing.T) {
	tmp := goldenDir(t)
	d := newDriver(t, "", Options{})
	d.press(keys(toDest, []string{tmp + "/new.wim", "enter", "enter", "right", "enter", "127.0.0.1:1", "enter", "enter", "enter", `LAB\jdoe`, "enter", "pw"})...)
	// Enter connects; the driver would run the connection at once, so
	// the key goes to the page without running the command it returns.
	p := d.a.pages[pageUpload].(*uploadPage)
	_, cmd := d.a.Update(namedKeys["enter"])
	if !p.connecting || cmd == nil {
		t.Fatalf("Enter on the password did not connect (connecting %v)", p.connecting)
	}
	d.press("esc").onPage(pageDest)
	d.press("enter", "enter").onPage(pageUpload)
	if p.connecting {
		t.Fatal("the page still waits for the connection it left")
	}
	d.run(cmd) // the stale answer: a refused connection
	d.wantNot("refused", "Not connected.")
	before := d.screen()
	if d.press("tab").screen() == before {
		t.Errorf("Tab does nothing: the page is stuck:\n%s", before)
	}
}
