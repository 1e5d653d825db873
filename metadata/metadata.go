// Package metadata derives the Windows-specific image information that goes
// into a WIM file's XML (the <WINDOWS> element plus FLAGS, DISPLAYNAME and
// DISPLAYDESCRIPTION) from an offline Windows tree, exactly as wimlib
// (xml_windows.c, v1.13) derives it when capturing the same tree.
//
// The sources are the system root's System32\kernel32.dll (PE machine type →
// ARCH), the SOFTWARE hive (Microsoft\Windows NT\CurrentVersion) and the
// SYSTEM hive (always ControlSet001, as wimlib does). Hives are read with
// the bounded reader of internal/regf, which applies wimlib's acceptance
// rules, so damaged input loses fields (with a warning) but never crashes.
package metadata

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/wdscapture/wdscapture/internal/regf"
)

// Version is the WINDOWS/VERSION element. A nil field is absent and is not
// written. Build is a string because wimlib copies CurrentBuild verbatim;
// the numbers are signed because wimlib reads them as signed 64-bit values.
type Version struct {
	Major, Minor     *int64
	Build            *string
	SPBuild, SPLevel *int64
}

// Windows is the <WINDOWS> element. Empty strings and nil pointers are
// absent (wimlib never writes an empty element).
type Windows struct {
	SystemRoot       string
	Arch             *int
	EditionID        string
	InstallationType string
	ProductName      string
	Version          Version
	ProductType      string
	ProductSuite     string
	HAL              string
	// Languages are the UILanguages subkey names in hive order.
	Languages []string
	// DefaultLanguage is the name of the InstallLanguage LCID.
	DefaultLanguage string
}

// Info is everything Read derives from a Windows tree.
type Info struct {
	Windows Windows
	// Flags, DisplayName and DisplayDescription are the image-level elements
	// wimlib sets from EditionID and ProductName ("" = absent).
	Flags, DisplayName, DisplayDescription string
	// ImageState is SOFTWARE Microsoft\Windows\CurrentVersion\Setup\State
	// ImageState ("" if absent); not part of the WIM XML.
	ImageState string
}

// ErrNoSystemRoot is returned by Read and FindSystemRoot when no top-level
// directory holds any of System32\kernel32.dll, System32\config\SOFTWARE
// and System32\config\SYSTEM.
var ErrNoSystemRoot = errors.New("no Windows system root found")

// Registry locations used by wimlib.
const (
	keyCurrentVersion = `Microsoft\Windows NT\CurrentVersion`
	keySetupState     = `Microsoft\Windows\CurrentVersion\Setup\State`
	keyWindows        = `ControlSet001\Control\Windows`
	keyUILanguages    = `ControlSet001\Control\MUI\UILanguages`
	keyProductOptions = `ControlSet001\Control\ProductOptions`
	keyLanguage       = `ControlSet001\Control\Nls\Language`
	keyHAL            = `ControlSet001\Control\Class\{4D36E966-E325-11CE-BFC1-08002BE10318}\0000`
)

// systemRoot is the result of the system root search.
type systemRoot struct {
	name                       string // directory name as stored
	kernel32, software, system string // fsys paths, "" when absent
}

// upperUnits returns the UTF-16 code units of s, each upper-cased.
func upperUnits(s string) []uint16 {
	u := utf16.Encode([]rune(s))
	for i, c := range u {
		u[i] = regf.Upcase(c)
	}
	return u
}

// collate orders names the way wimlib orders a directory's children: by
// upper-cased UTF-16 code units, then by the exact code units.
func collate(a, b string) int {
	if c := slices.Compare(upperUnits(a), upperUnits(b)); c != 0 {
		return c
	}
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

// sortedDir lists dir in wimlib's collation order; nil when dir cannot be
// listed (it is a file, or missing).
func sortedDir(fsys fs.FS, dir string) []fs.DirEntry {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil
	}
	slices.SortStableFunc(ents, func(a, b fs.DirEntry) int { return collate(a.Name(), b.Name()) })
	return ents
}

