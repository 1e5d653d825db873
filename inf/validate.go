package inf

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wdscapture/wdscapture/volume/exclude"
)

// Validate checks the settings as they are now (after a wizard filled them
// in, say): every value well formed, DeleteLocalWimOnSuccess only with
// Upload, DestinationFile not on the volume being captured. Missing values
// are not errors here; see Missing. The error is an ErrorList; lines are
// those of the file the settings came from, when known.
func (s *Settings) Validate() error {
	if errs := s.validate(); len(errs) > 0 {
		return errs
	}
	return nil
}

// validate returns every problem, each tied to the line that set the key.
func (s *Settings) validate() ErrorList {
	var errs ErrorList
	add := func(section, key, msg string) {
		errs = append(errs, &Error{File: s.Source, Line: s.Line(key), Section: section, Key: key, Msg: msg})
	}
	if s.Overwrite < OverwriteNo || s.Overwrite > OverwriteAppend {
		add(SectionCapture, KeyOverwrite, fmt.Sprintf("invalid value %d: allowed values are Yes, No, Append", int(s.Overwrite)))
	}
	if !s.Compression.Valid() {
		add(SectionCapture, KeyCompression, fmt.Sprintf("invalid value %d: allowed values are XPRESS, LZX, None", int(s.Compression)))
	}
	if msg := checkVolume(s.VolumeToCapture); msg != "" {
		add(SectionCapture, KeyVolumeToCapture, msg)
	}
	if msg := checkSystemRoot(s.SystemRoot, s.VolumeToCapture); msg != "" {
		add(SectionCapture, KeySystemRoot, msg)
	}
	if msg := checkText(s.ImageName, maxNameLen); msg != "" {
		add(SectionCapture, KeyImageName, msg)
	}
	if msg := checkText(s.ImageDescription, maxDescriptionLen); msg != "" {
		add(SectionCapture, KeyImageDescription, msg)
	}
	if msg := checkDestination(s.DestinationFile, s.VolumeToCapture); msg != "" {
		add(SectionCapture, KeyDestinationFile, msg)
	}
	exclusions, exceptions := s.ExclusionPatterns("")
	for i, p := range exclusions {
		if err := exclude.Validate(p); err != nil {
			errs = append(errs, &Error{File: s.Source, Line: lineAt(s.exclLines, i), Section: SectionExclusionList, Msg: err.Error()})
		}
	}
	for i, p := range exceptions {
		if err := exclude.Validate(p); err != nil {
			errs = append(errs, &Error{File: s.Source, Line: lineAt(s.excLines, i), Section: SectionExclusionException, Msg: err.Error()})
		}
	}
	if msg := checkServer(s.ServerName); msg != "" {
		add(SectionWDS, KeyWDSServerName, msg)
	}
	if msg := checkServerCertificate(s.ServerCertificate); msg != "" {
		add(SectionWDS, KeyWDSServerCertificate, msg)
	}
	if msg := checkText(s.ImageGroup, maxNameLen); msg != "" {
		add(SectionWDS, KeyWDSImageGroup, msg)
	}
	if msg := checkUsername(s.Username); msg != "" {
		add(SectionWDS, KeyUsername, msg)
	}
	if s.Password.v != "" && hasControl(s.Password.v) {
		add(SectionWDS, KeyPassword, "contains a control character") // never the value
	}
	if s.DeleteLocalWimOnSuccess && !s.Upload {
		add(SectionWDS, KeyDeleteLocalWimOnSuccess, "Yes requires UploadToWDSServer=Yes (the local image would be deleted without a copy on the server)")
	}
	sortErrors(errs)
	return errs
}

func lineAt(lines []int, i int) int {
	if i < len(lines) {
		return lines[i]
	}
	return 0
}

func sortErrors(errs ErrorList) {
	// Insertion sort by line keeps equal lines in check order.
	for i := 1; i < len(errs); i++ {
		for j := i; j > 0 && errs[j].Line < errs[j-1].Line; j-- {
			errs[j], errs[j-1] = errs[j-1], errs[j]
		}
	}
}

