package scan

import (
	"fmt"
	"strconv"
	"strings"
)

// ReportVersion is the version of the JSON layout of Report. It changes
// only when a field is removed or changes meaning; new fields may appear
// without a change.
const ReportVersion = 1

// Report is the result of a scan: every disk looked at, in the order that
// drive letters were assigned, plus the block devices that were skipped.
// Its JSON form is documented field by field in JSON.md.
type Report struct {
	// Version is ReportVersion.
	Version int `json:"version"`
	// Disks lists the scanned disks in drive-letter order.
	Disks []*Disk `json:"disks"`
	// Skipped lists block devices that were not scanned and why.
	Skipped []Skipped `json:"skipped,omitempty"`
}

// Skipped is a block device that the scan left out on purpose.
type Skipped struct {
	// Name is the kernel name ("sr0", "loop0").
	Name string `json:"name"`
	// Reason says why, in words.
	Reason string `json:"reason"`
}

// Disk is one block device or disk image file.
type Disk struct {
	// Name is the kernel name ("sda", "nvme0n1") or the image file's base name.
	Name string `json:"name"`
	// Path is the device node or image file that was read.
	Path string `json:"path"`
	// Source is "block" for a block device, "image" for a disk image file.
	Source string `json:"source"`
	// Model is the vendor and model string from sysfs, "" when unknown.
	Model string `json:"model,omitempty"`
	// Size is the disk size in bytes.
	Size int64 `json:"size_bytes"`
	// SectorSize is the logical sector size used to read the table.
	SectorSize int `json:"sector_size"`
	// Removable is the sysfs removable flag.
	Removable bool `json:"removable"`
	// ReadOnly is the sysfs ro flag.
	ReadOnly bool `json:"read_only"`
	// Table is how the disk is partitioned.
	Table TableType `json:"table"`
	// DiskID is the GPT disk GUID or the MBR disk signature (8 hex digits).
	DiskID string `json:"disk_id,omitempty"`
	// Error is set when the disk could not be read or its table is corrupt.
	Error string `json:"error,omitempty"`
	// Warnings are problems that did not stop the scan of this disk.
	Warnings []string `json:"warnings,omitempty"`
	// Partitions lists the partitions in table order (logical ones after the
	// primaries); a superfloppy has one pseudo-partition with index 0.
	Partitions []*Partition `json:"partitions"`
}

// Partition is one entry of a partition table.
type Partition struct {
	// Index is the 1-based table slot; logical MBR partitions count from 5;
	// 0 for the whole-disk volume of a superfloppy.
	Index int `json:"index"`
	// Start is the offset of the partition on the disk in bytes.
	Start int64 `json:"start_bytes"`
	// Size is the partition size in bytes.
	Size int64 `json:"size_bytes"`
	// TypeGUID is the GPT partition type GUID (upper case), "" on MBR.
	TypeGUID string `json:"type_guid,omitempty"`
	// GUID is the GPT unique partition GUID, "" on MBR.
	GUID string `json:"guid,omitempty"`
	// MBRType is the MBR partition type byte, 0 on GPT.
	MBRType byte `json:"mbr_type,omitempty"`
	// Name is the GPT partition name.
	Name string `json:"name,omitempty"`
	// Attributes holds the GPT attribute bits; JSON writes them as a hex
	// string ("0x8000000000000001") because they do not fit a JSON number.
	Attributes GPTAttributes `json:"attributes,omitempty"`
	// Bootable is the MBR active flag.
	Bootable bool `json:"bootable,omitempty"`
	// Logical marks an MBR logical partition inside an extended one.
	Logical bool `json:"logical,omitempty"`
	// Role says what the partition is for: one of the Role* constants.
	Role string `json:"role"`
	// Problem is set when the entry is inconsistent with the disk.
	Problem string `json:"problem,omitempty"`
	// Overlaps lists the indexes of the partitions this one overlaps (an
	// extended container and its logical partitions do not count).
	Overlaps []int `json:"overlaps,omitempty"`
	// Volume is the file system in the partition; nil for extended
	// containers and entries outside the disk.
	Volume *Volume `json:"volume,omitempty"`
}

// Volume is the file system found in a partition, its drive letter and,
// for NTFS, the offline Windows it holds.
type Volume struct {
	// Letter is the drive letter WinPE would give ("C"), "" for none.
	Letter string `json:"letter,omitempty"`
	// NoLetter says why the volume has no letter.
	NoLetter string `json:"no_letter,omitempty"`
	// FS is the detected file system.
	FS FSType `json:"fs"`
	// Label is the volume label.
	Label string `json:"label,omitempty"`
	// Size is the file system size in bytes from its own header, or the
	// partition size when the header gives none.
	Size int64 `json:"size_bytes"`
	// Serial is the volume serial number.
	Serial string `json:"serial,omitempty"`
	// Dirty is the NTFS dirty flag.
	Dirty bool `json:"dirty,omitempty"`
	// Note is a remark from file system detection.
	Note string `json:"note,omitempty"`
	// State is the capture readiness (set for NTFS and BitLocker volumes).
	State State `json:"state,omitempty"`
	// Reason is State.Reason(): what it means and what to do.
	Reason string `json:"reason,omitempty"`
	// Detail adds the specifics (values read, errors).
	Detail string `json:"detail,omitempty"`
	// Windows describes the offline Windows found, nil when none.
	Windows *WindowsInfo `json:"windows,omitempty"`
}

// GPTAttributes is the 64-bit attribute field of a GPT entry.
type GPTAttributes uint64

// MarshalText writes the bits as "0x" and 16 hex digits.
func (a GPTAttributes) MarshalText() ([]byte, error) {
	return []byte(fmt.Sprintf("0x%016X", uint64(a))), nil
}

// UnmarshalText reads what MarshalText writes.
func (a *GPTAttributes) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(string(b)), "0x"), 16, 64)
	if err != nil {
		return fmt.Errorf("GPT attributes %q: %w", b, err)
	}
	*a = GPTAttributes(v)
	return nil
}

// VolumeRef points at one volume of a report together with its disk and
// partition.
type VolumeRef struct {
	Disk      *Disk      // the disk holding the volume
	Partition *Partition // its partition (index 0 for a superfloppy)
	Volume    *Volume    // the volume itself
}

// Volumes returns every volume of the report in letter-assignment order.
func (r *Report) Volumes() []VolumeRef {
	var out []VolumeRef
	for _, d := range r.Disks {
		for _, p := range d.Partitions {
			if p.Volume != nil {
				out = append(out, VolumeRef{d, p, p.Volume})
			}
		}
	}
	return out
}

// Candidates returns the volumes on which an offline Windows was found,
// ready or not.
func (r *Report) Candidates() []VolumeRef {
	var out []VolumeRef
	for _, v := range r.Volumes() {
		if v.Volume.Windows != nil {
			out = append(out, v)
		}
	}
	return out
}

// Ready returns the volumes whose Windows is generalized and can be
// captured now.
func (r *Report) Ready() []VolumeRef {
	var out []VolumeRef
	for _, v := range r.Volumes() {
		if v.Volume.State == StateReady {
			out = append(out, v)
		}
	}
	return out
}