// child finds name in dir case-insensitively: an exact match wins, otherwise
// the first case-insensitive match in collation order. It returns the path
// of the child, or "" if there is none.
func child(fsys fs.FS, dir, name string) string {
	want := upperUnits(name)
	found := ""
	for _, e := range sortedDir(fsys, dir) {
		if e.Name() == name {
			return path.Join(dir, e.Name())
		}
		if found == "" && slices.Equal(upperUnits(e.Name()), want) {
			found = path.Join(dir, e.Name())
		}
	}
	return found
}

// findSystemRoot applies wimlib's rule: among top-level directories with a
// System32 child, pick the one with the most of kernel32.dll, config\SOFTWARE
// and config\SYSTEM; on a tie the one named "Windows" (any case) wins, else
// the first in collation order.
func findSystemRoot(fsys fs.FS) (*systemRoot, error) {
	var best *systemRoot
	bestScore := 0
	for _, e := range sortedDir(fsys, ".") {
		if !e.IsDir() {
			continue
		}
		sys32 := child(fsys, e.Name(), "System32")
		if sys32 == "" {
			continue
		}
		cand := &systemRoot{name: e.Name(), kernel32: child(fsys, sys32, "kernel32.dll")}
		if config := child(fsys, sys32, "config"); config != "" {
			cand.software = child(fsys, config, "SOFTWARE")
			cand.system = child(fsys, config, "SYSTEM")
		}
		score := 0
		for _, p := range []string{cand.kernel32, cand.software, cand.system} {
			if p != "" {
				score++
			}
		}
		if score >= bestScore && (score > bestScore || slices.Equal(upperUnits(e.Name()), upperUnits("Windows"))) {
			best, bestScore = cand, score
		}
	}
	if bestScore == 0 {
		return nil, ErrNoSystemRoot
	}
	return best, nil
}

// FindSystemRoot returns the name (as stored) of the top-level directory of
// fsys that wimlib would take as the Windows system root.
func FindSystemRoot(fsys fs.FS) (string, error) {
	sr, err := findSystemRoot(fsys)
	if err != nil {
		return "", err
	}
	return sr.name, nil
}

// reader gathers warnings while deriving the info.
type reader struct {
	hive     string // "SOFTWARE" or "SYSTEM", for warnings
	warnings []string
}

// valueWarning records why key\name was not used: "not present" when the
// key or value is absent (normal on some Windows versions), else the error.
func (r *reader) valueWarning(key, name string, err error) {
	if errors.Is(err, regf.ErrKeyNotFound) || errors.Is(err, regf.ErrValueNotFound) {
		r.warnf("%s %s\\%s: not present", r.hive, key, name)
		return
	}
	r.warnf("%s %s\\%s: %v", r.hive, key, name, err)
}

func (r *reader) warnf(format string, args ...any) {
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
}

// Read finds the system root in fsys (the root of the captured volume) and
// derives the info wimlib would write. A missing or damaged source skips
// the affected fields and adds a warning; err is non-nil only when no
// system root is found.
func Read(fsys fs.FS) (*Info, []string, error) {
	sr, err := findSystemRoot(fsys)
	if err != nil {
		return nil, nil, err
	}
	r := &reader{}
	info := &Info{}
	info.Windows.SystemRoot = upperString(sr.name)

	if f, size, ok := r.open(fsys, sr.kernel32, "kernel32.dll"); ok {
		arch, err := PEMachineArch(f)
		f.Close()
		if err != nil {
			r.warnf("%s (%d bytes): %v; ARCH not set", sr.kernel32, size, err)
		} else {
			info.Windows.Arch = &arch
		}
	}
	if h, closeFn := r.openHive(fsys, sr.software, "SOFTWARE"); h != nil {
		r.hive = "SOFTWARE"
		r.software(h, info)
		closeFn()
	}
	if h, closeFn := r.openHive(fsys, sr.system, "SYSTEM"); h != nil {
		r.hive = "SYSTEM"
		r.system(h, &info.Windows)
		closeFn()
	}
	return info, r.warnings, nil
}

// file is an open file that can be read at offsets.
type file interface {
	io.ReaderAt
	Close() error
}

