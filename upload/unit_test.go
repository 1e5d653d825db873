package upload

import (
	"net"
	"testing"

	"github.com/wdscapture/wdscapture/inf"
)

func secret(s string) inf.Secret { return inf.NewSecret(s) }

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestParseServer(t *testing.T) {
	for _, tc := range []struct{ in, url, host string }{
		{"wds01", "https://wds01:8443", "wds01"},
		{"wds01.corp.example:9443", "https://wds01.corp.example:9443", "wds01.corp.example"},
		{"10.0.0.5", "https://10.0.0.5:8443", "10.0.0.5"},
		{"fd00::5", "https://[fd00::5]:8443", "fd00::5"},
		{"[fd00::5]:443", "https://[fd00::5]:443", "fd00::5"},
		{"https://wds01.corp.example", "https://wds01.corp.example:443", "wds01.corp.example"},
		{"HTTPS://wds01:8443/", "https://wds01:8443", "wds01"},
	} {
		u, host, err := ParseServer(tc.in)
		if err != nil || u.String() != tc.url || host != tc.host {
			t.Errorf("ParseServer(%q) = %v, %q, %v; want %s, %s", tc.in, u, host, err, tc.url, tc.host)
		}
	}
	for _, in := range []string{"", "http://wds01", "https://wds01/api", "wds01:0", "wds 01", "https://user@wds01", "[fd00::5"} {
		if _, _, err := ParseServer(in); err == nil {
			t.Errorf("ParseServer(%q) accepted", in)
		}
	}
}

func TestParseTrust(t *testing.T) {
	fp := "3F:A2:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:9C"
	for _, in := range []string{fp, "3fa2001122334455667788" + "99aabbccddeeff00112233445566778899aabbcc9c",
		"sha256 Fingerprint=" + fp, "SHA256:" + fp, " " + fp + " "} {
		tr, err := ParseTrust(in)
		if err != nil || tr.Fingerprint != fp || tr.CAFile != "" {
			t.Errorf("ParseTrust(%q) = %+v, %v", in, tr, err)
		}
	}
	for _, in := range []string{"/etc/ssl/lab-ca.pem", `X:\Windows\System32\ca.pem`} {
		tr, err := ParseTrust(in)
		if err != nil || tr.CAFile != in {
			t.Errorf("ParseTrust(%q) = %+v, %v", in, tr, err)
		}
	}
	for _, in := range []string{"3F:A2", fp + ":00", "not a fingerprint", fp[:94] + "G"} {
		if _, err := ParseTrust(in); err == nil {
			t.Errorf("ParseTrust(%q) accepted", in)
		}
	}
	if tr, err := ParseTrust(""); err != nil || tr != (Trust{}) {
		t.Errorf("ParseTrust(\"\") = %+v, %v", tr, err)
	}
}
