// Package scan finds the disks of the capture environment, reads their
// partition tables, detects the file system of every volume, gives the
// volumes the drive letters Windows PE would, and looks in each NTFS
// volume for an offline Windows installation and its Sysprep image state.
//
// Everything is read-only: devices and image files are opened O_RDONLY,
// nothing is mounted, and every read is bounded so that a corrupt or
// hostile disk gives an error or a warning in the report, never a panic, a
// hang or a large allocation.
//
// Partition tables: a protective MBR (type 0xEE) leads to the GPT, read
// with github.com/diskfs/go-diskfs after this package has checked the
// header signature, CRCs and sizes itself (primary first, then the backup
// at the end of the disk); MBR primaries come from go-diskfs and logical
// partitions from the extended boot record chain, which this package
// follows. A disk whose sector 0 is a file system boot sector (NTFS, FAT,
// exFAT, ReFS, BitLocker) or that has an ext superblock and no table is a
// "superfloppy": one volume covering the whole disk.
//
// Drive letters follow the rule documented on AssignLetters.
//
// Windows inspection runs on an fs.FS of the volume, opened by the
// VolumeOpener in Options (the raw NTFS reader) and examined by the
// InspectFunc (the metadata package). The capture state of a volume is a
// State; State.Reason says what to do about it.
//
// The JSON layout of Report is described in JSON.md beside this file.
package scan