// hasControl reports control characters, and U+FFFE and U+FFFF, which no
// XML can hold (image names and descriptions go into the WIM's XML data).
func hasControl(v string) bool {
	_, bad := badChar(v)
	return bad
}

// badChar returns the first character of v that hasControl refuses.
func badChar(v string) (rune, bool) {
	for _, r := range v {
		if (r < 0x20 && r != '\t') || r == 0x7f || r == 0xFFFE || r == 0xFFFF {
			return r, true
		}
	}
	return 0, false
}

// checkText checks a free-text value.
func checkText(v string, max int) string {
	if !utf8.ValidString(v) {
		return "not valid UTF-8"
	}
	if r, bad := badChar(v); bad {
		if r == 0xFFFE || r == 0xFFFF {
			return fmt.Sprintf("contains %U, a noncharacter the WIM's XML data cannot hold", r)
		}
		return fmt.Sprintf("contains the control character %U", r)
	}
	if n := utf8.RuneCountInString(v); n > max {
		return fmt.Sprintf("too long: %d characters, at most %d allowed", n, max)
	}
	return ""
}

// isDriveOnly reports whether v is a bare drive: "C:", `C:\` or "C:/".
func isDriveOnly(v string) bool {
	_, rest, ok := DriveLetter(v)
	return ok && (rest == "" || rest == `\` || rest == "/")
}

// normalizeVolume writes a bare drive as "C:\"; other values are kept.
func normalizeVolume(v string) string {
	if l, _, ok := DriveLetter(v); ok && isDriveOnly(v) {
		return string(l) + `:\`
	}
	return v
}

// checkVolume checks VolumeToCapture.
func checkVolume(v string) string {
	if v == "" {
		return ""
	}
	if msg := checkText(v, maxPathLen); msg != "" {
		return msg
	}
	if isDriveOnly(v) {
		return ""
	}
	if _, rest, ok := DriveLetter(v); ok {
		if !strings.HasPrefix(rest, `\`) && !strings.HasPrefix(rest, "/") {
			return fmt.Sprintf("invalid value %s: a path on a drive must be absolute (C:\\dir, not C:dir)", quoteValue(v))
		}
		return ""
	}
	if strings.HasPrefix(v, "/") || strings.HasPrefix(v, `\\`) {
		return ""
	}
	return fmt.Sprintf("invalid value %s: allowed values are a drive letter (C: or C:\\) or an absolute device, image or directory path", quoteValue(v))
}

// checkSystemRoot checks SystemRoot (already normalized by the parser when
// it came from a file) against the volume.
func checkSystemRoot(root, volume string) string {
	if root == "" {
		return ""
	}
	if msg := checkText(root, maxPathLen); msg != "" {
		return msg
	}
	letter, _, hasLetter := DriveLetter(root)
	if _, ok := normalizeRoot(root); !ok {
		return fmt.Sprintf("invalid value %s: want the Windows directory of the captured volume, such as \\Windows", quoteValue(root))
	}
	if vl, _, ok := DriveLetter(volume); ok && hasLetter && vl != letter {
		return fmt.Sprintf("drive %c: differs from VolumeToCapture %s", letter, quoteValue(volume))
	}
	return ""
}

// checkDestination checks DestinationFile and that it is not on (or in) the
// captured volume.
func checkDestination(dest, volume string) string {
	if dest == "" {
		return ""
	}
	if msg := checkText(dest, maxPathLen); msg != "" {
		return msg
	}
	if !strings.HasSuffix(strings.ToLower(dest), ".wim") {
		return fmt.Sprintf("invalid value %s: the file name must end in .wim", quoteValue(dest))
	}
	letter, rest, hasLetter := DriveLetter(dest)
	switch {
	case strings.HasPrefix(dest, `\\`) || strings.HasPrefix(dest, "//"):
		return fmt.Sprintf("invalid value %s: network paths are not supported; write to a local disk and use [WDS] UploadToWDSServer=Yes", quoteValue(dest))
	case hasLetter:
		if !strings.HasPrefix(rest, `\`) && !strings.HasPrefix(rest, "/") {
			return fmt.Sprintf("invalid value %s: must be an absolute path such as D:\\Images\\ref.wim", quoteValue(dest))
		}
		if strings.ContainsAny(rest, `*?"<>|:`) {
			return fmt.Sprintf("invalid value %s: a Windows path cannot contain * ? \" < > | or a second ':'", quoteValue(dest))
		}
	case strings.HasPrefix(dest, "/"):
	default:
		return fmt.Sprintf("invalid value %s: must be an absolute path such as D:\\Images\\ref.wim or /mnt/images/ref.wim", quoteValue(dest))
	}
	if volume == "" {
		return ""
	}
	if vl, vrest, ok := DriveLetter(volume); ok && hasLetter {
		if vl != letter {
			return ""
		}
		if isDriveOnly(volume) {
			return fmt.Sprintf("%s is on the volume being captured (VolumeToCapture=%s); write the image to another volume", quoteValue(dest), volume)
		}
		if within(winClean(rest), winClean(vrest), true) {
			return fmt.Sprintf("%s is inside the directory being captured (VolumeToCapture=%s)", quoteValue(dest), volume)
		}
		return ""
	}
	if strings.HasPrefix(volume, "/") && !hasLetter && within(path.Clean(dest), path.Clean(volume), false) {
		return fmt.Sprintf("%s is inside the directory being captured (VolumeToCapture=%s)", quoteValue(dest), volume)
	}
	return ""
}

