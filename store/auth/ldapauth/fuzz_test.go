package ldapauth

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wdscapture/wdscapture/store/auth"
)

// FuzzParseSID: objectSid values come from the network.
func FuzzParseSID(f *testing.F) {
	f.Add([]byte{1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 32, 2, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 15})
	f.Fuzz(func(t *testing.T, b []byte) {
		sid, err := ParseSID(b)
		if err != nil {
			return
		}
		if !bytes.Equal(sid.Bytes(), b) {
			t.Fatalf("Bytes() = %x, want %x", sid.Bytes(), b)
		}
		back, err := ParseSIDString(sid.String())
		if err != nil || !bytes.Equal(back.Bytes(), b) {
			t.Fatalf("String %s does not parse back: %v", sid, err)
		}
		if g, err := sid.WithRID(513); err == nil && len(g.Sub) != len(sid.Sub) {
			t.Fatal("WithRID changed the length")
		}
	})
}

func FuzzParseSIDString(f *testing.F) {
	for _, s := range []string{"S-1-5-21-1-2-3-513", "S-1-5-32-544", "S-1-0x123456789ABC-1", "s-1-1-0", "S-1-05"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sid, err := ParseSIDString(s)
		if err != nil {
			return
		}
		again, err := ParseSIDString(sid.String())
		if err != nil || again.String() != sid.String() {
			t.Fatalf("%q → %s does not parse back: %v", s, sid, err)
		}
		if _, err := ParseSID(sid.Bytes()); err != nil {
			t.Fatalf("%s: its bytes do not parse: %v", sid, err)
		}
	})
}

// FuzzParseConfig: the directory section of the configuration file.
func FuzzParseConfig(f *testing.F) {
	f.Add(`{"urls":["ldaps://dc1.contoso.com"],"base_dn":"DC=contoso,DC=com","domain":"CONTOSO","bind_dn":"CN=s,DC=contoso,DC=com","bind_password_env":"PW"}`)
	f.Add(`{"urls":["ldap://127.0.0.1:389"],"base_dn":"dc=example,dc=org","domain":"EXAMPLE","kind":"openldap","user_filter":"(uid=*)","cache_ttl":"30s"}`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConfig([]byte(s))
		if err != nil {
			return
		}
		r, err := c.resolve()
		if err != nil {
			t.Fatalf("ParseConfig accepted what resolve refuses: %v", err)
		}
		if r.CacheTTL.D() <= 0 || r.CacheTTL.D() > maxCacheTTL || r.MaxConnections < 1 || len(r.urls) == 0 {
			t.Fatalf("resolved limits out of range: %+v", r)
		}
		for _, f := range []string{r.UserFilter, r.GroupFilter} {
			if _, err := ldap.CompileFilter(f); err != nil {
				t.Fatalf("filter %q: %v", f, err)
			}
		}
	})
}

// FuzzQueryFor: login names come from the network; whatever they hold,
// the user search is one well-formed filter that matches on the login or
// UPN attribute only (no injected filter syntax).
func FuzzQueryFor(f *testing.F) {
	for _, s := range []string{`CONTOSO\jdoe`, `jdoe@contoso.com`, `jdoe`, `*`, `j)(uid=*`, `a\29b`, `CONTOSO\*)(|(x=*`, "x\x00y", `x@CONTOSO`} {
		f.Add(s)
	}
	cfg := Config{URLs: []string{"ldaps://dc1.contoso.com"}, BaseDN: "DC=contoso,DC=com", Domain: "CONTOSO", Kind: KindOpenLDAP,
		UPNAttribute: "userPrincipalName"}
	b, err := Open(cfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	f.Fuzz(func(t *testing.T, name string) {
		q, err := b.queryFor(name)
		if err != nil {
			return
		}
		if _, err := auth.ParseName(name); err != nil {
			t.Fatalf("%q: a query for a name ParseName refuses", name)
		}
		p, err := ldap.CompileFilter(q.filter)
		if err != nil {
			t.Fatalf("%q: filter %q does not compile: %v", name, q.filter, err)
		}
		n, _ := auth.ParseName(name)
		want := []string{"objectClass=inetOrgPerson", "uid=" + n.User}
		if q.upn != "" {
			want = []string{"objectClass=inetOrgPerson", "userPrincipalName=" + n.User + "@" + n.Realm, "uid=" + n.User}
		}
		if got := equalities(p); !slices.Equal(got, want) {
			t.Fatalf("%q: filter %q matches %q, want %q", name, q.filter, got, want)
		}
	})
}

// equalities lists the attr=value equality matches of a compiled filter.
func equalities(p *ber.Packet) []string {
	if p.Tag == ldap.FilterEqualityMatch && len(p.Children) == 2 {
		return []string{p.Children[0].Data.String() + "=" + p.Children[1].Data.String()}
	}
	var out []string
	for _, c := range p.Children {
		out = append(out, equalities(c)...)
	}
	return out
}

// FuzzRefusal: account state attributes come from the network.
func FuzzRefusal(f *testing.F) {
	f.Add("514", "0", "", "")
	f.Add("512", "133000000000000000", "000001010000Z", "19000")
	f.Add("x", "-5", "20261201110000Z", "-1")
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, uac, expires, locked, shadow string) {
		get := func(a string) string {
			return map[string]string{attrUAC: uac, attrAccountExpires: expires, attrLockedTime: locked, attrShadowExpire: shadow}[a]
		}
		refusal(KindAD, get, now)
		refusal(KindOpenLDAP, get, now)
		adBindRefusal(uac)
	})
}

// FuzzDNSDomainOf: base DNs come from the configuration, group DNs from
// the network.
func FuzzDNSDomainOf(f *testing.F) {
	for _, s := range []string{"DC=contoso,DC=com", `CN=Smith\, John,OU=x,DC=a,DC=b`, "dc=example,dc=org", "O=x", `DC=a+CN=b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dn, err := ldap.ParseDN(s)
		if err != nil {
			return
		}
		d := DNSDomainOf(dn)
		if d != strings.ToLower(d) {
			t.Fatalf("%q: %q is not lower case", s, d)
		}
	})
}
