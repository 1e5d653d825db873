package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/wdscapture/wdscapture/images"
)

func TestGroups(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(ctx, "Win11", GroupOptions{}); err != nil {
		t.Fatal(err)
	}
	lzx := images.CompressLZX
	if err := s.CreateGroup(ctx, "Lab Servers", GroupOptions{Read: []string{`LAB\Techs`}, Write: []string{}, Compression: &lzx}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(ctx, "WIN11", GroupOptions{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second group differing only in case: %v, want ErrConflict", err)
	}
	if err := s.CreateGroup(ctx, "../escape", GroupOptions{}); !errors.Is(err, ErrBadName) {
		t.Fatalf("group ../escape: %v, want ErrBadName", err)
	}
	// A folder made by hand is a group with the default settings; hidden
	// folders (temporary ones) are not groups.
	os.Mkdir(filepath.Join(root, "Images", "Manual"), 0o755)
	os.Mkdir(filepath.Join(root, "Images", ".new-group-x"), 0o755)
	gs, err := s.Groups()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range gs {
		names = append(names, g.Name)
	}
	if !reflect.DeepEqual(names, []string{"Lab Servers", "Manual", "Win11"}) {
		t.Fatalf("groups = %q", names)
	}
	if gs[0].Compression != "LZX" || !reflect.DeepEqual(gs[0].Settings.Read, []string{`LAB\Techs`}) || len(gs[0].Settings.Write) != 0 {
		t.Errorf("Lab Servers = %+v", gs[0])
	}
	if gs[1].Compression != "" || !reflect.DeepEqual(gs[1].Settings, DefaultSettings()) {
		t.Errorf("Manual = %+v, want default settings and no compression type", gs[1])
	}
	if err := s.SetGroupACL(ctx, "win11", nil, []string{`LAB\Deploy`}); err != nil {
		t.Fatal(err)
	}
	g, err := s.Group("WIN11")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Settings.Read, []string{AuthenticatedUsers}) || !reflect.DeepEqual(g.Settings.Write, []string{`LAB\Deploy`}) {
		t.Errorf("after SetGroupACL: %+v", g.Settings)
	}
	if _, err := s.Group("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Group(nope) = %v, want ErrNotFound", err)
	}
	// A damaged settings file is an error naming it, not a default.
	os.WriteFile(filepath.Join(root, "Images", "Manual", SettingsFile), []byte("{"), 0o644)
	if _, err := s.Group("Manual"); !errors.Is(err, ErrSettings) {
		t.Errorf("Group with a damaged settings file = %v, want ErrSettings", err)
	}
}
