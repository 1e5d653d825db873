package auth

import (
	"os"
	"syscall"
)

// inode returns the file's inode number, so that a file replaced by rename
// within one second (same size, same coarse mtime) is still seen as new.
func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}
