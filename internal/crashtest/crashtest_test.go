package crashtest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestChild is the child of the tests below: it writes "before" to
// $OUT, passes the points in $POINTS (comma-separated, "-" for none) and
// writes "after"; with $HANG it then sleeps instead of exiting.
func TestChild(t *testing.T) {
	if _, ok := Armed(); !ok {
		t.Skip("run as a child of the crashtest tests")
	}
	out := os.Getenv("OUT")
	if err := os.WriteFile(out, []byte("before"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Split(os.Getenv("POINTS"), ",") {
		Reached(p)
	}
	if err := os.WriteFile(out, []byte("after"), 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("HANG") != "" {
		time.Sleep(time.Hour)
	}
}

func TestKillAtPoint(t *testing.T) {
	for _, point := range []string{"first", "second"} {
		out := filepath.Join(t.TempDir(), "out")
		Kill(t, "TestChild", point, "OUT="+out, "POINTS=first,second")
		if b, err := os.ReadFile(out); err != nil || string(b) != "before" {
			t.Errorf("%s: the child left %q (%v); it was not stopped at the point", point, b, err)
		}
	}
}

// recorder is a testing.TB whose Fatal ends only the goroutine it is
// called on, so a test can check that Kill fails.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = format
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) { r.Fatalf("fatal") }
func (r *recorder) Helper()           {}

// TestKillFailsWithoutThePoint: a child that never reaches the point, by
// exiting or by hanging, fails the test instead of passing it vacuously.
func TestKillFailsWithoutThePoint(t *testing.T) {
	saved := Timeout
	defer func() { Timeout = saved }()
	Timeout = 2 * time.Second // the child below never reaches the point
	for _, tc := range []struct {
		name, hang, want string
	}{
		{"exits", "", "exited without reaching"},
		{"hangs", "1", "did not reach"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Kill(r, "TestChild", "never", "OUT="+filepath.Join(t.TempDir(), "out"), "POINTS=other", "HANG="+tc.hang)
			}()
			<-done
			if !strings.Contains(r.msg, tc.want) {
				t.Errorf("Kill failed with %q, want %q", r.msg, tc.want)
			}
		})
	}
}

func TestReachedOutsideAChild(t *testing.T) {
	Reached("anything") // must return at once
	if _, ok := Armed(); ok {
		t.Error("Armed in a process Kill did not start")
	}
}
