package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/scan"
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

// TestVolumeNamesInMessages: a volume without a drive letter is named by
// disk and partition, never as ":" ("2 generalized Windows volumes found
// (C:, :)"), and a lettered one is "C:", never "C::".
func TestVolumeNamesInMessages(t *testing.T) {
	vol := func(letter string, st scan.State) *scan.Volume {
		return &scan.Volume{Letter: letter, FS: scan.FSNTFS, State: st, Reason: st.Reason()}
	}
	rep := &scan.Report{Disks: []*scan.Disk{{Name: "sda", Path: "/dev/sda", Partitions: []*scan.Partition{
		{Index: 1, Volume: vol("C", scan.StateReady)},
		{Index: 2, Volume: vol("", scan.StateReady)},
	}}}}
	_, ps := SourceFor(inf.Default(), rep)
	if msg := ps.Error(); !strings.Contains(msg, "(C:, sda partition 2)") || strings.Contains(msg, ", :") {
		t.Errorf("two ready volumes: %s", msg)
	}
	rep.Disks[0].Partitions[0].Volume = vol("C", scan.StateError)
	rep.Disks[0].Partitions[1].Volume = vol("D", scan.StateNotGeneralized)
	_, ps = SourceFor(inf.Default(), rep)
	if msg := ps.Error(); !strings.Contains(msg, "C: the volume could not be read") || strings.Contains(msg, "C::") {
		t.Errorf("no ready volume: %s", msg)
	}
}

// TestCaptureLog: the log beside the WIM is readable by its owner only,
// records the INF's warnings and never the password.
func TestCaptureLog(t *testing.T) {
	dir := t.TempDir()
	src := smallTree(t, dir)
	dest := filepath.Join(dir, "out", "ref.wim")
	infPath := filepath.Join(dir, "WDSCapture.inf")
	body := "[Capture]\nUnattended=Yes\nVolumeToCapture=" + src + "\nImageName=ref\nDestinationFile=" + dest + "\nColour=blue\n[WDS]\nUploadToWDSServer=No\nUsername=CORP\\cap\nPassword=hunter2-s3cret\n"
	if err := os.WriteFile(infPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// An older, world-readable log is narrowed too.
	os.MkdirAll(filepath.Dir(dest), 0o755)
	if err := os.WriteFile(dest+".log", []byte("old run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), RunOptions{INFPath: infPath, NoDevices: true, Threads: 1}, Observer{}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dest + ".log")
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("log mode %v, want no access for group and others", st.Mode().Perm())
	}
	log, _ := os.ReadFile(dest + ".log")
	if !strings.Contains(string(log), `unknown key \"Colour\"`) {
		t.Errorf("the INF warning is not in the log:\n%s", log)
	}
	if strings.Contains(string(log), "hunter2") {
		t.Errorf("the password is in the log:\n%s", log)
	}
}
