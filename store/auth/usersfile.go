package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/wdscapture/wdscapture/internal/atomicfile"
)

// Users is the content of a users file.
//
// The file is text, one record a line, fields separated by one TAB; blank
// lines and lines starting with '#' are comments:
//
//	domain	STORE	[store.example.com ...]
//	user	STORE\jdoe	$argon2id$v=19$m=65536,t=3,p=4$SALT$KEY	[disabled]
//	group	STORE\Imaging	STORE\jdoe	CONTOSO\Deployment Admins
//
// The first domain line names the default domain of bare user names; each
// domain line may list DNS names that user@dnsname resolves to it. A
// group's members are any principals: users of the file, other groups of
// the file (nesting), or directory users and groups.
type Users struct {
	Domains []Domain
	Users   []User
	Groups  []Group
}

// Domain is a NetBIOS domain name and the DNS names that mean it.
type Domain struct {
	Name string
	DNS  []string
}

// User is an account of the users file.
type User struct {
	Name     string // DOMAIN\user
	Hash     string // argon2id, PHC format
	Disabled bool
}

// Group is a group of principals.
type Group struct {
	Name    string   `json:"name"` // DOMAIN\group
	Members []string `json:"members"`
}

// maxUsersFile bounds the users file read into memory.
const maxUsersFile = 16 << 20

// ParseError reports a malformed users file line.
type ParseError struct {
	Path string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}

// ParseUsers decodes a users file; path is used in error messages only.
func ParseUsers(data []byte, path string) (*Users, error) {
	if len(data) > maxUsersFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxUsersFile)
	}
	u := &Users{}
	seen := map[string]string{} // lower-case name -> kind
	line := 0
	for len(data) > 0 {
		line++
		var l []byte
		l, data, _ = bytes.Cut(data, []byte{'\n'})
		l = bytes.TrimSuffix(l, []byte{'\r'})
		s := string(l)
		if strings.TrimSpace(s) == "" || strings.HasPrefix(s, "#") {
			continue
		}
		bad := func(format string, args ...any) error {
			return &ParseError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)}
		}
		f := strings.Split(s, "\t")
		switch f[0] {
		case "domain":
			if len(f) < 2 {
				return nil, bad("domain line without a name")
			}
			d := Domain{Name: f[1], DNS: f[2:]}
			if _, err := ParsePrincipal(d.Name + `\x`); err != nil || d.Name == "" {
				return nil, bad("bad domain name %q", d.Name)
			}
			for _, dns := range d.DNS {
				if _, err := ParseName("x@" + dns); err != nil {
					return nil, bad("bad DNS name %q", dns)
				}
			}
			for _, o := range u.Domains {
				if strings.EqualFold(o.Name, d.Name) {
					return nil, bad("domain %s listed twice", d.Name)
				}
			}
			u.Domains = append(u.Domains, d)
		case "user":
			if len(f) < 3 || len(f) > 4 {
				return nil, bad("want user<TAB>DOMAIN\\name<TAB>hash[<TAB>disabled]")
			}
			if _, err := ParsePrincipal(f[1]); err != nil {
				return nil, bad("%v", err)
			}
			if err := CheckHash(f[2]); err != nil {
				return nil, bad("user %s: %v", f[1], err)
			}
			usr := User{Name: f[1], Hash: f[2]}
			if len(f) == 4 {
				if f[3] != "disabled" {
					return nil, bad("unknown user flag %q (only \"disabled\")", f[3])
				}
				usr.Disabled = true
			}
			k := strings.ToLower(usr.Name)
			if kind, dup := seen[k]; dup {
				return nil, bad("%s is already a %s", usr.Name, kind)
			}
			seen[k] = "user"
			u.Users = append(u.Users, usr)
		case "group":
			if len(f) < 2 {
				return nil, bad("group line without a name")
			}
			if _, err := ParsePrincipal(f[1]); err != nil {
				return nil, bad("%v", err)
			}
			g := Group{Name: f[1]}
			for _, m := range f[2:] {
				if _, err := ParsePrincipal(m); err != nil {
					return nil, bad("group %s: %v", g.Name, err)
				}
				if slices.ContainsFunc(g.Members, func(o string) bool { return strings.EqualFold(o, m) }) {
					return nil, bad("group %s lists %s twice", g.Name, m)
				}
				g.Members = append(g.Members, m)
			}
			k := strings.ToLower(g.Name)
			if kind, dup := seen[k]; dup {
				return nil, bad("%s is already a %s", g.Name, kind)
			}
			seen[k] = "group"
			u.Groups = append(u.Groups, g)
		default:
			return nil, bad("unknown record %q (want domain, user or group)", f[0])
		}
	}
	return u, nil
}

