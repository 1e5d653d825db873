//go:build linux

package decodebench

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time (user+system) of the calling OS thread;
// the caller locks its goroutine to the thread. On a shared machine it
// measures a decoder better than wall time does.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
