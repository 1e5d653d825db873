// Package tooltest runs the real reference tools (wimlib's wim* commands,
// 7z, mkntfs) from tests and parses what they print.
package tooltest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Require skips the test when a tool is missing, except under CI (CI set
// in the environment), where a missing tool is a failure: CI installs them.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (CI must install it: make deps)", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
}

// Run runs a tool and fails the test when it exits non-zero.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := Try(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// Try runs a tool and returns its combined output and error.
func Try(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var b bytes.Buffer
	cmd.Stdout = &b
	cmd.Stderr = &b
	err := cmd.Run()
	return b.String(), err
}

// WimdirEntry is one dentry as `wimdir --detailed` prints it.
type WimdirEntry struct {
	Path       string
	ShortName  string
	Attributes string
	Security   string
	Creation   string
	LastWrite  string
	LastAccess string
	ReparseTag string
	LinkGroup  string
	LinkCount  string
	Streams    map[string]WimdirStream // "" unnamed data, "<reparse>", or the stream name
}

// WimdirStream is one stream of a WimdirEntry.
type WimdirStream struct {
	Hash string
	Size string
}

// ParseWimdirDetailed parses `wimdir --detailed FILE INDEX` output.
func ParseWimdirDetailed(out string) map[string]*WimdirEntry {
	res := map[string]*WimdirEntry{}
	var cur *WimdirEntry
	stream := ""
	for _, line := range strings.Split(out, "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "-----") {
			cur = nil
			continue
		}
		key, val, ok := strings.Cut(trim, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch {
		case ok && key == "Full Path":
			cur = &WimdirEntry{Path: strings.Trim(val, `"`), Streams: map[string]WimdirStream{}}
			res[cur.Path] = cur
		case cur == nil:
		case trim == "Unnamed data stream:":
			stream = ""
			cur.Streams[stream] = WimdirStream{}
		case trim == "Reparse point stream:":
			stream = "<reparse>"
			cur.Streams[stream] = WimdirStream{}
		case strings.HasPrefix(trim, "Named data stream"):
			stream = strings.TrimSuffix(strings.TrimPrefix(trim, "Named data stream "), ":")
			stream = strings.Trim(stream, `"`)
			cur.Streams[stream] = WimdirStream{}
		case ok:
			switch key {
			case "Short Name":
				cur.ShortName = strings.Trim(val, `"`)
			case "Attributes":
				cur.Attributes = val
			case "Security Descriptor":
				cur.Security = val
			case "Creation Time":
				cur.Creation = val
			case "Last Write Time":
				cur.LastWrite = val
			case "Last Access Time":
				cur.LastAccess = val
			case "Reparse Tag":
				cur.ReparseTag = val
			case "Link Group ID":
				cur.LinkGroup = val
			case "Link Count":
				cur.LinkCount = val
			case "Hash":
				s := cur.Streams[stream]
				s.Hash = val
				cur.Streams[stream] = s
			case "Uncompressed size":
				s := cur.Streams[stream]
				s.Size = strings.TrimSuffix(val, " bytes")
				cur.Streams[stream] = s
			}
		}
	}
	return res
}
