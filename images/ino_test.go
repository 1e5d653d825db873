package images

import (
	"os"
	"syscall"
	"testing"
)

func fileIno(info os.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

func fileInoPath(t *testing.T, p string) uint64 {
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fileIno(info)
}
