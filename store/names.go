package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrBadName is wrapped by every error that rejects a group or image file
// name. Names reach the store from the network, so each one is checked
// before it is joined to a path.
var ErrBadName = errors.New("invalid name")

// maxNameBytes bounds group and image file names (UTF-8 bytes); Windows
// allows 255 UTF-16 units per path component, and a WDS share adds its
// own prefix, so the store stays well below.
const maxNameBytes = 120

// reservedDOS are the device names Windows refuses as file names, with or
// without an extension.
var reservedDOS = map[string]bool{
	"CON": true, "PRN": true, "AUX": true, "NUL": true, "CONIN$": true, "CONOUT$": true,
	"COM1": true, "COM2": true, "COM3": true, "COM4": true, "COM5": true, "COM6": true, "COM7": true, "COM8": true, "COM9": true,
	"LPT1": true, "LPT2": true, "LPT3": true, "LPT4": true, "LPT5": true, "LPT6": true, "LPT7": true, "LPT8": true, "LPT9": true,
}

func badName(what, name, why string) error {
	return fmt.Errorf("%w: %s %q %s", ErrBadName, what, name, why)
}

// checkComponent applies the rules every name the store turns into a path
// component follows: valid UTF-8, not empty or too long, no control
// characters, none of \ / : * ? " < > |, no leading dot (the store's own
// temporary files start with one), no leading or trailing space, no
// trailing dot, and not a Windows device name. A name that passes is
// safe on Linux and on the Windows share WDS clients read.
func checkComponent(what, name string) error {
	switch {
	case name == "":
		return badName(what, name, "is empty")
	case len(name) > maxNameBytes:
		return badName(what, name, fmt.Sprintf("is longer than %d bytes", maxNameBytes))
	case !utf8.ValidString(name):
		return badName(what, name, "is not valid UTF-8")
	case strings.HasPrefix(name, "."):
		return badName(what, name, "starts with a dot")
	case strings.HasSuffix(name, "."):
		return badName(what, name, "ends with a dot")
	case strings.TrimSpace(name) != name:
		return badName(what, name, "starts or ends with white space")
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return badName(what, name, "contains a control character")
		}
		if strings.ContainsRune(`\/:*?"<>|`, r) {
			return badName(what, name, fmt.Sprintf("contains %q (not allowed: \\ / : * ? \" < > |)", r))
		}
	}
	base, _, _ := strings.Cut(name, ".")
	if reservedDOS[strings.ToUpper(strings.TrimSpace(base))] {
		return badName(what, name, "is a Windows device name")
	}
	return nil
}

// CheckGroupName reports whether name may name an image group (a folder
// ROOT/Images/<name>). Group names compare case-insensitively, as they do
// on the Windows share.
func CheckGroupName(name string) error { return checkComponent("group name", name) }

// CheckImageFileName reports whether name may name an image's metadata
// WIM in a group folder: a valid path component ending in ".wim".
func CheckImageFileName(name string) error {
	if err := checkComponent("image file name", name); err != nil {
		return err
	}
	if !strings.EqualFold(fileExt(name), ".wim") || len(name) == len(".wim") {
		return badName("image file name", name, `does not end in ".wim"`)
	}
	return nil
}

func fileExt(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i:]
	}
	return ""
}

// FileNameFor derives an image's file name from its image name: every
// character a file name may not hold becomes "_", and ".wim" is added.
func FileNameFor(imageName string) string {
	var b strings.Builder
	for _, r := range imageName {
		if unicode.IsControl(r) || r == utf8.RuneError || strings.ContainsRune(`\/:*?"<>|`, r) {
			r = '_'
		}
		b.WriteRune(r)
	}
	s := strings.Trim(strings.TrimSpace(b.String()), ".")
	s = strings.TrimSpace(s)
	for len(s) > maxNameBytes-len("_.wim") {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	s = strings.TrimRight(s, ". ")
	if s == "" {
		s = "image"
	}
	name := s + ".wim"
	if CheckImageFileName(name) != nil {
		name = "_" + name
	}
	return name
}
