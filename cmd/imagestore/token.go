package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/auth"
	"github.com/wdscapture/wdscapture/store/auth/authconfig"
)

func init() {
	register(command{name: "token", order: 57, args: "USER [--login] [--json]",
		summary: "show USER's token: their name and every group, from the users file and the directory", run: runToken})
}

// authFlags adds --config (the file with the directory section) to a
// command that needs the store's authenticator.
func authFlags(f *flags) *string {
	return f.String("config", "", "server configuration file with the \"directory\" section (default ROOT/Server/serve.json, if it exists)")
}

// openAuth builds the authenticator `imagestore serve` would use: the
// users file and, when configured, the directory. Warnings go to stderr.
func openAuth(c *cli, f *flags, config string) (*authconfig.Auth, error) {
	root, err := f.rootDir()
	if err != nil {
		return nil, err
	}
	path, optional := config, false
	if path == "" {
		path, optional = authconfig.ConfigPath(root), true
	}
	dir, err := authconfig.LoadDirectory(path, optional)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return authconfig.Open(root, dir, log)
}

// lookupToken returns the token user would get on login, as the server
// builds it (for `imagestore list --as` and `imagestore token`).
func lookupToken(c *cli, a auth.Authenticator, user string) (store.Token, error) {
	tok, err := a.Lookup(c.ctx, user)
	if errors.Is(err, auth.ErrUnknownUser) {
		return tok, fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	return tok, err
}

func runToken(c *cli, args []string) error {
	f := newFlags(c, "token", "USER [--login] [--json]",
		"Show the token the image store gives USER (DOMAIN\\user, user@domain or a bare name):\n"+
			"the user's principal name and every group, nested groups included: the users\n"+
			"file's groups and, when the server's configuration has a \"directory\" section,\n"+
			"the directory's (read with its service account). ACLs are checked against it.\n"+
			"With --login, read USER's password (terminal or stdin, one line) and log in as\n"+
			"the server would: the password is checked, and disabled accounts are refused.", true)
	config := authFlags(f)
	login := f.Bool("login", false, "check USER's password (read from the terminal or stdin)")
	asJSON := f.Bool("json", false, "print JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("token takes one USER")
	}
	a, err := openAuth(c, f, *config)
	if err != nil {
		return err
	}
	defer a.Close()
	var tok store.Token
	if *login {
		pw, err := readLoginPassword(c, "Password for "+pos[0])
		if err != nil {
			return err
		}
		if tok, err = a.Authenticate(c.ctx, pos[0], pw); err != nil {
			return fmt.Errorf("login as %s: %w", pos[0], err)
		}
	} else if tok, err = lookupToken(c, a, pos[0]); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		groups := tok.Groups
		if groups == nil {
			groups = []string{}
		}
		return enc.Encode(struct {
			User   string   `json:"user"`
			Groups []string `json:"groups"`
		}{tok.User, groups})
	}
	fmt.Fprintf(c.stdout, "user   %s\n", tok.User)
	for _, g := range tok.Groups {
		fmt.Fprintf(c.stdout, "group  %s\n", g)
	}
	return nil
}

// readLoginPassword reads an existing password: once from a terminal
// (without echo), or one line from stdin.
func readLoginPassword(c *cli, prompt string) (string, error) {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(c.stderr, prompt+": ")
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(p), nil
	}
	return readPasswordLine(c.stdin)
}

// readPasswordLine reads a password piped in as one line (LF or CRLF).
func readPasswordLine(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(r, auth.MaxPasswordLen+2)
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("the password is longer than %d bytes", auth.MaxPasswordLen)
	}
	if err != nil && (!errors.Is(err, io.EOF) || len(line) == 0) {
		return "", fmt.Errorf("read the password from stdin: %w (pipe it in, one line)", err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r"), nil
}
