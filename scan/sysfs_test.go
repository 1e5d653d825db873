package scan

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeDisk describes one /sys/block entry of a fake sysfs tree.
type fakeDisk struct {
	name       string
	sectors    int64
	removable  bool
	ro         bool
	lbs        int
	vendor     string
	model      string
	dev        string
	partitions map[string]string // partition name -> major:minor
	holders    map[string]string // "sdd2/dm-0" -> holder's major:minor
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeSysfs builds SysRoot/block and a mountinfo file listing mounted.
func makeSysfs(t testing.TB, disks []fakeDisk, mounted []string) (sysRoot, mountInfo string) {
	t.Helper()
	root := t.TempDir()
	sysRoot = filepath.Join(root, "sys")
	for _, d := range disks {
		base := filepath.Join(sysRoot, "block", d.name)
		b2i := map[bool]string{false: "0", true: "1"}
		writeFile(t, filepath.Join(base, "size"), fmt.Sprintf("%d\n", d.sectors))
		writeFile(t, filepath.Join(base, "removable"), b2i[d.removable]+"\n")
		writeFile(t, filepath.Join(base, "ro"), b2i[d.ro]+"\n")
		writeFile(t, filepath.Join(base, "dev"), d.dev+"\n")
		if d.lbs != 0 {
			writeFile(t, filepath.Join(base, "queue", "logical_block_size"), fmt.Sprintf("%d\n", d.lbs))
		}
		if d.vendor != "" {
			writeFile(t, filepath.Join(base, "device", "vendor"), d.vendor+"  \n")
		}
		if d.model != "" {
			writeFile(t, filepath.Join(base, "device", "model"), d.model+"    \n")
		}
		for p, dev := range d.partitions {
			writeFile(t, filepath.Join(base, p, "partition"), "1\n")
			writeFile(t, filepath.Join(base, p, "dev"), dev+"\n")
		}
		for h, dev := range d.holders {
			writeFile(t, filepath.Join(base, filepath.Dir(h), "holders", filepath.Base(h), "dev"), dev+"\n")
		}
	}
	var mi strings.Builder
	mi.WriteString("22 1 0:21 / / rw,relatime - overlay overlay rw\n")
	mi.WriteString("23 22 0:5 / /proc rw - proc proc rw\n")
	for i, dev := range mounted {
		fmt.Fprintf(&mi, "%d 22 %s / /mnt/m%d rw,relatime - ext4 /dev/x rw\n", 30+i, dev, i)
	}
	mountInfo = filepath.Join(root, "mountinfo")
	writeFile(t, mountInfo, mi.String())
	return sysRoot, mountInfo
}

func TestListBlockDevices(t *testing.T) {
	disks := []fakeDisk{
		{name: "sdb", sectors: 2048, removable: true, dev: "8:16", vendor: "Kingston", model: "DataTraveler"},
		{name: "sda", sectors: 4096, dev: "8:0", vendor: "ATA", model: "QEMU HARDDISK", partitions: map[string]string{"sda1": "8:1"}},
		{name: "sdaa", sectors: 100, dev: "65:160"},
		{name: "sdc", sectors: 8192, dev: "8:32", partitions: map[string]string{"sdc1": "8:33"}},
		{name: "sdd", sectors: 8192, dev: "8:48", partitions: map[string]string{"sdd1": "8:49", "sdd2": "8:50"},
			holders: map[string]string{"sdd2/dm-0": "254:0"}},
		{name: "nvme10n1", sectors: 100, dev: "259:10"},
		{name: "nvme2n1", sectors: 800, dev: "259:2", lbs: 4096, model: "Samsung SSD 980", ro: true},
		{name: "nvme0n1", sectors: 100, dev: "259:0"},
		{name: "sr0", sectors: 1000, dev: "11:0"},
		{name: "loop0", sectors: 1000, dev: "7:0"},
		{name: "ram0", sectors: 1000, dev: "1:0"},
		{name: "zram0", sectors: 1000, dev: "252:0"},
		{name: "dm-0", sectors: 1000, dev: "254:0"},
		{name: "fd0", sectors: 2880, dev: "2:0"},
		{name: "mmcblk0", sectors: 0, dev: "179:0"},
		{name: "sde", sectors: 100, dev: "8:64"},
	}
	sysRoot, mountInfo := makeSysfs(t, disks, []string{"8:33", "254:0"})
	devs, skipped, err := ListBlockDevices(Options{SysRoot: sysRoot, DevRoot: "/devx", MountInfo: mountInfo, Exclude: []string{"/dev/sde"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range devs {
		names = append(names, d.Name)
	}
	if got, want := strings.Join(names, " "), "nvme0n1 nvme2n1 nvme10n1 sda sdb sdaa"; got != want {
		t.Errorf("devices %q, want %q", got, want)
	}
	byName := map[string]BlockDevice{}
	for _, d := range devs {
		byName[d.Name] = d
	}
	if d := byName["sda"]; d.Size != 4096*512 || d.Model != "ATA QEMU HARDDISK" || d.Removable || d.Path != "/devx/sda" || d.SectorSize != 512 {
		t.Errorf("sda = %+v", d)
	}
	if d := byName["sdb"]; !d.Removable || d.Model != "Kingston DataTraveler" {
		t.Errorf("sdb = %+v", d)
	}
	if d := byName["nvme2n1"]; d.SectorSize != 4096 || !d.ReadOnly || d.Model != "Samsung SSD 980" || d.Size != 800*512 {
		t.Errorf("nvme2n1 = %+v", d)
	}
	reasons := map[string]string{}
	for _, s := range skipped {
		reasons[s.Name] = s.Reason
	}
	want := map[string]string{
		"sdc": "mounted file system (sdc1)", "sdd": "dm-0 on sdd2", "sr0": "optical", "loop0": "loop",
		"ram0": "RAM disk", "zram0": "RAM disk", "dm-0": "device-mapper", "fd0": "floppy", "mmcblk0": "no medium",
		"sde": "excluded",
	}
	for name, w := range want {
		if !strings.Contains(reasons[name], w) {
			t.Errorf("skip reason for %s = %q, want it to mention %q", name, reasons[name], w)
		}
	}
	if len(skipped) != len(want) {
		t.Errorf("skipped %v", reasons)
	}
	// Asked for, loop and device-mapper devices are listed.
	devs, _, err = ListBlockDevices(Options{SysRoot: sysRoot, MountInfo: mountInfo, IncludeLoop: true, IncludeDeviceMapper: true})
	if err != nil {
		t.Fatal(err)
	}
	var haveLoop, haveDM bool
	for _, d := range devs {
		haveLoop = haveLoop || d.Name == "loop0"
		haveDM = haveDM || d.Name == "dm-0"
	}
	// dm-0 is itself mounted, so it stays skipped as the running system.
	if !haveLoop || haveDM {
		t.Errorf("loop listed %v, mounted dm-0 listed %v", haveLoop, haveDM)
	}
	// A destination the capture environment mounted (sdc1) keeps its disk
	// in the scan; the other mount still hides sdd.
	devs, _, err = ListBlockDevices(Options{SysRoot: sysRoot, MountInfo: mountInfo, AllowMounted: []string{"8:33"}})
	if err != nil {
		t.Fatal(err)
	}
	names = names[:0]
	for _, d := range devs {
		names = append(names, d.Name)
	}
	if got, want := strings.Join(names, " "), "nvme0n1 nvme2n1 nvme10n1 sda sdb sdc sde sdaa"; got != want {
		t.Errorf("with sdc1 allowed: devices %q, want %q", got, want)
	}
}

func TestListBlockDevicesErrors(t *testing.T) {
	if _, _, err := ListBlockDevices(Options{SysRoot: filepath.Join(t.TempDir(), "nope")}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing sysfs: err = %v", err)
	}
	sysRoot, _ := makeSysfs(t, []fakeDisk{{name: "sda", sectors: 10, dev: "8:0"}}, nil)
	writeFile(t, filepath.Join(sysRoot, "block", "sda", "size"), "garbage\n")
	devs, skipped, err := ListBlockDevices(Options{SysRoot: sysRoot, MountInfo: filepath.Join(t.TempDir(), "absent")})
	if err != nil || len(devs) != 0 || len(skipped) != 1 || !strings.Contains(skipped[0].Reason, "size unreadable") {
		t.Errorf("devs %v skipped %v err %v", devs, skipped, err)
	}
}

// TestScanBlockDevices runs Scan end to end on a fake sysfs whose device
// nodes are image files: a GPT disk as sdb and an NTFS superfloppy as sda.
func TestScanBlockDevices(t *testing.T) {
	requireTools(t, "sgdisk", "sfdisk", "mkntfs", "mkfs.vfat", "mkfs.exfat")
	devRoot := t.TempDir()
	makeGPTDisk(t, devRoot, "sdb")
	floppy := mkfs(t, devRoot, mkNTFS, "Floppy", 8<<20, 0)
	if err := os.Rename(floppy, filepath.Join(devRoot, "sda")); err != nil {
		t.Fatal(err)
	}
	sysRoot, mountInfo := makeSysfs(t, []fakeDisk{
		{name: "sdb", sectors: 140 << 20 >> 9, dev: "8:16", model: "GPT"},
		{name: "sda", sectors: 8 << 20 >> 9, dev: "8:0", model: "FLOPPY", removable: true},
		{name: "sdc", sectors: 100, dev: "8:32"}, // no device node: reported, not fatal
		{name: "sr0", sectors: 100, dev: "11:0"},
		{name: "sdd", sectors: 128, dev: "8:48"}, // a capture ISO written to a USB stick
	}, nil)
	iso := make([]byte, 64<<10)
	copy(iso[32769:], "CD001")
	if err := os.WriteFile(filepath.Join(devRoot, "sdd"), iso, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Scan(t.Context(), Options{BlockDevices: true, SysRoot: sysRoot, DevRoot: devRoot, MountInfo: mountInfo})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Disks) != 3 || rep.Disks[0].Name != "sda" || rep.Disks[1].Name != "sdb" || rep.Disks[2].Name != "sdc" {
		t.Fatalf("disks %+v", rep.Disks)
	}
	if d := rep.Disks[0]; d.Source != "block" || d.Table != TableSuperfloppy || d.Partitions[0].Volume.Letter != "C" || !d.Removable {
		t.Errorf("sda: %+v", d)
	}
	if got := letters(rep.Disks[1]); got[3] != "D" || got[5] != "E" {
		t.Errorf("sdb letters %v, want 3=D 5=E", got)
	}
	if d := rep.Disks[2]; !strings.Contains(d.Error, "open") {
		t.Errorf("sdc error %q", d.Error)
	}
	if len(rep.Skipped) != 2 || rep.Skipped[0].Name != "sdd" || !strings.Contains(rep.Skipped[0].Reason, "ISO 9660") ||
		rep.Skipped[1].Name != "sr0" {
		t.Errorf("skipped %v", rep.Skipped)
	}
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	checkTextWidth(t, buf.String())
	for _, want := range []string{"Disk sda", "Disk sdb", "C:", "D:", "E:", "Floppy", "EFI system", "sr0: optical drive"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestScanCancelled(t *testing.T) {
	sysRoot, mountInfo := makeSysfs(t, []fakeDisk{{name: "sda", sectors: 100, dev: "8:0"}}, nil)
	ctx, cancel := contextWithCancel(t)
	cancel()
	if _, err := Scan(ctx, Options{BlockDevices: true, SysRoot: sysRoot, MountInfo: mountInfo}); err == nil {
		t.Error("Scan with a cancelled context succeeded")
	}
}
