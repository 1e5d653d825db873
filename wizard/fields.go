package wizard

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/textinput"
	"golang.org/x/sys/unix"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/humanize"
	"github.com/wdscapture/wdscapture/scan"
)

// fieldKind says how a field is edited.
type fieldKind int

const (
	kindText    fieldKind = iota // a line of text (bubbles textinput)
	kindChoice                   // one of opts, changed with ←/→/space
	kindVolumes                  // the list of scanned volumes, ↑/↓
)

// field is one input of a page. key is the INF key it sets (or a wizard
// name such as "Volume" and "SavePath"); err is the message shown next to it.
type field struct {
	key   string
	label string
	kind  fieldKind
	in    textinput.Model
	opts  []string
	sel   int
	err   string
}

func newText(key, label, value string, password bool) *field {
	in := textinput.New()
	in.Prompt = ""
	in.CharLimit = 1024
	in.SetValue(value)
	in.Cursor.SetMode(cursor.CursorStatic)
	if password {
		in.EchoMode = textinput.EchoPassword
		in.EchoCharacter = '*'
	}
	return &field{key: key, label: label, kind: kindText, in: in}
}

func newChoice(key, label string, opts []string, sel int) *field {
	return &field{key: key, label: label, kind: kindChoice, opts: opts, sel: sel}
}

func (f *field) value() string {
	if f.kind == kindChoice {
		return f.opts[f.sel]
	}
	return strings.TrimSpace(f.in.Value())
}

// volRow is one line of the source page's volume list.
type volRow struct {
	ref        scan.VolumeRef
	selectable bool
	why        string // why it cannot be selected
}

// volumeRows lists the report's volumes: generalized Windows first, then
// the other Windows volumes, then the rest (each group in letter order).
func volumeRows(rep *scan.Report) []volRow {
	var ready, blocked, other []volRow
	for _, ref := range rep.Volumes() {
		v := ref.Volume
		switch {
		case v.State == scan.StateReady && v.Letter != "":
			ready = append(ready, volRow{ref: ref, selectable: true})
		case v.State == scan.StateReady:
			blocked = append(blocked, volRow{ref: ref, why: "has no drive letter (" + v.NoLetter + "); VolumeToCapture needs one"})
		case v.Windows != nil || (v.State != scan.StateNone && v.State != scan.StateNoWindows):
			why := v.Reason
			if v.Detail != "" {
				why += " (" + v.Detail + ")"
			}
			blocked = append(blocked, volRow{ref: ref, why: why})
		default:
			why := "no Windows installation"
			if v.State == scan.StateNone {
				why = "not NTFS"
			}
			other = append(other, volRow{ref: ref, why: why})
		}
	}
	return append(append(ready, blocked...), other...)
}

// describeVolume is the one-line summary of a volume.
func describeVolume(ref scan.VolumeRef) string {
	v := ref.Volume
	letter := "  "
	if v.Letter != "" {
		letter = v.Letter + ":"
	}
	where := fmt.Sprintf("%s #%d", ref.Disk.Name, ref.Partition.Index)
	what := string(v.FS)
	if w := v.Windows; w != nil {
		what = strings.TrimSpace(fmt.Sprintf("%s %s %s %s", w.ProductName, w.Version, w.Arch, strings.Join(w.Languages, ",")))
	} else if v.Label != "" {
		what += " " + v.Label
	}
	return fmt.Sprintf("%s %9s  %-7s  %s", letter, humanize.Bytes(uint64(max(v.Size, 0))), where, what)
}

// checkKey validates the settings with change applied and returns the
// message Validate gives for key, "" when it has none.
func checkKey(s *inf.Settings, key string, change func(*inf.Settings)) string {
	c := *s
	change(&c)
	err := c.Validate()
	var list inf.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			if strings.EqualFold(e.Key, key) {
				return e.Msg
			}
		}
	} else if err != nil {
		return err.Error()
	}
	return ""
}

// destInfo is what the destination page shows about DestinationFile.
type destInfo struct {
	path    string // the local path
	free    string // free space line, "" when unknown
	exists  bool
	images  []images.ImageInfo
	comp    images.Compression
	openErr string
}

// localDest turns DestinationFile into a local path as the agent does: a
// drive-letter path needs a DriveMap entry.
func localDest(dest string, drives map[string]string) (string, error) {
	letter, rest, ok := inf.DriveLetter(dest)
	if !ok {
		return filepath.Clean(dest), nil
	}
	dir, found := drives[strings.ToUpper(string(letter))]
	if !found {
		return "", fmt.Errorf("drive %c: is not mounted in the capture environment (start wdscapture with --drive %c=/mount/point), or give a path such as /mnt/images/ref.wim", letter, letter)
	}
	return filepath.Join(dir, filepath.FromSlash(strings.ReplaceAll(rest, `\`, "/"))), nil
}

// inspectDest looks at the destination file and its file system.
func inspectDest(path string) destInfo {
	d := destInfo{path: path}
	dir := filepath.Dir(path)
	for {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err == nil {
		d.free = fmt.Sprintf("%s free on its file system", humanize.Bytes(fs.Bavail*uint64(fs.Bsize)))
	}
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		d.exists = true
		r, err := images.Open(path)
		if err != nil {
			d.openErr = err.Error()
			return d
		}
		d.images = r.Images()
		d.comp = r.Compression()
		r.Close()
	}
	return d
}

// partitionDev returns the major:minor of a block-device partition from
// sysfs ("8:3"), "" when it is not a block device partition.
func partitionDev(ref scan.VolumeRef) string {
	if ref.Disk.Source != "block" || ref.Partition.Index == 0 {
		return ""
	}
	name := ref.Disk.Name
	if n := name[len(name)-1]; n >= '0' && n <= '9' {
		name += "p"
	}
	b, err := os.ReadFile(filepath.Join("/sys/class/block", fmt.Sprintf("%s%d", name, ref.Partition.Index), "dev"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// onSourceVolume reports whether dir (or its nearest existing ancestor)
// lies on the partition of ref, mounted.
func onSourceVolume(dir string, ref *scan.VolumeRef) bool {
	if ref == nil {
		return false
	}
	dev := partitionDev(*ref)
	if dev == "" {
		return false
	}
	for {
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err == nil {
			return fmt.Sprintf("%d:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev))) == dev
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}

var compChoices = []images.Compression{images.CompressXPRESS, images.CompressLZX, images.CompressNone}

func compSel(c images.Compression) int {
	for i, x := range compChoices {
		if x == c {
			return i
		}
	}
	return 0
}

func selComp(i int) images.Compression { return compChoices[i] }
