package store

import (
	"os"
	"strings"
	"sync/atomic"
	"syscall"
)

// CrashEnv names the environment variable that makes a process using the
// store kill itself with SIGKILL when it reaches a crash stage: its value
// is a stage name from CrashStages, optionally followed by "#N" to crash
// on the N-th time the stage is reached (default the first). Tests of the
// store, the CLI and the server use it to check that a group killed at
// any stage of a write stays as it was before or as it is after.
const CrashEnv = "IMAGESTORE_CRASH_AT"

// CrashStages lists, in the order an add or replace reaches them, the
// stages of a write at which CrashEnv can kill the process.
var CrashStages = []string{
	"add:locked",            // group lock held, nothing written
	"add:blob",              // after each stream copied into res.rwm (not yet named by its header)
	"add:blobs",             // every new stream copied, res.rwm's header not yet rewritten
	"add:metadata",          // the image's metadata WIM complete under a temporary name
	"rwm:tables",            // res.rwm's new blob table and XML written and synced, header not yet
	"rwm:header",            // res.rwm's new header written and synced
	"add:settings",          // the group settings (the image's read filter) updated
	"storage:before-rename", // a new file complete and synced, not yet renamed into place
	"add:published",         // the image's metadata WIM renamed into place
	"optimize:written",      // optimize: the new res.rwm complete under a temporary name
	"delete:removed",        // delete: the image file removed, its read filter not yet
}

var crashAt, crashCount = func() (string, *atomic.Int64) {
	stage, n := parseCrashEnv(os.Getenv(CrashEnv))
	c := new(atomic.Int64)
	c.Store(int64(n))
	return stage, c
}()

func parseCrashEnv(v string) (string, int) {
	stage, n, ok := strings.Cut(v, "#")
	count := 1
	if ok {
		count = 0
		for _, c := range n {
			if c < '0' || c > '9' {
				return stage, 1
			}
			count = count*10 + int(c-'0')
		}
		count = max(count, 1)
	}
	return stage, count
}

// crashHook, when set (by tests in this package), is called at every
// stage.
var crashHook func(stage string)

// crashPoint kills the process when CrashEnv names stage.
func crashPoint(stage string) {
	if crashHook != nil {
		crashHook(stage)
	}
	if crashAt == "" || crashAt != stage {
		return
	}
	if crashCount.Add(-1) == 0 {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never reached: SIGKILL cannot be caught
	}
}
