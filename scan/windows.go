package scan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// State is the capture readiness of a volume: whether it holds an offline
// Windows that Sysprep generalized, and if not, what stands in the way.
// Its JSON form is the snake_case name returned by String.
type State int

// Capture states, in no particular order. The zero value means the volume
// was not inspected (it is not NTFS or BitLocker).
const (
	StateNone           State = iota // not inspected
	StateReady                       // generalized; ready to capture
	StateNotGeneralized              // IMAGE_STATE_COMPLETE
	StateSpecialized                 // IMAGE_STATE_SPECIALIZE_RESEAL_*
	StateUndeployable                // IMAGE_STATE_UNDEPLOYABLE
	StateMismatch                    // registry and State.ini disagree
	StateUnknownImage                // an image state value this tool does not know, or none at all
	StateHibernated                  // hiberfil.sys holds a saved session (hibernate or Fast Startup)
	StateBitLocker                   // BitLocker-encrypted
	StateDirty                       // NTFS dirty flag set
	StateNoWindows                   // no Windows installation on the volume
	StateError                       // the volume could not be read
	StateNotChecked                  // NTFS, but no volume opener was configured
	StateOverlap                     // the partition overlaps another: the table is damaged
)

var stateNames = [...]string{
	StateNone:           "",
	StateReady:          "ready",
	StateNotGeneralized: "not_generalized",
	StateSpecialized:    "specialized",
	StateUndeployable:   "undeployable",
	StateMismatch:       "state_mismatch",
	StateUnknownImage:   "unknown_image_state",
	StateHibernated:     "hibernated",
	StateBitLocker:      "bitlocker",
	StateDirty:          "dirty",
	StateNoWindows:      "no_windows",
	StateError:          "error",
	StateNotChecked:     "not_checked",
	StateOverlap:        "overlap",
}

var stateReasons = [...]string{
	StateNone:           "",
	StateReady:          "Windows is generalized by Sysprep and ready to capture",
	StateNotGeneralized: "Windows is installed but not generalized: boot it and run sysprep /generalize /oobe /shutdown",
	StateSpecialized:    "Windows was booted after Sysprep (specialize ran): boot it and run sysprep /generalize /shutdown again",
	StateUndeployable:   "a Sysprep or setup pass failed and Windows will never be deployable: check Windows\\System32\\Sysprep\\Panther\\setuperr.log, fix and run sysprep again",
	StateMismatch:       "the registry and Setup\\State\\State.ini disagree about the image state: Sysprep did not finish cleanly; boot Windows and run sysprep /generalize /shutdown again",
	StateUnknownImage:   "the image state is missing or unknown: run sysprep /generalize /shutdown and capture again",
	StateHibernated:     "Windows is hibernated (hibernate or Fast Startup), so the volume on disk is not consistent: boot it and shut it down fully with sysprep /generalize /oobe /shutdown (powercfg /h off disables Fast Startup)",
	StateBitLocker:      "the volume is BitLocker-encrypted: boot Windows, run manage-bde -off C: and wait until decryption finishes, then run sysprep /generalize /oobe /shutdown",
	StateDirty:          "the NTFS volume is marked dirty (not shut down cleanly): boot Windows, run chkdsk C: /f, then run sysprep /generalize /oobe /shutdown",
	StateNoWindows:      "no Windows installation found on this volume",
	StateError:          "the volume could not be read",
	StateNotChecked:     "the volume was not inspected",
	StateOverlap:        "the partition overlaps another partition, so the partition table is damaged and a capture could read another volume's data: repair the table (or restore the disk) before capturing",
}

// String returns the stable snake_case name used in JSON ("ready", ...).
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Reason explains the state in words a technician can act on.
func (s State) Reason() string {
	if s >= 0 && int(s) < len(stateReasons) {
		return stateReasons[s]
	}
	return ""
}

