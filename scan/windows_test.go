package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestClassifyImageState(t *testing.T) {
	cases := []struct {
		reg, ini string
		want     State
		detail   string
	}{
		{ImageStateGeneralizeResealOOBE, ImageStateGeneralizeResealOOBE, StateReady, "OOBE"},
		{ImageStateGeneralizeResealAudit, ImageStateGeneralizeResealAudit, StateReady, "audit"},
		{" image_state_generalize_reseal_to_oobe\r", "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", StateReady, "OOBE"},
		{ImageStateComplete, ImageStateComplete, StateNotGeneralized, "IMAGE_STATE_COMPLETE"},
		{ImageStateSpecializeResealOOBE, ImageStateSpecializeResealOOBE, StateSpecialized, "SPECIALIZE"},
		{ImageStateSpecializeResealAudit, ImageStateSpecializeResealAudit, StateSpecialized, "AUDIT"},
		{ImageStateUndeployable, ImageStateUndeployable, StateUndeployable, "UNDEPLOYABLE"},
		{ImageStateGeneralizeResealOOBE, ImageStateComplete, StateMismatch, "State.ini says IMAGE_STATE_COMPLETE"},
		{ImageStateGeneralizeResealOOBE, "", StateMismatch, "State.ini has no ImageState"},
		{"", ImageStateGeneralizeResealOOBE, StateMismatch, "hive has no ImageState"},
		{"", "", StateUnknownImage, "no ImageState"},
		{"IMAGE_STATE_FROBNICATED", "IMAGE_STATE_FROBNICATED", StateUnknownImage, "FROBNICATED"},
	}
	for _, tc := range cases {
		got, detail := ClassifyImageState(tc.reg, tc.ini)
		if got != tc.want || !strings.Contains(detail, tc.detail) {
			t.Errorf("ClassifyImageState(%q, %q) = %v %q, want %v mentioning %q", tc.reg, tc.ini, got, detail, tc.want, tc.detail)
		}
	}
}

func TestStateNamesAndReasons(t *testing.T) {
	seen := map[string]bool{}
	for s := StateNone; s <= StateNotChecked; s++ {
		name := s.String()
		if s != StateNone && (name == "" || seen[name] || s.Reason() == "") {
			t.Errorf("state %d: name %q reason %q", int(s), name, s.Reason())
		}
		seen[name] = true
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back State
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("state %v JSON round trip: %s -> %v, %v", s, b, back, err)
		}
	}
	if _, err := json.Marshal(State(99)); err == nil {
		t.Error("marshalling an invalid state succeeded")
	}
	var s State
	if err := json.Unmarshal([]byte(`"nonsense"`), &s); err == nil {
		t.Error("unmarshalling an unknown state succeeded")
	}
	if StateReady.Blocking() || !StateDirty.Blocking() {
		t.Error("Blocking is wrong")
	}
	for s, want := range map[State]string{
		StateNotGeneralized: "sysprep /generalize", StateSpecialized: "run sysprep", StateHibernated: "shut it down fully",
		StateBitLocker: "BitLocker", StateDirty: "chkdsk",
	} {
		if !strings.Contains(s.Reason(), want) {
			t.Errorf("%v reason %q does not mention %q", s, s.Reason(), want)
		}
	}
}

func hiberfil(sig string, n int) *fstest.MapFile {
	b := make([]byte, n)
	copy(b, sig)
	return &fstest.MapFile{Data: b}
}

func TestCheckHibernation(t *testing.T) {
	cases := []struct {
		name       string
		fsys       fstest.MapFS
		present    bool
		hibernated bool
	}{
		{"absent", fstest.MapFS{"pagefile.sys": {Data: []byte("x")}}, false, false},
		{"hibr", fstest.MapFS{"hiberfil.sys": hiberfil("hibr", 8192)}, true, true},
		{"HIBR fast startup", fstest.MapFS{"hiberfil.sys": hiberfil("HIBR", 8192)}, true, true},
		{"RSTR", fstest.MapFS{"hiberfil.sys": hiberfil("RSTR", 8192)}, true, true},
		{"wake", fstest.MapFS{"hiberfil.sys": hiberfil("wake", 8192)}, true, false},
		{"WAKE", fstest.MapFS{"hiberfil.sys": hiberfil("WAKE", 8192)}, true, false},
		{"zeroed", fstest.MapFS{"hiberfil.sys": hiberfil("", 8192)}, true, false},
		{"empty", fstest.MapFS{"hiberfil.sys": hiberfil("", 0)}, true, false},
		{"garbage", fstest.MapFS{"hiberfil.sys": hiberfil("\x00\x00\x00\x00junk", 8192)}, true, true},
		{"upper-case name", fstest.MapFS{"HIBERFIL.SYS": hiberfil("HIBR", 4096)}, true, true},
		{"short", fstest.MapFS{"hiberfil.sys": hiberfil("hib", 3)}, true, true},
		{"directory of that name", fstest.MapFS{"hiberfil.sys/x": {Data: []byte("x")}}, false, false},
	}
	for _, tc := range cases {
		h, err := CheckHibernation(tc.fsys)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if h.Present != tc.present || h.Hibernated != tc.hibernated {
			t.Errorf("%s: %+v, want present %v hibernated %v", tc.name, h, tc.present, tc.hibernated)
		}
	}
}

