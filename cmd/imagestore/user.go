package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/wdscapture/wdscapture/store/auth"
)

func init() {
	register(command{name: "user add", order: 50, args: "NAME [--group G]...",
		summary: "add a user to the users file (password from the terminal or stdin)", run: runUserAdd})
	register(command{name: "user passwd", order: 51, args: "NAME",
		summary: "change a user's password", run: runUserPasswd})
	register(command{name: "user del", order: 52, args: "NAME",
		summary: "delete a user (and their group memberships)", run: runUserDel})
	register(command{name: "user join", order: 53, args: "PRINCIPAL GROUP",
		summary: "make a user or group a member of a users-file group", run: runUserJoin})
	register(command{name: "user leave", order: 54, args: "PRINCIPAL GROUP",
		summary: "remove a member from a users-file group", run: runUserLeave})
	register(command{name: "user list", order: 55, args: "[--json]",
		summary: "list the users and groups of the users file", run: runUserList})
	register(command{name: "user domain", order: 56, args: "NAME [DNSNAME...]",
		summary: "set the users file's default domain (and its DNS names)", run: runUserDomain})
}

const userHelp = `The users file is ROOT/` + auth.ServerDir + `/users (mode 0600): DOMAIN\user accounts with
argon2id password hashes, and groups of principals. A bare NAME is in the file's default
domain (see user domain; a new file takes the host name).`

func userFlags(c *cli, name, args, help string) *flags {
	return newFlags(c, name, args, help+"\n\n"+userHelp, true)
}

// usersPath returns the users file path and a default domain for a new file.
func usersPath(f *flags) (string, string, error) {
	root, err := f.rootDir()
	if err != nil {
		return "", "", err
	}
	if _, err := auth.EnsureServerDir(root); err != nil {
		return "", "", err
	}
	return auth.UsersPath(root), defaultDomain(), nil
}

// loadUsers reads the users file for a check before the real update; a
// missing or unreadable file is an empty one with domain (UpdateUsers then
// reports the real error).
func loadUsers(path, domain string) *auth.Users {
	u, err := auth.LoadUsers(path)
	if err != nil {
		u = &auth.Users{}
		if domain != "" {
			u.Domains = []auth.Domain{{Name: domain}}
		}
	}
	return u
}

// defaultDomain derives a NetBIOS-style domain from the host name, as a
// Windows server's local accounts are HOST\user.
func defaultDomain() string {
	h, err := os.Hostname()
	if err != nil {
		return "IMAGESTORE"
	}
	h, _, _ = strings.Cut(h, ".")
	h = strings.ToUpper(h)
	if len(h) > 15 {
		h = h[:15]
	}
	if _, err := auth.ParsePrincipal(h + `\x`); err != nil || h == "" {
		return "IMAGESTORE"
	}
	return h
}