// Marshal encodes u in the users file format.
func (u *Users) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("# imagestore users file: edit with `imagestore user`. Fields are separated by one TAB.\n")
	for _, d := range u.Domains {
		b.WriteString(strings.Join(append([]string{"domain", d.Name}, d.DNS...), "\t") + "\n")
	}
	for _, usr := range u.Users {
		fmt.Fprintf(&b, "user\t%s\t%s", usr.Name, usr.Hash)
		if usr.Disabled {
			b.WriteString("\tdisabled")
		}
		b.WriteByte('\n')
	}
	for _, g := range u.Groups {
		b.WriteString(strings.Join(append([]string{"group", g.Name}, g.Members...), "\t") + "\n")
	}
	return b.Bytes()
}

// DefaultDomain returns the domain of bare names, "" when none is set.
func (u *Users) DefaultDomain() string {
	if len(u.Domains) == 0 {
		return ""
	}
	return u.Domains[0].Name
}

// User returns the user named exactly (case-insensitively) by principal.
func (u *Users) User(principal string) (*User, bool) {
	for i := range u.Users {
		if strings.EqualFold(u.Users[i].Name, principal) {
			return &u.Users[i], true
		}
	}
	return nil, false
}

// Group returns the group named principal.
func (u *Users) Group(principal string) (*Group, bool) {
	for i := range u.Groups {
		if strings.EqualFold(u.Groups[i].Name, principal) {
			return &u.Groups[i], true
		}
	}
	return nil, false
}

// AmbiguousNameError reports a bare name that matches users of several
// domains.
type AmbiguousNameError struct {
	Name    string
	Matches []string
}

func (e *AmbiguousNameError) Error() string {
	return fmt.Sprintf("%q is ambiguous: it may be %s; give DOMAIN\\name", e.Name, strings.Join(e.Matches, " or "))
}

