package ntfs

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/volume"
)

// needTools skips the test when an external tool is missing, unless CI is
// set, in which case a missing tool fails the test.
func needTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("required tool %s not found: %v", tool, err)
			}
			t.Skipf("%s not installed (set CI=true to make this a failure)", tool)
		}
	}
}

// run runs a command and fails the test with its output on error.
func runCmd(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// newImage makes an empty NTFS image of sizeMB MiB with mkntfs.
func newImage(t testing.TB, sizeMB int, extra ...string) string {
	t.Helper()
	needTools(t, "mkntfs")
	img := filepath.Join(t.TempDir(), "vol.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(sizeMB) << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	args := append([]string{"-F", "-q", "-f"}, extra...)
	runCmd(t, "mkntfs", append(args, img)...)
	return img
}

// imageFromTree makes an NTFS image holding the Linux directory tree dir,
// through wimcapture (UNIX mode) and wimapply (NTFS-3G mode, no mount).
func imageFromTree(t testing.TB, dir string, sizeMB int) string {
	t.Helper()
	needTools(t, "wimcapture", "wimapply")
	img := newImage(t, sizeMB)
	wim := filepath.Join(t.TempDir(), "tree.wim")
	runCmd(t, "wimcapture", dir, wim, "--compress=none")
	runCmd(t, "wimapply", wim, "1", img)
	return img
}

// pathRecord is the comparable description of one path, in the fields that
// wimdir --detailed prints.
type pathRecord struct {
	Short    string
	Attrs    uint32
	SD       string
	Times    [3]int64 // Unix seconds: creation, last write, last access
	Tag      uint32
	Links    string // other names of the same file ("" when single)
	Streams  []string
	OID      string
	rawLink  string
	rawCount int
}

func (r *pathRecord) String() string {
	return fmt.Sprintf("short=%q attrs=0x%08x sd=%s times=%v tag=0x%x links=[%s] streams=%v oid=%s",
		r.Short, r.Attrs, r.SD, r.Times, r.Tag, r.Links, r.Streams, r.OID)
}

const zeroHash = "0000000000000000000000000000000000000000"

// wimdirRecords captures img with wimlib (NTFS-3G mode, no exclusions) and
// parses wimdir --detailed into records keyed by path.
func wimdirRecords(t testing.TB, img string) map[string]*pathRecord {
	t.Helper()
	needTools(t, "wimcapture", "wimdir")
	wim := filepath.Join(t.TempDir(), "ref.wim")
	runCmd(t, "wimcapture", img, wim, "--config=/dev/null", "--compress=none")
	return wimRecords(t, wim)
}

// wimRecords parses wimdir --detailed of image 1 of wim.
func wimRecords(t testing.TB, wim string) map[string]*pathRecord {
	t.Helper()
	needTools(t, "wimdir")
	out := runCmd(t, "wimdir", "--detailed", wim, "1")
	recs := make(map[string]*pathRecord)
	var cur *pathRecord
	var curPath string
	var streamName string
	var streamHash string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "\t") {
			switch l := strings.TrimSpace(line); {
			case l == "Unnamed data stream:" || l == "Reparse point stream:":
				streamName = ""
			case strings.HasPrefix(l, "Named data stream \""):
				streamName = strings.TrimSuffix(strings.TrimPrefix(l, "Named data stream \""), "\":")
			}
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		switch k {
		case "Full Path":
			curPath, _ = strconv.Unquote(val)
			cur = &pathRecord{}
			recs[curPath] = cur
		case "Short Name":
			cur.Short, _ = strconv.Unquote(val)
		case "Attributes":
			n, _ := strconv.ParseUint(strings.TrimPrefix(val, "0x"), 16, 32)
			cur.Attrs = uint32(n)
		case "Security Descriptor":
			cur.SD = val
		case "Creation Time", "Last Write Time", "Last Access Time":
			tm, err := time.Parse("Mon Jan 2 15:04:05 2006 MST", strings.Join(strings.Fields(val), " "))
			if err != nil {
				t.Fatalf("wimdir time %q: %v", val, err)
			}
			i := map[string]int{"Creation Time": 0, "Last Write Time": 1, "Last Access Time": 2}[k]
			cur.Times[i] = tm.Unix()
		case "Reparse Tag":
			n, _ := strconv.ParseUint(strings.TrimPrefix(val, "0x"), 16, 32)
			cur.Tag = uint32(n)
		case "Link Group ID":
			cur.rawLink = val
		case "Link Count":
			cur.rawCount, _ = strconv.Atoi(val)
		case "Object ID", "Birth Volume ID", "Birth Object ID", "Domain ID":
			cur.OID += k + "=" + strings.TrimPrefix(val, "0x") + ";"
		case "Hash":
			streamHash = strings.TrimPrefix(val, "0x")
		case "Uncompressed size":
			size := strings.TrimSuffix(val, " bytes")
			cur.Streams = append(cur.Streams, fmt.Sprintf("%q:%s:%s", streamName, size, streamHash))
		}
	}
	// Hard link groups as sets of paths.
	groups := make(map[string][]string)
	for p, r := range recs {
		if r.rawCount > 1 {
			groups[r.rawLink] = append(groups[r.rawLink], p)
		}
	}
	for _, r := range recs {
		if r.rawCount > 1 {
			g := groups[r.rawLink]
			sort.Strings(g)
			r.Links = strings.Join(g, ",")
		}
		sortNamed(r.Streams)
	}
	return recs
}

// sortNamed sorts the named streams, which follow the default stream.
func sortNamed(s []string) {
	if len(s) > 1 {
		sort.Strings(s[1:])
	}
}

// filetimeUnix converts a FILETIME to Unix seconds.
func filetimeUnix(ft uint64) int64 {
	return (int64(ft) - 116444736000000000) / 10000000
}

func sha1Hex(t testing.TB, r io.Reader) (int64, string) {
	t.Helper()
	h := sha1.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("read stream: %v", err)
	}
	if n == 0 {
		return 0, zeroHash
	}
	return n, hex.EncodeToString(h.Sum(nil))
}

