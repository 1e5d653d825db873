package store

import "testing"

func TestTokenHas(t *testing.T) {
	tok := Token{User: `CONTOSO\jdoe`, Groups: []string{`CONTOSO\Deployment Admins`, `BUILTIN\Users`}}
	for _, tc := range []struct {
		principal string
		want      bool
	}{
		{`CONTOSO\jdoe`, true},
		{`contoso\JDOE`, true},
		{`CONTOSO\deployment admins`, true},
		{`BUILTIN\Users`, true},
		{`CONTOSO\jdo`, false},
		{`OTHER\jdoe`, false},
		{``, false},
	} {
		if got := tok.Has(tc.principal); got != tc.want {
			t.Errorf("Has(%q) = %v, want %v", tc.principal, got, tc.want)
		}
	}
}
