package ldapauth

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wdscapture/wdscapture/internal/jsondur"
	"github.com/wdscapture/wdscapture/store/auth"
)

// Kinds of directory server.
const (
	// KindAD is Active Directory (or AD LDS): sAMAccountName and
	// userPrincipalName, userAccountControl and accountExpires, the
	// primary group from primaryGroupID and objectSid.
	KindAD = "ad"
	// KindOpenLDAP is an RFC 4519/2307 directory such as OpenLDAP: uid,
	// inetOrgPerson and groupOfNames, ppolicy's pwdAccountLockedTime and
	// shadowExpire.
	KindOpenLDAP = "openldap"
)

// Ways of finding nested groups.
const (
	// NestingAuto uses NestingInChain when the server announces Active
	// Directory's capability in its root DSE, NestingWalk otherwise.
	NestingAuto = "auto"
	// NestingInChain asks the server for every group that has the user
	// as a member, directly or not, with Active Directory's
	// LDAP_MATCHING_RULE_IN_CHAIN (1.2.840.113556.1.4.1941): one search.
	NestingInChain = "in-chain"
	// NestingWalk searches the groups that list the user in `member`,
	// then the groups that list those, level by level, with a bound on
	// depth and count (and cycles cut): works on every LDAP server.
	NestingWalk = "walk"
)

// Config is the directory section of the image store's configuration
// (the "directory" object of serve.json). Only the URL, base DN and
// domain are required; the rest has defaults per Kind. The service
// account's password is never in the configuration itself: it is read
// from a file or an environment variable when the backend opens.
type Config struct {
	// URLs are ldaps://host[:port] or ldap://host[:port] addresses of
	// the directory's servers, tried in order (the last one that worked
	// first).
	URLs []string `json:"urls"`
	// StartTLS upgrades ldap:// connections with the StartTLS operation.
	StartTLS bool `json:"start_tls,omitempty"`
	// CAFile is a PEM file of the certificate authorities that issued
	// the servers' certificates; empty: the system's.
	CAFile string `json:"ca_file,omitempty"`
	// AllowPlaintext permits ldap:// without StartTLS to a host that is
	// not loopback. Passwords then cross the network in clear: labs only.
	AllowPlaintext bool `json:"allow_plaintext,omitempty"`

	// BaseDN is where users and groups are searched (subtree).
	BaseDN string `json:"base_dn"`
	// Domain is the domain's NetBIOS name: users and groups are
	// DOMAIN\name in tokens and ACLs.
	Domain string `json:"domain"`
	// DNSDomain is the domain's DNS name (user@DNSDomain logins); empty:
	// the DC= parts of BaseDN.
	DNSDomain string `json:"dns_domain,omitempty"`
	// UPNSuffixes are further DNS names after '@' that mean this domain
	// (Active Directory's alternative UPN suffixes). A user@realm login
	// whose realm is none of DNSDomain, UPNSuffixes and Domain is not
	// this directory's: it is not searched.
	UPNSuffixes []string `json:"upn_suffixes,omitempty"`
	// Kind is KindAD (default) or KindOpenLDAP.
	Kind string `json:"kind,omitempty"`

	// BindDN is the service account that searches users and groups.
	// Empty: searches are anonymous (Active Directory needs an account).
	BindDN string `json:"bind_dn,omitempty"`
	// BindPasswordFile is a file (mode 0600 or 0640) holding the service
	// account's password; a final newline is ignored.
	BindPasswordFile string `json:"bind_password_file,omitempty"`
	// BindPasswordEnv names an environment variable holding it instead.
	BindPasswordEnv string `json:"bind_password_env,omitempty"`

	// UserFilter selects user entries; default per Kind.
	UserFilter string `json:"user_filter,omitempty"`
	// GroupFilter selects group entries; default per Kind.
	GroupFilter string `json:"group_filter,omitempty"`
	// LoginAttribute holds the user name of DOMAIN\name and bare logins
	// (sAMAccountName, uid).
	LoginAttribute string `json:"login_attribute,omitempty"`
	// UPNAttribute holds user@domain names (userPrincipalName); "none"
	// for none: user@DNSDomain then means the login name.
	UPNAttribute string `json:"upn_attribute,omitempty"`
	// GroupNameAttribute holds a group's name (sAMAccountName, cn).
	GroupNameAttribute string `json:"group_name_attribute,omitempty"`
	// MemberAttribute lists a group's members by DN (member).
	MemberAttribute string `json:"member_attribute,omitempty"`

	// Nesting is NestingAuto (default), NestingInChain or NestingWalk.
	Nesting string `json:"nesting,omitempty"`
	// MaxDepth bounds how many levels of nesting a walk follows
	// (default 16); MaxGroups how many groups a token gets (default 1024).
	MaxDepth  int `json:"max_depth,omitempty"`
	MaxGroups int `json:"max_groups,omitempty"`

	// CacheTTL is how long a user's token is reused before the directory
	// is asked again (default 2m, at most 1h).
	CacheTTL Duration `json:"cache_ttl,omitzero"`
	// Timeout bounds one connection attempt or request (default 10s).
	Timeout Duration `json:"timeout,omitzero"`
	// MaxConnections bounds the connections open to the directory at
	// once (default 8).
	MaxConnections int `json:"max_connections,omitempty"`
}

