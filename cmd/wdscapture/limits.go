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

// maxRetries bounds --retries and --upload-retries: each failure waits up
// to a minute, so more than this is a hang, not patience.
const maxRetries = 1000

// checkRetries bounds a retry-count flag (zero once meant the default
// silently).
func checkRetries(flag string, n int) error {
	if n < 1 || n > maxRetries {
		return usageError{fmt.Sprintf("%s %d: want 1 to %d", flag, n, maxRetries)}
	}
	return nil
}

const threadsUsage = "compression threads (0 = one per core, at most 64); with --verify, one verifier\nthread per four of them decompresses their chunks beside them"
