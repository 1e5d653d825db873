package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/humanize"
	"github.com/wdscapture/wdscapture/store/protocol"
	"github.com/wdscapture/wdscapture/upload"
)

// storeFlags are the flags that reach an image store.
type storeFlags struct {
	server, cert, user, passwordFile *string
	retries                          *int
}

func addStoreFlags(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		server:       fs.String("server", "", "the image store: host, host:port (default port 8443) or https://host[:port] (WDSServerName)"),
		cert:         fs.String("server-cert", "", "trust the server's certificate by its SHA-256 fingerprint (as `imagestore cert` prints it),\nor a PEM file of the CA that issued it (WDSServerCertificate); default: the system's CAs"),
		user:         fs.String("user", "", "DOMAIN\\user or user@domain (Username)"),
		passwordFile: fs.String("password-file", "", "read the password from the first line of this file\n(default: $"+agent.PasswordEnv+", else asked on the terminal without echo)"),
		retries:      fs.Int("retries", 8, "failures in a row (dropped connections, server restarts) an upload survives (1 to 1000);\nthe count starts again whenever data moves"),
	}
}

// connect checks the flags, reads the password and logs in.
func (f storeFlags) connect(ctx context.Context, stderr io.Writer) (*upload.Client, upload.Trust, error) {
	if *f.server == "" || *f.user == "" {
		return nil, upload.Trust{}, usageError{"--server and --user are required"}
	}
	if err := checkRetries("--retries", *f.retries); err != nil {
		return nil, upload.Trust{}, err
	}
	if _, _, err := upload.ParseServer(*f.server); err != nil {
		return nil, upload.Trust{}, usageError{"--server: " + err.Error()}
	}
	trust, err := upload.ParseTrust(*f.cert)
	if err != nil {
		return nil, upload.Trust{}, usageError{"--server-cert: " + err.Error()}
	}
	pw, err := readPassword(*f.passwordFile, *f.user, stderr)
	if err != nil {
		return nil, upload.Trust{}, err
	}
	c, err := upload.Connect(ctx, upload.Config{Server: *f.server, Trust: trust, User: *f.user, Password: pw, Retries: *f.retries})
	if err != nil {
		return nil, trust, storeExit(err)
	}
	return c, trust, nil
}

// readPassword reads the password from file, the environment (which it
// then clears, so that no child process inherits it) or the terminal.
func readPassword(file, user string, stderr io.Writer) (inf.Secret, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return inf.Secret{}, usageError{"--password-file: " + err.Error()}
		}
		defer f.Close()
		line, err := bufio.NewReader(io.LimitReader(f, 64<<10)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return inf.Secret{}, fmt.Errorf("--password-file %s: %w", file, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return inf.Secret{}, usageError{fmt.Sprintf("--password-file %s: the first line is empty", file)}
		}
		return inf.NewSecret(line), nil
	}
	if v, ok := os.LookupEnv(agent.PasswordEnv); ok && v != "" {
		os.Unsetenv(agent.PasswordEnv)
		return inf.NewSecret(v), nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		return inf.Secret{}, usageError{fmt.Sprintf("no password: give --password-file FILE or set %s (there is no terminal to ask on)", agent.PasswordEnv)}
	}
	defer tty.Close()
	fmt.Fprintf(tty, "Password for %s: ", user)
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return inf.Secret{}, fmt.Errorf("read the password: %w", err)
	}
	if len(b) == 0 {
		return inf.Secret{}, usageError{"no password given"}
	}
	return inf.NewSecret(string(b)), nil
}

// storeExit gives an image store error its exit code: 1 for a local WIM
// that cannot be read, 5 for the rest.
func storeExit(err error) error {
	if errors.Is(err, upload.ErrLocal) {
		return exitError{exitFailure, err}
	}
	return exitError{exitUpload, err}
}

func runUploadCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("upload", "FILE.wim [INDEX] --server HOST --group GROUP --user DOMAIN\\user [flags]",
		`Upload image INDEX (default 1) of FILE.wim to an image group of an image store, as
the agent does after a capture (and the way to retry an upload that failed): only the
data the group lacks is sent, resumed after dropped connections and server restarts,
and the command returns once the server has verified and published the image. The
group must exist, the user must be allowed to add images to it, and the WIM's
compression must be the group's (a group without images takes the WIM's).
The password is read from --password-file, $`+agent.PasswordEnv+` or the terminal; never
from the command line.`, stderr)
	sf := addStoreFlags(fs)
	group := fs.String("group", "", "the image group (WDSImageGroup)")
	name := fs.String("name", "", "the image's name in the group (default: its name in the WIM)")
	desc := fs.String("description", "", "replace the image's description")
	deleteLocal := fs.Bool("delete-local", false, "delete FILE.wim once the server has verified and published the image\n(not when the WIM holds other images)")
	quiet := fs.Bool("quiet", false, "print only errors and the final line")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError{"upload takes FILE.wim and an optional INDEX"}
	}
	index := 1
	if len(pos) == 2 {
		if index, err = strconv.Atoi(pos[1]); err != nil || index < 1 {
			return usageError{fmt.Sprintf("INDEX %q is not an image number", pos[1])}
		}
	}
	if *group == "" {
		return usageError{"--group is required"}
	}
	if _, err := os.Stat(pos[0]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, trust, err := sf.connect(ctx, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	render := &agent.ConsoleRenderer{W: stderr}
	obs := render.Observer()
	if *quiet {
		obs = agent.Observer{}
	}
	target := &agent.UploadTarget{Client: c, Group: protocol.Group{Name: *group}, Name: *name, Server: *sf.server,
		Trust: trust, TrustValue: trust.Fingerprint + trust.CAFile, User: *sf.user}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	res, err := agent.UploadImage(ctx, agent.UploadJob{Target: target, WIM: pos[0], Index: index, Description: *desc, DeleteLocal: *deleteLocal}, log, obs)
	if err != nil {
		var ue *agent.UploadError
		if errors.As(err, &ue) {
			err = ue.Err // the retry command is this command
		}
		if ctx.Err() != nil {
			return exitError{exitInterrupted, err}
		}
		return storeExit(err)
	}
	printUploaded(stdout, res)
	return nil
}

// printUploaded is the final line of an upload.
func printUploaded(w io.Writer, res *agent.UploadResult) {
	shared := ""
	if total := res.DataBytes + res.SharedBytes; total > 0 && res.SharedBytes > 0 {
		shared = fmt.Sprintf(", %.0f%% of its data on the server already", 100*float64(res.SharedBytes)/float64(total))
	}
	deleted := ""
	if res.LocalDeleted {
		deleted = "; local WIM deleted"
	}
	fmt.Fprintf(w, "uploaded to %s: image group %s, file %s, image %q (verified by the server; %s sent%s)%s\n",
		res.Server, res.Group, res.Image.FileName, res.Image.Name, humanize.Bytes(uint64(res.SentBytes)), shared, deleted)
}

func runImages(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("images", "--server HOST --user DOMAIN\\user [--group G] [--arch A] [--json]",
		`List the images of an image store that the user may see (their group, file, name,
architecture, version, languages and size), or with --groups the image groups with
their compression type and whether the user may add images. The password is read
from --password-file, $`+agent.PasswordEnv+` or the terminal.`, stderr)
	sf := addStoreFlags(fs)
	group := fs.String("group", "", "only this image group")
	arch := fs.String("arch", "", "only images of this architecture: x86, amd64 (x64), arm64, arm")
	groups := fs.Bool("groups", false, "list the image groups instead of the images")
	asJSON := fs.Bool("json", false, "print JSON (the protocol's fields)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{"images takes no arguments"}
	}
	wantArch := ""
	if *arch != "" {
		if wantArch = normalizeArch(*arch); wantArch == "" {
			return usageError{fmt.Sprintf("--arch %q: want x86, amd64 (x64), arm64 or arm", *arch)}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, _, err := sf.connect(ctx, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	if *groups {
		gs, err := c.Groups(ctx)
		if err != nil {
			return storeExit(err)
		}
		if *asJSON {
			return writeJSON(stdout, gs)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tCOMPRESSION\tIMAGES\tYOU MAY ADD\tFREE")
		for _, g := range gs {
			comp := g.Compression
			if comp == "" {
				comp = "(none yet)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", g.Name, comp, g.Images, yesNo(g.MayWrite), humanize.Bytes(g.FreeBytes))
		}
		return tw.Flush()
	}
	imgs, err := c.Images(ctx, *group)
	if err != nil {
		return storeExit(err)
	}
	var out []protocol.Image
	for _, im := range imgs {
		if wantArch == "" || normalizeArch(im.Architecture) == wantArch {
			out = append(out, im)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Name < out[j].Name
	})
	if *asJSON {
		if out == nil {
			out = []protocol.Image{}
		}
		return writeJSON(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tFILE\tNAME\tARCH\tVERSION\tLANGUAGES\tSIZE\tADDED")
	for _, im := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", im.Group, im.FileName, im.Name, im.Architecture, im.Version,
			strings.Join(im.Languages, ","), humanize.Bytes(im.TotalBytes), im.Added.Local().Format("2006-01-02 15:04"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(out) == 0 {
		fmt.Fprintln(stderr, "no images")
	}
	return nil
}

// normalizeArch maps architecture names to the store's: x86, amd64,
// arm64 ("" for others).
func normalizeArch(a string) string {
	switch strings.ToLower(a) {
	case "x86", "i386", "386", "i686":
		return "x86"
	case "amd64", "x64", "x86_64", "x86-64":
		return "amd64"
	case "arm64", "aarch64":
		return "arm64"
	case "arm", "arm32":
		return "arm"
	}
	return ""
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
