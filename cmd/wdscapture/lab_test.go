package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/lab"
	"github.com/wdscapture/wdscapture/internal/tooltest"
	"github.com/wdscapture/wdscapture/scan"
)

func labDisk(t *testing.T, dir, name string, o lab.Options) string {
	t.Helper()
	tooltest.Require(t, "mkntfs", "wimapply")
	p := filepath.Join(dir, name)
	o.Files = 60
	if err := lab.Generate(p, o); err != nil {
		t.Fatalf("lab.Generate: %v", err)
	}
	return p
}

func labINF(t *testing.T, dir, volume, dest string) string {
	v := ""
	if volume != "" {
		v = "VolumeToCapture=" + volume + "\n"
	}
	return writeINF(t, t.TempDir(), fmt.Sprintf("[Capture]\nUnattended=Yes\n%sImageName=lab\nDestinationFile=%s\n", v, dest))
}

// TestLabDisks runs the unattended agent on generated reference PCs: the
// volume is found by letter or by being the one generalized Windows; every
// other state is refused with its reason and nothing is written.
func TestLabDisks(t *testing.T) {
	tooltest.Require(t, "wiminfo", "wimcapture")
	dir := t.TempDir()
	good := labDisk(t, dir, "good.img", lab.Options{DataVolume: true})
	two := labDisk(t, dir, "two.img", lab.Options{SecondWindows: true})
	notGen := labDisk(t, dir, "notgen.img", lab.Options{ImageState: "IMAGE_STATE_COMPLETE"})
	hiber := labDisk(t, dir, "hiber.img", lab.Options{Hibernated: true})
	bitlocker := labDisk(t, dir, "bitlocker.img", lab.Options{BitLocker: true})
	mismatch := labDisk(t, dir, "mismatch.img", lab.Options{StateINIState: "IMAGE_STATE_COMPLETE"})

	cases := []struct {
		name, disk, volume string
		code               int
		want               []string
	}{
		{"letter C", good, `C:\`, 0, []string{"volume C:", "captured and verified"}},
		{"the one generalized Windows", good, "", 0, []string{"volume C:", "captured and verified"}},
		{"letter of the data volume", good, `D:\`, exitNothing, []string{"volume D:", "no Windows"}},
		{"no such letter", good, `Q:\`, exitNothing, []string{"Q:", "no volume has that drive letter", "C: (ntfs)"}},
		{"second Windows not generalized, first found", two, "", 0, []string{"volume C:"}},
		{"second Windows chosen", two, `D:\`, exitNothing, []string{"D:", "not generalized", "sysprep"}},
		{"not generalized", notGen, "", exitNothing, []string{"no generalized Windows", "sysprep /generalize"}},
		{"hibernated", hiber, "", exitNothing, []string{"hibernated"}},
		{"bitlocker", bitlocker, "", exitNothing, []string{"BitLocker"}},
		{"sources disagree", mismatch, "", exitNothing, []string{"disagree"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			dest := filepath.Join(out, "lab.wim")
			r := runBin(t, "--inf", labINF(t, dir, tc.volume, dest), "--disk", tc.disk, "--no-devices")
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("output lacks %q:\n%s%s", w, r.stdout, r.stderr)
				}
			}
			_, err := os.Stat(dest)
			if (err == nil) != (tc.code == 0) {
				t.Errorf("destination exists = %v after exit %d", err == nil, r.code)
			}
			if tc.code == 0 {
				info := tooltest.Run(t, "wiminfo", dest, "1")
				for _, w := range []string{"Product Name:           Windows", "Architecture:           x86_64", "Default Language:       en-US"} {
					if !strings.Contains(info, w) {
						t.Errorf("wiminfo lacks %q:\n%s", w, info)
					}
				}
			}
		})
	}

	// The <WINDOWS> block we write equals wimlib's for the same volume.
	t.Run("WINDOWS block equals wimlib's", func(t *testing.T) {
		out := t.TempDir()
		ours := filepath.Join(out, "ours.wim")
		if r := runBin(t, "--inf", labINF(t, dir, `C:\`, ours), "--disk", good, "--no-devices"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		part := extractPartition(t, good, out)
		ref := filepath.Join(out, "ref.wim")
		tooltest.Run(t, "wimcapture", part, ref, "lab", "--config=/dev/null")
		a, b := windowsElement(t, ours), windowsElement(t, ref)
		if a == "" || a != b {
			t.Errorf("WINDOWS block differs:\nours   %s\nwimlib %s", a, b)
		}
	})
}

// extractPartition copies the lettered C: partition out of a disk image,
// using our scan's JSON for its offset.
func extractPartition(t *testing.T, disk, dir string) string {
	start, size := cPartition(t, disk)
	part := filepath.Join(dir, "part.img")
	cmd := exec.Command("dd", "if="+disk, "of="+part, "bs=1M", "iflag=skip_bytes,count_bytes", fmt.Sprintf("skip=%d", start), fmt.Sprintf("count=%d", size), "status=none")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dd: %v %s", err, out)
	}
	return part
}

// cPartition returns the offset and size of the lettered C: partition of
// a disk image, from our scan's JSON.
func cPartition(t *testing.T, disk string) (start, size int64) {
	t.Helper()
	r := runBin(t, "scan", "--json", "--no-devices", disk)
	var rep scan.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("scan JSON: %v\n%s", err, r.stdout)
	}
	for _, v := range rep.Volumes() {
		if v.Volume.Letter == "C" {
			start, size = v.Partition.Start, v.Partition.Size
		}
	}
	if size == 0 {
		t.Fatalf("no C: in scan JSON:\n%s", r.stdout)
	}
	return start, size
}

func windowsElement(t *testing.T, wim string) string {
	x := tooltest.Run(t, "wiminfo", "--xml", wim)
	u := []byte(x)
	// wiminfo --xml prints UTF-16LE; drop the zero bytes of ASCII.
	s := strings.ReplaceAll(string(u), "\x00", "")
	i, j := strings.Index(s, "<WINDOWS>"), strings.Index(s, "</WINDOWS>")
	if i < 0 || j < 0 {
		return ""
	}
	return s[i : j+len("</WINDOWS>")]
}

// TestDestinationOnSourceVolume: an unattended run whose destination lies
// on the volume being captured is refused before anything is written
// (exit 64, exitUsage), whether VolumeToCapture names C: or C: is the generalized
// Windows the scan found (issue 14 item 11: the second was captured).
func TestDestinationOnSourceVolume(t *testing.T) {
	dir := t.TempDir()
	good := labDisk(t, dir, "good.img", lab.Options{})
	for _, volume := range []string{`C:\`, ""} {
		t.Run("VolumeToCapture="+volume, func(t *testing.T) {
			cDrive := t.TempDir() // where drive C: is mounted
			infPath := labINF(t, dir, volume, `C:\images\ref.wim`)
			r := runBin(t, "--inf", infPath, "--disk", good, "--no-devices", "--drive", "C="+cDrive)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, exitUsage, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, "DestinationFile") || !strings.Contains(r.stderr, "volume being captured") {
				t.Errorf("stderr does not name DestinationFile and the reason:\n%s", r.stderr)
			}
			if ents, _ := os.ReadDir(cDrive); len(ents) != 0 {
				t.Errorf("the refused run wrote %v", ents)
			}
		})
	}
}
