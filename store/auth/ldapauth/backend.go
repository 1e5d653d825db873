package ldapauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/auth"
)

// Root DSE capabilities that announce Active Directory (and AD LDS),
// whose servers know LDAP_MATCHING_RULE_IN_CHAIN.
const (
	capActiveDirectory  = "1.2.840.113556.1.4.800"
	capADLDS            = "1.2.840.113556.1.4.1851"
	matchingRuleInChain = "1.2.840.113556.1.4.1941"
)

// maxCachedTokens bounds the token cache.
const maxCachedTokens = 10000

// walkBatch is how many DNs one search of a nesting walk asks about.
const walkBatch = 64

// pageSize is the page size of group searches (Active Directory's
// MaxPageSize is 1000).
const pageSize = 500

// Backend authenticates users against a directory server and builds
// their tokens. It implements auth.Authenticator and is safe for
// concurrent use. It answers only for its own domain: a name of another
// domain is auth.ErrUnknownUser without asking the server, so that an
// auth.Chain moves on.
type Backend struct {
	cfg    *resolved
	log    *slog.Logger
	name   string // "directory CONTOSO"
	search *pool  // bound as the service account (or anonymous)
	binds  *pool  // for the users' own binds
	cache  *tokenCache
	flight flight
	now    func() time.Time

	nestMu sync.Mutex
	nest   string // NestingInChain or NestingWalk once known

	down atomic.Bool
}

// Open makes a backend for cfg. It reads the service account's password
// and the CA file now, but does not connect: a directory that is down
// when the server starts makes logins fail with *auth.UnavailableError
// until it is back (Check tells at once).
func Open(cfg Config, log *slog.Logger) (*Backend, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pw, err := r.bindPassword()
	if err != nil {
		return nil, err
	}
	d, err := newDialer(r)
	if err != nil {
		return nil, err
	}
	b := &Backend{cfg: r, log: log, name: "directory " + r.Domain, now: time.Now}
	var prepare func(*ldap.Conn) error
	if r.BindDN != "" {
		bindDN := r.BindDN
		prepare = func(c *ldap.Conn) error { return c.Bind(bindDN, pw) }
	}
	now := func() time.Time { return b.now() }
	b.search = newPool(d, b.name, r.MaxConnections, prepare, now)
	b.binds = newPool(d, b.name, r.MaxConnections, nil, now)
	b.cache = newTokenCache(r.CacheTTL.D(), maxCachedTokens, now)
	return b, nil
}

// Domain returns the NetBIOS name of the backend's domain.
func (b *Backend) Domain() string { return b.cfg.Domain }

// Close closes the backend's connections.
func (b *Backend) Close() error {
	b.search.close()
	b.binds.close()
	return nil
}

// Check connects (as the service account, if any) and reads the server's
// root DSE: a quick test of the URLs, TLS and the account. It returns the
// nesting method in use.
func (b *Backend) Check(ctx context.Context) (string, error) {
	var nest string
	err := b.search.do(ctx, func(c *ldap.Conn) error {
		var err error
		nest, err = b.nesting(c)
		return err
	})
	return nest, b.observe(err)
}

// FlushCache forgets every cached token (a test, or an admin who changed
// memberships and will not wait for cache_ttl).
func (b *Backend) FlushCache() { b.cache.clear() }

// observe logs when the directory becomes unavailable and when it is back.
func (b *Backend) observe(err error) error {
	var ue *auth.UnavailableError
	if errors.As(err, &ue) {
		if !b.down.Swap(true) {
			b.log.Error("directory unavailable: logins and token refreshes of its users fail until it is back", "domain", b.cfg.Domain, "err", ue.Err)
		}
	} else if err == nil || errors.Is(err, auth.ErrUnknownUser) || errors.Is(err, auth.ErrBadPassword) || errors.Is(err, auth.ErrDisabled) {
		if b.down.Swap(false) {
			b.log.Info("directory reachable again", "domain", b.cfg.Domain)
		}
	}
	return err
}

// query is what a login name asks the directory.
type query struct {
	key    string // cache key
	filter string // the user search
	upn    string // the user@domain asked for, if any
}