// principal turns NAME into DOMAIN\name using the file's default domain.
func principal(u *auth.Users, name string) (string, error) {
	n, err := auth.ParseName(name)
	if err != nil {
		return "", usageError{err.Error()}
	}
	switch {
	case n.Domain != "":
		return n.String(), nil
	case n.Realm != "":
		return "", usagef("give %q as DOMAIN\\name (the users file stores NetBIOS names)", name)
	}
	d := u.DefaultDomain()
	if d == "" {
		return "", usagef("%q has no domain and the users file has no default domain; give DOMAIN\\name", name)
	}
	return d + `\` + n.User, nil
}

// readPassword reads a new password: twice without echo from a terminal,
// or one line from a pipe. It never comes from the command line.
func readPassword(c *cli, prompt string) (string, error) {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(c.stderr, prompt+": ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(c.stderr, "Again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(p1) != string(p2) {
			return "", errors.New("the passwords do not match")
		}
		return checkNewPassword(string(p1))
	}
	p, err := readPasswordLine(c.stdin)
	if err != nil {
		return "", err
	}
	return checkNewPassword(p)
}

func checkNewPassword(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("the password is empty")
	case len(p) > auth.MaxPasswordLen:
		return "", fmt.Errorf("the password is longer than %d bytes", auth.MaxPasswordLen)
	case strings.ContainsAny(p, "\x00\n\r"):
		return "", errors.New("the password contains a NUL or line break")
	}
	return p, nil
}

func runUserAdd(c *cli, args []string) error {
	f := userFlags(c, "user add", "NAME [--group G]...", "Add a user. The password is read from the terminal (without echo, twice) or as\none line from stdin: echo \"$PW\" | imagestore user add NAME --root DIR")
	var groups multiFlag
	f.Var(&groups, "group", "also make the user a member of this users-file group (repeatable)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("user add takes one user NAME")
	}
	path, domain, err := usersPath(f)
	if err != nil {
		return err
	}
	// Check the name before asking for a password.
	var name string
	check := func(u *auth.Users) error {
		var err error
		if name, err = principal(u, pos[0]); err != nil {
			return err
		}
		if _, ok := u.User(name); ok {
			return fmt.Errorf("user %s exists already (change the password with: imagestore user passwd %s)", name, name)
		}
		if _, ok := u.Group(name); ok {
			return fmt.Errorf("%s is a group of the users file", name)
		}
		return nil
	}
	if err := check(loadUsers(path, domain)); err != nil {
		return err
	}
	pw, err := readPassword(c, "Password for "+name)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	err = auth.UpdateUsers(path, domain, func(u *auth.Users) error {
		if err := check(u); err != nil {
			return err
		}
		u.Users = append(u.Users, auth.User{Name: name, Hash: hash})
		for _, g := range groups {
			if err := join(u, name, g); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "user %s added\n", name)
	return nil
}

func runUserPasswd(c *cli, args []string) error {
	f := userFlags(c, "user passwd", "NAME", "Change a user's password (read as for user add).")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("user passwd takes one user NAME")
	}
	path, _, err := usersPath(f)
	if err != nil {
		return err
	}
	if _, err := loadUsers(path, "").Resolve(pos[0]); err != nil {
		return err
	}
	pw, err := readPassword(c, "New password for "+pos[0])
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	var name string
	err = auth.UpdateUsers(path, "", func(u *auth.Users) error {
		usr, err := u.Resolve(pos[0])
		if err != nil {
			return err
		}
		usr.Hash, name = hash, usr.Name
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "password of %s changed\n", name)
	return nil
}

func runUserDel(c *cli, args []string) error {
	f := userFlags(c, "user del", "NAME", "Delete a user and remove them from every users-file group.")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("user del takes one user NAME")
	}
	path, _, err := usersPath(f)
	if err != nil {
		return err
	}
	var name string
	err = auth.UpdateUsers(path, "", func(u *auth.Users) error {
		usr, err := u.Resolve(pos[0])
		if err != nil {
			return err
		}
		name = usr.Name
		u.Users = slices.DeleteFunc(u.Users, func(x auth.User) bool { return x.Name == name })
		leaveAll(u, name)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "user %s deleted\n", name)
	return nil
}

// join makes member (DOMAIN\name) a member of group, creating the group.
func join(u *auth.Users, member, group string) error {
	g, err := principal(u, group)
	if err != nil {
		return err
	}
	if _, ok := u.User(g); ok {
		return fmt.Errorf("%s is a user, not a group", g)
	}
	if strings.EqualFold(g, member) {
		return fmt.Errorf("%s cannot be a member of itself", g)
	}
	grp, ok := u.Group(g)
	if !ok {
		u.Groups = append(u.Groups, auth.Group{Name: g})
		grp = &u.Groups[len(u.Groups)-1]
	}
	if slices.ContainsFunc(grp.Members, func(m string) bool { return strings.EqualFold(m, member) }) {
		return fmt.Errorf("%s is already a member of %s", member, grp.Name)
	}
	grp.Members = append(grp.Members, member)
	return nil
}

// leaveAll removes member from every group; groups left empty go.
func leaveAll(u *auth.Users, member string) {
	for i := range u.Groups {
		u.Groups[i].Members = slices.DeleteFunc(u.Groups[i].Members, func(m string) bool { return strings.EqualFold(m, member) })
	}
	u.Groups = slices.DeleteFunc(u.Groups, func(g auth.Group) bool { return len(g.Members) == 0 })
}

func runUserJoin(c *cli, args []string) error {
	f := userFlags(c, "user join", "PRINCIPAL GROUP", "Make PRINCIPAL (a user or group of the file, or any DOMAIN\\name of a directory)\na member of the users-file GROUP, which is created if needed. Groups may nest.")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("user join takes a PRINCIPAL and a GROUP")
	}
	path, domain, err := usersPath(f)
	if err != nil {
		return err
	}
	var member, group string
	err = auth.UpdateUsers(path, domain, func(u *auth.Users) error {
		if usr, err := u.Resolve(pos[0]); err == nil {
			member = usr.Name
		} else if member, err = principal(u, pos[0]); err != nil {
			return err
		}
		if group, err = principal(u, pos[1]); err != nil {
			return err
		}
		return join(u, member, group)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s is now a member of %s\n", member, group)
	return nil
}

func runUserLeave(c *cli, args []string) error {
	f := userFlags(c, "user leave", "PRINCIPAL GROUP", "Remove PRINCIPAL from the users-file GROUP (an empty group is removed).")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("user leave takes a PRINCIPAL and a GROUP")
	}
	path, _, err := usersPath(f)
	if err != nil {
		return err
	}
	var member, group string
	err = auth.UpdateUsers(path, "", func(u *auth.Users) error {
		if usr, err := u.Resolve(pos[0]); err == nil {
			member = usr.Name
		} else if member, err = principal(u, pos[0]); err != nil {
			return err
		}
		g, err := principal(u, pos[1])
		if err != nil {
			return err
		}
		grp, ok := u.Group(g)
		if !ok {
			return fmt.Errorf("no group %s in the users file", g)
		}
		group = grp.Name
		n := len(grp.Members)
		grp.Members = slices.DeleteFunc(grp.Members, func(m string) bool { return strings.EqualFold(m, member) })
		if len(grp.Members) == n {
			return fmt.Errorf("%s is not a member of %s", member, group)
		}
		u.Groups = slices.DeleteFunc(u.Groups, func(g auth.Group) bool { return len(g.Members) == 0 })
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s is no longer a member of %s\n", member, group)
	return nil
}

func runUserDomain(c *cli, args []string) error {
	f := userFlags(c, "user domain", "NAME [DNSNAME...]", "Set the default domain of bare user names (and the DNS names user@dnsname\nmeans it by). Existing accounts keep their names.")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) < 1 {
		return usagef("user domain takes a NAME and optional DNS names")
	}
	path, _, err := usersPath(f)
	if err != nil {
		return err
	}
	return auth.UpdateUsers(path, "", func(u *auth.Users) error {
		d := auth.Domain{Name: pos[0], DNS: pos[1:]}
		u.Domains = slices.DeleteFunc(u.Domains, func(o auth.Domain) bool { return strings.EqualFold(o.Name, d.Name) })
		u.Domains = append([]auth.Domain{d}, u.Domains...)
		return nil
	})
}

type userJSON struct {
	Name     string `json:"name"`
	Disabled bool   `json:"disabled,omitempty"`
	// MemberOf lists the users-file groups the user is in, nesting included.
	MemberOf []string `json:"member_of"`
}

type usersJSON struct {
	DefaultDomain string       `json:"default_domain"`
	Users         []userJSON   `json:"users"`
	Groups        []auth.Group `json:"groups"`
}

func runUserList(c *cli, args []string) error {
	f := userFlags(c, "user list", "[--json]", "List the users (never their hashes) and groups of the users file.")
	asJSON := f.Bool("json", false, "print JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("user list takes no arguments")
	}
	root, err := f.rootDir()
	if err != nil {
		return err
	}
	u, err := auth.LoadUsers(auth.UsersPath(root))
	if errors.Is(err, os.ErrNotExist) {
		u = &auth.Users{}
	} else if err != nil {
		return err
	}
	out := usersJSON{DefaultDomain: u.DefaultDomain(), Users: []userJSON{}, Groups: u.Groups}
	if out.Groups == nil {
		out.Groups = []auth.Group{}
	}
	for _, usr := range u.Users {
		out.Users = append(out.Users, userJSON{Name: usr.Name, Disabled: usr.Disabled, MemberOf: nonNil(u.GroupsOf(usr.Name))})
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(u.Users) == 0 && len(u.Groups) == 0 {
		fmt.Fprintln(c.stdout, "no users (add one with: imagestore user add NAME)")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tSTATE\tMEMBER OF")
	for _, usr := range out.Users {
		state := "enabled"
		if usr.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", usr.Name, state, strings.Join(usr.MemberOf, ", "))
	}
	tw.Flush()
	if len(u.Groups) > 0 {
		fmt.Fprintln(c.stdout)
		tw = tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tMEMBERS")
		for _, g := range u.Groups {
			fmt.Fprintf(tw, "%s\t%s\n", g.Name, strings.Join(g.Members, ", "))
		}
		tw.Flush()
	}
	return nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
