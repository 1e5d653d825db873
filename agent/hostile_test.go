package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/images"
)

// smallTree writes a few files under dir/src and returns that path.
func smallTree(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	for rel, data := range map[string]string{
		"Windows/System32/config.txt": strings.Repeat("settings ", 500),
		"Users/a/notes.txt":           "notes",
	} {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// TestInterruptDuringVerification cancels the capture as soon as the
// final verification starts: the capture must report an interruption, not
// success.
func TestInterruptDuringVerification(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	obs := Observer{Progress: func(p Progress) {
		if p.Phase == PhaseVerify {
			cancel()
		}
	}}
	res, err := Capture(ctx, CaptureRequest{
		Source: SourceSpec{Path: smallTree(t, dir)}, Dest: filepath.Join(dir, "x.wim"),
		Image: images.ImageOptions{Name: "x"}, Compression: images.CompressXPRESS, Verify: true,
	}, nil, obs)
	var ce *CaptureError
	if !errors.As(err, &ce) || ce.Kind != KindInterrupted {
		t.Fatalf("Capture = %+v, %v; want an interruption (KindInterrupted)", res, err)
	}
}
