package inf

import (
	"fmt"
	"strings"

	"github.com/wdscapture/wdscapture/images"
)

// The keys of WDSCapture.inf, as Write spells them. Every package names a
// key with these constants (in messages, in errors that say which setting
// to fix, in Set and Value).
const (
	KeyUnattended              = "Unattended"
	KeyVolumeToCapture         = "VolumeToCapture"
	KeySystemRoot              = "SystemRoot"
	KeyImageName               = "ImageName"
	KeyImageDescription        = "ImageDescription"
	KeyDestinationFile         = "DestinationFile"
	KeyOverwrite               = "Overwrite"
	KeyCompression             = "Compression"
	KeyCheckIntegrity          = "CheckIntegrity"
	KeyFinish                  = "Finish"
	KeyUploadToWDSServer       = "UploadToWDSServer"
	KeyWDSServerName           = "WDSServerName"
	KeyWDSServerCertificate    = "WDSServerCertificate" // extension: how to trust the image store's certificate
	KeyWDSImageGroup           = "WDSImageGroup"
	KeyUsername                = "Username"
	KeyPassword                = "Password"
	KeyDeleteLocalWimOnSuccess = "DeleteLocalWimOnSuccess"
)

// The sections of WDSCapture.inf. ExclusionList and ExclusionException are
// lists; Has and Line take their names like keys.
const (
	SectionCapture            = "Capture"
	SectionWDS                = "WDS"
	SectionExclusionList      = "ExclusionList"
	SectionExclusionException = "ExclusionException"
)

// keyDef is one known key.
type keyDef struct {
	section string
	name    string
}

// knownKeys lists every key in file order.
var knownKeys = []keyDef{
	{SectionCapture, KeyUnattended},
	{SectionCapture, KeyVolumeToCapture},
	{SectionCapture, KeySystemRoot},
	{SectionCapture, KeyImageName},
	{SectionCapture, KeyImageDescription},
	{SectionCapture, KeyDestinationFile},
	{SectionCapture, KeyOverwrite},
	{SectionCapture, KeyCompression},
	{SectionCapture, KeyCheckIntegrity},
	{SectionCapture, KeyFinish},
	{SectionWDS, KeyUploadToWDSServer},
	{SectionWDS, KeyWDSServerName},
	{SectionWDS, KeyWDSServerCertificate},
	{SectionWDS, KeyWDSImageGroup},
	{SectionWDS, KeyUsername},
	{SectionWDS, KeyPassword},
	{SectionWDS, KeyDeleteLocalWimOnSuccess},
}

func lookupKey(name string) (keyDef, bool) {
	for _, k := range knownKeys {
		if strings.EqualFold(k.name, name) {
			return k, true
		}
	}
	return keyDef{}, false
}

// CanonicalKey returns the spelling of a key name given in any case, and
// false for a name that is no key.
func CanonicalKey(name string) (string, bool) {
	k, ok := lookupKey(name)
	return k.name, ok
}

// SectionOf returns the section a key belongs in ("Capture" or "WDS"), ""
// for a name that is no key.
func SectionOf(key string) string {
	k, _ := lookupKey(key)
	return k.section
}

// Set stores value for key (any case) as the file's line "key=value" would:
// Yes/No, Overwrite and Compression values are parsed, VolumeToCapture is
// normalized, and an empty value resets the key to its default. Only the
// syntax is checked here; Validate checks the content with every key known.
// The parser, the wizard and the agent set keys through Set, so that a value
// means the same wherever it comes from. Set does not change what Has and
// Line report: those describe the file.
func (s *Settings) Set(key, value string) error {
	k, ok := lookupKey(key)
	if !ok {
		return fmt.Errorf("unknown key %s", quoteValue(key))
	}
	if value == "" {
		s.reset(k.name)
		return nil
	}
	boolean := func(dst *bool) error {
		b, ok := parseBool(value)
		if !ok {
			return fmt.Errorf("invalid value %s: %s", quoteValue(value), boolAllowed)
		}
		*dst = b
		return nil
	}
	switch k.name {
	case KeyUnattended:
		return boolean(&s.Unattended)
	case KeyCheckIntegrity:
		return boolean(&s.CheckIntegrity)
	case KeyUploadToWDSServer:
		return boolean(&s.Upload)
	case KeyDeleteLocalWimOnSuccess:
		return boolean(&s.DeleteLocalWimOnSuccess)
	case KeyOverwrite:
		o, err := ParseOverwrite(value)
		if err != nil {
			return err
		}
		s.Overwrite = o
	case KeyCompression:
		c, err := images.ParseCompression(value)
		if err != nil {
			return fmt.Errorf("invalid value %s: allowed values are XPRESS, LZX, None", quoteValue(value))
		}
		s.Compression = c
	case KeyFinish:
		f, err := ParseFinish(value)
		if err != nil {
			return err
		}
		s.Finish = f
	case KeyVolumeToCapture:
		s.VolumeToCapture = normalizeVolume(value)
	case KeySystemRoot:
		s.SystemRoot = value // the parser normalizes it after the drive check
	case KeyImageName:
		s.ImageName = value
	case KeyImageDescription:
		s.ImageDescription = value
	case KeyDestinationFile:
		s.DestinationFile = value
	case KeyWDSServerName:
		s.ServerName = value
	case KeyWDSServerCertificate:
		s.ServerCertificate = value
	case KeyWDSImageGroup:
		s.ImageGroup = value
	case KeyUsername:
		s.Username = value
	case KeyPassword:
		s.Password = NewSecret(value)
	}
	return nil
}

