package agent

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/scan"
)

// TestResolvePath: drive letters through the map (X: is the boot root),
// ".." clamped at a drive's root, symbolic links that leave the drive
// refused, relative and network paths refused.
func TestResolvePath(t *testing.T) {
	tmp := t.TempDir()
	images := filepath.Join(tmp, "d", "images")
	outside := filepath.Join(tmp, "outside")
	root := filepath.Join(tmp, "root")
	for _, d := range []string{images, outside, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(images, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(images, "sub"), filepath.Join(images, "in")); err != nil {
		t.Fatal(err)
	}
	drives := map[string]string{"D": images}
	for _, tc := range []struct {
		in, want, err string
	}{
		{"/srv/images/ref.wim", "/srv/images/ref.wim", ""},
		{"/srv/images/../x/ref.wim", "/srv/x/ref.wim", ""},
		{`D:\ref.wim`, images + "/ref.wim", ""},
		{`d:\Sub\Dir\ref.wim`, images + "/Sub/Dir/ref.wim", ""},
		{`D:/mixed\seps.wim`, images + "/mixed/seps.wim", ""},
		// Windows clamps ".." at the drive's root; so do we.
		{`D:\..\..\escaped.wim`, images + "/escaped.wim", ""},
		{`D:\a\..\..\..\b\x.wim`, images + "/b/x.wim", ""},
		// A link inside the drive that stays inside is fine.
		{`D:\in\x.wim`, images + "/in/x.wim", ""},
		{`D:\out\x.wim`, "", "leaves drive D:"},
		{`X:\Windows\System32\WDSCapture.inf`, root + "/Windows/System32/WDSCapture.inf", ""},
		{`E:\ref.wim`, "", "drive E: is not mounted"},
		{`D:ref.wim`, "", "not a full path"},
		{`ref.wim`, "", "not a full path"},
		{`.\ref.wim`, "", "not a full path"},
		{`\\server\share\ref.wim`, "", "network paths"},
		{"", "", "no path"},
	} {
		got, err := ResolvePath(tc.in, drives, root)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ResolvePath(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResolvePath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if l := WindowsPath(got, drives, root); strings.HasPrefix(tc.in, `D:\`) && !strings.EqualFold(l, strings.ReplaceAll(strings.ReplaceAll(tc.in, "/", `\`), `..\`, "")) && !strings.Contains(tc.in, "..") {
			t.Errorf("WindowsPath(%q) = %q, want %q", got, l, tc.in)
		}
	}
}

func settings(t *testing.T, kv ...string) *inf.Settings {
	t.Helper()
	s := inf.Default()
	for i := 0; i < len(kv); i += 2 {
		if err := s.Set(kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// keys lists the keys of the problems, in order.
func keys(ps Problems) string {
	var ks []string
	for _, p := range ps {
		ks = append(ks, p.Key)
	}
	return strings.Join(ks, ",")
}

// TestCheckDestination: every destination check, each naming its key.
func TestCheckDestination(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "f.txt"), []byte("data"), 0o644)
	link := filepath.Join(tmp, "link")
	if err := os.Symlink(filepath.Join(src, "sub"), link); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(tmp, "existing.wim")
	w, err := images.Create(existing, images.Options{Compression: images.CompressXPRESS})
	if err != nil {
		t.Fatal(err)
	}
	dirSrc, err := OpenSource(SourceSpec{Path: src}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage(t.Context(), dirSrc, images.ImageOptions{Name: "Windows 11 2026-11-24"}); err != nil {
		t.Fatal(err)
	}
	dirSrc.Close()
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(tmp, "adir.wim"), 0o755)
	os.WriteFile(filepath.Join(tmp, "file"), []byte("x"), 0o644)
	dirSource := &Source{Spec: SourceSpec{Path: src}}
	cVolume := &Source{Spec: SourceSpec{Path: "/nonexistent/disk.img", Offset: 1 << 20, Size: 1 << 30}, Letter: "C"}
	o := RunOptions{DriveMap: map[string]string{"C": tmp, "D": tmp}}

	for _, tc := range []struct {
		name string
		kv   []string
		src  *Source
		keys string
		want string
	}{
		{"fine", []string{inf.KeyDestinationFile, tmp + "/new.wim"}, dirSource, "", ""},
		{"not set", nil, nil, inf.KeyDestinationFile, "is not set"},
		{"not a wim", []string{inf.KeyDestinationFile, tmp + "/new.img"}, nil, inf.KeyDestinationFile, "must end in .wim"},
		{"relative", []string{inf.KeyDestinationFile, "new.wim"}, nil, inf.KeyDestinationFile, "absolute path"},
		{"unmapped drive", []string{inf.KeyDestinationFile, `E:\new.wim`}, nil, inf.KeyDestinationFile, "drive E: is not mounted"},
		// Issue 14 item 12: an existing directory is found before the capture.
		{"directory", []string{inf.KeyDestinationFile, tmp + "/adir.wim", inf.KeyOverwrite, "Yes"}, nil, inf.KeyDestinationFile, "is a directory"},
		{"below a file", []string{inf.KeyDestinationFile, tmp + "/file/x.wim"}, nil, inf.KeyDestinationFile, "is a file, not a directory"},
		// Issue 13 item 7: /proc is refused up front, not accepted with "0 B free".
		{"proc", []string{inf.KeyDestinationFile, "/proc/ref.wim"}, nil, inf.KeyDestinationFile, "proc file system"},
		{"sysfs", []string{inf.KeyDestinationFile, "/sys/kernel/ref.wim"}, nil, inf.KeyDestinationFile, "sysfs file system"},
		// Issue 14 item 10: a symbolic link into the source does not hide it.
		{"inside the source through a link", []string{inf.KeyDestinationFile, link + "/x.wim"}, dirSource, inf.KeyDestinationFile, "directory being captured"},
		{"inside the source", []string{inf.KeyDestinationFile, src + "/sub/x.wim"}, dirSource, inf.KeyDestinationFile, "directory being captured"},
		// Issue 14 item 11: the auto-discovered C: is the volume being captured.
		{"drive of the source", []string{inf.KeyDestinationFile, `C:\ref.wim`}, cVolume, inf.KeyDestinationFile, "drive C:, the volume being captured"},
		{"other drive", []string{inf.KeyDestinationFile, `D:\ref.wim`}, cVolume, "", ""},
		{"exists, Overwrite=No", []string{inf.KeyDestinationFile, existing}, nil, inf.KeyOverwrite, "Overwrite=Append"},
		{"exists, Overwrite=Yes", []string{inf.KeyDestinationFile, existing, inf.KeyOverwrite, "Yes"}, nil, "", ""},
		{"append", []string{inf.KeyDestinationFile, existing, inf.KeyOverwrite, "Append", inf.KeyImageName, "Second"}, nil, "", ""},
		// Issue 13 item 7: the name clash of a second capture the same day.
		{"append, same name", []string{inf.KeyDestinationFile, existing, inf.KeyOverwrite, "Append", inf.KeyImageName, "windows 11 2026-11-24"}, nil, inf.KeyImageName, `already has an image named "Windows 11 2026-11-24" (image 1)`},
		{"append, not a WIM", []string{inf.KeyDestinationFile, tmp + "/adir.wim/../file", inf.KeyOverwrite, "Append"}, nil, inf.KeyDestinationFile, "must end in .wim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := settings(t, tc.kv...)
			d, ps := CheckDestination(s, o, tc.src)
			if got := keys(ps); got != tc.keys {
				t.Fatalf("problems %q (%v), want keys %q", got, ps, tc.keys)
			}
			if tc.want != "" && !strings.Contains(ps.Error(), tc.want) {
				t.Errorf("problems %q lack %q", ps.Error(), tc.want)
			}
			for _, p := range ps {
				if !strings.Contains(p.Error(), p.Key) || p.Msg == "" || strings.HasPrefix(p.Msg, p.Key) {
					t.Errorf("problem %q: the error must name the key, the message must not (%q)", p.Error(), p.Msg)
				}
			}
			if tc.name == "append" && (d == nil || len(d.Images) != 1 || d.Compression != images.CompressXPRESS) {
				t.Errorf("destination %+v, want the existing WIM's image and compression", d)
			}
		})
	}
	// A compression set in the INF that differs from the WIM's.
	s := settings(t, inf.KeyDestinationFile, existing, inf.KeyOverwrite, "Append")
	s2, _, err := inf.Parse([]byte("[Capture]\nCompression=LZX\nOverwrite=Append\nDestinationFile="+existing+"\n"), "f.inf")
	if err != nil {
		t.Fatal(err)
	}
	if _, ps := CheckDestination(s2, o, nil); keys(ps) != inf.KeyCompression || !strings.Contains(ps.Error(), "share a compression") {
		t.Errorf("compression mismatch: %v", ps)
	}
	if _, ps := CheckDestination(s, o, nil); len(ps) != 0 {
		t.Errorf("no Compression key: %v", ps)
	}
}

// TestSourceFor: the letter, the one generalized volume, and the reasons
// a volume cannot be captured, each under VolumeToCapture.
func TestSourceFor(t *testing.T) {
	vol := func(letter string, st scan.State) *scan.Partition {
		return &scan.Partition{Index: 2, Start: 1 << 20, Size: 1 << 30, Volume: &scan.Volume{Letter: letter, FS: scan.FSNTFS, State: st, Reason: st.Reason(),
			Windows: &scan.WindowsInfo{SystemRoot: "Windows", ProductName: "Windows 11 Pro"}}}
	}
	rep := &scan.Report{Disks: []*scan.Disk{{Name: "sda", Path: "/dev/sda", Partitions: []*scan.Partition{vol("C", scan.StateReady), vol("D", scan.StateNotGeneralized)}}}}
	for _, tc := range []struct {
		volume, letter, err string
		kind                ErrorKind
	}{
		{"", "C", "", 0},
		{`C:\`, "C", "", 0},
		{`D:\`, "", "not ready to capture", KindNothing},
		{`Q:\`, "", "no volume has that drive letter", KindNothing},
	} {
		src, ps := SourceFor(settings(t, inf.KeyVolumeToCapture, tc.volume), rep)
		if tc.err != "" {
			if len(ps) != 1 || ps[0].Key != inf.KeyVolumeToCapture || ps[0].Kind != tc.kind || !strings.Contains(ps.Error(), tc.err) {
				t.Errorf("%q: %v, want %q under VolumeToCapture", tc.volume, ps, tc.err)
			}
			continue
		}
		if len(ps) != 0 || src.Letter != tc.letter || src.Spec.Offset != 1<<20 || src.Spec.Path != "/dev/sda" {
			t.Errorf("%q: %+v %v", tc.volume, src, ps)
		}
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := exec.Command("mkfifo", fifo).Run(); err != nil {
		t.Fatal(err)
	}
	if _, ps := SourceFor(settings(t, inf.KeyVolumeToCapture, fifo), nil); len(ps) != 1 || !errors.Is(ps[0], errNotCapturable) {
		t.Errorf("a FIFO source: %v", ps)
	}
}

// TestSaveINF: drive letters, never a WIM or a protected file, replace only
// when asked, and the file reads back.
func TestSaveINF(t *testing.T) {
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	os.MkdirAll(filepath.Join(root, "Windows", "System32"), 0o755)
	wim := filepath.Join(tmp, "ref.wim")
	os.WriteFile(wim, append([]byte("MSWIM\x00\x00\x00"), make([]byte, 200)...), 0o644)
	other := filepath.Join(tmp, "other.wim")
	os.WriteFile(other, append([]byte("MSWIM\x00\x00\x00"), make([]byte, 200)...), 0o644)
	notes := filepath.Join(tmp, "notes.txt")
	os.WriteFile(notes, []byte("keep"), 0o644)
	o := RunOptions{Root: root, DriveMap: map[string]string{"D": tmp}}
	s := settings(t, inf.KeyImageName, "Saved", inf.KeyDestinationFile, `D:\ref.wim`, inf.KeyPassword, "pw")
	protect := SaveOptions{Protect: []string{wim}}

	for _, tc := range []struct {
		target string
		opts   SaveOptions
		err    string
		exists bool
	}{
		{`D:\ref.wim`, protect, "just written by the capture", false},
		{`D:\ref.wim`, SaveOptions{Replace: true, Protect: []string{wim}}, "just written by the capture", false},
		{other, SaveOptions{Replace: true}, "is a WIM file", false},
		{notes, SaveOptions{}, "", true},
		{`D:\`, SaveOptions{}, "is a directory", false},
		{"WDSCapture.inf", SaveOptions{}, "not a full path", false},
		{`E:\WDSCapture.inf`, SaveOptions{}, "drive E: is not mounted", false},
	} {
		_, err := SaveINF(s, tc.target, o, tc.opts)
		var fe *FileExistsError
		if tc.exists {
			if !errors.As(err, &fe) || fe.Path != notes {
				t.Errorf("SaveINF(%q): %v, want a FileExistsError", tc.target, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("SaveINF(%q): %v, want %q", tc.target, err, tc.err)
		}
	}
	if b, _ := os.ReadFile(wim); len(b) != 208 {
		t.Fatal("the WIM was changed")
	}
	if b, _ := os.ReadFile(notes); string(b) != "keep" {
		t.Fatal("an existing file was replaced without Replace")
	}
	for _, tc := range []struct {
		target, local string
		opts          SaveOptions
	}{
		{`X:\Windows\System32\WDSCapture.inf`, filepath.Join(root, "Windows", "System32", "WDSCapture.inf"), SaveOptions{}},
		{`D:\sub\saved.inf`, filepath.Join(tmp, "sub", "saved.inf"), SaveOptions{Password: true}},
		{notes, notes, SaveOptions{Replace: true}},
	} {
		local, err := SaveINF(s, tc.target, o, tc.opts)
		if err != nil || local != tc.local {
			t.Fatalf("SaveINF(%q) = %q, %v; want %q", tc.target, local, err, tc.local)
		}
		st, _ := os.Stat(local)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", local, st.Mode().Perm())
		}
		got, _, err := inf.Load(local)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Unattended || got.ImageName != "Saved" || got.DestinationFile != `D:\ref.wim` || (got.Password.Reveal() == "pw") != tc.opts.Password {
			t.Errorf("%s reads back as %+v", local, got)
		}
	}
}

// TestProblems: the list's kind, filters, and errors.As through a
// CaptureError.
func TestProblems(t *testing.T) {
	ps := Problems{
		problem(KindNothing, inf.KeyVolumeToCapture, `D:\`, nil, "not generalized"),
		problem(KindSettings, inf.KeyDestinationFile, "/x.img", nil, "must end in .wim"),
		problem(KindSettings, inf.KeyWDSServerName, "bad!", nil, "not a host name"),
	}
	err := error(ps.err())
	var got Problems
	if !errors.As(err, &got) || len(got) != 3 {
		t.Fatalf("errors.As: %v", err)
	}
	var one *SettingError
	if !errors.As(err, &one) || one.Key != inf.KeyVolumeToCapture {
		t.Fatalf("errors.As *SettingError: %v", one)
	}
	if ps.Kind() != KindSettings || ps[:1].Kind() != KindNothing {
		t.Errorf("kinds %v %v", ps.Kind(), ps[:1].Kind())
	}
	if len(ps.Topic(TopicSource)) != 1 || len(ps.Topic(TopicDestination)) != 1 || len(ps.Topic(TopicUpload)) != 1 {
		t.Errorf("topics: %v", ps)
	}
	if want := "VolumeToCapture=D:\\: not generalized\nDestinationFile=/x.img: must end in .wim\nWDSServerName=bad!: not a host name"; ps.Error() != want {
		t.Errorf("Error() = %q", ps.Error())
	}
}
