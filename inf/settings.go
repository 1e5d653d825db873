// Package inf reads and writes WDSCapture.inf, the settings file of the
// capture agent, with defaults, validation and line-precise messages.
//
// # File format
//
// The file is the one the Windows Deployment Services Image Capture Wizard
// reads from X:\Windows\System32\WDSCapture.inf:
//
//	[Capture]
//	Unattended=No
//	VolumeToCapture=C:\
//	SystemRoot=\Windows
//	ImageName=Reference image
//	ImageDescription=Windows 11 Enterprise, sysprepped
//	DestinationFile=D:\Images\ref.wim
//	Overwrite=No
//	Compression=XPRESS
//	CheckIntegrity=Yes
//
//	[ExclusionList]
//	\pagefile.sys
//	"\System Volume Information"
//	%SYSTEMROOT%\CSC
//
//	[ExclusionException]
//	\pagefile.sys.keep
//
//	[WDS]
//	UploadToWDSServer=No
//	WDSServerName=wds01.corp.example:8443
//	WDSServerCertificate=3F:A2:...:9C
//	WDSImageGroup=Reference
//	Username=CORP\capture
//	Password=...
//	DeleteLocalWimOnSuccess=No
//
// Compression, CheckIntegrity, Finish (Shutdown, Reboot or Prompt: what
// the capture environment does after a successful capture) and
// WDSServerCertificate are wdscapture extensions; the stock file has none
// of them (WDS always used XPRESS, and trusted its server through the
// domain). WDSServerName is a host name or IP address with an optional
// port (8443, the image store's, when none is given) or an https:// URL.
// WDSServerCertificate says how to trust the image store's HTTPS
// certificate: its SHA-256 fingerprint as `imagestore cert` prints it
// (AB:CD:...; the certificate is pinned: no other is accepted), or the full
// path of a PEM file of the CA that issued it (a drive-letter path such as
// X:\Windows\System32\lab-ca.pem, or an absolute path); without it the
// server needs a certificate from a CA the system trusts. Username is
// DOMAIN\user or user@domain; DeleteLocalWimOnSuccess deletes
// DestinationFile once the server has verified and published the image.
// [ExclusionException] has the meaning
// of DISM's WimScript.ini.
//
// Syntax, as Windows' profile readers accept it: section names, key names and
// the words Yes/No/True/False/1/0, Append, XPRESS/LZX/None are
// case-insensitive. Lines are trimmed of blanks. Lines whose first non-blank
// character is ';' or '#' are comments; there are no end-of-line comments, so
// a value (a password) may contain ';' and '#'. One pair of matching double or
// single quotes around a value or a list line is removed. An empty value is
// the same as an absent key. In [ExclusionList] and [ExclusionException] each
// non-comment line is one pattern, taken whole: a pattern may contain '=',
// since NTFS names may, but a line that starts with a known key and '='
// (Password=...) is an error, never a pattern: its section header is
// missing. A pattern that starts with '[' must be quoted, since a line
// starting with '[' is a section header. The encoding may be UTF-8 (with or without BOM),
// UTF-16LE or UTF-16BE with a BOM (what Notepad's "Unicode" writes), or,
// when the bytes are not valid UTF-8, Windows-1252 (Notepad's "ANSI"; a
// warning says so). Line ends may be CRLF or LF. Files over MaxSize bytes and
// files with NUL or other control characters are refused.
//
// Problems are sorted into warnings (unknown keys, text outside any
// section, a key repeated with the same value: the file still works) and
// errors (bad values, a key repeated with a different value, section
// headers that are malformed ("[WDS] server", "[WDS" without ']') or
// unknown, settings lines among patterns). Parse collects every error, not
// only the first, in an ErrorList; each names the file, line, section, key
// and the allowed values. The password never appears in any message; key
// and section names that are not ASCII are shown escaped ("\u0420assword"),
// saying which key they look like.
//
// Why not gopkg.in/ini.v1 (v1.67): its parser cannot be configured to these
// rules. A value starting with a backquote or """ opens a multi-line literal
// (with Password=`x the whole file fails to load: "missing closing key
// quote"), Key.String() expands %(name)s references (WDSServerName=%(username)s
// reads as the user name), a line starting with '[' without ']' fails the
// whole file instead of one line, a "-" key becomes an auto-numbered key, and
// no line numbers are reported, which every message here needs. A line
// scanner of ~150 lines is simpler than a second pass correcting ini.v1's
// result.
package inf

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/volume/exclude"
)