// windowsFS builds a minimal offline Windows tree as a MapFS; the fake
// inspector below reads the image state from it.
func windowsFS(reg, ini string, extra fstest.MapFS) fstest.MapFS {
	m := fstest.MapFS{
		"Windows/System32/config/SOFTWARE": {Data: []byte("ImageState=" + reg)},
		"Windows/Setup/State/State.ini":    {Data: []byte("[State]\r\nImageState=" + ini + "\r\n")},
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// fakeInspect stands in for the metadata package: it finds Windows by its
// SOFTWARE hive and reads the two image state "sources" from the fake
// tree.
func fakeInspect(fsys fs.FS) (*WindowsInfo, error) {
	sw, err := fs.ReadFile(fsys, "Windows/System32/config/SOFTWARE")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("find system root: %w", ErrNoWindows)
	}
	if err != nil {
		return nil, err
	}
	info := &WindowsInfo{SystemRoot: "WINDOWS", ProductName: "Windows 11 Pro", Version: "10.0.22631.2861", Arch: ArchName(9)}
	info.RegistryImageState = strings.TrimPrefix(string(sw), "ImageState=")
	ini, err := fs.ReadFile(fsys, "Windows/Setup/State/State.ini")
	if err == nil {
		for _, line := range strings.Split(string(ini), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ImageState="); ok {
				info.StateINIImageState = v
			}
		}
	}
	return info, nil
}

// fakeOpener returns an opener that serves fsys and counts closes.
func fakeOpener(fsys fs.FS, openErr error, closes *int) VolumeOpener {
	return func(r io.ReaderAt, off, size int64) (fs.FS, func() error, error) {
		if openErr != nil && fsys == nil {
			return nil, nil, openErr
		}
		return fsys, func() error { *closes++; return nil }, openErr
	}
}

