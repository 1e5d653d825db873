package scan

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOverlappingPartitions: entries whose ranges overlap (GPT or MBR) are
// flagged on both sides and their volumes are never capture candidates.
func TestOverlappingPartitions(t *testing.T) {
	mbrDisk := make([]byte, 4096*512)
	mbrEntry(mbrDisk, 0, true, 0x07, 2048, 1000)
	mbrEntry(mbrDisk, 1, false, 0x07, 2500, 1000) // starts inside entry 1
	mbrEntry(mbrDisk, 2, false, 0x07, 3600, 100)  // apart
	cases := []struct {
		name string
		img  []byte
		want map[int][]int // index -> overlapped indexes
	}{
		{"GPT, same range twice", buildGPT(2048, []rawGPTEntry{{basicDataBytes, 40, 1000, 0}, {basicDataBytes, 40, 1000, 0}, {basicDataBytes, 1001, 1500, 0}}, nil),
			map[int][]int{1: {2}, 2: {1}, 3: nil}},
		{"GPT, one inside another", buildGPT(2048, []rawGPTEntry{{basicDataBytes, 40, 1000, 0}, {basicDataBytes, 500, 600, 0}}, nil),
			map[int][]int{1: {2}, 2: {1}}},
		{"MBR", mbrDisk, map[int][]int{1: {2}, 2: {1}, 3: nil}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &Disk{Name: "x", Size: int64(len(tc.img))}
			ScanDisk(t.Context(), bytes.NewReader(tc.img), d, Options{})
			AssignLetters([]*Disk{d})
			rep := &Report{Disks: []*Disk{d}}
			if len(d.Partitions) != len(tc.want) {
				t.Fatalf("%d partitions, want %d", len(d.Partitions), len(tc.want))
			}
			for _, p := range d.Partitions {
				want := tc.want[p.Index]
				if !slices.Equal(p.Overlaps, want) {
					t.Errorf("partition %d overlaps %v, want %v", p.Index, p.Overlaps, want)
				}
				if (len(want) > 0) != (p.Problem != "") {
					t.Errorf("partition %d: problem %q", p.Index, p.Problem)
				}
				if len(want) > 0 && (p.Volume == nil || p.Volume.State != StateOverlap) {
					t.Errorf("partition %d: volume %+v, want state overlap", p.Index, p.Volume)
				}
			}
			for _, r := range rep.Ready() {
				if len(r.Partition.Overlaps) > 0 {
					t.Errorf("overlapping partition %d offered as ready", r.Partition.Index)
				}
			}
		})
	}
}

// TestTwoExtendedPartitions: logical partitions of a second extended
// entry are numbered on from the first's, never both from 5.
func TestTwoExtendedPartitions(t *testing.T) {
	img := make([]byte, 8192*512)
	mbrEntry(img, 0, false, 0x05, 100, 1000)
	mbrEntry(img, 1, false, 0x0F, 2000, 1000)
	mbrEntry(img[100*512:], 0, false, 0x07, 1, 500)
	mbrEntry(img[2000*512:], 0, false, 0x07, 1, 500)
	d := &Disk{Name: "x", Size: int64(len(img))}
	ScanDisk(t.Context(), bytes.NewReader(img), d, Options{})
	var logical []int
	for _, p := range d.Partitions {
		if p.Logical {
			logical = append(logical, p.Index)
		}
		if len(p.Overlaps) > 0 {
			t.Errorf("partition %d overlaps %v", p.Index, p.Overlaps)
		}
	}
	if !slices.Equal(logical, []int{5, 6}) {
		t.Errorf("logical partitions numbered %v, want [5 6]", logical)
	}
	if len(d.Warnings) == 0 {
		t.Errorf("no warning about the second extended partition")
	}
}

// TestScanRefusesNonDisks: a directory used to read as an 8.0 EiB disk, a
// FIFO blocked the scan forever; both, and a character device, are
// reported as what they are.
func TestScanRefusesNonDisks(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan *Report, 1)
	go func() {
		rep, _ := Scan(t.Context(), Options{Images: []string{dir, fifo, "/dev/zero"}})
		done <- rep
	}()
	var rep *Report
	select {
	case rep = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the scan hangs")
	}
	if rep == nil || len(rep.Disks) != 3 {
		t.Fatalf("report %+v", rep)
	}
	for i, want := range []string{"is a directory", "is a FIFO", "is a character device"} {
		d := rep.Disks[i]
		if d.Size != 0 || !strings.Contains(d.Error, want) || len(d.Partitions) != 0 {
			t.Errorf("%s: size %d, error %q, %d partitions; want an error saying it %s", d.Path, d.Size, d.Error, len(d.Partitions), want)
		}
	}
}
