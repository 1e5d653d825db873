// Package lab generates the "reference PC after Sysprep" used by tests,
// `make demo` and the lab VM: a raw GPT disk image with an EFI system
// partition, an MSR, a Windows NTFS partition holding a synthetic,
// generalized Windows tree (real registry hives, a real PE kernel32.dll,
// State.ini, short names, named streams, hard links, reparse points,
// security descriptors), a recovery partition and optional extras
// (a second Windows, a data volume, BitLocker, hibernation).
//
// The NTFS volumes are filled without mounting anything: the tree is written
// as a WIM by package images, mkntfs formats a partition-sized file and
// wimapply (wimlib, NTFS-3G mode) applies the WIM onto it.
package lab

import (
	"fmt"
	"log/slog"
	"strings"
)

// Image states (HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Setup\State
// ImageState and Windows\Setup\State\State.ini).
const (
	StateGeneralizeOOBE = "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"
	StateComplete       = "IMAGE_STATE_COMPLETE"
)

// Options describe the generated machine. The zero value is a 512 MiB
// x86-64 Windows 11 Enterprise 22631 (en-US) disk, generalized to OOBE.
type Options struct {
	// Arch is the kernel32.dll architecture: "amd64" (default), "386" or "arm64".
	Arch string
	// ProductName defaults to "Windows 11 Enterprise".
	ProductName string
	// EditionID defaults to "Enterprise".
	EditionID string
	// InstallationType is "Client" (default) or "Server".
	InstallationType string
	// ProductType defaults to "WinNT" for a client and "ServerNT" for a server.
	ProductType string
	// Major, Minor and Build default to 10, 0, 22631 when all three are
	// zero. Major==0 with a non-zero Build makes a Windows 7-style
	// SOFTWARE hive: CurrentVersion "6.1" and no
	// CurrentMajor/MinorVersionNumber DWORDs (and Service Pack 1 in SYSTEM).
	Major, Minor, Build int
	// Languages are the UILanguages subkeys, default ["en-US"]; the first
	// one is the InstallLanguage (and Nls Default).
	Languages []string
	// ImageState defaults to StateGeneralizeOOBE; it is written to both the
	// SOFTWARE hive and State.ini.
	ImageState string
	// StateINIState, when set, is written to State.ini instead of
	// ImageState (a disk whose two sources disagree).
	StateINIState string
	// Hibernated puts a hiberfil.sys starting with "HIBR" at the root.
	Hibernated bool
	// BitLocker makes the Windows partition look BitLocker-encrypted: its
	// boot sector has the OEM ID "-FVE-FS-" and the rest is unreadable.
	BitLocker bool
	// SecondWindows adds a second NTFS partition ("Windows 2") holding a
	// Windows 10 Pro that is not generalized (IMAGE_STATE_COMPLETE).
	SecondWindows bool
	// DataVolume adds an empty NTFS data partition labelled "Data".
	DataVolume bool
	// Files is the number of generated payload files; 0 selects the
	// default of 300.
	Files int
	// SizeMiB is the disk size (default 512).
	SizeMiB int
	// CacheDir holds the cross-built kernel32.dll files; default
	// os.UserCacheDir()/wdscapture-lab.
	CacheDir string
	// Logger receives progress and warnings; nil means slog.Default().
	Logger *slog.Logger
}

// Arch names accepted in Options.Arch.
var archs = map[string]bool{"amd64": true, "386": true, "arm64": true}

// withDefaults fills the zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	if !archs[o.Arch] {
		return o, fmt.Errorf("lab: unknown architecture %q (want amd64, 386 or arm64)", o.Arch)
	}
	if o.ProductName == "" {
		o.ProductName = "Windows 11 Enterprise"
	}
	if o.EditionID == "" {
		o.EditionID = "Enterprise"
	}
	if o.InstallationType == "" {
		o.InstallationType = "Client"
	}
	if o.ProductType == "" {
		o.ProductType = "WinNT"
		if strings.EqualFold(o.InstallationType, "Server") {
			o.ProductType = "ServerNT"
		}
	}
	if o.Major == 0 && o.Minor == 0 && o.Build == 0 {
		o.Major, o.Minor, o.Build = 10, 0, 22631
	}
	if o.Major < 0 || o.Minor < 0 || o.Build < 0 {
		return o, fmt.Errorf("lab: negative version %d.%d.%d", o.Major, o.Minor, o.Build)
	}
	if len(o.Languages) == 0 {
		o.Languages = []string{"en-US"}
	}
	for _, l := range o.Languages {
		if l == "" || strings.ContainsAny(l, `\`) {
			return o, fmt.Errorf("lab: bad language name %q", l)
		}
	}
	if _, ok := languageID(o.Languages[0]); !ok {
		return o, fmt.Errorf("lab: no Windows language ID known for %q", o.Languages[0])
	}
	if o.ImageState == "" {
		o.ImageState = StateGeneralizeOOBE
	}
	if o.Files == 0 {
		o.Files = 300
	}
	if o.Files < 0 || o.Files > 200000 {
		return o, fmt.Errorf("lab: Files = %d out of range 0..200000", o.Files)
	}
	if o.SizeMiB == 0 {
		o.SizeMiB = 512
	}
	if o.SizeMiB < minSizeMiB(o) || o.SizeMiB > 1<<22 {
		return o, fmt.Errorf("lab: disk size %d MiB out of range %d..%d MiB for these options", o.SizeMiB, minSizeMiB(o), 1<<22)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// stateINI returns the State.ini image state.
func (o Options) stateINI() string {
	if o.StateINIState != "" {
		return o.StateINIState
	}
	return o.ImageState
}

// secondOptions are the options of the second Windows (Options.SecondWindows).
func (o Options) secondOptions() Options {
	return Options{
		Arch:             o.Arch,
		ProductName:      "Windows 10 Pro",
		EditionID:        "Professional",
		InstallationType: "Client",
		ProductType:      "WinNT",
		Major:            10, Minor: 0, Build: 19045,
		Languages:  []string{"en-US"},
		ImageState: StateComplete,
		Files:      40,
		CacheDir:   o.CacheDir,
		Logger:     o.Logger,
	}
}
