package scan

import (
	"strings"
	"testing"
)

func gptPart(index int, guid string, attrs GPTAttributes) *Partition {
	return &Partition{Index: index, TypeGUID: guid, Role: gptRole(guid), Attributes: attrs, Volume: &Volume{FS: FSNTFS}}
}

func mbrPart(index int, typ byte) *Partition {
	return &Partition{Index: index, MBRType: typ, Role: mbrRole(typ), Volume: &Volume{FS: FSNTFS}}
}

func TestNoLetterRules(t *testing.T) {
	gptDisk := &Disk{Table: TableGPT}
	mbrDisk := &Disk{Table: TableMBR}
	cases := []struct {
		name string
		disk *Disk
		part *Partition
		why  string // "" = gets a letter
	}{
		{"gpt basic data", gptDisk, gptPart(1, GUIDBasicData, 0), ""},
		{"gpt basic data read-only", gptDisk, gptPart(1, GUIDBasicData, GPTAttrReadOnly), ""},
		{"gpt esp", gptDisk, gptPart(1, GUIDEFISystem, 0), "EFI system"},
		{"gpt msr", gptDisk, gptPart(1, GUIDMSReserved, 0), "Microsoft reserved"},
		{"gpt recovery", gptDisk, gptPart(1, GUIDWinRecovery, 0), "recovery"},
		{"gpt required", gptDisk, gptPart(1, GUIDBasicData, GPTAttrRequired), "platform required"},
		{"gpt hidden", gptDisk, gptPart(1, GUIDBasicData, GPTAttrHidden), "hidden"},
		{"gpt no letter", gptDisk, gptPart(1, GUIDBasicData, GPTAttrNoLetter), "no drive letter"},
		{"gpt ldm", gptDisk, gptPart(1, GUIDLDMData, 0), "LDM"},
		{"gpt linux", gptDisk, gptPart(1, GUIDLinuxData, 0), "Linux"},
		{"gpt unknown", gptDisk, gptPart(1, "01234567-89AB-CDEF-0123-456789ABCDEF", 0), "unknown type"},
		{"mbr ntfs", mbrDisk, mbrPart(1, 0x07), ""},
		{"mbr fat32 lba", mbrDisk, mbrPart(1, 0x0C), ""},
		{"mbr fat32 chs", mbrDisk, mbrPart(1, 0x0B), ""},
		{"mbr fat16", mbrDisk, mbrPart(1, 0x06), ""},
		{"mbr fat16 lba", mbrDisk, mbrPart(1, 0x0E), ""},
		{"mbr fat12", mbrDisk, mbrPart(1, 0x01), ""},
		{"mbr fat16 small", mbrDisk, mbrPart(1, 0x04), ""},
		{"mbr winre", mbrDisk, mbrPart(1, 0x27), "recovery partition (MBR type 0x27)"},
		{"mbr hidden ntfs", mbrDisk, mbrPart(1, 0x17), "hidden"},
		{"mbr hidden fat32", mbrDisk, mbrPart(1, 0x1C), "hidden"},
		{"mbr oem", mbrDisk, mbrPart(1, 0x12), "OEM"},
		{"mbr dell utility", mbrDisk, mbrPart(1, 0xDE), "OEM"},
		{"mbr esp", mbrDisk, mbrPart(1, 0xEF), "EFI system"},
		{"mbr ldm", mbrDisk, mbrPart(1, 0x42), "LDM"},
		{"mbr linux", mbrDisk, mbrPart(1, 0x83), "Linux"},
		{"superfloppy", &Disk{Table: TableSuperfloppy}, &Partition{Role: RoleSuperfloppy, Volume: &Volume{}}, ""},
	}
	for _, tc := range cases {
		tc.disk.Partitions = []*Partition{tc.part}
		AssignLetters([]*Disk{tc.disk})
		v := tc.part.Volume
		if tc.why == "" {
			if v.Letter != "C" || v.NoLetter != "" {
				t.Errorf("%s: letter %q (%s), want C", tc.name, v.Letter, v.NoLetter)
			}
			continue
		}
		if v.Letter != "" || !strings.Contains(v.NoLetter, tc.why) {
			t.Errorf("%s: letter %q reason %q, want none because %q", tc.name, v.Letter, v.NoLetter, tc.why)
		}
	}
}

func TestLetterSequenceSkipsXAndRunsOut(t *testing.T) {
	var disks []*Disk
	for range 5 {
		d := &Disk{Table: TableGPT}
		for i := 1; i <= 6; i++ {
			d.Partitions = append(d.Partitions, gptPart(i, GUIDBasicData, 0))
		}
		// A volume-less extended-like entry must not consume a letter.
		d.Partitions = append(d.Partitions, &Partition{Index: 7, Role: RoleExtended})
		disks = append(disks, d)
	}
	AssignLetters(disks)
	var got strings.Builder
	noLetter := 0
	for _, d := range disks {
		for _, p := range d.Partitions {
			if p.Volume == nil {
				continue
			}
			if p.Volume.Letter == "" {
				noLetter++
				if p.Volume.NoLetter != "no free drive letter left" {
					t.Errorf("reason %q", p.Volume.NoLetter)
				}
				continue
			}
			got.WriteString(p.Volume.Letter)
		}
	}
	if got.String() != "CDEFGHIJKLMNOPQRSTUVWYZ" {
		t.Errorf("letters %q", got.String())
	}
	if noLetter != 30-23 {
		t.Errorf("%d volumes without a letter, want 7", noLetter)
	}
	// Re-assigning gives the same result.
	before := disks[0].Partitions[0].Volume.Letter
	AssignLetters(disks)
	if disks[0].Partitions[0].Volume.Letter != before {
		t.Error("AssignLetters is not stable")
	}
}

func TestLessDeviceName(t *testing.T) {
	ordered := []string{"hda", "nvme0n1", "nvme1n1", "nvme2n1", "nvme10n1", "sda", "sdb", "sdz", "sdaa", "sdab", "sdba", "vda", "vdb", "xvda"}
	for i := range ordered {
		for j := range ordered {
			if got := lessDeviceName(ordered[i], ordered[j]); got != (i < j) {
				t.Errorf("lessDeviceName(%q, %q) = %v", ordered[i], ordered[j], got)
			}
		}
	}
	if !lessDeviceName("mmcblk0", "mmcblk1") || lessDeviceName("mmcblk10", "mmcblk9") {
		t.Error("mmcblk numbers not ordered numerically")
	}
}