// winClean turns a drive-less Windows path into a clean slash path.
func winClean(p string) string { return path.Clean("/" + strings.ReplaceAll(p, `\`, "/")) }

// within reports whether p is dir or below it.
func within(p, dir string, fold bool) bool {
	if fold {
		p, dir = strings.ToLower(p), strings.ToLower(dir)
	}
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// checkServer checks WDSServerName: see SplitServerName.
func checkServer(v string) string {
	if v == "" {
		return ""
	}
	if _, _, err := SplitServerName(v); err != nil {
		return fmt.Sprintf("invalid value %s: %v; allowed values are a host name or IP address with an optional :port (wds01, wds01.corp.example:8443, 10.0.0.5, [fd00::5]:8443) or an https URL (https://wds01.corp.example)", quoteValue(v), err)
	}
	return ""
}

// checkServerCertificate checks WDSServerCertificate: a fingerprint, or
// a full path (drive letter or absolute) of a CA file.
func checkServerCertificate(v string) string {
	if v == "" {
		return ""
	}
	if msg := checkText(v, maxPathLen); msg != "" {
		return msg
	}
	if !strings.ContainsAny(v, `/\`) {
		if _, err := ParseFingerprint(v); err != nil {
			return fmt.Sprintf("%v; or give the full path of the CA certificate file (X:\\Windows\\System32\\ca.pem)", err)
		}
		return ""
	}
	if _, rest, ok := DriveLetter(v); ok && (strings.HasPrefix(rest, `\`) || strings.HasPrefix(rest, "/")) || strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "//") {
		return ""
	}
	return fmt.Sprintf("invalid value %s: not a full path to a CA certificate file (X:\\Windows\\System32\\ca.pem, /etc/ssl/lab-ca.pem) nor a SHA-256 fingerprint (AB:CD:...)", quoteValue(v))
}

// ParseFingerprint reads a SHA-256 certificate fingerprint (the value of
// WDSServerCertificate when it is no path): 64 hex digits in either case,
// with or without ':' (or spaces) between the pairs, and optionally the
// "SHA256:" or "sha256 Fingerprint=" prefix tools print. It returns the
// canonical form, upper case and colon-separated, as `imagestore cert`
// prints it.
func ParseFingerprint(v string) (string, error) {
	s := strings.TrimSpace(v)
	if i := strings.LastIndexByte(s, '='); i >= 0 && strings.Contains(strings.ToLower(s[:i]), "sha256") {
		s = s[i+1:]
	}
	if len(s) > 7 && strings.EqualFold(s[:7], "sha256:") {
		s = s[7:]
	}
	var hexDigits strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'f', r >= 'A' && r <= 'F':
			hexDigits.WriteRune(r)
		case r == ':' || r == ' ':
		default:
			return "", fmt.Errorf("invalid value %s: %s is not a hex digit; a SHA-256 fingerprint is 64 hex digits (AB:CD:... as imagestore cert prints it)", quoteValue(v), strconv.QuoteRune(r))
		}
	}
	h := strings.ToUpper(hexDigits.String())
	if len(h) != 64 {
		return "", fmt.Errorf("invalid value %s: %d hex digits; a SHA-256 fingerprint has 64 (AB:CD:... as imagestore cert prints it)", quoteValue(v), len(h))
	}
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String(), nil
}

// SplitServerName parses WDSServerName: a host name or IP address with an
// optional port (wds01, wds01.corp.example:8443, 10.0.0.5, a bare IPv6
// address, [fd00::5]:8443), or an https URL with nothing after the host
// and port but an optional "/" (https://wds01.corp.example gives port
// "443"). port is "" when the value names none.
func SplitServerName(v string) (host, port string, err error) {
	hostport := v
	if i := strings.Index(v, "://"); i >= 0 {
		if !strings.EqualFold(v[:i], "https") {
			return "", "", errors.New("only https:// URLs (the image store speaks HTTPS only)")
		}
		u, err := url.Parse(v)
		if err != nil || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.ForceQuery {
			return "", "", errors.New("a URL may have only a host and port")
		}
		hostport, port = u.Host, "443"
	}
	var p string
	switch {
	case strings.HasPrefix(hostport, "["):
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", "", errors.New("missing ']'")
		}
		host = hostport[1:end]
		switch after := hostport[end+1:]; {
		case after == "":
		case after[0] == ':':
			if p = after[1:]; p == "" {
				return "", "", errors.New("empty port")
			}
		default:
			return "", "", errors.New("unexpected text after ']'")
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return "", "", errors.New("not an IPv6 address inside [ ]")
		}
	case strings.Count(hostport, ":") > 1:
		if a, err := netip.ParseAddr(hostport); err != nil || !a.Is6() {
			return "", "", errors.New("not a valid IPv6 address")
		}
		host = hostport
	default:
		host = hostport
		if i := strings.IndexByte(hostport, ':'); i >= 0 {
			host, p = hostport[:i], hostport[i+1:]
			if p == "" {
				return "", "", errors.New("empty port")
			}
		}
		if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
			return "", "", errors.New("not a valid host name")
		}
	}
	if p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || p[0] == '+' {
			return "", "", errors.New("port must be a number from 1 to 65535")
		}
		port = p
	}
	return host, port, nil
}

// validHostname accepts DNS names and NetBIOS-style names: dot-separated
// labels of letters, digits, '-' and '_', 1-63 characters, not starting or
// ending with '-', at most 253 characters in all.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	h = strings.TrimSuffix(h, ".")
	allDigits := true
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= '0' && c <= '9':
			case c|0x20 >= 'a' && c|0x20 <= 'z', c == '-', c == '_':
				allDigits = false
			default:
				return false
			}
		}
	}
	return !allDigits // "10.0.0" is a broken IP address, not a name
}

// checkUsername accepts DOMAIN\user and user@domain.
func checkUsername(v string) string {
	if v == "" {
		return ""
	}
	if msg := checkText(v, maxNameLen); msg != "" {
		return msg
	}
	bad := func(why string) string {
		return fmt.Sprintf("invalid value %s: %s; allowed forms are DOMAIN\\user and user@domain", quoteValue(v), why)
	}
	var user, domain string
	switch {
	case strings.Count(v, `\`) == 1:
		domain, user, _ = strings.Cut(v, `\`)
	case strings.Count(v, "@") == 1 && !strings.Contains(v, `\`):
		user, domain, _ = strings.Cut(v, "@")
		if !validHostname(domain) {
			return bad("the part after @ is not a domain name")
		}
	default:
		return bad("no domain")
	}
	if user == "" || domain == "" {
		return bad("empty user or domain")
	}
	if strings.ContainsAny(user, `"/\[]:;|=,+*?<>@`) || strings.ContainsAny(domain, `"/\[]:;|=,+*?<>@`) {
		return bad(`a name cannot contain " / \ [ ] : ; | = , + * ? < > or a second @`)
	}
	return ""
}
