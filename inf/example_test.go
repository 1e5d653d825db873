package inf_test

import (
	"fmt"

	"github.com/wdscapture/wdscapture/inf"
)

func ExampleParse() {
	file := "[Capture]\r\n" +
		"Unattended=Yes\r\n" +
		"VolumeToCapture=C:\r\n" +
		"DestinationFile=C:\\ref.wim\r\n" +
		"Overwrite=Maybe\r\n" +
		"Colour=blue\r\n" +
		"[ExclusionList]\r\n" +
		"%SYSTEMROOT%\\Temp\r\n"
	s, warnings, err := inf.Parse([]byte(file), "WDSCapture.inf")
	for _, w := range warnings {
		fmt.Println("warning:", w)
	}
	fmt.Println(err)
	fmt.Println("missing:", s.Missing())
	excl, _ := s.ExclusionPatterns(`\WINNT`)
	fmt.Println("exclusions:", excl)
	// Output:
	// warning: WDSCapture.inf:6: unknown key "Colour" in [Capture] ignored
	// WDSCapture.inf:4: [Capture] DestinationFile: "C:\ref.wim" is on the volume being captured (VolumeToCapture=C:\); write the image to another volume
	// WDSCapture.inf:5: [Capture] Overwrite: invalid value "Maybe": allowed values are Yes, No, Append
	// missing: [ImageName]
	// exclusions: [\WINNT\Temp \$ntfs.log \hiberfil.sys \pagefile.sys \swapfile.sys \System Volume Information \RECYCLER \$Recycle.Bin \Windows\CSC \winpepge.sys]
}
