// Command imagestore runs and administers an image store: image groups
// that share one res.rwm of file data and keep one metadata WIM per image,
// the way Windows Deployment Services keeps its images. Every subcommand
// is flag parsing and wiring around package store (and store/auth for
// users, and the server); the logic lives there.
//
// Subcommands register themselves from their own files (register in an
// init function), so that commands added by different people do not edit
// one list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/wdscapture/wdscapture/store"
)

// Exit codes, documented in the README.
const (
	exitOK        = 0
	exitFailure   = 1  // the operation failed
	exitUsage     = 64 // bad command line (sysexits EX_USAGE; 2 is the Go runtime's crash code)
	exitDamaged   = 3  // a WIM or the store failed verification
	exitConflict  = 4  // a group or image of that name exists already
	exitNotFound  = 5  // no such group or image
	exitInterrupt = 130
)

// rootEnv names the environment variable that gives the store root when
// --root is not given.
const rootEnv = "IMAGESTORE_ROOT"

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis of the arguments
	summary string // one line for the command list
	// order places the command in the list (lower first).
	order int
	run   func(c *cli, args []string) error
}

var commands []command

// register adds a subcommand; call it from an init function.
func register(cmd command) {
	commands = append(commands, cmd)
	slices.SortStableFunc(commands, func(a, b command) int { return a.order - b.order })
}

// cli is what a subcommand runs with.
type cli struct {
	ctx            context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
	// interactive reports whether stderr is a terminal (progress lines are
	// redrawn in place only there).
	interactive bool
}

// usageError marks errors in the command line itself.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: imagestore COMMAND [ARGS] [--root DIR]\n\n")
	fmt.Fprintf(w, "An image store: image groups (ROOT/Images/<Group>) that share one res.rwm of\nfile data and hold one metadata WIM per image, as Windows Deployment Services\nkeeps them. The store root is --root DIR or $%s.\n\nCommands:\n", rootEnv)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-14s %s\n  %-14s   %s\n", c.name, c.args, "", c.summary)
	}
	fmt.Fprintf(w, "\nRun 'imagestore COMMAND --help' for a command's flags.\n")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &cli{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, interactive: isTerminal(os.Stderr)}
	os.Exit(run(c, os.Args[1:]))
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func run(c *cli, args []string) int {
	if len(args) == 0 {
		usage(c.stderr)
		return exitUsage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(c.stdout)
		return exitOK
	}
	// A command name may be two words ("group add").
	for _, cmd := range commands {
		words := strings.Fields(cmd.name)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			return report(c, cmd.run(c, args[len(words):]))
		}
	}
	fmt.Fprintf(c.stderr, "imagestore: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
	usage(c.stderr)
	return exitUsage
}

func report(c *cli, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(c.stderr, "imagestore: %v\n", err)
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitInterrupt
	case errors.Is(err, store.ErrDamaged):
		return exitDamaged
	case errors.Is(err, store.ErrConflict):
		return exitConflict
	case errors.Is(err, store.ErrNotFound):
		return exitNotFound
	}
	return exitFailure
}

// flags is a command's flag set plus the flags every store command has.
type flags struct {
	*flag.FlagSet
	root *string
}

// newFlags starts a command's flag set; store adds --root.
func newFlags(c *cli, name, args, help string, withRoot bool) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: imagestore %s %s\n\n%s\n", name, args, help)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	f := &flags{FlagSet: fs}
	if withRoot {
		f.root = fs.String("root", "", "store root folder (groups are in ROOT/Images); default $"+rootEnv)
	}
	return f
}

// parse parses flags that may come before, between or after the
// positional arguments and returns the positional ones.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := f.Args()
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

// rootDir returns the store root from --root or the environment.
func (f *flags) rootDir() (string, error) {
	if f.root != nil && *f.root != "" {
		return *f.root, nil
	}
	if r := os.Getenv(rootEnv); r != "" {
		return r, nil
	}
	return "", usagef("no store root: pass --root DIR or set %s", rootEnv)
}

// openStore opens the store the flags name; waiting messages go to
// stderr.
func (f *flags) openStore(c *cli) (*store.Store, error) {
	root, err := f.rootDir()
	if err != nil {
		return nil, err
	}
	s, err := store.Open(root)
	if err != nil {
		return nil, err
	}
	s.OnWait = func(group string) {
		if group == "" {
			fmt.Fprintf(c.stderr, "waiting for another imagestore operation that is creating a group...\n")
		} else {
			fmt.Fprintf(c.stderr, "waiting for another imagestore operation on group %q to finish...\n", group)
		}
	}
	return s, nil
}