// open opens p for random access. Missing, directory and empty files are
// skipped with a warning, as wimlib skips files without contents.
func (r *reader) open(fsys fs.FS, p, what string) (file, int64, bool) {
	if p == "" {
		r.warnf("%s does not exist", what)
		return nil, 0, false
	}
	f, err := fsys.Open(p)
	if err != nil {
		r.warnf("open %s: %v", p, err)
		return nil, 0, false
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		r.warnf("stat %s: %v", p, err)
		return nil, 0, false
	}
	if st.IsDir() || st.Size() == 0 {
		f.Close()
		r.warnf("%s has no contents", p)
		return nil, 0, false
	}
	if ra, ok := f.(io.ReaderAt); ok {
		return struct {
			io.ReaderAt
			io.Closer
		}{ra, f}, st.Size(), true
	}
	if rs, ok := f.(io.ReadSeeker); ok {
		return &seekReaderAt{rs: rs, c: f}, st.Size(), true
	}
	// Last resort: read it all, bounded by the size the file claims.
	const maxInMemory = 1 << 30
	if st.Size() > maxInMemory {
		f.Close()
		r.warnf("%s is %d bytes and cannot be read at offsets; skipped", p, st.Size())
		return nil, 0, false
	}
	// One allocation of the claimed size, read in place: a SOFTWARE hive
	// is tens of MiB, and growing a buffer for it costs copies and page
	// faults the capture then pays for.
	b := make([]byte, st.Size())
	n, err := io.ReadFull(f, b)
	f.Close()
	if err != nil && err != io.ErrUnexpectedEOF {
		r.warnf("read %s: %v", p, err)
		return nil, 0, false
	}
	return struct {
		io.ReaderAt
		io.Closer
	}{bytes.NewReader(b[:n]), io.NopCloser(nil)}, int64(n), true
}

// seekReaderAt adapts a ReadSeeker (used from one goroutine) to ReaderAt.
type seekReaderAt struct {
	rs io.ReadSeeker
	c  io.Closer
}

func (s *seekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if _, err := s.rs.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(s.rs, p)
}

func (s *seekReaderAt) Close() error { return s.c.Close() }

func (r *reader) openHive(fsys fs.FS, p, what string) (*regf.Reader, func()) {
	f, size, ok := r.open(fsys, p, what)
	if !ok {
		return nil, nil
	}
	h, err := regf.NewReader(f, size)
	if err != nil {
		f.Close()
		r.warnf("%s is not a valid registry hive: %v", p, err)
		return nil, nil
	}
	return h, func() { f.Close() }
}

// value looks up key\name and returns its type and data.
func value(h *regf.Reader, key, name string) (uint32, []byte, error) {
	k, err := h.Key(key)
	if err != nil {
		return 0, nil, err
	}
	v, err := k.Value(name)
	if err != nil {
		return 0, nil, err
	}
	d, err := v.Data()
	if err != nil {
		return 0, nil, err
	}
	return v.Type, d, nil
}

var errWrongType = errors.New("value has the wrong type")

// str reads a string the way wimlib does: REG_SZ or REG_MULTI_SZ only, the
// whole data decoded from UTF-16LE (an odd byte count is an error), then cut
// at the first NUL (so a MULTI_SZ gives its first string).
func (r *reader) str(h *regf.Reader, key, name string) (string, bool) {
	t, d, err := value(h, key, name)
	if err == nil && t != regf.TypeSZ && t != regf.TypeMultiSZ {
		err = fmt.Errorf("type %d: %w", t, errWrongType)
	}
	if err == nil && len(d)%2 != 0 {
		err = fmt.Errorf("%d bytes is not valid UTF-16: %w", len(d), regf.ErrUnsupported)
	}
	if err != nil {
		r.valueWarning(key, name, err)
		return "", false
	}
	s, ok := xmlText(d)
	if !ok {
		// wimlib copies such text into the XML as is, which makes the
		// WIM's XML unparsable (wiminfo then fails with error 73).
		r.warnf("%s %s\\%s: text has characters XML cannot hold; skipped", r.hive, key, name)
		return "", false
	}
	return s, true
}

