package auth

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wdscapture/wdscapture/store"
)

// Limits on principal names. Windows allows 15 characters for a NetBIOS
// domain name and 256 for a sAMAccountName or group name; the limits here
// are generous but bounded, since names arrive from the network.
const (
	MaxDomainLen = 64
	MaxUserLen   = 256
	// MaxNameLen bounds a whole name as a client may send it (UPN forms
	// carry a DNS domain).
	MaxNameLen = 512
)

// AuthenticatedUsers is the well-known group every authenticated token
// carries, as Windows adds it to every logon. The store's default read ACL
// names it.
const AuthenticatedUsers = store.AuthenticatedUsers

// Name is a parsed principal name. Exactly one of the forms applies:
// Domain set (DOMAIN\user), Realm set (user@realm) or neither (bare user).
type Name struct {
	Domain string // NetBIOS domain of DOMAIN\user
	Realm  string // DNS domain of user@realm
	User   string
}

// String returns the name in the form it was given.
func (n Name) String() string {
	switch {
	case n.Domain != "":
		return n.Domain + `\` + n.User
	case n.Realm != "":
		return n.User + "@" + n.Realm
	}
	return n.User
}

// NameError reports a principal name that cannot be used.
type NameError struct {
	Name   string
	Reason string
}

func (e *NameError) Error() string { return fmt.Sprintf("principal name %q: %s", e.Name, e.Reason) }

// ParseName splits a principal name given as DOMAIN\user, user@domain or
// user. It refuses empty parts, control characters, more than one
// separator and overlong names; it does not check that the account exists.
func ParseName(s string) (Name, error) {
	bad := func(reason string) (Name, error) { return Name{}, &NameError{Name: s, Reason: reason} }
	if len(s) > MaxNameLen {
		return bad(fmt.Sprintf("longer than %d bytes", MaxNameLen))
	}
	if !utf8.ValidString(s) {
		return bad("not valid UTF-8")
	}
	if strings.TrimSpace(s) != s {
		return bad("leading or trailing white space")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return bad("contains a control character")
		}
	}
	if strings.Count(s, `\`) > 1 {
		return bad(`more than one '\'`)
	}
	var n Name
	if d, u, ok := strings.Cut(s, `\`); ok {
		if strings.Contains(s, "@") {
			// sAMAccountNames may not contain '@'; DOMAIN\user@x is a typo.
			return bad(`has both '\' and '@'`)
		}
		n = Name{Domain: d, User: u}
	} else if i := strings.LastIndexByte(s, '@'); i >= 0 {
		n = Name{User: s[:i], Realm: s[i+1:]}
		if n.Realm == "" {
			return bad("nothing after '@'")
		}
		if strings.Contains(n.User, "@") {
			return bad("more than one '@'")
		}
	} else {
		n = Name{User: s}
	}
	if n.User == "" {
		return bad("the user part is empty")
	}
	if len(n.User) > MaxUserLen {
		return bad(fmt.Sprintf("the user part is longer than %d bytes", MaxUserLen))
	}
	if strings.ContainsAny(n.User, "\t/:*?\"<>|") {
		return bad(`the user part contains one of TAB / : * ? " < > |`)
	}
	if n.Domain != "" || strings.HasPrefix(s, `\`) {
		if n.Domain == "" {
			return bad(`nothing before '\'`)
		}
		if len(n.Domain) > MaxDomainLen {
			return bad(fmt.Sprintf("the domain is longer than %d bytes", MaxDomainLen))
		}
		if strings.ContainsAny(n.Domain, "\t/:*?\"<>|@") {
			return bad(`the domain contains one of TAB / : * ? " < > | @`)
		}
	}
	if n.Realm != "" && strings.ContainsAny(n.Realm, "\t/\\:*?\"<>| ") {
		return bad("the domain after '@' is not a DNS name")
	}
	return n, nil
}

// ParsePrincipal parses a name that must be in DOMAIN\name form, as
// principals in the users file and in ACLs are.
func ParsePrincipal(s string) (Name, error) {
	n, err := ParseName(s)
	if err != nil {
		return Name{}, err
	}
	if n.Domain == "" {
		return Name{}, &NameError{Name: s, Reason: `not in DOMAIN\name form`}
	}
	return n, nil
}

// SameName compares principal names case-insensitively, as Windows does.
func SameName(a, b string) bool { return strings.EqualFold(a, b) }
