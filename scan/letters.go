package scan

import "fmt"

// driveLetters is the order in which letters are handed out: C to Z
// without X, which the capture environment's boot RAM disk holds. A and B
// are left for floppy drives, as Windows does.
const driveLetters = "CDEFGHIJKLMNOPQRSTUVWYZ"

// AssignLetters gives drive letters to the volumes of disks the way
// Windows PE does for a capture environment, and records why a volume
// gets none.
//
// The rule: walk the disks in the order given (Scan orders block devices
// by kernel name, sda before sdb before sdaa, nvme0n1 before nvme1n1, then
// image files in the order they were named) and within each disk the
// partitions in table order (GPT entries by index; MBR primaries by slot,
// then logical partitions in chain order). Every volume that Windows would
// mount gets the next free letter from C: on, skipping X: (the boot RAM
// disk). A volume is lettered when it is
//   - a superfloppy (a file system in sector 0 of an unpartitioned disk), or
//   - a GPT basic data partition (EBD0A0A2-…) without the attribute bits
//     "platform required" (bit 0), "hidden" (bit 62) or "no drive letter"
//     (bit 63), or
//   - an MBR partition of a type Windows mounts: 0x01, 0x04, 0x06, 0x07,
//     0x0B, 0x0C, 0x0E.
//
// Not lettered: EFI system partitions (C12A7328-… or MBR 0xEF), Microsoft
// reserved (E3C9E316-…), Windows recovery (DE94BBA4-… or MBR 0x27), LDM and
// Storage Spaces members, hidden MBR types (0x11, 0x14, 0x16, 0x17, 0x1B,
// 0x1C, 0x1E), OEM/diagnostic types (0x12, 0x84, 0xDE), Linux and any other
// type, extended containers, and entries that lie outside the disk. The
// file system does not matter: like Windows, an unformatted (RAW) basic
// data partition still takes a letter. When the letters run out the rest
// get none. The result depends only on the disk layouts, so it is stable
// from one scan to the next.
func AssignLetters(disks []*Disk) {
	next := 0
	for _, d := range disks {
		for _, p := range d.Partitions {
			v := p.Volume
			if v == nil {
				continue
			}
			v.Letter, v.NoLetter = "", ""
			if why := noLetterReason(d, p); why != "" {
				v.NoLetter = why
				continue
			}
			if next >= len(driveLetters) {
				v.NoLetter = "no free drive letter left"
				continue
			}
			v.Letter = driveLetters[next : next+1]
			next++
		}
	}
}

// noLetterReason returns why WinPE would not letter p, or "" if it would.
func noLetterReason(d *Disk, p *Partition) string {
	if d.Table == TableSuperfloppy {
		return ""
	}
	if d.Table == TableGPT {
		if p.Role != RoleBasicData {
			return roleWords(p.Role) + " partition"
		}
		switch {
		case p.Attributes&GPTAttrRequired != 0:
			return "GPT attribute: platform required"
		case p.Attributes&GPTAttrHidden != 0:
			return "GPT attribute: hidden"
		case p.Attributes&GPTAttrNoLetter != 0:
			return "GPT attribute: no drive letter"
		}
		return ""
	}
	if p.Role != RoleBasicData {
		return fmt.Sprintf("%s partition (MBR type 0x%02X)", roleWords(p.Role), p.MBRType)
	}
	return ""
}

// roleWords names a role for people.
func roleWords(role string) string {
	switch role {
	case RoleESP:
		return "EFI system"
	case RoleMSR:
		return "Microsoft reserved"
	case RoleRecovery:
		return "recovery"
	case RoleBasicData:
		return "basic data"
	case RoleLDMMetadata:
		return "LDM metadata"
	case RoleLDMData:
		return "LDM data"
	case RoleStorageSpaces:
		return "Storage Spaces"
	case RoleLinux:
		return "Linux"
	case RoleLinuxSwap:
		return "Linux swap"
	case RoleBIOSBoot:
		return "BIOS boot"
	case RoleExtended:
		return "extended"
	case RoleHidden:
		return "hidden"
	case RoleOEM:
		return "OEM"
	case RoleSuperfloppy:
		return "whole disk"
	}
	return "unknown type"
}
