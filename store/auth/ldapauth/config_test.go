package ldapauth

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	good := `{"urls":["ldaps://dc1.contoso.com","ldaps://dc2.contoso.com:3269"],"base_dn":"DC=contoso,DC=com",
		"domain":"CONTOSO","bind_dn":"CN=svc,OU=Service,DC=contoso,DC=com","bind_password_file":"/etc/pw"}`
	c, err := ParseConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindAD || r.DNSDomain != "contoso.com" || r.LoginAttribute != "sAMAccountName" ||
		r.CacheTTL.D() != DefaultCacheTTL || r.Nesting != NestingAuto || len(r.urls) != 2 {
		t.Errorf("defaults: %+v", r)
	}

	for _, tc := range []struct {
		name, json, field string
	}{
		{"no urls", `{"base_dn":"DC=a","domain":"A","kind":"openldap"}`, "urls"},
		{"bad scheme", `{"urls":["http://x"],"base_dn":"DC=a","domain":"A","kind":"openldap"}`, "urls"},
		{"no host", `{"urls":["ldaps://"],"base_dn":"DC=a","domain":"A","kind":"openldap"}`, "urls"},
		{"path", `{"urls":["ldaps://x/DC=a"],"base_dn":"DC=a","domain":"A","kind":"openldap"}`, "urls"},
		{"user in url", `{"urls":["ldaps://u:p@x"],"base_dn":"DC=a","domain":"A","kind":"openldap"}`, "urls"},
		{"plaintext", `{"urls":["ldap://dc1.contoso.com"],"base_dn":"DC=a","domain":"A","kind":"openldap"}`, "urls"},
		{"starttls on ldaps", `{"urls":["ldaps://x"],"start_tls":true,"base_dn":"DC=a","domain":"A","kind":"openldap"}`, "start_tls"},
		{"no base", `{"urls":["ldaps://x"],"domain":"A","kind":"openldap"}`, "base_dn"},
		{"bad base", `{"urls":["ldaps://x"],"base_dn":"nonsense","domain":"A","kind":"openldap"}`, "base_dn"},
		{"no domain", `{"urls":["ldaps://x"],"base_dn":"DC=a","kind":"openldap"}`, "domain"},
		{"dotted domain", `{"urls":["ldaps://x"],"base_dn":"DC=a","domain":"a.com","kind":"openldap"}`, "domain"},
		{"bad kind", `{"urls":["ldaps://x"],"base_dn":"DC=a","domain":"A","kind":"novell"}`, "kind"},
		{"ad without account", `{"urls":["ldaps://x"],"base_dn":"DC=a","domain":"A"}`, "bind_dn"},
		{"account without password", `{"urls":["ldaps://x"],"base_dn":"DC=a","domain":"A","bind_dn":"CN=s"}`, "bind_password_file"},
		{"two passwords", `{"urls":["ldaps://x"],"base_dn":"DC=a","domain":"A","bind_dn":"CN=s","bind_password_file":"f","bind_password_env":"E"}`, "bind_password_file"},
		{"password without account", `{"urls":["ldaps://x"],"base_dn":"DC=a","domain":"A","kind":"openldap","bind_password_env":"E"}`, "bind_dn"},
		{"long ttl", `{"urls":["ldaps://x"],"base_dn":"DC=a","domain":"A","kind":"openldap","cache_ttl":"2h"}`, "cache_ttl"},
		{"bad filter", `{"urls":["ldaps://x"],"base_dn":"DC=a","domain":"A","kind":"openldap","user_filter":"(uid=*"}`, "user_filter"},
		{"bad attribute", `{"urls":["ldaps://x"],"base_dn":"DC=a","domain":"A","kind":"openldap","login_attribute":"u id"}`, "login_attribute"},
		{"bad nesting", `{"urls":["ldaps://x"],"base_dn":"DC=a","domain":"A","kind":"openldap","nesting":"deep"}`, "nesting"},
		{"negative", `{"urls":["ldaps://x"],"base_dn":"DC=a","domain":"A","kind":"openldap","max_groups":-1}`, "max_connections"},
	} {
		_, err := ParseConfig([]byte(tc.json))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: %v, want a ConfigError about %s", tc.name, err, tc.field)
		}
	}
	for _, bad := range []string{`{"urls":["ldaps://x"],"nope":1}`, `{"cache_ttl":"soon"}`, `{"cache_ttl":"-1s"}`, `{} {}`, `[`} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("ParseConfig(%s) accepted it", bad)
		}
	}
	// Plain LDAP is fine to loopback and with start_tls or allow_plaintext.
	for _, ok := range []string{
		`{"urls":["ldap://127.0.0.1:389"],"base_dn":"DC=a","domain":"A","kind":"openldap"}`,
		`{"urls":["ldap://[::1]"],"base_dn":"DC=a","domain":"A","kind":"openldap"}`,
		`{"urls":["ldap://dc1"],"start_tls":true,"base_dn":"DC=a","domain":"A","kind":"openldap"}`,
		`{"urls":["ldap://dc1"],"allow_plaintext":true,"base_dn":"DC=a","domain":"A","kind":"openldap"}`,
	} {
		if _, err := ParseConfig([]byte(ok)); err != nil {
			t.Errorf("ParseConfig(%s): %v", ok, err)
		}
	}
}