// queryFor turns a name in any form auth.ParseName accepts into the user
// search. Names of other domains are auth.ErrUnknownUser.
func (b *Backend) queryFor(name string) (query, error) {
	n, err := auth.ParseName(name)
	if err != nil {
		return query{}, err
	}
	c := b.cfg
	byLogin := func(user string) query {
		return query{
			key:    "login:" + strings.ToLower(user),
			filter: fmt.Sprintf("(&%s(%s=%s))", c.UserFilter, c.LoginAttribute, ldap.EscapeFilter(user)),
		}
	}
	switch {
	case n.Domain != "":
		if !strings.EqualFold(n.Domain, c.Domain) && !slices.Contains(c.dnsNames, strings.ToLower(n.Domain)) {
			return query{}, fmt.Errorf("%w: %s is not in domain %s", auth.ErrUnknownUser, name, c.Domain)
		}
		return byLogin(n.User), nil
	case n.Realm != "":
		if !strings.EqualFold(n.Realm, c.Domain) && !slices.Contains(c.dnsNames, strings.ToLower(n.Realm)) {
			return query{}, fmt.Errorf("%w: %s is not in domain %s (its DNS names: %s)", auth.ErrUnknownUser, name, c.Domain, strings.Join(c.dnsNames, ", "))
		}
		if c.UPNAttribute == "" {
			return byLogin(n.User), nil
		}
		// The UPN, or (Windows takes it too) sAMAccountName@dnsdomain.
		upn := n.User + "@" + n.Realm
		f := fmt.Sprintf("(|(%s=%s)(%s=%s))", c.UPNAttribute, ldap.EscapeFilter(upn), c.LoginAttribute, ldap.EscapeFilter(n.User))
		return query{key: "upn:" + strings.ToLower(upn), filter: "(&" + c.UserFilter + f + ")", upn: upn}, nil
	}
	return byLogin(n.User), nil
}

// account is a user entry found in the directory.
type account struct {
	dn        string
	principal string // DOMAIN\login
	entry     *ldap.Entry
}

