// Command wdscapture captures a sysprepped Windows volume into a WIM file,
// like the Windows Deployment Services Image Capture Wizard, and reads,
// lists and verifies WIM files.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes, documented in the README.
const (
	exitOK      = 0
	exitFailure = 1  // capture or other operation failed
	exitUsage   = 64 // bad command line or settings (EX_USAGE)
	// Exit code 2 is never used by wdscapture itself: it is what the Go
	// runtime exits with when it aborts (out of memory, an internal
	// error), so that it can never be mistaken for a bad command line.
	exitNothing      = 3 // nothing to capture
	exitVerifyFailed = 4 // the written or given WIM does not verify
	exitUpload       = 5 // upload failed
	exitInterrupted  = 130
)

// usageError marks errors in the command line itself.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

type command struct {
	name, args, summary string
	run                 func(args []string, stdout, stderr io.Writer) error
}

var commands []command

func init() {
	commands = []command{
		{"capture", "SRC DEST.wim --name NAME [flags]", "capture a directory or NTFS volume into a WIM", runCapture},
		{"info", "FILE.wim [INDEX]", "show a WIM's header and images", runInfo},
		{"dir", "FILE.wim INDEX", "list the paths in an image", runDir},
		{"verify", "FILE.wim", "check the integrity table and every stream's SHA-1", runVerify},
		{"optimize", "FILE.wim", "rewrite a WIM without dead space (verified, crash-safe)", runOptimize},
		{"scan", "[--json] [DISK-IMAGE...]", "list disks, volumes, drive letters and sysprepped Windows", runScan},
		{"upload", "FILE.wim [INDEX] --server HOST --group G --user DOMAIN\\user", "upload an image to an image store (retry a failed upload)", runUploadCmd},
		{"images", "--server HOST --user DOMAIN\\user [--arch A] [--groups]", "list the images (or groups) of an image store", runImages},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: wdscapture [--inf PATH] [flags]     run the capture agent (see wdscapture --help)\n       wdscapture COMMAND [ARGS]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n           %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'wdscapture COMMAND --help' for a command's flags.\n")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		usage(stdout)
		fmt.Fprintln(stdout)
		return report(runAgent([]string{"--help"}, stdout, stdout), stderr)
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return report(runAgent(args, stdout, stderr), stderr)
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(args[1:], stdout, stderr)
			return report(err, stderr)
		}
	}
	fmt.Fprintf(stderr, "wdscapture: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "wdscapture: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailure
}

// parseArgs parses flags that may appear before, between or after the
// positional arguments, and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(name, args, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		cmd := "wdscapture " + name
		if name == "" {
			cmd = "wdscapture"
		}
		fmt.Fprintf(fs.Output(), "Usage: %s %s\n\n%s\n\nFlags:\n", cmd, args, summary)
		fs.PrintDefaults()
	}
	return fs
}
