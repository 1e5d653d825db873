package pid1

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/scan"
)

// MountPlan is one volume to mount read-write as a possible destination.
type MountPlan struct {
	Letter string
	Ref    scan.VolumeRef
	// FSType is the Linux file system driver ("ntfs3", "vfat", "exfat",
	// "ext4").
	FSType string
	// Dir is the mount point, /mnt/LETTER in lower case.
	Dir string
}

// MountDir returns the mount point of drive letter l.
func MountDir(l string) string { return "/mnt/" + strings.ToLower(l) }

// fsDriver returns the kernel driver that mounts a detected file system
// read-write, "" for those that are never mounted.
func fsDriver(t scan.FSType) string {
	switch t {
	case scan.FSNTFS:
		return "ntfs3"
	case scan.FSFAT12, scan.FSFAT16, scan.FSFAT32:
		return "vfat"
	case scan.FSExFAT:
		return "exfat"
	case scan.FSExt2, scan.FSExt3, scan.FSExt4:
		return "ext4"
	}
	return ""
}

// holdsWindows reports whether a volume may hold a Windows installation:
// such a volume is a capture source and is only ever read raw.
func holdsWindows(v *scan.Volume) bool {
	if v.Windows != nil {
		return true
	}
	switch v.FS {
	case scan.FSNTFS:
		return v.State != scan.StateNoWindows
	case scan.FSBitLocker, scan.FSReFS:
		return true
	}
	return false
}

// ErrDestination says the destination volume cannot be mounted.
var ErrDestination = errors.New("the destination volume cannot be used")

// sourceLetter returns the letter of the volume the agent will capture:
// VolumeToCapture's, or the one generalized Windows; "" when unknown.
func sourceLetter(rep *scan.Report, s *inf.Settings) string {
	if s != nil && s.VolumeToCapture != "" {
		if l, rest, ok := inf.DriveLetter(s.VolumeToCapture); ok && strings.Trim(rest, `\/`) == "" {
			return strings.ToUpper(string(l))
		}
	}
	if ready := rep.Ready(); len(ready) == 1 {
		return ready[0].Volume.Letter
	}
	return ""
}

// PlanMounts decides which volumes to mount read-write. With a
// DestinationFile on a drive letter only that volume is mounted; otherwise
// (the wizard will ask) every lettered volume that holds no Windows and
// has a file system Linux writes. A volume that may hold Windows is never
// mounted: the capture reads the source raw, and a mount would change it.
func PlanMounts(rep *scan.Report, s *inf.Settings) ([]MountPlan, error) {
	byLetter := map[string]scan.VolumeRef{}
	for _, r := range rep.Volumes() {
		if r.Volume.Letter != "" {
			byLetter[r.Volume.Letter] = r
		}
	}
	if s != nil && s.DestinationFile != "" {
		l, _, ok := inf.DriveLetter(s.DestinationFile)
		if !ok {
			return nil, nil // a Linux path: nothing to mount
		}
		letter := strings.ToUpper(string(l))
		if letter == "X" {
			return nil, fmt.Errorf("%w: DestinationFile=%s is on X:, the RAM disk of this environment, which is lost at power-off; use a disk's drive letter", ErrDestination, s.DestinationFile)
		}
		ref, found := byLetter[letter]
		if !found {
			return nil, fmt.Errorf("%w: DestinationFile=%s is on drive %s:, but no volume has that letter (%s)", ErrDestination, s.DestinationFile, letter, describeLetters(byLetter))
		}
		if letter == sourceLetter(rep, s) {
			return nil, fmt.Errorf("%w: DestinationFile=%s is on %s:, the volume being captured; write the image to another volume", ErrDestination, s.DestinationFile, letter)
		}
		if holdsWindows(ref.Volume) {
			return nil, fmt.Errorf("%w: DestinationFile=%s is on %s:, which holds a Windows installation (%s); it is not mounted, so that no Windows volume is ever changed", ErrDestination, s.DestinationFile, letter, ref.Volume.Reason)
		}
		drv := fsDriver(ref.Volume.FS)
		if drv == "" {
			return nil, fmt.Errorf("%w: DestinationFile=%s is on %s:, whose file system (%s) cannot be written here; use an NTFS, exFAT, FAT or ext4 volume", ErrDestination, s.DestinationFile, letter, ref.Volume.FS)
		}
		return []MountPlan{{Letter: letter, Ref: ref, FSType: drv, Dir: MountDir(letter)}}, nil
	}
	var plans []MountPlan
	for _, letter := range sortedKeys(byLetter) {
		ref := byLetter[letter]
		if holdsWindows(ref.Volume) {
			continue
		}
		if drv := fsDriver(ref.Volume.FS); drv != "" {
			plans = append(plans, MountPlan{Letter: letter, Ref: ref, FSType: drv, Dir: MountDir(letter)})
		}
	}
	return plans, nil
}

func describeLetters(m map[string]scan.VolumeRef) string {
	if len(m) == 0 {
		return "no volume has a drive letter"
	}
	var ls []string
	for _, l := range sortedKeys(m) {
		ls = append(ls, fmt.Sprintf("%s: %s", l, m[l].Volume.FS))
	}
	return "the drives are " + strings.Join(ls, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// DriveTable describes the drives as the technician should see them, one
// line each, X: first.
func DriveTable(rep *scan.Report, mounts []MountPlan, sourceL string) []string {
	lines := []string{"  X:  the capture environment (RAM disk)"}
	mounted := map[string]string{}
	for _, m := range mounts {
		mounted[m.Letter] = m.Dir
	}
	for _, r := range rep.Volumes() {
		v := r.Volume
		if v.Letter == "" {
			continue
		}
		label := ""
		if v.Label != "" {
			label = fmt.Sprintf(" %q", v.Label)
		}
		line := fmt.Sprintf("  %s:  %s partition %d, %s, %s%s", v.Letter, r.Disk.Name, r.Partition.Index, v.FS, humanBytes(v.Size), label)
		switch {
		case v.Windows != nil:
			w := v.Windows
			line += fmt.Sprintf(": %s %s %s", w.ProductName, w.Version, w.Arch)
			if v.Letter == sourceL {
				line += " - to capture (read raw, never mounted)"
			} else {
				line += " - " + v.Reason
			}
		case mounted[v.Letter] != "":
			line += " - mounted read-write at " + mounted[v.Letter]
		case holdsWindows(v):
			line += " - " + v.Reason
		}
		lines = append(lines, line)
	}
	return lines
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