// Blocking reports whether the state stops a capture of this volume.
func (s State) Blocking() bool { return s != StateReady }

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(stateNames) {
		return nil, fmt.Errorf("invalid scan state %d", int(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("unknown scan state %q", b)
}

// Image state values (HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Setup\State
// ImageState, and [State] ImageState in %WINDIR%\Setup\State\State.ini).
const (
	ImageStateComplete              = "IMAGE_STATE_COMPLETE"
	ImageStateUndeployable          = "IMAGE_STATE_UNDEPLOYABLE"
	ImageStateGeneralizeResealOOBE  = "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"
	ImageStateGeneralizeResealAudit = "IMAGE_STATE_GENERALIZE_RESEAL_TO_AUDIT"
	ImageStateSpecializeResealOOBE  = "IMAGE_STATE_SPECIALIZE_RESEAL_TO_OOBE"
	ImageStateSpecializeResealAudit = "IMAGE_STATE_SPECIALIZE_RESEAL_TO_AUDIT"
)

// WindowsInfo describes an offline Windows installation. The Inspect
// function in Options fills it; scan reads RegistryImageState and
// StateINIImageState from it to decide the State and reports the rest.
type WindowsInfo struct {
	// SystemRoot is the Windows directory at the volume root, upper case
	// as in the WIM XML ("WINDOWS").
	SystemRoot string `json:"system_root"`
	// ProductName is ProductName from the SOFTWARE hive ("Windows 11 Pro").
	ProductName string `json:"product_name,omitempty"`
	// EditionID is EditionID from the SOFTWARE hive ("Professional").
	EditionID string `json:"edition_id,omitempty"`
	// InstallationType is "Client", "Server", ...
	InstallationType string `json:"installation_type,omitempty"`
	// Version is MAJOR.MINOR.BUILD.SPBUILD ("10.0.22631.2861").
	Version string `json:"version,omitempty"`
	// Arch is the architecture of kernel32.dll: "x86", "x86_64", "arm",
	// "arm64" or "ia64" (see ArchName).
	Arch string `json:"arch,omitempty"`
	// Languages are the installed UI languages ("en-US").
	Languages []string `json:"languages,omitempty"`
	// DefaultLanguage is the install language.
	DefaultLanguage string `json:"default_language,omitempty"`
	// RegistryImageState is ImageState from the SOFTWARE hive, "" if absent.
	RegistryImageState string `json:"registry_image_state,omitempty"`
	// StateINIImageState is ImageState from Setup\State\State.ini, "" if absent.
	StateINIImageState string `json:"state_ini_image_state,omitempty"`
	// Warnings are non-fatal problems met while reading the metadata.
	Warnings []string `json:"warnings,omitempty"`
}

// ArchName maps the WIM <ARCH> number (PROCESSOR_ARCHITECTURE_*) to the
// name used in WindowsInfo.Arch; unknown numbers give "".
func ArchName(code int) string {
	switch code {
	case 0:
		return "x86"
	case 5:
		return "arm"
	case 6:
		return "ia64"
	case 9:
		return "x86_64"
	case 12:
		return "arm64"
	}
	return ""
}

// Errors that a VolumeOpener or Inspect function returns (wrapped) so that
// the scan can tell the technician what is wrong.
var (
	// ErrNoWindows: the volume holds no Windows installation.
	ErrNoWindows = errors.New("no Windows installation found")
	// ErrBitLocker: the volume is BitLocker-encrypted.
	ErrBitLocker = errors.New("volume is BitLocker-encrypted")
	// ErrDirty: the NTFS volume is marked dirty.
	ErrDirty = errors.New("NTFS volume is dirty")
	// ErrNotNTFS: the volume is not NTFS after all.
	ErrNotNTFS = errors.New("not an NTFS volume")
)

// VolumeOpener opens the NTFS volume of size bytes at offset off of r as a
// read-only file system. The returned close function releases it. When the
// volume is dirty the opener may return a usable fs.FS together with an
// error wrapping ErrDirty; the scan then still inspects it but reports
// StateDirty. Errors wrapping ErrBitLocker or ErrNotNTFS are reported as
// such; any other error gives StateError.
type VolumeOpener func(r io.ReaderAt, off, size int64) (fsys fs.FS, closeFn func() error, err error)

// InspectFunc looks for an offline Windows in fsys (the volume root). It
// returns an error wrapping ErrNoWindows (or nil info and nil error) when
// there is none.
type InspectFunc func(fsys fs.FS) (*WindowsInfo, error)

// Hibernation reports what a volume's hiberfil.sys says.
type Hibernation struct {
	// Present is true when hiberfil.sys exists at the volume root.
	Present bool
	// Hibernated is true when it holds a saved session.
	Hibernated bool
	// Signature is its first four bytes, printable or hex.
	Signature string
}

// CheckHibernation reads the first bytes of hiberfil.sys at the root of
// fsys (the name is matched case-insensitively). "hibr"/"HIBR" is a saved
// session (hibernation, or Fast Startup's hybrid shutdown) and
// "rstr"/"RSTR" a resume in progress: both count as hibernated. "wake" /
// "WAKE" (resumed) and an all-zero header do not. Any other non-zero
// header is treated as hibernated, because calling a live session dead
// would capture a file system whose metadata sits in the saved RAM image.
func CheckHibernation(fsys fs.FS) (Hibernation, error) {
	var h Hibernation
	name, err := findFold(fsys, ".", "hiberfil.sys")
	if err != nil {
		return h, err
	}
	if name == "" {
		return h, nil
	}
	h.Present = true
	f, err := fsys.Open(name)
	if err != nil {
		return h, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return h, fmt.Errorf("read %s: %w", name, err)
	}
	buf = buf[:n]
	if n == 0 {
		return h, nil // an empty file holds no session
	}
	sig := buf[:min(4, n)]
	h.Signature = printableSig(sig)
	switch string(sig) {
	case "hibr", "HIBR", "rstr", "RSTR":
		h.Hibernated = true
	case "wake", "WAKE":
	default:
		h.Hibernated = len(bytes.Trim(buf, "\x00")) > 0
	}
	return h, nil
}

func printableSig(b []byte) string {
	for _, c := range b {
		if c < 0x20 || c > 0x7E {
			return fmt.Sprintf("%x", b)
		}
	}
	return string(b)
}

// findFold returns the name of the entry of dir that equals name without
// regard to case, or "" when there is none.
func findFold(fsys fs.FS, dir, name string) (string, error) {
	if fi, err := fs.Stat(fsys, joinPath(dir, name)); err == nil && !fi.IsDir() {
		return joinPath(dir, name), nil
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return "", fmt.Errorf("list %s: %w", dir, err)
	}
	for _, e := range entries {
		if strings.EqualFold(e.Name(), name) && !e.IsDir() {
			return joinPath(dir, e.Name()), nil
		}
	}
	return "", nil
}

func joinPath(dir, name string) string {
	if dir == "." || dir == "" {
		return name
	}
	return dir + "/" + name
}

// ClassifyImageState decides the capture state from the two image state
// sources. Values are compared after trimming spaces, case-insensitively.
// Ready requires both to be present and to agree on
// IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE or _TO_AUDIT. The detail string
// names the values found.
func ClassifyImageState(registry, stateINI string) (State, string) {
	reg := strings.ToUpper(strings.TrimSpace(registry))
	ini := strings.ToUpper(strings.TrimSpace(stateINI))
	switch {
	case reg == "" && ini == "":
		return StateUnknownImage, "no ImageState in the SOFTWARE hive nor in Setup\\State\\State.ini"
	case reg == "":
		return StateMismatch, fmt.Sprintf("State.ini says %s but the SOFTWARE hive has no ImageState", ini)
	case ini == "":
		return StateMismatch, fmt.Sprintf("the SOFTWARE hive says %s but State.ini has no ImageState", reg)
	case reg != ini:
		return StateMismatch, fmt.Sprintf("the SOFTWARE hive says %s but State.ini says %s", reg, ini)
	}
	detail := "image state " + reg
	switch reg {
	case ImageStateGeneralizeResealOOBE:
		return StateReady, detail + " (next boot: OOBE)"
	case ImageStateGeneralizeResealAudit:
		return StateReady, detail + " (next boot: audit mode)"
	case ImageStateComplete:
		return StateNotGeneralized, detail
	case ImageStateSpecializeResealOOBE, ImageStateSpecializeResealAudit:
		return StateSpecialized, detail
	case ImageStateUndeployable:
		return StateUndeployable, detail
	}
	return StateUnknownImage, "unknown " + detail
}

// inspectVolume decides the state of an NTFS volume whose file system is
// fsys. dirty is the NTFS dirty flag.
func inspectVolume(fsys fs.FS, dirty bool, inspect InspectFunc) (State, string, *WindowsInfo) {
	var notes []string
	var info *WindowsInfo
	var infoErr error
	if inspect != nil {
		info, infoErr = inspect(fsys)
		if infoErr != nil && errors.Is(infoErr, ErrNoWindows) {
			info, infoErr = nil, nil
		}
	}
	hib, hibErr := CheckHibernation(fsys)
	switch {
	case hibErr != nil:
		return StateError, fmt.Sprintf("check hiberfil.sys: %v", hibErr), info
	case hib.Hibernated:
		return StateHibernated, fmt.Sprintf("hiberfil.sys header %q", hib.Signature), info
	}
	if dirty {
		return StateDirty, "the $Volume dirty flag is set", info
	}
	if inspect == nil {
		return StateNotChecked, "no Windows inspector configured", nil
	}
	if infoErr != nil {
		return StateError, fmt.Sprintf("read Windows metadata: %v", infoErr), info
	}
	if info == nil {
		return StateNoWindows, "", nil
	}
	st, detail := ClassifyImageState(info.RegistryImageState, info.StateINIImageState)
	notes = append(notes, detail)
	if hib.Present {
		notes = append(notes, fmt.Sprintf("hiberfil.sys present but not hibernated (header %q)", hib.Signature))
	}
	return st, strings.Join(notes, "; "), info
}
