package metadata

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"testing"
	"testing/fstest"

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

// softwareFields and systemFields are the parts of Info that come from
// one hive only.
func softwareFields(i *Info) string {
	w := &i.Windows
	return fmt.Sprintf("%q %q %q %v %v %v %q %q %q %q", w.EditionID, w.InstallationType, w.ProductName,
		deref(w.Version.Major), deref(w.Version.Minor), deref(w.Version.Build), i.Flags, i.DisplayName, i.DisplayDescription, i.ImageState)
}

func systemFields(i *Info) string {
	w := &i.Windows
	return fmt.Sprintf("%v %v %q %q %q %q %q", deref(w.Version.SPBuild), deref(w.Version.SPLevel), w.ProductType, w.ProductSuite, w.HAL, w.Languages, w.DefaultLanguage)
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// xmlWindows decodes a <WINDOWS> element.
type xmlWindows struct {
	SystemRoot       string `xml:"SYSTEMROOT"`
	Arch             *int   `xml:"ARCH"`
	EditionID        string `xml:"EDITIONID"`
	InstallationType string `xml:"INSTALLATIONTYPE"`
	ProductName      string `xml:"PRODUCTNAME"`
	Version          *struct {
		Major   *int64  `xml:"MAJOR"`
		Minor   *int64  `xml:"MINOR"`
		Build   *string `xml:"BUILD"`
		SPBuild *int64  `xml:"SPBUILD"`
		SPLevel *int64  `xml:"SPLEVEL"`
	} `xml:"VERSION"`
	ProductType  string `xml:"PRODUCTTYPE"`
	ProductSuite string `xml:"PRODUCTSUITE"`
	HAL          string `xml:"HAL"`
	Languages    *struct {
		Language []string `xml:"LANGUAGE"`
		Default  string   `xml:"DEFAULT"`
	} `xml:"LANGUAGES"`
}

// checkXMLRoundTrip parses the XML Info writes and compares it with Info:
// every field must come back as it was (empty strings are left out).
func checkXMLRoundTrip(t *testing.T, info *Info) {
	t.Helper()
	var x xmlWindows
	if err := xml.Unmarshal([]byte(info.WindowsXML()), &x); err != nil {
		t.Fatalf("our WINDOWS element does not parse: %v\n%s", err, info.WindowsXML())
	}
	back := Windows{SystemRoot: x.SystemRoot, Arch: x.Arch, EditionID: x.EditionID, InstallationType: x.InstallationType,
		ProductName: x.ProductName, ProductType: x.ProductType, ProductSuite: x.ProductSuite, HAL: x.HAL}
	if v := x.Version; v != nil {
		back.Version = Version{Major: v.Major, Minor: v.Minor, Build: v.Build, SPBuild: v.SPBuild, SPLevel: v.SPLevel}
	}
	if l := x.Languages; l != nil {
		back.Languages, back.DefaultLanguage = l.Language, l.Default
	}
	want := info.Windows
	if b := want.Version.Build; b != nil && *b == "" {
		want.Version.Build = nil // an empty BUILD is not written
	}
	var langs []string
	for _, l := range want.Languages {
		if l != "" {
			langs = append(langs, l)
		}
	}
	want.Languages = langs
	if got, exp := describe(back), describe(want); got != exp {
		t.Fatalf("WINDOWS element does not parse back to the Info it came from:\n got %s\nwant %s\n%s", got, exp, info.WindowsXML())
	}
	var img struct {
		Flags       string `xml:"FLAGS"`
		DisplayName string `xml:"DISPLAYNAME"`
		DisplayDesc string `xml:"DISPLAYDESCRIPTION"`
	}
	if err := xml.Unmarshal([]byte("<IMAGE>"+info.ImageElementsXML()+"</IMAGE>"), &img); err != nil {
		t.Fatalf("our image elements do not parse: %v", err)
	}
	if img.Flags != info.Flags || img.DisplayName != info.DisplayName || img.DisplayDesc != info.DisplayDescription {
		t.Fatalf("image elements parse back as %+v, want %q %q %q", img, info.Flags, info.DisplayName, info.DisplayDescription)
	}
}

// describe renders every field of w, pointers dereferenced.
func describe(w Windows) string {
	v := w.Version
	return fmt.Sprintf("root %q arch %v edition %q type %q product %q version %v/%v/%q/%v/%v ptype %q suite %q hal %q languages %q (%d) default %q",
		w.SystemRoot, deref(w.Arch), w.EditionID, w.InstallationType, w.ProductName,
		deref(v.Major), deref(v.Minor), deref(v.Build), deref(v.SPBuild), deref(v.SPLevel),
		w.ProductType, w.ProductSuite, w.HAL, w.Languages, len(w.Languages), w.DefaultLanguage)
}

// FuzzHive feeds arbitrary bytes as the SOFTWARE and as the SYSTEM hive of a
// tree. Read must not panic and must always report the system root and
// architecture; a damaged SOFTWARE hive must not change what comes from
// the SYSTEM hive, nor the other way round; and whatever Read finds must
// come back unchanged through the XML it writes. (The reads of each hive
// lookup are bounded by regf.FuzzReader; there is no wall-clock bound,
// which a loaded machine would break.) Run with a short -fuzzminimizetime
// (e.g. 2s): minimizing a 12 KiB hive input with the default 60 s looks
// like a stall.
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
	base, _, err := Read(fuzzTree(swb, syb))
	if err != nil || base.Windows.ProductName == "" || base.Windows.HAL == "" {
		f.Fatalf("the seed hives give %+v, %v", base, err)
	}
	f.Add(swb)
	f.Add(syb)
	f.Add(syb[:4096+512])
	f.Add([]byte("regf"))
	f.Add([]byte("\xff\xfe[\x00S\x00t\x00a\x00t\x00e\x00]\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for i, tree := range []fstest.MapFS{fuzzTree(data, syb), fuzzTree(swb, data), fuzzTree(data, data)} {
			info, _, err := Read(tree)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if info.Windows.SystemRoot != "WINDOWS" || info.Windows.Arch == nil || *info.Windows.Arch != 9 {
				t.Fatalf("SystemRoot %q, Arch %v: not from the tree's directory and kernel32.dll", info.Windows.SystemRoot, deref(info.Windows.Arch))
			}
			switch i {
			case 0:
				if got, want := systemFields(info), systemFields(base); got != want {
					t.Fatalf("a damaged SOFTWARE hive changed the SYSTEM fields: %s, want %s", got, want)
				}
			case 1:
				if got, want := softwareFields(info), softwareFields(base); got != want {
					t.Fatalf("a damaged SYSTEM hive changed the SOFTWARE fields: %s, want %s", got, want)
				}
			}
			checkXMLRoundTrip(t, info)
			_, _ = ReadStateINI(tree, "Windows")
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