// xmlText decodes UTF-16LE text up to its first NUL and reports whether
// every character is allowed in XML 1.0 (no unpaired surrogates, no C0
// controls other than tab, LF and CR, no U+FFFE/U+FFFF).
func xmlText(d []byte) (string, bool) {
	u := make([]uint16, 0, len(d)/2)
	for i := 0; i+1 < len(d); i += 2 {
		c := binary.LittleEndian.Uint16(d[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c >= 0xD800 && c < 0xDC00:
			if i+1 >= len(u) || u[i+1] < 0xDC00 || u[i+1] >= 0xE000 {
				return "", false
			}
			i++
		case c >= 0xDC00 && c < 0xE000, c == 0xFFFE, c == 0xFFFF:
			return "", false
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r':
			return "", false
		}
	}
	return string(utf16.Decode(u)), true
}

// xmlName reports whether a decoded name holds only characters allowed in
// XML 1.0.
func xmlName(s string) bool {
	for _, r := range s {
		if r == 0xFFFD || r == 0xFFFE || r == 0xFFFF || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') {
			return false
		}
	}
	return true
}

// num reads a number the way wimlib does: REG_DWORD (4 bytes), REG_DWORD_BIG
// _ENDIAN (4 bytes) or REG_QWORD (8 bytes, as signed).
func (r *reader) num(h *regf.Reader, key, name string) (int64, bool) {
	t, d, err := value(h, key, name)
	var n int64
	if err == nil {
		switch {
		case t == regf.TypeDWORD && len(d) == 4:
			n = int64(binary.LittleEndian.Uint32(d))
		case t == regf.TypeDWORDBigEndian && len(d) == 4:
			n = int64(binary.BigEndian.Uint32(d))
		case t == regf.TypeQWORD && len(d) == 8:
			n = int64(binary.LittleEndian.Uint64(d))
		case t == regf.TypeDWORD || t == regf.TypeDWORDBigEndian || t == regf.TypeQWORD:
			err = fmt.Errorf("type %d with %d bytes: %w", t, len(d), regf.ErrCorrupt)
		default:
			err = fmt.Errorf("type %d: %w", t, errWrongType)
		}
	}
	if err != nil {
		r.valueWarning(key, name, err)
		return 0, false
	}
	return n, true
}

// cString cuts s at its first NUL, as a C string would end there.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

func (r *reader) software(h *regf.Reader, info *Info) {
	w := &info.Windows
	if s, ok := r.str(h, keyCurrentVersion, "EditionID"); ok {
		info.Flags = s
		w.EditionID = s
	}
	if s, ok := r.str(h, keyCurrentVersion, "ProductName"); ok {
		info.DisplayName = s
		info.DisplayDescription = s
		w.ProductName = s
	}
	if s, ok := r.str(h, keyCurrentVersion, "InstallationType"); ok {
		w.InstallationType = s
	}

	major, minor := int64(-1), int64(-1)
	if n, ok := r.num(h, keyCurrentVersion, "CurrentMajorVersionNumber"); ok {
		major = n
	}
	if n, ok := r.num(h, keyCurrentVersion, "CurrentMinorVersionNumber"); ok {
		minor = n
	}
	if major < 0 || minor < 0 {
		if s, ok := r.str(h, keyCurrentVersion, "CurrentVersion"); ok {
			if n := scanVersion(s, &major, &minor); n != 2 {
				r.warnf("unrecognized CurrentVersion %q", s)
			}
		}
	}
	if major >= 0 {
		w.Version.Major = &major
		if minor >= 0 {
			w.Version.Minor = &minor
		}
	}

	if s, ok := r.str(h, keyCurrentVersion, "CurrentBuild"); ok {
		if strings.Contains(s, ".") {
			s, ok = r.str(h, keyCurrentVersion, "CurrentBuildNumber")
		}
		if ok && s != "" {
			w.Version.Build = &s
		}
	}

	if s, ok := r.str(h, keySetupState, "ImageState"); ok {
		info.ImageState = s
	}
}

func (r *reader) system(h *regf.Reader, w *Windows) {
	if n, ok := r.num(h, keyWindows, "CSDBuildNumber"); ok {
		w.Version.SPBuild = &n
	}
	if n, ok := r.num(h, keyWindows, "CSDVersion"); ok {
		lvl := n >> 8
		w.Version.SPLevel = &lvl
	}
	if s, ok := r.str(h, keyProductOptions, "ProductType"); ok {
		w.ProductType = s
	}
	if s, ok := r.str(h, keyProductOptions, "ProductSuite"); ok {
		w.ProductSuite = s
	}
	if s, ok := r.str(h, keyHAL, "MatchingDeviceId"); ok {
		w.HAL = s
	}
	w.Languages = r.languages(h)
	if s, ok := r.str(h, keyLanguage, "InstallLanguage"); ok {
		id, ok := scanHex(s)
		name, known := LanguageName(uint32(uint16(id)))
		if ok && known {
			w.DefaultLanguage = name
		} else {
			r.warnf("unrecognized InstallLanguage %q", s)
		}
	}
}