func (a *account) key() string {
	_, login, _ := strings.Cut(a.principal, `\`)
	return "login:" + strings.ToLower(login)
}

// findUser searches the user q asks for.
func (b *Backend) findUser(c *ldap.Conn, q query) (*account, error) {
	req := ldap.NewSearchRequest(b.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		3, b.timeLimit(), false, q.filter, b.cfg.userAttrs, nil)
	res, err := c.Search(req)
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		if isConnError(err) {
			return nil, err
		}
		return nil, b.searchError("search the user", err)
	}
	entries := res.Entries
	if len(entries) > 1 && q.upn != "" {
		// user@domain matched one account's UPN and another's login name:
		// the UPN wins, as in Windows.
		var exact []*ldap.Entry
		for _, e := range entries {
			if strings.EqualFold(e.GetEqualFoldAttributeValue(b.cfg.UPNAttribute), q.upn) {
				exact = append(exact, e)
			}
		}
		entries = exact
	}
	switch {
	case len(entries) == 0 && len(res.Entries) == 0:
		return nil, auth.ErrUnknownUser
	case len(entries) != 1:
		return nil, fmt.Errorf("%d directory entries match that name (%s): the directory holds duplicates, log in with DOMAIN\\name", len(res.Entries), q.filter)
	}
	e := entries[0]
	login := e.GetEqualFoldAttributeValue(b.cfg.LoginAttribute)
	principal := b.cfg.Domain + `\` + login
	if _, err := auth.ParsePrincipal(principal); err != nil || login == "" {
		return nil, fmt.Errorf("directory entry %s: its %s %q cannot be a principal name", e.DN, b.cfg.LoginAttribute, login)
	}
	return &account{dn: e.DN, principal: principal, entry: e}, nil
}

// searchError explains a search the server refused.
func (b *Backend) searchError(what string, err error) error {
	if b.cfg.BindDN == "" && (ldap.IsErrorWithCode(err, ldap.LDAPResultOperationsError) || ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights)) {
		return fmt.Errorf("%s: the directory refused an anonymous search (configure a service account: bind_dn): %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (b *Backend) timeLimit() int { return max(1, int(b.cfg.Timeout.D()/time.Second)) }

// refused returns the auth.ErrDisabled error for an account the directory
// marks disabled or expired, nil otherwise.
func (b *Backend) refused(a *account) error {
	why := refusal(b.cfg.Kind, a.entry.GetEqualFoldAttributeValue, b.now())
	if why == "" {
		return nil
	}
	return fmt.Errorf("%w: %s: %s", auth.ErrDisabled, a.principal, why)
}

// Authenticate implements auth.Authenticator: it finds the account, refuses
// it if the directory marks it disabled or expired, checks the password
// with a bind as the account (never an empty one: servers take that as an
// anonymous bind), and returns its token.
func (b *Backend) Authenticate(ctx context.Context, name, password string) (store.Token, error) {
	if password == "" {
		return store.Token{}, fmt.Errorf("%w: the password is empty", auth.ErrBadPassword)
	}
	q, err := b.queryFor(name)
	if err != nil {
		return store.Token{}, err
	}
	var acct *account
	err = b.search.do(ctx, func(c *ldap.Conn) error {
		var err error
		acct, err = b.findUser(c, q)
		return err
	})
	if err != nil {
		if errors.Is(err, auth.ErrUnknownUser) {
			err = fmt.Errorf("%w: %s", auth.ErrUnknownUser, name)
		}
		return store.Token{}, b.observe(err)
	}
	if err := b.refused(acct); err != nil {
		return store.Token{}, b.observe(err)
	}
	err = b.binds.do(ctx, func(c *ldap.Conn) error { return c.Bind(acct.dn, password) })
	if err != nil {
		return store.Token{}, b.observe(b.bindError(acct, err))
	}
	if tok, ok := b.cache.get(acct.key()); ok {
		b.log.Debug("directory login", "user", acct.principal, "groups", len(tok.Groups), "cached", true)
		return tok, b.observe(nil)
	}
	tok, err := b.tokenOf(ctx, acct)
	if err != nil {
		return store.Token{}, b.observe(err)
	}
	b.cache.put(tok, q.key, acct.key())
	b.log.Debug("directory login", "user", acct.principal, "groups", len(tok.Groups))
	return tok, b.observe(nil)
}

// bindError maps a refused user bind to the auth errors.
func (b *Backend) bindError(a *account, err error) error {
	var ue *auth.UnavailableError
	if errors.As(err, &ue) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var le *ldap.Error
	if !errors.As(err, &le) {
		return fmt.Errorf("bind as %s: %w", a.principal, err)
	}
	if b.cfg.Kind == KindAD && le.Err != nil {
		if why := adBindRefusal(le.Err.Error()); why != "" {
			return fmt.Errorf("%w: %s: %s", auth.ErrDisabled, a.principal, why)
		}
	}
	switch le.ResultCode {
	case ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInappropriateAuthentication,
		ldap.LDAPResultInsufficientAccessRights, ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultConstraintViolation:
		return fmt.Errorf("%w for %s (%s)", auth.ErrBadPassword, a.principal, ldap.LDAPResultCodeMap[le.ResultCode])
	}
	return fmt.Errorf("bind as %s: %w", a.principal, err)
}

// Lookup implements auth.Authenticator: the token name gets on login,
// from the cache when it is fresh, through the service account otherwise.
func (b *Backend) Lookup(ctx context.Context, name string) (store.Token, error) {
	q, err := b.queryFor(name)
	if err != nil {
		return store.Token{}, err
	}
	if tok, ok := b.cache.get(q.key); ok {
		return tok, nil
	}
	tok, err := b.flight.do(ctx, q.key, func() (store.Token, error) {
		var acct *account
		err := b.search.do(ctx, func(c *ldap.Conn) error {
			var err error
			if acct, err = b.findUser(c, q); err != nil {
				return err
			}
			return b.refused(acct)
		})
		if err != nil {
			return store.Token{}, err
		}
		tok, err := b.tokenOf(ctx, acct)
		if err != nil {
			return store.Token{}, err
		}
		b.cache.put(tok, q.key, acct.key())
		return tok, nil
	})
	if errors.Is(err, auth.ErrUnknownUser) {
		err = fmt.Errorf("%w: %s", auth.ErrUnknownUser, name)
	}
	return tok, b.observe(err)
}

// tokenOf builds a's token: its principal and every group it is in.
func (b *Backend) tokenOf(ctx context.Context, a *account) (store.Token, error) {
	var groups []string
	err := b.search.do(ctx, func(c *ldap.Conn) error {
		var err error
		groups, err = b.groupsOf(c, a)
		return err
	})
	if err != nil {
		return store.Token{}, err
	}
	return store.Token{User: a.principal, Groups: groups}, nil
}

// group is a group entry found for a token.
type group struct {
	dn, name string
}

// groupAttrs are read from group entries.
func (b *Backend) groupAttrs() []string {
	attrs := []string{b.cfg.GroupNameAttribute, "cn"}
	if b.cfg.Kind == KindAD {
		attrs = append(attrs, attrObjectSID)
	}
	return attrs
}

// groupsOf returns the principal names of every group a is a member of:
// its primary group (Active Directory), the groups that list it in
// member, and the groups those are members of, to any depth.
func (b *Backend) groupsOf(c *ldap.Conn, a *account) ([]string, error) {
	found := map[string]group{} // by lower-case DN
	starts := []string{a.dn}
	if pg, err := b.primaryGroup(c, a); err != nil {
		return nil, err
	} else if pg != nil {
		found[strings.ToLower(pg.dn)] = *pg
		starts = append(starts, pg.dn)
	}
	nest, err := b.nesting(c)
	if err != nil {
		return nil, err
	}
	if nest == NestingInChain {
		err = b.inChain(c, a, starts, found)
	} else {
		err = b.walk(c, a, starts, found)
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(found))
	for _, g := range found {
		if !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, g.name) }) {
			names = append(names, g.name)
		}
	}
	slices.SortFunc(names, func(x, y string) int { return strings.Compare(strings.ToLower(x), strings.ToLower(y)) })
	return names, nil
}

// nesting returns the nesting method, asking the server's root DSE the
// first time when it is NestingAuto.
func (b *Backend) nesting(c *ldap.Conn) (string, error) {
	b.nestMu.Lock()
	nest := b.nest
	b.nestMu.Unlock()
	if nest != "" {
		return nest, nil
	}
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, b.timeLimit(), false,
		"(objectClass=*)", []string{"supportedCapabilities"}, nil)
	res, err := c.Search(req)
	if err != nil {
		if isConnError(err) {
			return "", err
		}
		return "", b.searchError("read the root DSE", err)
	}
	ad := false
	if len(res.Entries) == 1 {
		caps := res.Entries[0].GetAttributeValues("supportedCapabilities")
		ad = slices.Contains(caps, capActiveDirectory) || slices.Contains(caps, capADLDS)
	}
	nest = b.cfg.Nesting
	switch {
	case nest == NestingAuto && ad:
		nest = NestingInChain
	case nest == NestingAuto:
		nest = NestingWalk
	case nest == NestingInChain && !ad:
		// Other servers take the unknown matching rule as "no match":
		// every token would silently lack its groups.
		b.log.Warn("nesting is in-chain but the directory does not announce Active Directory: it may find no groups; use nesting walk",
			"domain", b.cfg.Domain)
	}
	b.nestMu.Lock()
	if b.nest == "" {
		b.nest = nest
		b.log.Info("directory nested groups", "domain", b.cfg.Domain, "method", nest, "active_directory", ad)
	}
	b.nestMu.Unlock()
	return nest, nil
}

// primaryGroup finds an Active Directory user's primary group, which
// Active Directory leaves out of member and memberOf: the group whose
// objectSid is the user's domain SID with primaryGroupID as the RID.
// Other kinds have none.
func (b *Backend) primaryGroup(c *ldap.Conn, a *account) (*group, error) {
	if b.cfg.Kind != KindAD {
		return nil, nil
	}
	ridText := a.entry.GetEqualFoldAttributeValue(attrPrimaryGroupID)
	rawSID := a.entry.GetEqualFoldRawAttributeValue(attrObjectSID)
	if ridText == "" || rawSID == nil {
		return nil, nil
	}
	rid, err := strconv.ParseUint(ridText, 10, 32)
	if err != nil {
		b.log.Warn("directory user has an unreadable primaryGroupID; the primary group is left out", "user", a.principal, "value", ridText)
		return nil, nil
	}
	sid, err := ParseSID(rawSID)
	if err == nil {
		sid, err = sid.WithRID(uint32(rid))
	}
	if err != nil {
		b.log.Warn("directory user has an unreadable objectSid; the primary group is left out", "user", a.principal, "err", err)
		return nil, nil
	}
	filter := fmt.Sprintf("(&%s(%s=%s))", b.cfg.GroupFilter, attrObjectSID, escapeBytes(sid.Bytes()))
	req := ldap.NewSearchRequest(b.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, b.timeLimit(), false,
		filter, b.groupAttrs(), nil)
	res, err := c.Search(req)
	if err != nil {
		if isConnError(err) {
			return nil, err
		}
		return nil, b.searchError("search the primary group", err)
	}
	if len(res.Entries) != 1 {
		b.log.Warn("directory user's primary group not found; it is left out", "user", a.principal, "sid", sid.String(), "matches", len(res.Entries))
		return nil, nil
	}
	g, ok := b.groupOf(res.Entries[0])
	if !ok {
		return nil, nil
	}
	return &g, nil
}

// groupOf names a group entry: DOMAIN\name, or BUILTIN\name for Active
// Directory's built-in groups (S-1-5-32-...), as Windows names them.
func (b *Backend) groupOf(e *ldap.Entry) (group, bool) {
	name := e.GetEqualFoldAttributeValue(b.cfg.GroupNameAttribute)
	if name == "" {
		name = e.GetEqualFoldAttributeValue("cn")
	}
	domain := b.cfg.Domain
	if raw := e.GetEqualFoldRawAttributeValue(attrObjectSID); raw != nil && b.cfg.Kind == KindAD {
		if sid, err := ParseSID(raw); err == nil && sid.IsBuiltin() {
			domain = "BUILTIN"
		}
	}
	p := domain + `\` + name
	if _, err := auth.ParsePrincipal(p); err != nil || name == "" {
		b.log.Warn("directory group has no usable name; it is left out of tokens", "dn", e.DN, "name", name)
		return group{}, false
	}
	return group{dn: e.DN, name: p}, true
}

// inChain asks an Active Directory server for every group that has one
// of starts as a member at any depth, in one search.
func (b *Backend) inChain(c *ldap.Conn, a *account, starts []string, found map[string]group) error {
	entries, err := b.searchGroups(c, inChainFilter(b.cfg.GroupFilter, b.cfg.MemberAttribute, starts))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if len(found) >= b.cfg.MaxGroups {
			b.log.Warn("directory user is in more groups than max_groups; the token holds the first ones", "user", a.principal, "max_groups", b.cfg.MaxGroups)
			break
		}
		if g, ok := b.groupOf(e); ok {
			found[strings.ToLower(e.DN)] = g
		}
	}
	return nil
}

// inChainFilter selects the groups (groupFilter) that have one of dns as
// a member (memberAttr) at any depth, with LDAP_MATCHING_RULE_IN_CHAIN.
func inChainFilter(groupFilter, memberAttr string, dns []string) string {
	var f strings.Builder
	f.WriteString("(&" + groupFilter + "(|")
	for _, dn := range dns {
		fmt.Fprintf(&f, "(%s:%s:=%s)", memberAttr, matchingRuleInChain, ldap.EscapeFilter(dn))
	}
	f.WriteString("))")
	return f.String()
}

// walk finds nested groups level by level: the groups that list one of
// the DNs of a level in member make the next level. A group met twice
// (a cycle, or two paths) is followed once; depth and count are bounded.
// A token cut short only lacks groups: ACLs grant, so it can only see
// less.
func (b *Backend) walk(c *ldap.Conn, a *account, starts []string, found map[string]group) error {
	seen := map[string]bool{}
	for _, dn := range starts {
		seen[strings.ToLower(dn)] = true
	}
	level := starts
	for depth := 0; len(level) > 0; depth++ {
		if depth == b.cfg.MaxDepth {
			b.log.Warn("directory groups nest deeper than max_depth; deeper groups are left out", "user", a.principal, "max_depth", b.cfg.MaxDepth)
			return nil
		}
		var next []string
		for chunk := range slices.Chunk(level, walkBatch) {
			var f strings.Builder
			f.WriteString("(&" + b.cfg.GroupFilter + "(|")
			for _, dn := range chunk {
				fmt.Fprintf(&f, "(%s=%s)", b.cfg.MemberAttribute, ldap.EscapeFilter(dn))
			}
			f.WriteString("))")
			entries, err := b.searchGroups(c, f.String())
			if err != nil {
				return err
			}
			for _, e := range entries {
				k := strings.ToLower(e.DN)
				if seen[k] {
					continue
				}
				seen[k] = true
				if len(found) >= b.cfg.MaxGroups {
					b.log.Warn("directory user is in more groups than max_groups; the token holds the first ones", "user", a.principal, "max_groups", b.cfg.MaxGroups)
					return nil
				}
				if g, ok := b.groupOf(e); ok {
					found[k] = g
				}
				next = append(next, e.DN)
			}
		}
		level = next
	}
	return nil
}

// searchGroups runs a paged group search under the base DN.
func (b *Backend) searchGroups(c *ldap.Conn, filter string) ([]*ldap.Entry, error) {
	req := ldap.NewSearchRequest(b.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, b.timeLimit(), false,
		filter, b.groupAttrs(), nil)
	res, err := c.SearchWithPaging(req, pageSize)
	if err != nil {
		if isConnError(err) {
			return nil, err
		}
		return nil, b.searchError("search groups", err)
	}
	return res.Entries, nil
}

// escapeBytes escapes every byte of a binary value for a filter.
func escapeBytes(v []byte) string {
	var s strings.Builder
	for _, c := range v {
		fmt.Fprintf(&s, `\%02x`, c)
	}
	return s.String()
}
