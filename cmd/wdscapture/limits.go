package main

import (
	"fmt"

	"github.com/wdscapture/wdscapture/images"
)

// checkThreads bounds a --threads flag: 0 means one per core; more than
// images.MaxThreads only costs memory (each worker holds a few MiB).
func checkThreads(n int) error {
	if n < 0 || n > images.MaxThreads {
		return usageError{fmt.Sprintf("--threads %d: want 0 (one per core) to %d", n, images.MaxThreads)}
	}
	return nil
}

// checkLevel bounds a --level flag for compression c.
func checkLevel(n int, c images.Compression) error {
	switch {
	case n < 0 || n > images.MaxLevel:
		return usageError{fmt.Sprintf("--level %d: want 0 (the default) to %d (1 fast, 2 default, 3 smallest)", n, images.MaxLevel)}
	case n != 0 && c == images.CompressNone:
		return usageError{fmt.Sprintf("--level %d: a level needs compression (--compress xpress or lzx)", n)}
	}
	return nil
}

const threadsUsage = "compression threads (0 = one per core, at most 64)"
