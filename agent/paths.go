package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/wdscapture/wdscapture/inf"
)

// BootDrive is the drive letter of the capture environment's boot RAM
// disk: X:\ is RunOptions.Root unless the drive map says otherwise.
const BootDrive = "X"

// ResolvePath turns a path from the settings (DestinationFile, where to
// save an INF) into a local path. An absolute Linux path is used as it
// is, cleaned. A drive-letter path needs the drive mounted: drives maps
// "D" to the directory where that volume is, and X: is root (the boot
// root, "/" when empty) unless drives maps X. As on Windows, ".." cannot
// climb above a drive's root (D:\..\x.wim is D:\x.wim), and once symbolic
// links are followed the path must still lie inside the drive's directory.
// Relative paths (ref.wim, D:ref.wim) and network paths are refused: the
// current directory of the capture environment means nothing to a
// technician.
func ResolvePath(p string, drives map[string]string, root string) (string, error) {
	if p == "" {
		return "", errors.New("no path given")
	}
	if strings.HasPrefix(p, `\\`) || strings.HasPrefix(p, "//") {
		return "", errors.New("network paths are not supported; give a path on a local disk")
	}
	letter, rest, isDrive := inf.DriveLetter(p)
	if !isDrive {
		if !strings.HasPrefix(p, "/") {
			return "", errors.New("not a full path: give a drive and directory (D:\\Images\\ref.wim) or an absolute path (/mnt/images/ref.wim)")
		}
		return filepath.Clean(p), nil
	}
	if !strings.HasPrefix(rest, `\`) && !strings.HasPrefix(rest, "/") {
		return "", fmt.Errorf("not a full path: after %c: give the directory from the drive's root (%c:\\%s)", letter, letter, strings.TrimLeft(rest, `\/`))
	}
	l := string(letter)
	dir, ok := drives[l]
	if !ok && l == BootDrive {
		dir, ok = cmpOr(root, "/"), true
	}
	if !ok {
		return "", fmt.Errorf("drive %s: is not mounted in the capture environment; mount it and start wdscapture with --drive %s=/mount/point, or give a path such as /mnt/images/%s", l, l, path.Base(winToSlash(rest)))
	}
	// Lexically: a rooted path below the drive's directory.
	inDrive := path.Clean("/" + winToSlash(rest))
	local := filepath.Join(dir, filepath.FromSlash(inDrive))
	// Through symbolic links: still inside.
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("drive %s: is mapped to %s, which cannot be used: %w", l, dir, err)
	}
	existing, err := nearestExisting(local)
	if err != nil {
		return "", err
	}
	realExisting, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return "", fmt.Errorf("%s: %w", existing, err)
	}
	if !within(realExisting, realDir) {
		return "", fmt.Errorf("leaves drive %s: through a symbolic link (%s leads to %s, outside %s)", l, existing, realExisting, realDir)
	}
	return local, nil
}

// winToSlash turns a Windows path's separators into slashes.
func winToSlash(p string) string { return strings.ReplaceAll(p, `\`, "/") }

// within reports whether p is dir or below it (both clean and absolute).
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// nearestExisting returns p or its nearest ancestor that exists (following
// symbolic links). An ancestor that exists but is no directory is an error:
// nothing can be created below it.
func nearestExisting(p string) (string, error) {
	for cur := p; ; {
		st, err := os.Stat(cur)
		switch {
		case err == nil:
			if cur != p && !st.IsDir() {
				return "", fmt.Errorf("%s is a file, not a directory", cur)
			}
			return cur, nil
		case errors.Is(err, fs.ErrNotExist):
		default:
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", fmt.Errorf("%s: no part of the path exists", p)
		}
		cur = parent
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// WindowsPath gives the drive-letter form of a local path inside one of the
// mapped drives (the one with the longest directory), "" when it is in
// none; X: (root) is tried last. It is how a path is shown to the
// technician when the settings used a drive letter.
func WindowsPath(local string, drives map[string]string, root string) string {
	best, bestDir := "", ""
	try := func(l, dir string) {
		dir = filepath.Clean(dir)
		if within(local, dir) && len(dir) > len(bestDir) {
			best, bestDir = l, dir
		}
	}
	for l, dir := range drives {
		try(l, dir)
	}
	if best == "" {
		if _, mapped := drives[BootDrive]; !mapped {
			try(BootDrive, cmpOr(root, "/"))
		}
	}
	if best == "" {
		return ""
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(local, bestDir), "/")
	if bestDir == "/" {
		rel = strings.TrimPrefix(local, "/")
	}
	return best + `:\` + strings.ReplaceAll(rel, "/", `\`)
}