// languages lists the UILanguages subkey names. As in wimlib, any damaged
// entry drops the whole list, and an empty name ends it (wimlib cannot
// create LANGUAGE[n+1] after failing to create LANGUAGE[n]).
func (r *reader) languages(h *regf.Reader) []string {
	k, err := h.Key(keyUILanguages)
	if err != nil {
		r.warnf("%s: %v", keyUILanguages, err)
		return nil
	}
	subs, err := k.Subkeys()
	if err != nil {
		r.warnf("%s: %v", keyUILanguages, err)
		return nil
	}
	var out []string
	for _, s := range subs {
		raw, compressed := s.RawName()
		var name string
		if compressed {
			name = cString(s.Name())
		} else {
			if len(raw)%2 != 0 {
				r.warnf("%s: subkey name of %d bytes is not UTF-16; languages skipped", keyUILanguages, len(raw))
				return nil
			}
			name = cString(s.Name())
		}
		if name == "" {
			r.warnf("%s: empty subkey name ends the language list", keyUILanguages)
			break
		}
		if !xmlName(name) {
			r.warnf("%s: subkey name %q has characters XML cannot hold; it ends the language list", keyUILanguages, name)
			break
		}
		out = append(out, name)
	}
	return out
}

// scanVersion parses "major.minor" like C's sscanf("%lli.%lli") with
// int64 targets and returns the number of fields converted. It stores
// each field it converts, even when the next one fails.
func scanVersion(s string, major, minor *int64) int {
	v, rest, ok := scanInt(s)
	if !ok {
		return 0
	}
	*major = v
	if !strings.HasPrefix(rest, ".") {
		return 1
	}
	v, _, ok = scanInt(rest[1:])
	if !ok {
		return 1
	}
	*minor = v
	return 2
}

// isSpace matches C isspace in the C locale.
func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// scanInt converts a leading integer like scanf's %i: optional white space
// and sign, then 0x/0X hex, 0 octal or decimal digits; out-of-range values
// saturate as strtoll does.
func scanInt(s string) (int64, string, bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := uint64(10)
	if i < len(s) && s[i] == '0' {
		if i+2 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X') && hexVal(s[i+2]) < 16 {
			base = 16
			i += 2
		} else {
			base = 8
		}
	}
	start := i
	var v uint64
	overflow := false
	for i < len(s) {
		d := uint64(hexVal(s[i]))
		if d >= base {
			break
		}
		if v > (1<<64-1-d)/base {
			overflow = true
		} else {
			v = v*base + d
		}
		i++
	}
	if i == start {
		return 0, s, false
	}
	switch {
	case !neg && (overflow || v > 1<<63-1):
		return 1<<63 - 1, s[i:], true
	case neg && (overflow || v > 1<<63):
		return -1 << 63, s[i:], true
	case neg:
		return -int64(v), s[i:], true
	}
	return int64(v), s[i:], true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return 99
}

// scanHex converts a leading hexadecimal number like scanf's %x into an
// unsigned int: optional white space, sign and 0x prefix; the value wraps
// (negation) and saturates like strtoul, then is truncated to 32 bits.
func scanHex(s string) (uint32, bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if i+2 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && hexVal(s[i+2]) < 16 {
		i += 2
	}
	start := i
	var v uint64
	overflow := false
	for i < len(s) && hexVal(s[i]) < 16 {
		if v > (1<<64-1)>>4 {
			overflow = true
		} else {
			v = v<<4 | uint64(hexVal(s[i]))
		}
		i++
	}
	if i == start {
		return 0, false
	}
	if overflow {
		v = 1<<64 - 1
	} else if neg {
		v = -v
	}
	return uint32(v), true
}

// upperString upper-cases each UTF-16 code unit of s (wimlib's SYSTEMROOT).
func upperString(s string) string {
	return string(utf16.Decode(upperUnits(s)))
}

// formatInt formats like printf("%" PRIi64).
func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
