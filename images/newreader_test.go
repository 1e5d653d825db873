package images

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/memsource"
)

// TestNewReaderFromMemory reads and verifies a WIM held in memory, the way
// the image store checks staged uploads without a file of its own, and
// finds a flipped byte there as it does in a file.
func TestNewReaderFromMemory(t *testing.T) {
	src := memsource.New(
		memsource.Text("a.txt", strings.Repeat("some text ", 500)),
		memsource.Dir("Windows", memsource.Regular("b.dll", memsource.Pattern{N: 70000, Seed: 9})),
	)
	wim := filepath.Join(t.TempDir(), "m.wim")
	writeWIM(t, wim, src, Options{Compression: CompressXPRESS, Integrity: true}, ImageOptions{Name: "mem"})
	data, err := os.ReadFile(wim)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Images(); len(got) != 1 || got[0].Name != "mem" {
		t.Fatalf("Images() = %+v, want one image named mem", got)
	}
	if err := r.Verify(VerifyOptions{}); err != nil {
		t.Fatalf("Verify of an intact in-memory WIM: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	data[len(data)/2] ^= 0x10 // inside the data, covered by the integrity table
	r, err = NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var ve *VerifyError
	if err := r.Verify(VerifyOptions{}); !errors.As(err, &ve) {
		t.Fatalf("Verify of a damaged in-memory WIM = %v, want a VerifyError", err)
	}
}