// TestInspectNTFSVolume runs the whole scan on a real NTFS superfloppy
// image with an injected opener serving a fake Windows tree, once per
// situation a technician can meet.
func TestInspectNTFSVolume(t *testing.T) {
	img := mkfs(t, t.TempDir(), mkNTFS, "OS", 8<<20, 0)
	gen := ImageStateGeneralizeResealOOBE
	cases := []struct {
		name    string
		fsys    fs.FS
		openErr error
		inspect InspectFunc
		want    State
		detail  string
		windows bool
	}{
		{"ready", windowsFS(gen, gen, nil), nil, fakeInspect, StateReady, "OOBE", true},
		{"not generalized", windowsFS(ImageStateComplete, ImageStateComplete, nil), nil, fakeInspect, StateNotGeneralized, "COMPLETE", true},
		{"specialized", windowsFS(ImageStateSpecializeResealOOBE, ImageStateSpecializeResealOOBE, nil), nil, fakeInspect, StateSpecialized, "SPECIALIZE", true},
		{"undeployable", windowsFS(ImageStateUndeployable, ImageStateUndeployable, nil), nil, fakeInspect, StateUndeployable, "UNDEPLOYABLE", true},
		{"disagree", windowsFS(gen, ImageStateComplete, nil), nil, fakeInspect, StateMismatch, "State.ini says IMAGE_STATE_COMPLETE", true},
		{"hibernated", windowsFS(gen, gen, fstest.MapFS{"hiberfil.sys": hiberfil("HIBR", 4096)}), nil, fakeInspect, StateHibernated, "HIBR", true},
		{"stale hiberfil", windowsFS(gen, gen, fstest.MapFS{"hiberfil.sys": hiberfil("", 4096)}), nil, fakeInspect, StateReady, "not hibernated", true},
		{"dirty but readable", windowsFS(gen, gen, nil), fmt.Errorf("open: %w", ErrDirty), fakeInspect, StateDirty, "dirty", true},
		{"dirty unreadable", nil, fmt.Errorf("open: %w", ErrDirty), fakeInspect, StateDirty, "dirty", false},
		{"bitlocker", nil, fmt.Errorf("open: %w", ErrBitLocker), fakeInspect, StateBitLocker, "BitLocker", false},
		{"corrupt", nil, errors.New("MFT record 0 unreadable"), fakeInspect, StateError, "MFT record 0", false},
		{"not ntfs", nil, fmt.Errorf("x: %w", ErrNotNTFS), fakeInspect, StateError, "not readable as NTFS", false},
		{"no windows", fstest.MapFS{"data/file.txt": {Data: []byte("x")}}, nil, fakeInspect, StateNoWindows, "", false},
		{"inspector fails", windowsFS(gen, gen, nil), nil, func(fs.FS) (*WindowsInfo, error) {
			return nil, errors.New("SOFTWARE hive corrupt")
		}, StateError, "SOFTWARE hive corrupt", false},
		{"no inspector", windowsFS(gen, gen, nil), nil, nil, StateNotChecked, "inspector", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			closes := 0
			opts := Options{OpenVolume: fakeOpener(tc.fsys, tc.openErr, &closes), Inspect: tc.inspect}
			rep := scanImages(t, opts, img)
			v := rep.Disks[0].Partitions[0].Volume
			if v.State != tc.want || !strings.Contains(v.Detail, tc.detail) {
				t.Errorf("state %v detail %q, want %v mentioning %q", v.State, v.Detail, tc.want, tc.detail)
			}
			if v.Reason != tc.want.Reason() {
				t.Errorf("reason %q, want %q", v.Reason, tc.want.Reason())
			}
			if (v.Windows != nil) != tc.windows {
				t.Errorf("windows %+v, want present=%v", v.Windows, tc.windows)
			}
			if tc.fsys != nil && closes != 1 {
				t.Errorf("volume closed %d times, want 1", closes)
			}
			ready := len(rep.Ready()) == 1
			if ready != (tc.want == StateReady) {
				t.Errorf("Ready() has %d volumes", len(rep.Ready()))
			}
			if len(rep.Candidates()) != map[bool]int{true: 1, false: 0}[tc.windows] {
				t.Errorf("Candidates() has %d volumes", len(rep.Candidates()))
			}
		})
	}
}

// TestInspectOnDirFS runs the inspection on a real directory tree through
// os.DirFS, the way a plain-directory source would be.
func TestInspectOnDirFS(t *testing.T) {
	root := t.TempDir()
	for name, data := range map[string]string{
		"Windows/System32/config/SOFTWARE": "ImageState=" + ImageStateGeneralizeResealAudit,
		"Windows/Setup/State/State.ini":    "[State]\nImageState=" + ImageStateGeneralizeResealAudit + "\n",
		"HiberFil.sys":                     "wake" + strings.Repeat("\x00", 100),
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, detail, info := inspectVolume(os.DirFS(root), false, fakeInspect)
	if st != StateReady || info == nil || !strings.Contains(detail, "audit") || !strings.Contains(detail, `"wake"`) {
		t.Errorf("state %v detail %q info %+v", st, detail, info)
	}
}

func TestArchName(t *testing.T) {
	for code, want := range map[int]string{0: "x86", 5: "arm", 6: "ia64", 9: "x86_64", 12: "arm64", 7: ""} {
		if got := ArchName(code); got != want {
			t.Errorf("ArchName(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestReportJSONFields(t *testing.T) {
	img := mkfs(t, t.TempDir(), mkNTFS, "OS", 8<<20, 0)
	gen := ImageStateGeneralizeResealOOBE
	closes := 0
	rep := scanImages(t, Options{OpenVolume: fakeOpener(windowsFS(gen, gen, nil), nil, &closes), Inspect: fakeInspect}, img)
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"version": 1`, `"disks"`, `"table": "superfloppy"`, `"size_bytes"`, `"letter": "C"`,
		`"fs": "ntfs"`, `"label": "OS"`, `"state": "ready"`, `"reason"`, `"system_root": "WINDOWS"`,
		`"registry_image_state": "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"`, `"arch": "x86_64"`, `"role": "superfloppy"`} {
		if !strings.Contains(buf.String(), key) {
			t.Errorf("JSON lacks %s:\n%s", key, buf.String())
		}
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Disks[0].Partitions[0].Volume.State != StateReady {
		t.Errorf("state did not survive a JSON round trip")
	}
}
