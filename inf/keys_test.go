package inf

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/images"
)

// TestSetValue sets every key through Set and through a parsed file: both
// give the same settings, and Value gives back what Write writes.
func TestSetValue(t *testing.T) {
	cases := []struct {
		key, value, want string
	}{
		{KeyUnattended, "true", "Yes"},
		{KeyVolumeToCapture, "c:", `C:\`},
		{KeySystemRoot, `\Windows`, `\Windows`},
		{KeyImageName, "Reference", "Reference"},
		{KeyImageDescription, "sysprepped", "sysprepped"},
		{KeyDestinationFile, `D:\Images\ref.wim`, `D:\Images\ref.wim`},
		{KeyOverwrite, "append", "Append"},
		{KeyCompression, "maximum", "LZX"},
		{KeyCompression, "NONE", "None"},
		{KeyCheckIntegrity, "0", "No"},
		{KeyUploadToWDSServer, "Yes", "Yes"},
		{KeyWDSServerName, "wds01:8443", "wds01:8443"},
		{KeyWDSServerCertificate, "3f:a2:" + strings.Repeat("00:", 29) + "9c", "3f:a2:" + strings.Repeat("00:", 29) + "9c"},
		{KeyWDSServerCertificate, `X:\Windows\System32\ca.pem`, `X:\Windows\System32\ca.pem`},
		{KeyWDSImageGroup, "Group", "Group"},
		{KeyUsername, `CORP\u`, `CORP\u`},
		{KeyPassword, "s3cret", "[REDACTED]"},
		{KeyDeleteLocalWimOnSuccess, "No", "No"},
	}
	for _, tc := range cases {
		s := Default()
		if err := s.Set(strings.ToLower(tc.key), tc.value); err != nil {
			t.Fatalf("Set(%s, %q): %v", tc.key, tc.value, err)
		}
		if got := s.Value(tc.key); got != tc.want {
			t.Errorf("Value(%s) after Set %q = %q, want %q", tc.key, tc.value, got, tc.want)
		}
		parsed, _, err := Parse([]byte("["+SectionOf(tc.key)+"]\n"+tc.key+"="+tc.value+"\n"), "f.inf")
		if err != nil && tc.key != KeyUploadToWDSServer {
			t.Fatalf("Parse %s=%s: %v", tc.key, tc.value, err)
		}
		parsed.Source, parsed.lines = "", nil
		if !reflect.DeepEqual(parsed, s) {
			t.Errorf("%s=%s: the parser and Set disagree:\nparsed %+v\nSet    %+v", tc.key, tc.value, parsed, s)
		}
		// An empty value resets the key.
		if err := s.Set(tc.key, ""); err != nil || !reflect.DeepEqual(s, Default()) {
			t.Errorf("Set(%s, \"\") = %v, settings %+v; want the defaults", tc.key, err, s)
		}
	}
	s := Default()
	if err := s.Set("Compresion", "LZX"); err == nil {
		t.Error("Set of an unknown key succeeded")
	}
	for _, bad := range [][2]string{{KeyCompression, "zip"}, {KeyOverwrite, "maybe"}, {KeyUnattended, "perhaps"}} {
		if err := s.Set(bad[0], bad[1]); err == nil || !strings.Contains(err.Error(), "allowed values") {
			t.Errorf("Set(%s, %q) = %v, want the allowed values", bad[0], bad[1], err)
		}
	}
	if s.Compression != images.CompressXPRESS {
		t.Errorf("a refused value changed Compression to %v", s.Compression)
	}
	if s.Value(KeyPassword) != "" {
		t.Error("Value of an empty password is not empty")
	}
}

// TestCanonicalKey: any case gives the file's spelling and its section.
func TestCanonicalKey(t *testing.T) {
	for _, k := range knownKeys {
		got, ok := CanonicalKey(strings.ToUpper(k.name))
		if !ok || got != k.name || SectionOf(got) != k.section {
			t.Errorf("CanonicalKey(%s) = %q %v, section %q", strings.ToUpper(k.name), got, ok, SectionOf(got))
		}
	}
	if _, ok := CanonicalKey("Pasword"); ok {
		t.Error("a misspelt key is canonical")
	}
}

func TestFinishKey(t *testing.T) {
	s, _, err := Parse([]byte("[Capture]\r\nFinish=poweroff\r\n"), "f.inf")
	if err != nil || s.Finish != FinishShutdown || s.Value(KeyFinish) != "Shutdown" || !s.Has(KeyFinish) {
		t.Fatalf("Finish=poweroff: %q, %v", s.Finish, err)
	}
	if _, _, err := Parse([]byte("[Capture]\r\nFinish=later\r\n"), "f.inf"); err == nil || !strings.Contains(err.Error(), "Shutdown, Reboot, Prompt") {
		t.Errorf("Finish=later: %v", err)
	}
	var b strings.Builder
	s.Finish = FinishReboot
	if err := s.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	back, _, err := Parse([]byte(b.String()), "w.inf")
	if err != nil || back.Finish != FinishReboot {
		t.Errorf("round trip: %q, %v\n%s", back.Finish, err, b.String())
	}
	if d := Default(); d.Finish != "" || d.Value(KeyFinish) != "" {
		t.Errorf("default Finish %q", d.Finish)
	}
}