// Defaults of Config.
const (
	DefaultCacheTTL       = 2 * time.Minute
	DefaultTimeout        = 10 * time.Second
	DefaultMaxConnections = 8
	DefaultMaxDepth       = 16
	DefaultMaxGroups      = 1024
	maxCacheTTL           = time.Hour
)

// Duration is a time.Duration written as "30m" in JSON.
type Duration = jsondur.Duration

// ConfigError reports a directory configuration that cannot work; Field
// is the JSON name of the setting at fault.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("directory %s: %s", e.Field, e.Msg) }

func cfgErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ParseConfig decodes a directory section (JSON, unknown fields refused)
// and checks it.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("directory: %w", err)
	}
	if dec.More() {
		return Config{}, errors.New("directory: data after the object")
	}
	return c, c.Check()
}

// Check reports the first setting that cannot work (as a *ConfigError).
// It does not read the password or CA files; Open does.
func (c Config) Check() error {
	_, err := c.resolve()
	return err
}

// resolved is a checked Config with its defaults filled in.
type resolved struct {
	Config
	urls      []*url.URL
	dnsNames  []string // DNSDomain first, then UPNSuffixes, lower case
	userAttrs []string // attributes read from a user entry
}

// resolve checks c and fills in the defaults.
func (c Config) resolve() (*resolved, error) {
	r := &resolved{Config: c}
	r.URLs = append([]string(nil), c.URLs...)
	r.UPNSuffixes = append([]string(nil), c.UPNSuffixes...)
	if len(c.URLs) == 0 {
		return nil, cfgErr("urls", "no server: give at least one ldaps:// or ldap:// URL")
	}
	for _, s := range c.URLs {
		u, err := checkURL(s, c.StartTLS, c.AllowPlaintext)
		if err != nil {
			return nil, err
		}
		r.urls = append(r.urls, u)
	}
	if c.BaseDN == "" {
		return nil, cfgErr("base_dn", "empty (e.g. DC=contoso,DC=com)")
	}
	base, err := ldap.ParseDN(c.BaseDN)
	if err != nil || len(base.RDNs) == 0 {
		return nil, cfgErr("base_dn", "%q is not a distinguished name", c.BaseDN)
	}
	if c.Domain == "" {
		return nil, cfgErr("domain", `empty: the NetBIOS name of the domain, as in DOMAIN\user`)
	}
	if _, err := auth.ParsePrincipal(c.Domain + `\x`); err != nil || strings.Contains(c.Domain, ".") {
		return nil, cfgErr("domain", "%q is not a NetBIOS domain name (e.g. CONTOSO, no dots)", c.Domain)
	}
	if r.DNSDomain == "" {
		r.DNSDomain = DNSDomainOf(base)
	}
	for _, d := range append([]string{r.DNSDomain}, r.UPNSuffixes...) {
		if d == "" {
			continue
		}
		if _, err := auth.ParseName("x@" + d); err != nil {
			return nil, cfgErr("dns_domain", "%q is not a DNS name", d)
		}
		r.dnsNames = append(r.dnsNames, strings.ToLower(d))
	}
	switch r.Kind {
	case "", KindAD:
		r.Kind = KindAD
		setDefault(&r.UserFilter, "(sAMAccountType=805306368)")
		setDefault(&r.GroupFilter, "(objectClass=group)")
		setDefault(&r.LoginAttribute, "sAMAccountName")
		setDefault(&r.UPNAttribute, "userPrincipalName")
		setDefault(&r.GroupNameAttribute, "sAMAccountName")
		if r.BindDN == "" {
			return nil, cfgErr("bind_dn", "Active Directory does not answer anonymous searches: name a service account (and bind_password_file)")
		}
	case KindOpenLDAP:
		setDefault(&r.UserFilter, "(objectClass=inetOrgPerson)")
		setDefault(&r.GroupFilter, "(objectClass=groupOfNames)")
		setDefault(&r.LoginAttribute, "uid")
		setDefault(&r.UPNAttribute, "none")
		setDefault(&r.GroupNameAttribute, "cn")
	default:
		return nil, cfgErr("kind", "%q: want %q or %q", r.Kind, KindAD, KindOpenLDAP)
	}
	setDefault(&r.MemberAttribute, "member")
	if r.UPNAttribute == "none" {
		r.UPNAttribute = ""
	}
	for field, f := range map[string]string{"user_filter": r.UserFilter, "group_filter": r.GroupFilter} {
		if _, err := ldap.CompileFilter(f); err != nil {
			return nil, cfgErr(field, "%q: %v", f, err)
		}
	}
	for field, a := range map[string]string{"login_attribute": r.LoginAttribute, "upn_attribute": r.UPNAttribute,
		"group_name_attribute": r.GroupNameAttribute, "member_attribute": r.MemberAttribute} {
		if a != "" && !validAttribute(a) {
			return nil, cfgErr(field, "%q is not an attribute name", a)
		}
	}
	setDefault(&r.Nesting, NestingAuto)
	switch r.Nesting {
	case NestingAuto, NestingInChain, NestingWalk:
	default:
		return nil, cfgErr("nesting", "%q: want %q, %q or %q", r.Nesting, NestingAuto, NestingInChain, NestingWalk)
	}
	if r.BindDN != "" {
		if _, err := ldap.ParseDN(r.BindDN); err != nil {
			return nil, cfgErr("bind_dn", "not a distinguished name")
		}
		if (r.BindPasswordFile == "") == (r.BindPasswordEnv == "") {
			return nil, cfgErr("bind_password_file", "give the service account's password in bind_password_file or bind_password_env (one of them)")
		}
	} else if r.BindPasswordFile != "" || r.BindPasswordEnv != "" {
		return nil, cfgErr("bind_dn", "a password is configured but no service account")
	}
	if r.CacheTTL == 0 {
		r.CacheTTL = Duration(DefaultCacheTTL)
	}
	if r.CacheTTL.D() > maxCacheTTL {
		return nil, cfgErr("cache_ttl", "%s is longer than %s: group changes and disabled accounts would go unnoticed", r.CacheTTL.D(), maxCacheTTL)
	}
	if r.Timeout == 0 {
		r.Timeout = Duration(DefaultTimeout)
	}
	if r.MaxConnections == 0 {
		r.MaxConnections = DefaultMaxConnections
	}
	if r.MaxDepth == 0 {
		r.MaxDepth = DefaultMaxDepth
	}
	if r.MaxGroups == 0 {
		r.MaxGroups = DefaultMaxGroups
	}
	if r.MaxConnections < 1 || r.MaxDepth < 1 || r.MaxGroups < 1 {
		return nil, cfgErr("max_connections", "max_connections, max_depth and max_groups must be positive")
	}
	r.userAttrs = []string{r.LoginAttribute, "cn"}
	if r.UPNAttribute != "" {
		r.userAttrs = append(r.userAttrs, r.UPNAttribute)
	}
	if r.Kind == KindAD {
		r.userAttrs = append(r.userAttrs, attrUAC, attrAccountExpires, attrObjectSID, attrPrimaryGroupID)
	} else {
		r.userAttrs = append(r.userAttrs, attrLockedTime, attrShadowExpire)
	}
	return r, nil
}

