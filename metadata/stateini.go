package metadata

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrNoImageState means State.ini exists but has no [State] ImageState.
var ErrNoImageState = errors.New("no ImageState in the [State] section")

// maxStateINI bounds how much of State.ini is read; the real file is a few
// dozen bytes.
const maxStateINI = 1 << 20

// ReadStateINI returns ImageState from the [State] section of
// <systemRoot>\Setup\State\State.ini in fsys (systemRoot is a top-level
// directory name; all components are matched case-insensitively). The file may be UTF-16LE or UTF-16BE with a byte
// order mark, UTF-8 (with or without BOM) or ASCII. A missing file gives an
// error wrapping fs.ErrNotExist; a file without the key gives
// ErrNoImageState.
func ReadStateINI(fsys fs.FS, systemRoot string) (string, error) {
	p := "."
	for _, comp := range []string{systemRoot, "Setup", "State", "State.ini"} {
		next := child(fsys, p, comp)
		if next == "" {
			return "", fmt.Errorf("%s\\Setup\\State\\State.ini: %w", systemRoot, fs.ErrNotExist)
		}
		p = next
	}
	f, err := fsys.Open(p)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateINI+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	if len(b) > maxStateINI {
		return "", fmt.Errorf("%s is larger than %d bytes", p, maxStateINI)
	}
	v, err := parseStateINI(decodeText(b))
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return v, nil
}

// decodeText decodes an INI file's bytes according to its byte order mark;
// without one, UTF-16LE is recognized by NUL high bytes, else it is UTF-8
// (invalid bytes become U+FFFD).
func decodeText(b []byte) string {
	utf16le := func(b []byte, order binary.ByteOrder) string {
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = order.Uint16(b[2*i:])
		}
		return string(utf16.Decode(u))
	}
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return utf16le(b[2:], binary.LittleEndian)
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return utf16le(b[2:], binary.BigEndian)
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		b = b[3:]
	case len(b) >= 4 && b[1] == 0 && b[3] == 0 && b[0] != 0:
		return utf16le(b, binary.LittleEndian)
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// parseStateINI finds ImageState in the [State] section. Section and key
// names are case-insensitive; ';' and '#' start comment lines; a value may
// be wrapped in double quotes.
func parseStateINI(text string) (string, error) {
	inState := false
	for _, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' }) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				inState = false
				continue
			}
			inState = strings.EqualFold(strings.TrimSpace(line[1:end]), "State")
			continue
		}
		if !inState {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(key), "ImageState") {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		return val, nil
	}
	return "", ErrNoImageState
}
