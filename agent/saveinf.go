package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/atomicfile"
)

// SaveOptions says how SaveINF writes.
type SaveOptions struct {
	// Password writes the password too (in clear: the file is mode 0600).
	Password bool
	// Replace replaces an existing file: the technician was asked.
	Replace bool
	// Protect lists files that are never replaced, confirmed or not (the
	// WIM just captured and its log).
	Protect []string
}

// FileExistsError says the target exists and may be replaced only once
// the technician confirms (SaveOptions.Replace).
type FileExistsError struct {
	Path string // the local path
}

func (e *FileExistsError) Error() string { return e.Path + " exists" }

// wimMagic starts every WIM file.
var wimMagic = []byte("MSWIM\x00\x00\x00")

// SaveINF writes the settings, with Unattended=Yes, as a WDSCapture.inf at
// target: a drive-letter path (X:\Windows\System32\WDSCapture.inf,
// D:\capture.inf) or an absolute path, resolved as ResolvePath does. It
// never replaces a directory, a WIM file or a file in opts.Protect, and
// replaces any other existing file only with opts.Replace (otherwise the
// error is a *FileExistsError). The new file appears complete or not at
// all. It returns the local path written.
func SaveINF(s *inf.Settings, target string, o RunOptions, opts SaveOptions) (string, error) {
	local, err := ResolvePath(target, o.DriveMap, o.Root)
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(local); err == nil {
		switch {
		case st.IsDir():
			return "", fmt.Errorf("%s is a directory; give a file name such as %s", local, filepath.Join(local, "WDSCapture.inf"))
		case !st.Mode().IsRegular():
			return "", fmt.Errorf("%s is not a regular file (%s)", local, st.Mode().Type())
		}
		for _, p := range opts.Protect {
			if ps, err := os.Stat(p); p != "" && err == nil && os.SameFile(st, ps) {
				if filepath.Clean(p) == local {
					return "", fmt.Errorf("%s was just written by the capture; choose another file name", local)
				}
				return "", fmt.Errorf("%s is %s, which was just written by the capture; choose another file name", local, p)
			}
		}
		if isWIM(local) {
			return "", fmt.Errorf("%s is a WIM file; choose another file name", local)
		}
		if !opts.Replace {
			return "", &FileExistsError{Path: local}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	c := *s
	c.Unattended = true
	var b bytes.Buffer
	if err := c.Write(&b, opts.Password); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return "", err
	}
	if err := atomicfile.Write(local, b.Bytes(), 0o600); err != nil {
		return "", err
	}
	return local, nil
}

// isWIM reports whether the file at p starts like a WIM.
func isWIM(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(wimMagic))
	_, err = io.ReadFull(f, head)
	return err == nil && bytes.Equal(head, wimMagic)
}
