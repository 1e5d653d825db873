package inf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/volume/exclude"
)

const pw = "Tr0ub4dor&3-unique-pw"

// fullSettings sets every field to something unusual.
func fullSettings() *Settings {
	s := Default()
	s.Unattended = true
	s.VolumeToCapture = `C:\`
	s.SystemRoot = `\WINNT`
	s.ImageName = ` "Ref" image `
	s.ImageDescription = `'quoted' ; with # and = signs`
	s.DestinationFile = `D:\Images\ref.wim`
	s.Overwrite = OverwriteAppend
	s.Compression = images.CompressLZX
	s.CheckIntegrity = false
	s.Exclusions = []string{`\pagefile.sys`, `;starts with semicolon`, `#hash`, `[bracket]`, ` spaced `, `"quoted"`, `a=b`, `%SYSTEMROOT%\Temp`}
	s.ExclusionExceptions = []string{`\keep`, `'single'`}
	s.Upload = true
	s.ServerName = "[fd00::5]:8443"
	s.ServerCertificate = `X:\Windows\System32\lab ca.pem`
	s.ImageGroup = "Reference Images"
	s.Username = `CORP\capture`
	s.Password = NewSecret(pw)
	s.DeleteLocalWimOnSuccess = true
	return s
}

func TestWriteRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		s          *Settings
		normalized *Settings // what Parse gives back, when not s
	}{
		{"default", Default(), nil},
		{"full", fullSettings(), nil},
		{"empty exclusion list", func() *Settings { s := Default(); s.Exclusions = nil; return s }(), nil},
		{"forms that Parse normalizes", func() *Settings {
			s := Default()
			s.VolumeToCapture, s.SystemRoot = "e:", `E:\WINNT\`
			return s
		}(), func() *Settings {
			s := Default()
			s.VolumeToCapture, s.SystemRoot = `E:\`, `\WINNT`
			return s
		}()},
		{"linux paths", func() *Settings {
			s := Default()
			s.VolumeToCapture, s.DestinationFile = "/dev/sda2", "/mnt/images/ref.wim"
			return s
		}(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.s.Write(&buf, true); err != nil {
				t.Fatalf("Write: %v", err)
			}
			got, w, err := Parse(buf.Bytes(), "rt.inf")
			if err != nil {
				t.Fatalf("Parse of written file: %v\n%s", err, buf.String())
			}
			if len(w) != 0 && len(tt.s.Exclusions) > 0 {
				t.Errorf("warnings on written file: %v", w)
			}
			want := tt.s
			if tt.normalized != nil {
				want = tt.normalized
			}
			if !equalSettings(got, want) {
				t.Errorf("round trip changed settings\n got %+v\nwant %+v\nfile:\n%s", got, want, buf.String())
			}
			if strings.Count(buf.String(), "\r\n") != strings.Count(buf.String(), "\n") {
				t.Error("Write did not use CRLF line ends")
			}
		})
	}
}

func TestWriteWithoutPassword(t *testing.T) {
	var buf bytes.Buffer
	if err := fullSettings().Write(&buf, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), pw) {
		t.Fatal("Write(includePassword=false) wrote the password")
	}
	s, _, err := Parse(buf.Bytes(), "np.inf")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Password.IsZero() || !slices.Equal(s.Missing(), []string{"Password"}) {
		t.Errorf("Password = %v, Missing = %q", s.Password, s.Missing())
	}
}

func TestWriteRefusesInvalid(t *testing.T) {
	s := Default()
	s.ImageName = "two\nlines"
	s.DeleteLocalWimOnSuccess = true
	var buf bytes.Buffer
	err := s.Write(&buf, true)
	if err == nil || buf.Len() != 0 {
		t.Fatalf("Write = %v, wrote %d bytes", err, buf.Len())
	}
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Errorf("error %v, want 2 errors in an ErrorList", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	if err := Default().Write(failWriter{}, true); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Write to a failing writer: %v", err)
	}
}

func TestValidateProgrammatic(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Settings)
		want   string
	}{
		{"ok", func(*Settings) {}, ""},
		{"bad overwrite", func(s *Settings) { s.Overwrite = 7 }, "Overwrite: invalid value 7"},
		{"bad compression", func(s *Settings) { s.Compression = -1 }, "Compression: invalid value -1"},
		{"dest on volume", func(s *Settings) { s.VolumeToCapture, s.DestinationFile = `E:\`, `e:\x.wim` }, "volume being captured"},
		{"bad pattern", func(s *Settings) { s.Exclusions = []string{`\`} }, "[ExclusionList] bad pattern"},
		{"password control char", func(s *Settings) { s.Password = NewSecret("a\nb") }, "Password: contains a control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Default()
			tt.modify(s)
			err := s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Errorf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"nothing set", "", []string{"ImageName", "DestinationFile"}},
		{"capture complete", "[Capture]\nImageName=n\nDestinationFile=D:\\x.wim", nil},
		{"upload incomplete", "[Capture]\nImageName=n\n[WDS]\nUploadToWDSServer=Yes\nWDSServerName=wds", []string{"DestinationFile", "WDSImageGroup", "Username", "Password"}},
		{"upload complete", "[Capture]\nImageName=n\nDestinationFile=/x.wim\n[WDS]\nUploadToWDSServer=Yes\nWDSServerName=wds\nWDSImageGroup=g\nUsername=a@b\nPassword=p", nil},
		{"upload details without upload", "[Capture]\nImageName=n\nDestinationFile=/x.wim\n[WDS]\nWDSServerName=wds", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := mustParse(t, tt.text)
			if got := s.Missing(); !slices.Equal(got, tt.want) {
				t.Errorf("Missing() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExclusionPatterns(t *testing.T) {
	tests := []struct {
		name       string
		text       string
		detected   string
		wantExcl   []string
		wantExcept []string
	}{
		{"default root", "[ExclusionList]\n%SYSTEMROOT%\\CSC\n%systemroot%\\Temp\\*.tmp", "", []string{`\Windows\CSC`, `\Windows\Temp\*.tmp`}, nil},
		{"detected root", "[ExclusionList]\n%SYSTEMROOT%\\CSC", `C:\WINNT\`, []string{`\WINNT\CSC`}, nil},
		{"SystemRoot setting wins", "[Capture]\nSystemRoot=WinRoot\n[ExclusionList]\n%SystemRoot%\\CSC\n[ExclusionException]\n%SYSTEMROOT%\\CSC\\keep", `\Windows`,
			[]string{`\WinRoot\CSC`}, []string{`\WinRoot\CSC\keep`}},
		{"no variable", "[ExclusionList]\n\\a%b%", "", []string{`\a%b%`}, nil},
		{"repeated", "[ExclusionList]\n%SYSTEMROOT%%SYSTEMROOT%", "", []string{`\Windows\Windows`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := mustParse(t, tt.text)
			e, x := s.ExclusionPatterns(tt.detected)
			// The defaults always follow the file's own patterns.
			for _, d := range exclude.DefaultPatterns {
				if !slices.Contains(tt.wantExcl, d) {
					tt.wantExcl = append(tt.wantExcl, d)
				}
			}
			if !slices.Equal(e, tt.wantExcl) || !slices.Equal(x, tt.wantExcept) {
				t.Errorf("ExclusionPatterns(%q) = %q, %q; want %q, %q", tt.detected, e, x, tt.wantExcl, tt.wantExcept)
			}
			if !strings.Contains(strings.ToUpper(strings.Join(s.Exclusions, "")), "%") && strings.Contains(tt.text, "%SYSTEMROOT%") {
				t.Error("Exclusions were expanded in place; they must stay as written")
			}
		})
	}
}

func TestDriveLetter(t *testing.T) {
	tests := []struct {
		in     string
		letter byte
		rest   string
		ok     bool
	}{
		{`d:\Images\ref.wim`, 'D', `\Images\ref.wim`, true},
		{`C:`, 'C', ``, true},
		{`/dev/sda`, 0, `/dev/sda`, false},
		{`1:\x`, 0, `1:\x`, false},
		{`C`, 0, `C`, false},
	}
	for _, tt := range tests {
		l, r, ok := DriveLetter(tt.in)
		if l != tt.letter || r != tt.rest || ok != tt.ok {
			t.Errorf("DriveLetter(%q) = %q, %q, %v", tt.in, l, r, ok)
		}
	}
}

func TestEnumText(t *testing.T) {
	for _, o := range []Overwrite{OverwriteNo, OverwriteYes, OverwriteAppend} {
		var back Overwrite
		b, _ := o.MarshalText()
		if err := back.UnmarshalText(b); err != nil || back != o {
			t.Errorf("Overwrite %v round trip: %v %v", o, back, err)
		}
	}
}

// TestPasswordNeverShown parses a file full of problems around a password and
// prints the results every way a caller might.
func TestPasswordNeverShown(t *testing.T) {
	text := "[WDS]\nPassword=" + pw + "\nPassword=" + pw + "x\nPasword=" + pw + "\n" + pw + "\n" +
		"UploadToWDSServer=maybe\nDeleteLocalWimOnSuccess=Yes\n[Capture]\nPassword=" + pw + "\n"
	s, warnings, err := Parse([]byte(text), "pw.inf")
	if err == nil || len(warnings) == 0 {
		t.Fatalf("expected errors and warnings, got %v, %v", err, warnings)
	}
	var outputs []string
	outputs = append(outputs, err.Error(), fmt.Sprint(warnings))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
		outputs = append(outputs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, *s), fmt.Sprintf(verb, s.Password))
	}
	j, jerr := json.Marshal(s)
	if jerr != nil {
		t.Fatal(jerr)
	}
	outputs = append(outputs, string(j))
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("settings", "s", s, "pw", s.Password)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("settings", "s", s, "pw", s.Password)
	outputs = append(outputs, logs.String())
	for _, o := range outputs {
		if strings.Contains(o, pw) {
			t.Fatalf("password leaked in %q", o)
		}
	}
	if !strings.Contains(logs.String(), redacted) || !strings.Contains(string(j), redacted) {
		t.Errorf("redaction marker missing: %s %s", logs.String(), j)
	}
	if s.Password.Reveal() != pw {
		t.Errorf("Reveal() = %q", s.Password.Reveal())
	}
}

func TestSecretEmpty(t *testing.T) {
	var s Secret
	if s.String() != "" || fmt.Sprint(s) != "" || !s.IsZero() {
		t.Errorf("empty Secret prints %q", fmt.Sprint(s))
	}
	if got := fmt.Sprintf("%#v", NewSecret("x")); got != `inf.Secret("[REDACTED]")` {
		t.Errorf("%%#v = %s", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(stockINF))
	f.Add([]byte(crlf(stockINF)))
	f.Add(utf16le(crlf(stockINF), true))
	var full bytes.Buffer
	if err := fullSettings().Write(&full, true); err != nil {
		f.Fatal(err)
	}
	f.Add(full.Bytes())
	f.Add([]byte("[Capture]\nImageName=\"\"x\"\"\n[ExclusionList]\n\"[a]\"\n[x]y\n"))
	f.Add([]byte("[WDS]\nWDSServerName=[::1]:80\nUsername=a@b.c\nPassword=';#'\n"))
	f.Add([]byte("[Capture]\nVolumeToCapture=/mnt\nDestinationFile=/mnt2/x.wim\nSystemRoot=C:\\W\n"))
	f.Add([]byte("\xEF\xBB\xBF[capture]\r\noverwrite=append\r\ncompression=max\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _, err := Parse(data, "fuzz.inf")
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is %T, not a non-empty ErrorList: %v", err, err)
			}
			return
		}
		var buf bytes.Buffer
		if err := s.Write(&buf, true); err != nil {
			t.Fatalf("Write of parsed settings failed: %v", err)
		}
		back, _, err := Parse(buf.Bytes(), "again.inf")
		if err != nil {
			t.Fatalf("Parse of written settings failed: %v\n%s", err, buf.String())
		}
		if !equalSettings(s, back) {
			t.Fatalf("round trip changed settings\nfirst  %#v\nsecond %#v\nfile:\n%s", s, back, buf.String())
		}
		if s.Password.Reveal() != back.Password.Reveal() {
			t.Fatal("round trip changed the password")
		}
	})
}