// DefaultPath is where the capture environment keeps the file: X:\ is the
// boot root, so X:\Windows\System32\WDSCapture.inf is this path under "/".
const DefaultPath = "/Windows/System32/WDSCapture.inf"

// MaxSize is the largest file accepted, in bytes.
const MaxSize = 1 << 20

// DefaultSystemRoot is what %SYSTEMROOT% expands to when SystemRoot is not
// set and no root has been detected yet.
const DefaultSystemRoot = `\Windows`

// Limits on values, in characters.
const (
	maxNameLen        = 1024  // ImageName, WDSImageGroup, Username
	maxDescriptionLen = 8192  // ImageDescription
	maxPathLen        = 32767 // paths, as NTFS allows
)

// Overwrite says what to do when DestinationFile exists.
type Overwrite int

// Overwrite values.
const (
	OverwriteNo     Overwrite = iota // fail if the file exists (default)
	OverwriteYes                     // replace the file
	OverwriteAppend                  // add the image to the existing file
)

// String returns "No", "Yes" or "Append".
func (o Overwrite) String() string {
	switch o {
	case OverwriteNo:
		return "No"
	case OverwriteYes:
		return "Yes"
	case OverwriteAppend:
		return "Append"
	}
	return fmt.Sprintf("Overwrite(%d)", int(o))
}

// ParseOverwrite parses Yes, No or Append (case-insensitive; True/False/1/0
// are taken as Yes/No).
func ParseOverwrite(s string) (Overwrite, error) {
	if strings.EqualFold(s, "Append") {
		return OverwriteAppend, nil
	}
	if b, ok := parseBool(s); ok {
		if b {
			return OverwriteYes, nil
		}
		return OverwriteNo, nil
	}
	return OverwriteNo, fmt.Errorf("invalid value %s: allowed values are Yes, No, Append", quoteValue(s))
}