// reset gives key its default value.
func (s *Settings) reset(key string) {
	d := Default()
	switch key {
	case KeyUnattended:
		s.Unattended = d.Unattended
	case KeyCheckIntegrity:
		s.CheckIntegrity = d.CheckIntegrity
	case KeyUploadToWDSServer:
		s.Upload = d.Upload
	case KeyDeleteLocalWimOnSuccess:
		s.DeleteLocalWimOnSuccess = d.DeleteLocalWimOnSuccess
	case KeyOverwrite:
		s.Overwrite = d.Overwrite
	case KeyCompression:
		s.Compression = d.Compression
	case KeyFinish:
		s.Finish = ""
	case KeyVolumeToCapture:
		s.VolumeToCapture = ""
	case KeySystemRoot:
		s.SystemRoot = ""
	case KeyImageName:
		s.ImageName = ""
	case KeyImageDescription:
		s.ImageDescription = ""
	case KeyDestinationFile:
		s.DestinationFile = ""
	case KeyWDSServerName:
		s.ServerName = ""
	case KeyWDSServerCertificate:
		s.ServerCertificate = ""
	case KeyWDSImageGroup:
		s.ImageGroup = ""
	case KeyUsername:
		s.Username = ""
	case KeyPassword:
		s.Password = Secret{}
	}
}

// Value returns key's value as Write would write it ("" for an unset text
// value). The password is never returned: Value(KeyPassword) is "" or
// "[REDACTED]"; only Password.Reveal gives it.
func (s *Settings) Value(key string) string {
	k, _ := lookupKey(key)
	switch k.name {
	case KeyUnattended:
		return yesNo(s.Unattended)
	case KeyCheckIntegrity:
		return yesNo(s.CheckIntegrity)
	case KeyUploadToWDSServer:
		return yesNo(s.Upload)
	case KeyDeleteLocalWimOnSuccess:
		return yesNo(s.DeleteLocalWimOnSuccess)
	case KeyOverwrite:
		return s.Overwrite.String()
	case KeyCompression:
		return compressionName(s.Compression)
	case KeyFinish:
		return s.Finish
	case KeyVolumeToCapture:
		return s.VolumeToCapture
	case KeySystemRoot:
		return s.SystemRoot
	case KeyImageName:
		return s.ImageName
	case KeyImageDescription:
		return s.ImageDescription
	case KeyDestinationFile:
		return s.DestinationFile
	case KeyWDSServerName:
		return s.ServerName
	case KeyWDSServerCertificate:
		return s.ServerCertificate
	case KeyWDSImageGroup:
		return s.ImageGroup
	case KeyUsername:
		return s.Username
	case KeyPassword:
		return s.Password.String()
	}
	return ""
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// compressionName is the INF's spelling of a compression type.
func compressionName(c images.Compression) string {
	if c == images.CompressNone {
		return "None"
	}
	return c.String()
}

// Finish values: what the capture environment does after a successful
// capture.
const (
	FinishShutdown = "Shutdown" // power off
	FinishReboot   = "Reboot"
	FinishPrompt   = "Prompt" // show the result and wait for the technician
)

// ParseFinish parses Shutdown (or PowerOff), Reboot or Prompt,
// case-insensitively, and returns the canonical spelling.
func ParseFinish(v string) (string, error) {
	switch strings.ToLower(v) {
	case "shutdown", "poweroff":
		return FinishShutdown, nil
	case "reboot", "restart":
		return FinishReboot, nil
	case "prompt":
		return FinishPrompt, nil
	}
	return "", fmt.Errorf("invalid value %s: allowed values are Shutdown, Reboot, Prompt", quoteValue(v))
}
