package auth

import (
	"context"
	"testing"
)

func FuzzParseName(f *testing.F) {
	for _, s := range []string{`CONTOSO\jdoe`, `jdoe@contoso.com`, `jdoe`, `\`, `a\b\c`, `@`, "x\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseName(s)
		if err != nil {
			return
		}
		if n.String() != s {
			t.Errorf("ParseName(%q).String() = %q", s, n.String())
		}
		n2, err := ParseName(n.String())
		if err != nil || n2 != n {
			t.Errorf("reparse of %q: %+v, %v", s, n2, err)
		}
	})
}

func FuzzParseUsers(f *testing.F) {
	f.Add([]byte("domain\tSTORE\tstore.example.com\nuser\tSTORE\\jdoe\t$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\ngroup\tSTORE\\g\tSTORE\\jdoe\n"))
	f.Add([]byte("# x\r\n\r\nuser\tA\\b\tx\tdisabled\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUsers(data, "fuzz")
		if err != nil {
			return
		}
		out := u.Marshal()
		u2, err := ParseUsers(out, "fuzz")
		if err != nil {
			t.Fatalf("marshalled file does not parse: %v\n%s", err, out)
		}
		if string(u2.Marshal()) != string(out) {
			t.Fatalf("marshal is not stable")
		}
		for _, usr := range u.Users {
			u.Resolve(usr.Name)
			u.GroupsOf(usr.Name)
		}
	})
}

func FuzzVerifyPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "pw")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		h, err := parseHash(hash)
		if err != nil {
			return
		}
		if h.p.Memory > 1<<12 || h.p.Time > 2 {
			return // valid but too slow for a fuzz iteration
		}
		VerifyPassword(context.Background(), hash, pw)
	})
}