func (c *Config) tlsConfig(host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, cfgErr("ca_file", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, cfgErr("ca_file", "%s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// bindPassword reads the service account's password.
func (c *Config) bindPassword() (string, error) {
	switch {
	case c.BindDN == "":
		return "", nil
	case c.BindPasswordEnv != "":
		pw, ok := os.LookupEnv(c.BindPasswordEnv)
		if !ok || pw == "" {
			return "", cfgErr("bind_password_env", "$%s is not set or empty", c.BindPasswordEnv)
		}
		return pw, nil
	}
	f, err := os.Open(c.BindPasswordFile)
	if err != nil {
		return "", cfgErr("bind_password_file", "%v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", cfgErr("bind_password_file", "%v", err)
	}
	if !st.Mode().IsRegular() {
		return "", cfgErr("bind_password_file", "%s is not a regular file", c.BindPasswordFile)
	}
	if st.Mode().Perm()&0o007 != 0 {
		return "", cfgErr("bind_password_file", "%s may be read by every user (mode %04o); run: chmod 600 %s",
			c.BindPasswordFile, st.Mode().Perm(), c.BindPasswordFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", cfgErr("bind_password_file", "%v", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if pw == "" {
		return "", cfgErr("bind_password_file", "%s is empty", c.BindPasswordFile)
	}
	if strings.ContainsAny(pw, "\r\n") {
		return "", cfgErr("bind_password_file", "%s has more than one line", c.BindPasswordFile)
	}
	return pw, nil
}

func setDefault(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// validAttribute reports whether a is an attribute description: a name
// (letter, then letters, digits, '-') or a numeric OID.
func validAttribute(a string) bool {
	if a == "" || len(a) > 128 {
		return false
	}
	if a[0] >= '0' && a[0] <= '9' {
		for _, r := range a {
			if (r < '0' || r > '9') && r != '.' {
				return false
			}
		}
		return true
	}
	for i, r := range a {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (i == 0 || (r < '0' || r > '9') && r != '-') {
			return false
		}
	}
	return true
}

// checkURL parses a directory URL and refuses what would send passwords
// in clear.
func checkURL(s string, startTLS, allowPlain bool) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, cfgErr("urls", "%q: %v", s, err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, cfgErr("urls", "%q has no host", s)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, cfgErr("urls", "%q: give scheme://host[:port] only (the base DN is base_dn)", s)
	}
	switch u.Scheme {
	case "ldaps":
		if startTLS {
			return nil, cfgErr("start_tls", "%q is already TLS (ldaps://); StartTLS goes with ldap://", s)
		}
	case "ldap":
		if !startTLS && !allowPlain && !isLoopback(u.Hostname()) {
			return nil, cfgErr("urls", "%q would send passwords in clear: use ldaps://, or start_tls, or (labs only) allow_plaintext", s)
		}
	default:
		return nil, cfgErr("urls", "%q: the scheme must be ldaps or ldap", s)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return nil, cfgErr("urls", "%q: bad port", s)
		}
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// DNSDomainOf returns the DNS name the DC= components of dn spell
// (DC=contoso,DC=com → contoso.com), "" when it has none.
func DNSDomainOf(dn *ldap.DN) string {
	var labels []string
	for _, rdn := range dn.RDNs {
		for _, a := range rdn.Attributes {
			if strings.EqualFold(a.Type, "dc") && a.Value != "" {
				labels = append(labels, strings.ToLower(a.Value))
			}
		}
	}
	return strings.Join(labels, ".")
}