func TestBindPasswordFile(t *testing.T) {
	dir := t.TempDir()
	base := Config{URLs: []string{"ldaps://x"}, BaseDN: "DC=a", Domain: "A", BindDN: "CN=s"}
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          string // "" for an error
	}{
		{"ok", "s3cret\n", 0o600, "s3cret"},
		{"crlf", "s3cret\r\n", 0o640, "s3cret"},
		{"no newline", "s3cret", 0o600, "s3cret"},
		{"world readable", "s3cret\n", 0o644, ""},
		{"empty", "\n", 0o600, ""},
		{"two lines", "a\nb\n", 0o600, ""},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, []byte(tc.content), tc.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, tc.mode)
		c := base
		c.BindPasswordFile = p
		got, err := c.bindPassword()
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: accepted", tc.name)
			} else if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%s: the error shows the password: %v", tc.name, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v", tc.name, got, err)
		}
	}
	c := base
	c.BindPasswordFile = filepath.Join(dir, "missing")
	if _, err := Open(c, nil); err == nil {
		t.Error("Open with a missing password file succeeded")
	}
}

func TestRefusal(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	attrs := func(kv ...string) func(string) string {
		return func(a string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if strings.EqualFold(kv[i], a) {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	past := TimeToFiletime(now.Add(-time.Second))
	future := TimeToFiletime(now.Add(time.Hour))
	for i, tc := range []struct {
		kind    string
		get     func(string) string
		refused bool
	}{
		{KindAD, attrs(), false},
		{KindAD, attrs(attrUAC, "512"), false},
		{KindAD, attrs(attrUAC, "514"), true},
		{KindAD, attrs(attrUAC, "66050"), true}, // DONT_EXPIRE_PASSWORD|NORMAL|DISABLE
		{KindAD, attrs(attrUAC, "x"), true},
		{KindAD, attrs(attrAccountExpires, "0"), false},
		{KindAD, attrs(attrAccountExpires, "9223372036854775807"), false},
		{KindAD, attrs(attrAccountExpires, itoa(past)), true},
		{KindAD, attrs(attrAccountExpires, itoa(future)), false},
		{KindAD, attrs(attrAccountExpires, "soon"), true},
		{KindAD, attrs(attrShadowExpire, "1"), false}, // not an AD attribute
		{KindOpenLDAP, attrs(), false},
		{KindOpenLDAP, attrs(attrLockedTime, "000001010000Z"), true},
		{KindOpenLDAP, attrs(attrLockedTime, "20261201110000Z"), false}, // timed: the server's call
		{KindOpenLDAP, attrs(attrShadowExpire, "-1"), false},
		{KindOpenLDAP, attrs(attrShadowExpire, "0"), false},
		{KindOpenLDAP, attrs(attrShadowExpire, itoa(now.Unix()/86400)), true},
		{KindOpenLDAP, attrs(attrShadowExpire, itoa(now.Unix()/86400+1)), false},
		{KindOpenLDAP, attrs(attrShadowExpire, "x"), true},
		{KindOpenLDAP, attrs(attrUAC, "514"), false},
	} {
		why := refusal(tc.kind, tc.get, now)
		if (why != "") != tc.refused {
			t.Errorf("case %d (%s): refusal %q, want refused=%v", i, tc.kind, why, tc.refused)
		}
	}
	if got := filetimeToTime(TimeToFiletime(now)); !got.Equal(now) {
		t.Errorf("FILETIME round trip: %v", got)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func TestADBindRefusal(t *testing.T) {
	for diag, want := range map[string]bool{
		"80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563": false,
		"80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533, v4563": true,
		"80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563": true,
		"80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 701, v4563": true,
		"": false, "data 533": false,
	} {
		if got := adBindRefusal(diag) != ""; got != want {
			t.Errorf("adBindRefusal(%q) = %v", diag, got)
		}
	}
}

func TestSID(t *testing.T) {
	for _, tc := range []struct {
		s   string
		hex string
	}{
		{"S-1-5-32-544", "01020000000000052000000020020000"},
		{"S-1-5-21-1004336348-1177238915-682003330-513", "010500000000000515000000dcf4dc3b833d2b46828ba62801020000"},
		{"S-1-1-0", "010100000000000100000000"},
		{"S-1-0x123456789ABC-1", "0101123456789abc01000000"},
	} {
		sid, err := ParseSIDString(tc.s)
		if err != nil {
			t.Fatalf("%s: %v", tc.s, err)
		}
		if got := hexOf(sid.Bytes()); got != tc.hex {
			t.Errorf("%s bytes = %s, want %s", tc.s, got, tc.hex)
		}
		back, err := ParseSID(sid.Bytes())
		if err != nil || back.String() != tc.s {
			t.Errorf("%s: round trip %s, %v", tc.s, back, err)
		}
	}
	user, _ := ParseSIDString("S-1-5-21-1-2-3-1105")
	pg, err := user.WithRID(513)
	if err != nil || pg.String() != "S-1-5-21-1-2-3-513" {
		t.Errorf("WithRID: %s %v", pg, err)
	}
	if b, _ := ParseSIDString("S-1-5-32-544"); !b.IsBuiltin() {
		t.Error("S-1-5-32-544 is builtin")
	}
	if pg.IsBuiltin() {
		t.Error("a domain SID is not builtin")
	}
	for _, bad := range [][]byte{nil, {1, 0, 0, 0, 0, 0, 0}, {2, 0, 0, 0, 0, 0, 0, 5}, {1, 16, 0, 0, 0, 0, 0, 5},
		{1, 1, 0, 0, 0, 0, 0, 5}, {1, 0, 0, 0, 0, 0, 0, 5, 0}} {
		if _, err := ParseSID(bad); err == nil {
			t.Errorf("ParseSID(%x) accepted it", bad)
		}
	}
	for _, bad := range []string{"", "S-1", "S-2-5", "S-1-x", "S-1-5-", "S-1-5--1", "S-1-5-4294967296", "S-1-+5",
		"S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16", "S-1-0x"} {
		if _, err := ParseSIDString(bad); err == nil {
			t.Errorf("ParseSIDString(%q) accepted it", bad)
		}
	}
}
