// Package crashtest kills a process with SIGKILL at a chosen point of the
// code under test, for tests of crash safety: a file writer, a store, any
// code that promises that "killed at any moment" leaves its files
// consistent.
//
// A test runs its own test binary again as a child (Kill), running one
// test function (the child) with a point armed through the environment.
// The code under test reports the points it passes through a test hook of
// its package that calls Reached; at the armed point the child tells the
// parent over a pipe and stops, the parent sends SIGKILL, waits for the
// child to die, and then checks the files the child left. Nothing is
// simulated: the kill is the kernel's, at a known instruction boundary,
// which makes the test repeatable where a timer-based kill is not.
//
// The child test:
//
//	func TestCommitChild(t *testing.T) {
//		point, ok := crashtest.Armed()
//		if !ok {
//			t.Skip("the child of TestCommitKilled")
//		}
//		somepkg.testHook = crashtest.Reached // the package's hook
//		... do the work, with paths taken from os.Getenv ...
//		t.Fatalf("finished without reaching %s", point)
//	}
//
// The parent:
//
//	out := crashtest.Kill(t, "TestCommitChild", "synced", "WIM="+path)
//	... check path ...
//
// Kill fails the test when the child exits or hangs without reaching the
// point, so a point that is never passed (a renamed stage, a write that
// never starts) cannot make the test pass vacuously.
package crashtest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/internal/syncbuf"
)

const (
	envPoint = "CRASHTEST_POINT" // the armed point, in the child
	envFD    = "CRASHTEST_FD"    // the child's descriptor of the report pipe
	childFD  = 3                 // the first of exec.Cmd.ExtraFiles
)

// Timeout bounds how long Kill waits for the child to reach its point. It
// guards against a hang; it is not a performance bound, so it is generous.
var Timeout = 5 * time.Minute

// Armed returns the point this process is to be killed at, when it is a
// child started by Kill; ok is false in any other process.
func Armed() (point string, ok bool) {
	point = os.Getenv(envPoint)
	return point, point != "" && os.Getenv(envFD) != ""
}

var (
	reportMu sync.Mutex
	reached  bool
)

// Reached marks point name in the code under test. In a child armed for
// name it tells the parent and blocks until the parent's SIGKILL arrives;
// anywhere else it returns at once. It is safe for concurrent use.
func Reached(name string) {
	point, ok := Armed()
	if !ok || name != point {
		return
	}
	reportMu.Lock() // held until the kill: other goroutines stop here too
	if !reached {
		reached = true
		f := os.NewFile(childFD, "crashtest-report")
		fmt.Fprintf(f, "reached %s\n", name)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// Result is what Kill saw of the child.
type Result struct {
	// Output is the child's combined stdout and stderr.
	Output string
}

// Kill runs the test function named test of this test binary in a child
// process with point armed and env (KEY=value) added to its environment,
// waits until the child reaches the point, sends it SIGKILL and waits for
// it to exit. It fails t (Fatal) when the child exits, or goes Timeout,
// without reaching the point.
func Kill(t testing.TB, test, point string, env ...string) Result {
	t.Helper()
	if _, ok := Armed(); ok {
		t.Fatal("crashtest.Kill called in a crashtest child")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), append(env, envPoint+"="+point, fmt.Sprintf("%s=%d", envFD, childFD))...)
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.ExtraFiles = []*os.File{pw}
	if err := cmd.Start(); err != nil {
		pw.Close()
		t.Fatalf("crashtest: start %s: %v", test, err)
	}
	pw.Close() // the child holds the only write end: EOF when it dies

	report := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(pr).ReadString('\n')
		report <- strings.TrimSpace(line)
	}()
	var line string
	select {
	case line = <-report:
	case <-time.After(Timeout):
		line = "timeout"
	}
	want := "reached " + point
	if line != want {
		cmd.Process.Kill()
		cmd.Wait()
		switch line {
		case "timeout":
			t.Fatalf("crashtest: %s did not reach %q within %v\n%s", test, point, Timeout, out.String())
		case "":
			t.Fatalf("crashtest: %s exited without reaching %q\n%s", test, point, out.String())
		default:
			t.Fatalf("crashtest: %s reported %q, want %q\n%s", test, line, want, out.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("crashtest: kill %s: %v", test, err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("crashtest: %s at %q ended with %v, not by SIGKILL\n%s", test, point, err, out.String())
	}
	return Result{Output: out.String()}
}
