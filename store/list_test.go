package store

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/images"
)

// TestListSeesByACL: two users who see different images. The group ACL
// hides a whole group, an image's read filter hides that image; the
// administrator (nil token) sees everything, metadata included.
func TestListSeesByACL(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	dir := t.TempDir()
	a := makeWIM(t, filepath.Join(dir, "a.wim"), testTree(0, 5), images.CompressXPRESS, false, "Win11 Pilot")
	b := makeWIM(t, filepath.Join(dir, "b.wim"), testTree(1, 5), images.CompressXPRESS, false, "Win11 Prod")
	c := makeWIM(t, filepath.Join(dir, "c.wim"), testTree(2, 5), images.CompressXPRESS, false, "Server 2022")
	if err := s.CreateGroup(ctx, "Clients", GroupOptions{Read: []string{`LAB\Techs`}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(ctx, "Servers", GroupOptions{Read: []string{`LAB\Server Admins`}}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		group, wim string
		filter     []string
	}{{"Clients", a, []string{`LAB\Pilot`}}, {"Clients", b, nil}, {"Servers", c, nil}} {
		if _, err := s.Add(ctx, x.group, openWIM(t, x.wim), x.wim, AddOptions{ReadFilter: x.filter}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(tok *Token) []string {
		l, err := s.List(tok)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range l {
			out = append(out, e.Group+"/"+e.Name)
		}
		return out
	}
	tom := &Token{User: `LAB\tom`, Groups: []string{`LAB\Techs`}}
	pia := &Token{User: `LAB\pia`, Groups: []string{`LAB\Techs`, `LAB\Pilot`, `LAB\Server Admins`}}
	for _, tc := range []struct {
		tok  *Token
		want []string
	}{
		{tom, []string{"Clients/Win11 Prod"}},
		{pia, []string{"Clients/Win11 Pilot", "Clients/Win11 Prod", "Servers/Server 2022"}},
		{&Token{User: `LAB\nobody`}, nil},
		{nil, []string{"Clients/Win11 Pilot", "Clients/Win11 Prod", "Servers/Server 2022"}},
	} {
		if got := names(tc.tok); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("List(%v) = %q, want %q", tc.tok, got, tc.want)
		}
	}
	l, _ := s.ListGroup("clients", pia)
	e := l[0]
	want := ImageEntry{Group: "Clients", FileName: "Win11 Pilot.wim", Path: filepath.Join(root, "Images", "Clients", "Win11 Pilot.wim"),
		Index: 1, Name: "Win11 Pilot", Description: "test image Win11 Pilot", Architecture: "amd64", HAL: "acpiapic",
		ProductName: "Windows 11 Enterprise", EditionID: "Enterprise", InstallationType: "Client", ProductType: "WinNT",
		Version: "10.0.22631.2861", Languages: []string{"en-US", "de-DE"}, DefaultLanguage: "en-US", SystemRoot: "WINDOWS",
		Compression: "XPRESS", GroupRead: []string{`LAB\Techs`}, GroupWrite: []string{Administrators}, ReadFilter: []string{`LAB\Pilot`}}
	if e.TotalBytes == 0 || e.FileCount == 0 || e.DirCount == 0 || e.MetadataBytes == 0 ||
		time.Since(e.Created) > time.Hour || time.Since(e.Added) > time.Hour {
		t.Errorf("sizes and times missing: %+v", e)
	}
	e.TotalBytes, e.FileCount, e.DirCount, e.MetadataBytes = 0, 0, 0, 0
	e.Created, e.Modified, e.Added = time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("entry\n%+v\nwant\n%+v", e, want)
	}
}