// walkRecords walks src and builds the same records as wimdirRecords. It
// also returns the entries by path for further checks.
func walkRecords(t testing.TB, src volume.Source) (map[string]*pathRecord, map[string]*volume.Entry) {
	t.Helper()
	recs := make(map[string]*pathRecord)
	ents := make(map[string]*volume.Entry)
	groups := make(map[uint64][]string)
	var walk func(e *volume.Entry, path string)
	walk = func(e *volume.Entry, path string) {
		r := &pathRecord{
			Short: e.ShortName,
			Attrs: e.Attributes,
			SD:    hex.EncodeToString(e.Security),
			Times: [3]int64{filetimeUnix(e.CreationTime), filetimeUnix(e.LastWriteTime), filetimeUnix(e.LastAccessTime)},
		}
		if e.Attributes&volume.AttrReparsePoint != 0 {
			r.Tag = e.ReparseTag
			n, h := sha1Hex(t, bytes.NewReader(e.ReparseData))
			r.Streams = append(r.Streams, fmt.Sprintf("%q:%d:%s", "", n, h))
		} else {
			r.Streams = append(r.Streams, fmt.Sprintf("%q:%d:%s", "", 0, zeroHash))
		}
		for i, s := range e.Streams {
			if s.Name == "" && e.Attributes&volume.AttrReparsePoint != 0 {
				// wimdir shows the reparse stream in place of the
				// unnamed data stream; still read it.
				rc, err := src.OpenStream(e, i)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				sha1Hex(t, rc)
				rc.Close()
				continue
			}
			rc, err := src.OpenStream(e, i)
			if err != nil {
				t.Fatalf("%s stream %q: %v", path, s.Name, err)
			}
			n, h := sha1Hex(t, rc)
			rc.Close()
			if n != s.Size {
				t.Errorf("%s stream %q: read %d bytes, Size says %d", path, s.Name, n, s.Size)
			}
			entry := fmt.Sprintf("%q:%d:%s", s.Name, n, h)
			if s.Name == "" {
				r.Streams[0] = entry
			} else {
				r.Streams = append(r.Streams, entry)
			}
		}
		sortNamed(r.Streams)
		if v, ok := src.(*Volume); ok {
			oid := make([]byte, 64)
			copy(oid, v.ObjectID(e))
			for i, label := range []string{"Object ID", "Birth Volume ID", "Birth Object ID", "Domain ID"} {
				if g := oid[16*i : 16*i+16]; !bytes.Equal(g, make([]byte, 16)) {
					r.OID += label + "=" + hex.EncodeToString(g) + ";"
				}
			}
		}
		p := path
		if p == "" {
			p = "/"
		}
		if _, dup := recs[p]; dup {
			t.Errorf("path %s listed twice", p)
		}
		recs[p] = r
		ents[p] = e
		if e.LinkID != 0 {
			groups[e.LinkID] = append(groups[e.LinkID], p)
		}
		if !e.IsDir() {
			return
		}
		kids, err := src.ReadDir(e)
		if err != nil {
			t.Fatalf("ReadDir %s: %v", p, err)
		}
		for _, k := range kids {
			walk(k, path+"/"+k.Name)
		}
	}
	root, err := src.Root()
	if err != nil {
		t.Fatalf("Root: %v", err)
	}
	walk(root, "")
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		sort.Strings(g)
		for _, p := range g {
			recs[p].Links = strings.Join(g, ",")
		}
	}
	return recs, ents
}

// compareRecords reports every difference between want (wimlib) and got.
func compareRecords(t testing.TB, want, got map[string]*pathRecord) {
	t.Helper()
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	diffs := 0
	for _, p := range paths {
		w, g := want[p], got[p]
		var msg string
		switch {
		case w == nil:
			msg = fmt.Sprintf("%s: only in our walk: %v", p, g)
		case g == nil:
			msg = fmt.Sprintf("%s: only in wimlib's capture: %v", p, w)
		case w.String() != g.String():
			msg = fmt.Sprintf("%s:\n  wimlib: %v\n  ours:   %v", p, w, g)
		default:
			continue
		}
		diffs++
		if diffs <= 20 {
			t.Error(msg)
		}
	}
	if diffs > 0 {
		t.Errorf("%d of %d paths differ from wimlib", diffs, len(paths))
	} else {
		t.Logf("%d paths identical to wimlib's capture (names, short names, attributes, SDs, times, reparse data, link groups, stream sizes and SHA-1s)", len(paths))
	}
}

// openImage opens img with this package and registers cleanup.
func openImage(t testing.TB, img string, opts Options) *Volume {
	t.Helper()
	v, err := OpenFile(img, opts)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

var lookPath = exec.LookPath
