package upload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/storetest"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

// The tests run real `imagestore serve` processes on loopback. One server
// is shared by the package's tests (each uses its own image groups); the
// tests that kill or reconfigure a server start their own.

const (
	password     = "correct horse battery staple; #1"
	readerPass   = "reader's password"
	techGroup    = `LAB\Technicians`
	userTech     = `LAB\jdoe`
	userReader   = `LAB\reader`
	readersGroup = `LAB\Readers`
)

var shared struct {
	once sync.Once
	srv  *storetest.Server
	root string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Kill()
	}
	if shared.root != "" {
		os.RemoveAll(shared.root)
	}
	if big.path != "" {
		os.RemoveAll(filepath.Dir(big.path))
	}
	storetest.Cleanup()
	os.Exit(code)
}

// seedStore writes the test accounts into root.
func seedStore(root string, config map[string]any) error {
	return storetest.Seed(root,
		map[string]string{"jdoe": password, "reader": readerPass},
		map[string][]string{"Technicians": {"jdoe"}, "Readers": {"reader"}}, config)
}

// sharedServer returns the package's server.
func sharedServer(t *testing.T) *storetest.Server {
	t.Helper()
	shared.once.Do(func() {
		shared.root, shared.err = os.MkdirTemp("", "upload-test-store-")
		if shared.err != nil {
			return
		}
		if shared.err = seedStore(shared.root, nil); shared.err != nil {
			return
		}
		shared.srv, shared.err = storetest.Start(shared.root, "")
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

// newGroup makes a group in srv's store: Technicians may write, Readers
// may read.
func newGroup(t *testing.T, srv *storetest.Server, name string, comp *images.Compression) string {
	t.Helper()
	if err := storetest.AddGroup(srv.Root, name, []string{techGroup, readersGroup}, []string{techGroup}, comp); err != nil {
		t.Fatal(err)
	}
	return name
}

// config is a client configuration for srv (pinned, fast retries).
func config(srv *storetest.Server) Config {
	return Config{Server: srv.Addr, Trust: Trust{Fingerprint: srv.Fingerprint}, User: userTech, Password: inf.NewSecret(password),
		ConnectTimeout: 5 * time.Second, RetryMin: 100 * time.Millisecond, RetryMax: 2 * time.Second, Retries: 10}
}

func connect(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := Connect(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const windowsXML = `<WINDOWS><ARCH>9</ARCH><PRODUCTNAME>Windows 11 Enterprise</PRODUCTNAME><EDITIONID>Enterprise</EDITIONID>` +
	`<INSTALLATIONTYPE>Client</INSTALLATIONTYPE><HAL>acpiapic</HAL><PRODUCTTYPE>WinNT</PRODUCTTYPE>` +
	`<VERSION><MAJOR>10</MAJOR><MINOR>0</MINOR><BUILD>22631</BUILD><SPBUILD>2861</SPBUILD><SPLEVEL>0</SPLEVEL></VERSION>` +
	`<SYSTEMROOT>WINDOWS</SYSTEMROOT><LANGUAGES><LANGUAGE>en-US</LANGUAGE><DEFAULT>en-US</DEFAULT></LANGUAGES></WINDOWS>`

// tree is a small Windows-like tree of files files of incompressible
// data averaging about size bytes; trees of different variants share all
// files but one in twenty (a reference machine after an update).
func tree(variant uint32, files int, size int64) *memsource.Source {
	var sys []*memsource.File
	for i := range files {
		seed := uint32(i + 1)
		if variant != 0 && i%20 == int(variant%20) {
			seed += 7919 * variant
		}
		n := size/2 + int64(i*7919)%size
		sys = append(sys, memsource.Regular(fmt.Sprintf("file%03d.dll", i), memsource.Pattern{N: n, Seed: seed}))
	}
	return memsource.New(
		memsource.Text("readme.txt", strings.Repeat("identical text, stored once\n", 200)),
		memsource.Dir("Windows",
			memsource.Dir("System32", sys...),
			memsource.Text(fmt.Sprintf("variant-%d.txt", variant), fmt.Sprintf("variant %d\n", variant))),
	)
}

// makeWIM captures tree(variant, files, size) into dir/name.wim.
func makeWIM(t testing.TB, dir, name string, variant uint32, files int, size int64, comp images.Compression) string {
	t.Helper()
	path := filepath.Join(dir, name+".wim")
	w, err := images.Create(path, images.Options{Compression: comp, Integrity: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage(context.Background(), tree(variant, files, size), images.ImageOptions{Name: name, Description: "test " + name, WindowsXML: windowsXML}); err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkPublished checks with wimlib that the group's image file applies
// (with res.rwm as reference) to the same tree as the source WIM.
func checkPublished(t *testing.T, root, group, file, src string) {
	t.Helper()
	gd := filepath.Join(root, "Images", group)
	res := filepath.Join(gd, "res.rwm")
	tooltest.Run(t, "wimverify", filepath.Join(gd, file), "--ref="+res)
	tmp := t.TempDir()
	tooltest.Run(t, "wimapply", filepath.Join(gd, file), "1", filepath.Join(tmp, "got"), "--ref="+res)
	tooltest.Run(t, "wimapply", src, "1", filepath.Join(tmp, "want"))
	tooltest.Run(t, "diff", "-r", "--no-dereference", filepath.Join(tmp, "want"), filepath.Join(tmp, "got"))
}
