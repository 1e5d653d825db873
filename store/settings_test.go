package store

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseSettings(t *testing.T) {
	good := `{"version":1,"compression":"LZX","read":["NT AUTHORITY\\Authenticated Users"],"write":["LAB\\Deploy Admins"],
		"images":{"win11.wim":{"read":["LAB\\Pilot"]}}}`
	s, err := ParseSettings([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := &Settings{Version: 1, Compression: "LZX", Read: []string{AuthenticatedUsers}, Write: []string{`LAB\Deploy Admins`},
		Images: map[string]ImageSettings{"win11.wim": {Read: []string{`LAB\Pilot`}}}}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("ParseSettings = %+v, want %+v", s, want)
	}
	again, err := ParseSettings(s.Marshal())
	if err != nil || !reflect.DeepEqual(again, s) {
		t.Fatalf("Marshal/ParseSettings round trip = %+v, %v", again, err)
	}
	for _, bad := range []string{
		``,
		`{`,
		`[]`,
		`{"version":2,"read":[],"write":[]}`,
		`{"version":1,"read":[],"write":[],"extra":1}`,
		`{"version":1,"read":[],"write":[]} {}`,
		`{"version":1,"compression":"LZMS","read":[],"write":[]}`,
		`{"version":1,"read":[""],"write":[]}`,
		`{"version":1,"read":["a\\b\\c"],"write":[]}`,
		`{"version":1,"read":["\\x"],"write":[]}`,
		`{"version":1,"read":["a,b"],"write":[]}`,
		`{"version":1,"read":["ctl\u0001"],"write":[]}`,
		`{"version":1,"read":[],"write":[],"images":{"../x.wim":{}}}`,
		`{"version":1,"read":[],"write":[],"images":{"x.txt":{}}}`,
		`{"version":1,"read":[],"write":[],"images":{"x.wim":{"read":[" a"]}}}`,
	} {
		if _, err := ParseSettings([]byte(bad)); !errors.Is(err, ErrSettings) {
			t.Errorf("ParseSettings(%q) = %v, want an ErrSettings error", bad, err)
		}
	}
}

func TestACL(t *testing.T) {
	set := Settings{Version: 1, Read: []string{`LAB\Techs`}, Write: []string{`LAB\Admins`},
		Images: map[string]ImageSettings{"Pilot.wim": {Read: []string{`LAB\Pilot`}}}}
	tech := Token{User: `LAB\tom`, Groups: []string{`LAB\Techs`}}
	pilot := Token{User: `LAB\pia`, Groups: []string{`LAB\Techs`, `LAB\Pilot`}}
	admin := Token{User: `LAB\ann`, Groups: []string{`lab\admins`}}
	other := Token{User: `LAB\oz`}
	anon := Token{}
	for _, tc := range []struct {
		tok               Token
		read, write       bool
		seePlain, seePilo bool
	}{
		{tech, true, false, true, false},
		{pilot, true, false, true, true},
		{admin, true, true, true, false},
		{other, false, false, false, false},
		{anon, false, false, false, false},
	} {
		if got := set.CanRead(tc.tok); got != tc.read {
			t.Errorf("%s: CanRead = %v", tc.tok.User, got)
		}
		if got := set.CanWrite(tc.tok); got != tc.write {
			t.Errorf("%s: CanWrite = %v", tc.tok.User, got)
		}
		if got := set.CanSee(tc.tok, "plain.wim"); got != tc.seePlain {
			t.Errorf("%s: CanSee(plain.wim) = %v", tc.tok.User, got)
		}
		if got := set.CanSee(tc.tok, "pilot.WIM"); got != tc.seePilo {
			t.Errorf("%s: CanSee(pilot.WIM) = %v", tc.tok.User, got)
		}
	}
	def := DefaultSettings()
	if !def.CanRead(other) || def.CanRead(anon) || def.CanWrite(other) {
		t.Errorf("default settings: any authenticated user must read, nobody anonymous, only admins write")
	}
	if !def.CanWrite(Token{User: `x\y`, Groups: []string{Administrators}}) {
		t.Errorf("default settings: %s must write", Administrators)
	}
	everyone := Settings{Version: 1, Read: []string{"everyone"}}
	if !everyone.CanRead(other) || everyone.CanRead(anon) {
		t.Errorf("Everyone must match every authenticated user and nobody else")
	}
}

func TestParsePrincipals(t *testing.T) {
	got, err := ParsePrincipals(` LAB\a , lab\A,Everyone,,`)
	if err != nil || !reflect.DeepEqual(got, []string{`LAB\a`, "Everyone"}) {
		t.Fatalf("ParsePrincipals = %q, %v", got, err)
	}
	if got, err := ParsePrincipals(""); err != nil || got != nil {
		t.Fatalf(`ParsePrincipals("") = %q, %v; want nil`, got, err)
	}
	if _, err := ParsePrincipals(`a\b\c`); !errors.Is(err, ErrBadPrincipal) {
		t.Fatalf("ParsePrincipals(a\\b\\c) = %v", err)
	}
}

// FuzzParseSettings feeds arbitrary bytes to the settings file decoder:
// it must never panic, and what it accepts must survive a round trip.
func FuzzParseSettings(f *testing.F) {
	f.Add([]byte(`{"version":1,"read":["NT AUTHORITY\\Authenticated Users"],"write":["BUILTIN\\Administrators"]}`))
	f.Add([]byte(`{"version":1,"compression":"xpress","read":[],"write":[],"images":{"a.wim":{"read":["D\\u"]}}}`))
	f.Add([]byte(`{"version":1,"read":null,"write":null,"images":{}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSettings(data)
		if err != nil {
			if !errors.Is(err, ErrSettings) {
				t.Fatalf("error %v does not wrap ErrSettings", err)
			}
			return
		}
		again, err := ParseSettings(s.Marshal())
		if err != nil {
			t.Fatalf("re-parse of marshaled settings: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(s)) {
			t.Fatalf("round trip changed settings: %+v -> %+v", s, again)
		}
	})
}

func normalize(s *Settings) *Settings {
	c := *s
	if len(c.Images) == 0 {
		c.Images = nil
	}
	for _, l := range []*[]string{&c.Read, &c.Write} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return &c
}
