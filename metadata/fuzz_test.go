package metadata

import (
	"bytes"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wdscapture/wdscapture/internal/regf"
)

// fuzzTree puts hive bytes in place of both hives of a Windows tree.
func fuzzTree(software, system []byte) fstest.MapFS {
	return fstest.MapFS{
		"Windows/System32/kernel32.dll":    {Data: peStub(0x8664)},
		"Windows/System32/config/SOFTWARE": {Data: software},
		"Windows/System32/config/SYSTEM":   {Data: system},
		"Windows/Setup/State/State.ini":    {Data: software},
	}
}

// FuzzHive feeds arbitrary bytes as the SOFTWARE and as the SYSTEM hive of a
// tree: Read must not panic, must finish quickly and must always report
// the system root. Run with a short -fuzzminimizetime (e.g. 2s): minimizing
// a 12 KiB hive input with the default 60 s looks like a stall.
func FuzzHive(f *testing.F) {
	sw := regf.New()
	win11Software(sw)
	swb, err := sw.Bytes()
	if err != nil {
		f.Fatal(err)
	}
	sy := regf.New()
	clientSystem(sy)
	for i := 0; i < 3; i++ {
		sy.Key(uiKey + `\x` + string(rune('a'+i)))
	}
	syb, err := sy.Bytes()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(swb)
	f.Add(syb)
	f.Add(syb[:4096+512])
	f.Add([]byte("regf"))
	f.Add([]byte("\xff\xfe[\x00S\x00t\x00a\x00t\x00e\x00]\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tree := range []fstest.MapFS{fuzzTree(data, syb), fuzzTree(swb, data), fuzzTree(data, data)} {
			start := time.Now()
			info, _, err := Read(tree)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if info.Windows.SystemRoot != "WINDOWS" {
				t.Fatalf("SystemRoot = %q", info.Windows.SystemRoot)
			}
			_ = info.WindowsXML() + info.ImageElementsXML()
			_, _ = ReadStateINI(tree, "Windows")
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("Read took %v on %d bytes", d, len(data))
			}
		}
	})
}

// FuzzPEMachine checks PEMachineArch never panics and agrees with a direct
// reading of the header when it succeeds.
func FuzzPEMachine(f *testing.F) {
	for _, m := range []uint16{0x14C, 0x8664, 0xAA64, 0x1C4, 0x200, 0x1234} {
		f.Add(peStub(m))
	}
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, data []byte) {
		arch, err := PEMachineArch(bytes.NewReader(data))
		if err != nil {
			if arch != -1 {
				t.Fatalf("arch %d with error %v", arch, err)
			}
			return
		}
		lfanew := int(data[0x3C]) | int(data[0x3D])<<8 | int(data[0x3E])<<16 | int(data[0x3F])<<24
		if lfanew < 0 || lfanew+6 > len(data) || string(data[lfanew:lfanew+4]) != "PE\x00\x00" {
			t.Fatalf("accepted a header without a PE signature at 0x%x", lfanew)
		}
	})
}