// MarshalText implements encoding.TextMarshaler.
func (o Overwrite) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (usable with flag.TextVar).
func (o *Overwrite) UnmarshalText(b []byte) error {
	v, err := ParseOverwrite(string(b))
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// Settings is the content of WDSCapture.inf.
type Settings struct {
	// Source is the file the settings came from, "" if none.
	Source string
	// Warnings are those Parse gave for Source, kept so that the
	// capture log records them too.
	Warnings []Warning

	// [Capture]

	// Unattended: never prompt; a missing setting is an error.
	Unattended bool
	// VolumeToCapture is a drive letter in the capture environment's
	// numbering, normalized to "C:\", or an absolute device, image file or
	// directory path (C:\dir, /dev/sda2). "" means: find it by scanning.
	VolumeToCapture string
	// SystemRoot is the Windows directory on that volume, normalized to
	// `\Windows` form (no drive letter). "" means: detect it.
	SystemRoot string
	// ImageName and ImageDescription go into the WIM's XML.
	ImageName, ImageDescription string
	// DestinationFile is the local .wim file, D:\Images\ref.wim or
	// /mnt/images/ref.wim.
	DestinationFile string
	// Overwrite says what to do when DestinationFile exists.
	Overwrite Overwrite
	// Compression of the WIM (extension; default XPRESS).
	Compression images.Compression
	// CheckIntegrity writes and verifies an integrity table (extension;
	// default true).
	CheckIntegrity bool
	// Finish is what the capture environment does after a successful
	// capture (extension): FinishShutdown, FinishReboot or FinishPrompt;
	// "" means Shutdown when unattended and Prompt otherwise.
	Finish string

	// Exclusions are the [ExclusionList] patterns as written, with
	// %SYSTEMROOT% not yet expanded (see ExclusionPatterns). Without an
	// [ExclusionList] section they are exclude.DefaultPatterns. A present
	// section lists only its own patterns here, but ExclusionPatterns (what
	// a capture uses) always adds the defaults: the INF extends them.
	Exclusions []string
	// ExclusionExceptions are the [ExclusionException] patterns as written.
	ExclusionExceptions []string

	// [WDS]

	// Upload sends the image to the image store (UploadToWDSServer).
	Upload bool
	// ServerName is WDSServerName: a host name or IP address, with an
	// optional :port ("[::1]:8443" for IPv6 with a port), or an https://
	// URL.
	ServerName string
	// ServerCertificate is WDSServerCertificate (extension): the server
	// certificate's SHA-256 fingerprint, or the path of a CA file; ""
	// trusts the system's CAs.
	ServerCertificate string
	// ImageGroup is WDSImageGroup.
	ImageGroup string
	// Username is DOMAIN\user or user@domain.
	Username string
	// Password never appears in messages or logs; see Secret.
	Password Secret
	// DeleteLocalWimOnSuccess removes DestinationFile after a verified
	// upload; it requires Upload.
	DeleteLocalWimOnSuccess bool

	// lines maps a canonical lower-case key or list section name to the line
	// that set it (0 when set without a file).
	lines map[string]int
	// exclLines and excLines are the lines of Exclusions and
	// ExclusionExceptions, index for index.
	exclLines, excLines []int
}

// Default returns the settings used when there is no file: attended,
// XPRESS, integrity table on, Overwrite=No, the default exclusion list.
func Default() *Settings {
	return &Settings{
		Compression:    images.CompressXPRESS,
		CheckIntegrity: true,
		Exclusions:     slices.Clone(exclude.DefaultPatterns),
	}
}

// Has reports whether the file set key (case-insensitive: "ImageName",
// "UploadToWDSServer", ...) to a non-empty value, or, for "ExclusionList" and
// "ExclusionException", whether the file had that section.
func (s *Settings) Has(key string) bool {
	_, ok := s.lines[strings.ToLower(key)]
	return ok
}

// Line returns the line of the file that set key, 0 if none did.
func (s *Settings) Line(key string) int { return s.lines[strings.ToLower(key)] }

func (s *Settings) setLine(key string, line int) {
	if s.lines == nil {
		s.lines = make(map[string]int)
	}
	s.lines[strings.ToLower(key)] = line
}

// Missing lists, in file order, the keys an unattended run needs but lacks:
// ImageName and DestinationFile, and with Upload also WDSServerName,
// WDSImageGroup, Username and Password. VolumeToCapture and SystemRoot are
// not listed: the agent resolves them by scanning, and must itself fail an
// unattended run when the scan does not find exactly one candidate.
func (s *Settings) Missing() []string {
	var m []string
	if s.ImageName == "" {
		m = append(m, KeyImageName)
	}
	if s.DestinationFile == "" {
		m = append(m, KeyDestinationFile)
	}
	if s.Upload {
		if s.ServerName == "" {
			m = append(m, KeyWDSServerName)
		}
		if s.ImageGroup == "" {
			m = append(m, KeyWDSImageGroup)
		}
		if s.Username == "" {
			m = append(m, KeyUsername)
		}
		if s.Password.IsZero() {
			m = append(m, KeyPassword)
		}
	}
	return m
}

// ExclusionPatterns returns the exclusion and exception patterns with
// %SYSTEMROOT% expanded, ready for exclude.New. The root used is SystemRoot
// when the file set it, else detectedRoot (the agent's detection, e.g.
// `\Windows` or `C:\WINNT`), else DefaultSystemRoot.
func (s *Settings) ExclusionPatterns(detectedRoot string) (exclusions, exceptions []string) {
	root := s.SystemRoot
	if root == "" {
		root = detectedRoot
	}
	exclusions = ExpandSystemRoot(s.Exclusions, root)
	// The default exclusions always apply, as in the WDS wizard: a file's
	// [ExclusionList] adds to them (after its own patterns, so indexes
	// into Exclusions stay valid); [ExclusionException] can re-include.
	for _, d := range exclude.DefaultPatterns {
		if !slices.ContainsFunc(exclusions, func(p string) bool { return strings.EqualFold(p, d) }) {
			exclusions = append(exclusions, d)
		}
	}
	return exclusions, ExpandSystemRoot(s.ExclusionExceptions, root)
}

// Matcher compiles ExclusionPatterns(detectedRoot) into an exclusion matcher.
func (s *Settings) Matcher(detectedRoot string) (*exclude.Matcher, error) {
	e, x := s.ExclusionPatterns(detectedRoot)
	m, err := exclude.New(e, x)
	if err != nil {
		return nil, fmt.Errorf("exclusion list of %s: %w", cmp.Or(s.Source, "capture settings"), err)
	}
	return m, nil
}

// ExpandSystemRoot replaces %SYSTEMROOT% (any case) in each pattern with root,
// normalized to `\Windows` form (drive letter and trailing separators
// removed); an empty root means DefaultSystemRoot.
func ExpandSystemRoot(patterns []string, root string) []string {
	r, ok := normalizeRoot(root)
	if !ok || r == "" {
		r = DefaultSystemRoot
	}
	out := make([]string, 0, len(patterns))
	for _, p := range patterns {
		out = append(out, replaceFold(p, "%SYSTEMROOT%", r))
	}
	return out
}

// replaceFold replaces every ASCII-case-insensitive occurrence of old in s.
func replaceFold(s, old, repl string) string {
	var b strings.Builder
	for {
		i := indexFold(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s = s[i+len(old):]
	}
}

func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// normalizeRoot turns "Windows", `\Windows\`, `C:\Windows` or "/Windows" into
// `\Windows`; ok is false for an unusable root (wildcards, "..", the volume
// root itself).
func normalizeRoot(root string) (string, bool) {
	if root == "" {
		return "", true
	}
	if _, rest, ok := DriveLetter(root); ok {
		root = rest
	}
	var parts []string
	for c := range strings.FieldsFuncSeq(root, func(r rune) bool { return r == '\\' || r == '/' }) {
		if c == "." || c == ".." || strings.ContainsAny(c, `*?"<>|:`) {
			return "", false
		}
		parts = append(parts, c)
	}
	if len(parts) == 0 {
		return "", false
	}
	return `\` + strings.Join(parts, `\`), true
}

// DriveLetter splits a Windows path that starts with a drive letter: for
// `D:\Images\ref.wim` it returns 'D' (upper case), `\Images\ref.wim`, true.
// ok is false when path does not start with a letter and a colon.
func DriveLetter(path string) (letter byte, rest string, ok bool) {
	if len(path) < 2 || path[1] != ':' {
		return 0, path, false
	}
	c := path[0] &^ 0x20
	if c < 'A' || c > 'Z' {
		return 0, path, false
	}
	return c, path[2:], true
}

// LogValue implements slog.LogValuer: the settings as a group, the password
// redacted.
func (s *Settings) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("source", s.Source),
		slog.Bool("unattended", s.Unattended),
		slog.String("volume", s.VolumeToCapture),
		slog.String("systemRoot", s.SystemRoot),
		slog.String("imageName", s.ImageName),
		slog.String("imageDescription", s.ImageDescription),
		slog.String("destination", s.DestinationFile),
		slog.String("overwrite", s.Overwrite.String()),
		slog.String("compression", compressionName(s.Compression)),
		slog.Bool("checkIntegrity", s.CheckIntegrity),
		slog.Any("exclusions", s.Exclusions),
		slog.Any("exceptions", s.ExclusionExceptions),
		slog.Bool("upload", s.Upload),
		slog.String("server", s.ServerName),
		slog.String("serverCertificate", s.ServerCertificate),
		slog.String("imageGroup", s.ImageGroup),
		slog.String("username", s.Username),
		slog.Any("password", s.Password),
		slog.Bool("deleteLocalWimOnSuccess", s.DeleteLocalWimOnSuccess),
	)
}

// Warning is a problem that does not stop the file from being used.
type Warning struct {
	File string
	Line int // 0 when not tied to a line
	Msg  string
}

// String returns "file:line: msg".
func (w Warning) String() string { return where(w.File, w.Line) + w.Msg }

// Error is one bad setting.
type Error struct {
	File    string
	Line    int    // 0 when not tied to a line
	Section string // "Capture", "WDS", ... or "" for file-level problems
	Key     string // canonical key name, "" for section- or file-level problems
	Msg     string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(where(e.File, e.Line))
	if e.Section != "" {
		b.WriteString("[" + e.Section + "] ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every error found in one file, in line order. Parse and
// Validate return it as their error; errors.As finds it, and errors.Is/As
// also see each *Error through Unwrap.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns the individual errors.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

func where(file string, line int) string {
	switch {
	case file != "" && line > 0:
		return fmt.Sprintf("%s:%d: ", file, line)
	case file != "":
		return file + ": "
	case line > 0:
		return fmt.Sprintf("line %d: ", line)
	}
	return ""
}

// quoteValue quotes a value for a message, shortened when long.
// Printable values are only wrapped in double quotes, so that Windows paths
// keep single backslashes; others are Go-quoted.
func quoteValue(v string) string {
	const max = 60
	suffix := ""
	n := 0
	for i := range v {
		if n == max {
			v, suffix = v[:i], "..."
			break
		}
		n++
	}
	for _, r := range v {
		if r == utf8.RuneError || !unicode.IsPrint(r) && r != ' ' {
			return strconv.Quote(v) + suffix
		}
	}
	return `"` + v + `"` + suffix
}
