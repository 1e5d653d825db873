package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wdscapture/wdscapture/images"
)

// Well-known principals. Both match every authenticated user: the store
// has no anonymous access, so "Everyone" means the same as WDS's default
// reader, Authenticated Users. BUILTIN\Administrators has no special
// meaning to the store: the authenticator puts it in an administrator's
// token like any other group.
const (
	AuthenticatedUsers = `NT AUTHORITY\Authenticated Users`
	Everyone           = `Everyone`
	Administrators     = `BUILTIN\Administrators`
)

// SettingsFile is the name of a group's settings file in its folder.
const SettingsFile = "group.json"

// settingsVersion is the format version this package writes and reads.
const settingsVersion = 1

// maxSettingsSize bounds a settings file; thousands of images with long
// filters stay far below.
const maxSettingsSize = 4 << 20

// maxPrincipalBytes bounds one principal name.
const maxPrincipalBytes = 256

// Settings is a group's settings file: who may read and write the group,
// optionally its compression type before it has an image, and per-image
// read filters. A group folder without the file has DefaultSettings.
//
// The compression type of a group that has images is that of its res.rwm
// (every image of the group shares it), not a copy here: two records of
// one fact could disagree after a crash between their updates.
type Settings struct {
	Version int `json:"version"`
	// Compression, when set ("none", "XPRESS" or "LZX"), is the type the
	// group's first image must have; empty lets the first image choose.
	Compression string `json:"compression,omitempty"`
	// Read lists the principals that may see and read the group's images.
	Read []string `json:"read"`
	// Write lists the principals that may add images (and read).
	Write []string `json:"write"`
	// Images holds the read filter of images that have one, by file name.
	Images map[string]ImageSettings `json:"images,omitempty"`
}

// ImageSettings are an image's own settings.
type ImageSettings struct {
	// Read, when not empty, restricts who sees the image to these
	// principals (who must also be allowed to read the group). It never
	// widens the group's ACL.
	Read []string `json:"read,omitempty"`
}

// DefaultSettings are those of a new group unless the admin says
// otherwise, as WDS sets them: every authenticated user may read, the
// administrators may write.
func DefaultSettings() Settings {
	return Settings{Version: settingsVersion, Read: []string{AuthenticatedUsers}, Write: []string{Administrators}}
}

// ErrSettings is wrapped by errors about a malformed settings file or
// setting.
var ErrSettings = errors.New("invalid group settings")

// ParseSettings decodes and validates a settings file.
func ParseSettings(data []byte) (*Settings, error) {
	if len(data) > maxSettingsSize {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrSettings, len(data), maxSettingsSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Settings
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSettings, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the settings object", ErrSettings)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks every field.
func (s *Settings) Validate() error {
	if s.Version != settingsVersion {
		return fmt.Errorf("%w: version %d (this imagestore reads version %d)", ErrSettings, s.Version, settingsVersion)
	}
	if s.Compression != "" {
		if _, err := images.ParseCompression(s.Compression); err != nil {
			return fmt.Errorf("%w: %v", ErrSettings, err)
		}
	}
	for _, l := range []struct {
		what string
		ps   []string
	}{{"read", s.Read}, {"write", s.Write}} {
		if err := checkPrincipals(l.ps); err != nil {
			return fmt.Errorf("%w: %s list: %v", ErrSettings, l.what, err)
		}
	}
	seen := map[string]bool{}
	for name, im := range s.Images {
		if seen[strings.ToLower(name)] {
			return fmt.Errorf("%w: images: %q is listed twice (names compare case-insensitively)", ErrSettings, name)
		}
		seen[strings.ToLower(name)] = true
		if err := CheckImageFileName(name); err != nil {
			return fmt.Errorf("%w: images: %v", ErrSettings, err)
		}
		if err := checkPrincipals(im.Read); err != nil {
			return fmt.Errorf("%w: read filter of %s: %v", ErrSettings, name, err)
		}
	}
	return nil
}

// Marshal encodes s as the settings file stores it.
func (s *Settings) Marshal() []byte {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("marshal settings: %v", err)) // plain strings and maps cannot fail
	}
	return append(b, '\n')
}

// ErrBadPrincipal is wrapped by errors that reject a principal name.
var ErrBadPrincipal = errors.New("invalid principal")

// CheckPrincipal reports whether p may appear in an ACL: DOMAIN\name or a
// plain name (Everyone, a local user), no control characters, no comma
// (the CLI's list separator), at most one backslash with text on both
// sides.
func CheckPrincipal(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty name", ErrBadPrincipal)
	case len(p) > maxPrincipalBytes:
		return fmt.Errorf("%w: %q is longer than %d bytes", ErrBadPrincipal, p, maxPrincipalBytes)
	case !utf8.ValidString(p):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrBadPrincipal, p)
	case strings.TrimSpace(p) != p:
		return fmt.Errorf("%w: %q starts or ends with white space", ErrBadPrincipal, p)
	case strings.ContainsRune(p, ','):
		return fmt.Errorf("%w: %q contains a comma", ErrBadPrincipal, p)
	}
	for _, r := range p {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return fmt.Errorf("%w: %q contains a control character", ErrBadPrincipal, p)
		}
	}
	if n := strings.Count(p, `\`); n > 1 || strings.HasPrefix(p, `\`) || strings.HasSuffix(p, `\`) {
		return fmt.Errorf(`%w: %q is not DOMAIN\name`, ErrBadPrincipal, p)
	}
	return nil
}

func checkPrincipals(ps []string) error {
	for _, p := range ps {
		if err := CheckPrincipal(p); err != nil {
			return err
		}
	}
	return nil
}

// ParsePrincipals splits a comma-separated list (the CLI's --read and
// --write) and validates each name; duplicates (case-insensitive) are
// dropped.
func ParsePrincipals(list string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if err := CheckPrincipal(p); err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(out, func(q string) bool { return strings.EqualFold(p, q) }) {
			out = append(out, p)
		}
	}
	return out, nil
}

// allows reports whether the list names tok's user or one of its groups.
// The well-known AuthenticatedUsers and Everyone match any token that
// names a user.
func allows(list []string, tok Token) bool {
	if tok.User == "" {
		return false
	}
	for _, p := range list {
		if strings.EqualFold(p, AuthenticatedUsers) || strings.EqualFold(p, Everyone) || tok.Has(p) {
			return true
		}
	}
	return false
}

// CanRead reports whether tok may see the group and read its images (the
// read list; writers may read too).
func (s *Settings) CanRead(tok Token) bool { return allows(s.Read, tok) || allows(s.Write, tok) }

// CanWrite reports whether tok may add images to the group.
func (s *Settings) CanWrite(tok Token) bool { return allows(s.Write, tok) }

// CanSee reports whether tok sees the image file name of the group: it
// may read the group and passes the image's read filter, if any.
func (s *Settings) CanSee(tok Token, fileName string) bool {
	if !s.CanRead(tok) {
		return false
	}
	f := s.imageFilter(fileName)
	return len(f) == 0 || allows(f, tok)
}

func (s *Settings) imageFilter(fileName string) []string {
	for name, im := range s.Images {
		if strings.EqualFold(name, fileName) {
			return im.Read
		}
	}
	return nil
}
