package wizard

import (
	"path/filepath"
	"testing"

	"github.com/wdscapture/wdscapture/internal/lab"
	"github.com/wdscapture/wdscapture/internal/tooltest"
	"github.com/wdscapture/wdscapture/scan"
)

// labDisk builds a superfloppy disk image (a bare NTFS volume, drive C:)
// holding the lab's Windows tree in the given image state, filled unmounted
// by wimapply, and returns its path.
func labDisk(t *testing.T, dir, name, state string) string {
	t.Helper()
	tooltest.Require(t, "mkntfs", "wimapply")
	img := filepath.Join(dir, name)
	tree := lab.Tree(lab.Options{ImageState: state, Files: 20})
	if err := lab.NTFSImage(t.Context(), img, tree, "Windows", 64<<20); err != nil {
		t.Fatal(err)
	}
	return img
}

var generalized = scan.ImageStateGeneralizeResealOOBE
