package images

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// createPartial creates the temporary file of a new WIM beside path (in
// the same directory, so the final rename stays on one file system; a bare
// "x.wim" means the current directory, never $TMPDIR) and locks it. Older
// partial files of the same name that no live writer holds locked are
// removed first: they are left by writers that were killed.
func createPartial(path string) (f, lock *os.File, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	prefix := "." + base + ".partial-"
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
				removeIfUnlocked(filepath.Join(dir, e.Name()))
			}
		}
	}
	f, err = os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return nil, nil, err
	}
	// The lock is held through a descriptor of its own, so that it lasts
	// until the rename even though the writer closes f before.
	lock, err = os.Open(f.Name())
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != nil {
			lock.Close()
		}
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return f, lock, nil
}

// removeIfUnlocked removes the partial file p unless a writer holds its
// lock.
func removeIfUnlocked(p string) {
	f, err := os.Open(p)
	if err != nil {
		return
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		os.Remove(p)
	}
}
