package images

import (
	"path/filepath"
	"testing"

	"github.com/wdscapture/wdscapture/internal/memsource"
)

// TestProgressFileCount: the write phase counts files as ImageInfo does
// (hard links, empty files, directories with named streams and reparse
// points included), so that "files N of N" at its end is the count the
// capture reports; before, it counted data streams (288 of 288, then "314
// files").
func TestProgressFileCount(t *testing.T) {
	src := memsource.Rich(memsource.RichOptions{ManyFiles: 40, Depth: 3})
	var last, first Progress
	var phases []string
	w, err := Create(filepath.Join(t.TempDir(), "p.wim"), Options{Compression: CompressXPRESS, Progress: func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
			if p.Phase == "write" {
				first = p
			}
		}
		if p.Phase == "write" {
			if p.FilesDone < last.FilesDone || p.FilesDone > p.FilesTotal {
				t.Fatalf("files %d of %d after %d", p.FilesDone, p.FilesTotal, last.FilesDone)
			}
			last = p
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := w.AddImage(t.Context(), src, ImageOptions{Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if last.FilesTotal != info.FileCount || last.FilesDone != info.FileCount {
		t.Errorf("the write phase ends at files %d of %d; the image has %d files", last.FilesDone, last.FilesTotal, info.FileCount)
	}
	if first.FilesDone == 0 || first.FilesDone >= info.FileCount {
		t.Errorf("the write phase starts at %d of %d: files without data are done from the start, the others not", first.FilesDone, info.FileCount)
	}
	if phases[0] != "scan" || phases[len(phases)-1] != "done" {
		t.Errorf("phases %v", phases)
	}
}