// Resolve finds the user a login name means: DOMAIN\user as it is;
// user@dns through the domains' DNS names (or the NetBIOS name, or the
// first label of the DNS name); a bare name in the default domain, else in
// whichever single domain has it. It returns ErrUnknownUser when no user
// matches.
func (u *Users) Resolve(name string) (*User, error) {
	n, err := ParseName(name)
	if err != nil {
		return nil, err
	}
	switch {
	case n.Domain != "":
		if usr, ok := u.User(n.String()); ok {
			return usr, nil
		}
	case n.Realm != "":
		for _, d := range u.realmDomains(n.Realm) {
			if usr, ok := u.User(d + `\` + n.User); ok {
				return usr, nil
			}
		}
	default:
		if d := u.DefaultDomain(); d != "" {
			if usr, ok := u.User(d + `\` + n.User); ok {
				return usr, nil
			}
		}
		var found []*User
		for i := range u.Users {
			_, un, _ := strings.Cut(u.Users[i].Name, `\`)
			if strings.EqualFold(un, n.User) {
				found = append(found, &u.Users[i])
			}
		}
		if len(found) == 1 {
			return found[0], nil
		}
		if len(found) > 1 {
			e := &AmbiguousNameError{Name: name}
			for _, f := range found {
				e.Matches = append(e.Matches, f.Name)
			}
			return nil, e
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownUser, name)
}

// realmDomains returns the NetBIOS domains a DNS realm may mean.
func (u *Users) realmDomains(realm string) []string {
	var exact, guess []string
	first, _, _ := strings.Cut(realm, ".")
	for _, d := range u.Domains {
		for _, dns := range d.DNS {
			if strings.EqualFold(dns, realm) {
				exact = append(exact, d.Name)
			}
		}
		if strings.EqualFold(d.Name, realm) || strings.EqualFold(d.Name, first) {
			guess = append(guess, d.Name)
		}
	}
	if len(exact) > 0 {
		return exact
	}
	if len(guess) == 0 {
		// Users of domains without a domain line: match the first label.
		seen := map[string]bool{}
		for _, usr := range u.Users {
			d, _, _ := strings.Cut(usr.Name, `\`)
			if strings.EqualFold(d, first) && !seen[strings.ToLower(d)] {
				seen[strings.ToLower(d)] = true
				guess = append(guess, d)
			}
		}
	}
	return guess
}

// GroupsOf returns every group of the file that has any of principals as a
// member, directly or through other groups of the file.
func (u *Users) GroupsOf(principals ...string) []string {
	in := map[string]bool{}
	for _, p := range principals {
		in[strings.ToLower(p)] = true
	}
	var out []string
	for changed := true; changed; {
		changed = false
		for _, g := range u.Groups {
			k := strings.ToLower(g.Name)
			if in[k] {
				continue
			}
			for _, m := range g.Members {
				if in[strings.ToLower(m)] {
					in[k] = true
					out = append(out, g.Name)
					changed = true
					break
				}
			}
		}
	}
	return out
}

// LoadUsers reads and parses the users file at path. A file that others may
// read or write is refused: it holds password hashes.
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkMode(path, st); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxUsersFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return ParseUsers(data, path)
}

// ErrInsecureMode is wrapped when a users file is open to other users.
var ErrInsecureMode = errors.New("users file is accessible to other users")

func checkMode(path string, st os.FileInfo) error {
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s: %w (mode %04o); run: chmod 600 %s", path, ErrInsecureMode, st.Mode().Perm(), path)
	}
	return nil
}

// SaveUsers writes u to path crash-safely: a new file (mode 0600) beside
// it, synced, renamed over the old one, and the directory synced. A crash
// leaves the old file or the new one, never a mix.
func SaveUsers(path string, u *Users) error {
	if err := atomicfile.Write(path, u.Marshal(), 0o600); err != nil {
		return fmt.Errorf("save users: %w", err)
	}
	return nil
}

// UpdateUsers reads the users file at path (an empty one with domain
// newDomain when it does not exist), lets fn change it, and saves it, all
// under an exclusive lock so that two admins' commands do not lose each
// other's changes. fn's error aborts without writing.
func UpdateUsers(path, newDomain string, fn func(u *Users) error) error {
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	u, err := LoadUsers(path)
	if errors.Is(err, os.ErrNotExist) {
		u = &Users{}
		if newDomain != "" {
			u.Domains = []Domain{{Name: newDomain}}
		}
	} else if err != nil {
		return err
	}
	if err := fn(u); err != nil {
		return err
	}
	if _, err := ParseUsers(u.Marshal(), path); err != nil {
		return fmt.Errorf("the change would make an invalid users file: %w", err)
	}
	return SaveUsers(path, u)
}

// ServerDir is the folder under the store root that holds the server's
// own files (users file, TLS certificate, staged uploads); it is never
// served or listed.
const ServerDir = "Server"

// UsersPath returns where the users file of the store at root lives:
// ROOT/Server/users.
func UsersPath(root string) string { return filepath.Join(root, ServerDir, "users") }

// EnsureServerDir creates ROOT/Server with mode 0700 and returns its path.
func EnsureServerDir(root string) (string, error) {
	dir := filepath.Join(root, ServerDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o700)
}
