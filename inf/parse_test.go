package inf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/volume/exclude"
)

// stockINF is shaped like the file Windows Deployment Services ships
// (attended, empty values), with the stock exclusion list.
const stockINF = `[Capture]
Unattended=No
VolumeToCapture=
SystemRoot=
ImageName=
ImageDescription=
DestinationFile=
Overwrite=No

[ExclusionList]
$ntfs.log
hiberfil.sys
pagefile.sys
"System Volume Information"
RECYCLER
Windows\CSC

[WDS]
UploadToWDSServer=No
WDSServerName=
WDSImageGroup=
Username=
Password=
DeleteLocalWimOnSuccess=No
`

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func utf16le(s string, bom bool) []byte {
	var b []byte
	if bom {
		b = append(b, 0xFF, 0xFE)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func utf16be(s string) []byte {
	b := []byte{0xFE, 0xFF}
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.BigEndian.AppendUint16(b, u)
	}
	return b
}

func mustParse(t *testing.T, text string) (*Settings, []Warning) {
	t.Helper()
	s, w, err := Parse([]byte(text), "test.inf")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s, w
}

func TestParseStockFile(t *testing.T) {
	for _, enc := range []struct {
		name string
		data []byte
	}{
		{"utf8 lf", []byte(stockINF)},
		{"utf8 crlf", []byte(crlf(stockINF))},
		{"utf8 bom", append([]byte{0xEF, 0xBB, 0xBF}, crlf(stockINF)...)},
		{"utf16le bom", utf16le(crlf(stockINF), true)},
		{"utf16be bom", utf16be(crlf(stockINF))},
	} {
		t.Run(enc.name, func(t *testing.T) {
			s, w, err := Parse(enc.data, "WDSCapture.inf")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(w) != 0 {
				t.Errorf("warnings: %v", w)
			}
			want := Default()
			want.Exclusions = []string{`$ntfs.log`, `hiberfil.sys`, `pagefile.sys`, `System Volume Information`, `RECYCLER`, `Windows\CSC`}
			if !equalSettings(s, want) {
				t.Errorf("got %+v\nwant %+v", s, want)
			}
			if s.Source != "WDSCapture.inf" {
				t.Errorf("Source = %q", s.Source)
			}
			if got := s.Missing(); !slices.Equal(got, []string{"ImageName", "DestinationFile"}) {
				t.Errorf("Missing() = %q", got)
			}
			for _, k := range []string{"ImageName", "Unattended", "overwrite", "EXCLUSIONLIST"} {
				wantHas := k != "ImageName" // empty value counts as absent
				if s.Has(k) != wantHas {
					t.Errorf("Has(%q) = %v, want %v", k, !wantHas, wantHas)
				}
			}
			if got := s.Line("Overwrite"); got != 8 {
				t.Errorf("Line(Overwrite) = %d, want 8", got)
			}
			// The patterns compile.
			e, x := s.ExclusionPatterns("")
			if _, err := exclude.New(e, x); err != nil {
				t.Errorf("exclude.New: %v", err)
			}
		})
	}
}

// equalSettings compares the values, ignoring Source and line bookkeeping;
// nil and empty lists are equal.
func equalSettings(a, b *Settings) bool {
	ca, cb := *a, *b
	ca.Source, cb.Source = "", ""
	ca.Warnings, cb.Warnings = nil, nil
	ca.lines, cb.lines = nil, nil
	ca.exclLines, cb.exclLines, ca.excLines, cb.excLines = nil, nil, nil, nil
	if !slices.Equal(ca.Exclusions, cb.Exclusions) || !slices.Equal(ca.ExclusionExceptions, cb.ExclusionExceptions) {
		return false
	}
	ca.Exclusions, cb.Exclusions, ca.ExclusionExceptions, cb.ExclusionExceptions = nil, nil, nil, nil
	return reflect.DeepEqual(ca, cb)
}

func TestParseKeys(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		check func(s *Settings) bool
	}{
		{"Unattended yes", "[Capture]\nUnattended=Yes", func(s *Settings) bool { return s.Unattended }},
		{"VolumeToCapture drive", "[Capture]\nVolumeToCapture=c:", func(s *Settings) bool { return s.VolumeToCapture == `C:\` }},
		{"VolumeToCapture drive slash", "[Capture]\nVolumeToCapture=d:\\", func(s *Settings) bool { return s.VolumeToCapture == `D:\` }},
		{"VolumeToCapture device", "[Capture]\nVolumeToCapture=/dev/sda2", func(s *Settings) bool { return s.VolumeToCapture == "/dev/sda2" }},
		{"VolumeToCapture directory", "[Capture]\nVolumeToCapture=C:\\Data", func(s *Settings) bool { return s.VolumeToCapture == `C:\Data` }},
		{"SystemRoot bare", "[Capture]\nSystemRoot=Windows", func(s *Settings) bool { return s.SystemRoot == `\Windows` }},
		{"SystemRoot drive", "[Capture]\nVolumeToCapture=C:\nSystemRoot=C:\\WINNT\\", func(s *Settings) bool { return s.SystemRoot == `\WINNT` }},
		{"ImageName quoted", "[Capture]\nImageName=\"  Ref image  \"", func(s *Settings) bool { return s.ImageName == "  Ref image  " }},
		{"ImageName single quotes", "[Capture]\nImageName='Ref'", func(s *Settings) bool { return s.ImageName == "Ref" }},
		{"ImageName inner quotes", "[Capture]\nImageName=\"a \"b\" c\"", func(s *Settings) bool { return s.ImageName == `a "b" c` }},
		{"ImageName unbalanced quote kept", "[Capture]\nImageName=\"Ref", func(s *Settings) bool { return s.ImageName == `"Ref` }},
		{"ImageName semicolon kept", "[Capture]\nImageName=a ; b", func(s *Settings) bool { return s.ImageName == "a ; b" }},
		{"ImageDescription unicode", "[Capture]\nImageDescription=Référence – 日本語", func(s *Settings) bool { return s.ImageDescription == "Référence – 日本語" }},
		{"DestinationFile", "[Capture]\nDestinationFile=D:\\Images\\ref.WIM", func(s *Settings) bool { return s.DestinationFile == `D:\Images\ref.WIM` }},
		{"DestinationFile linux", "[Capture]\nDestinationFile=/mnt/img/ref.wim", func(s *Settings) bool { return s.DestinationFile == "/mnt/img/ref.wim" }},
		{"Overwrite Yes", "[Capture]\nOverwrite=yes", func(s *Settings) bool { return s.Overwrite == OverwriteYes }},
		{"Overwrite Append", "[Capture]\nOverwrite=APPEND", func(s *Settings) bool { return s.Overwrite == OverwriteAppend }},
		{"Overwrite No", "[Capture]\nOverwrite=0", func(s *Settings) bool { return s.Overwrite == OverwriteNo }},
		{"Compression LZX", "[Capture]\nCompression=lzx", func(s *Settings) bool { return s.Compression == images.CompressLZX }},
		{"Compression None", "[Capture]\nCompression=None", func(s *Settings) bool { return s.Compression == images.CompressNone }},
		{"Compression Maximum", "[Capture]\nCompression=Maximum", func(s *Settings) bool { return s.Compression == images.CompressLZX }},
		{"Compression default", "[Capture]\nCompression=", func(s *Settings) bool { return s.Compression == images.CompressXPRESS }},
		{"CheckIntegrity No", "[Capture]\nCheckIntegrity=No", func(s *Settings) bool { return !s.CheckIntegrity }},
		{"CheckIntegrity default", "[Capture]", func(s *Settings) bool { return s.CheckIntegrity }},
		{"Upload", "[WDS]\nUploadToWDSServer=True", func(s *Settings) bool { return s.Upload }},
		{"Server", "[WDS]\nWDSServerName=wds01.corp.example:8443", func(s *Settings) bool { return s.ServerName == "wds01.corp.example:8443" }},
		{"Group", "[WDS]\nWDSImageGroup=Reference Images", func(s *Settings) bool { return s.ImageGroup == "Reference Images" }},
		{"Username domain", "[WDS]\nUsername=CORP\\capture", func(s *Settings) bool { return s.Username == `CORP\capture` }},
		{"Username upn", "[WDS]\nUsername=capture@corp.example", func(s *Settings) bool { return s.Username == "capture@corp.example" }},
		{"Password with ; # = and quotes", "[WDS]\nPassword=p;a#s=s\"", func(s *Settings) bool { return s.Password.Reveal() == `p;a#s=s"` }},
		{"Password quoted spaces", "[WDS]\nPassword=\" x \"", func(s *Settings) bool { return s.Password.Reveal() == " x " }},
		{"DeleteLocal", "[WDS]\nUploadToWDSServer=1\nDeleteLocalWimOnSuccess=1", func(s *Settings) bool { return s.DeleteLocalWimOnSuccess }},
		{"case-insensitive names", "[capture]\nIMAGENAME=x\n[wds]\nwdsservername=h", func(s *Settings) bool { return s.ImageName == "x" && s.ServerName == "h" }},
		{"blanks around key and value", "  [ Capture ]  \n\t ImageName \t=\t x y \t", func(s *Settings) bool { return s.ImageName == "x y" }},
		{"comments", "; c\n# c\n[Capture]\n ; ImageName=no\nImageName=yes", func(s *Settings) bool { return s.ImageName == "yes" }},
		{"header trailing comment", "[Capture] ; the capture section\nImageName=x", func(s *Settings) bool { return s.ImageName == "x" }},
		{"no ExclusionList keeps defaults", "[Capture]", func(s *Settings) bool { return slices.Equal(s.Exclusions, exclude.DefaultPatterns) }},
		{"ExclusionList replaces defaults", "[ExclusionList]\n\\a", func(s *Settings) bool { return slices.Equal(s.Exclusions, []string{`\a`}) }},
		{"pattern with = and quotes", "[ExclusionList]\n\\a=b\n'\\x y'\n\";semi\"", func(s *Settings) bool {
			return slices.Equal(s.Exclusions, []string{`\a=b`, `\x y`, `;semi`})
		}},
		{"pattern that looks like a header, quoted", "[ExclusionList]\n\"[brackets]x\"\n\\[y", func(s *Settings) bool {
			return slices.Equal(s.Exclusions, []string{`[brackets]x`, `\[y`})
		}},
		{"sections merge", "[ExclusionList]\n\\a\n[Capture]\nImageName=n\n[exclusionlist]\n\\b", func(s *Settings) bool {
			return slices.Equal(s.Exclusions, []string{`\a`, `\b`}) && s.ImageName == "n"
		}},
		{"exceptions", "[ExclusionException]\n\\keep\n*.keep", func(s *Settings) bool {
			return slices.Equal(s.ExclusionExceptions, []string{`\keep`, `*.keep`})
		}},
		{"no final newline", "[Capture]\nImageName=end", func(s *Settings) bool { return s.ImageName == "end" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := mustParse(t, tt.text)
			if !tt.check(s) {
				t.Errorf("unexpected settings: %+v", s)
			}
		})
	}
}

func TestBooleans(t *testing.T) {
	for _, v := range []string{"Yes", "yes", "YES", "True", "true", "1"} {
		s, _ := mustParse(t, "[Capture]\nUnattended="+v)
		if !s.Unattended {
			t.Errorf("Unattended=%s parsed as false", v)
		}
	}
	for _, v := range []string{"No", "no", "False", "FALSE", "0"} {
		s, _ := mustParse(t, "[Capture]\nUnattended=Yes\nCheckIntegrity="+v)
		if s.CheckIntegrity {
			t.Errorf("CheckIntegrity=%s parsed as true", v)
		}
	}
	for _, v := range []string{"perhaps", "y", "n", "2", "on", "off", "Yes please"} {
		_, _, err := Parse([]byte("[Capture]\nUnattended="+v), "f.inf")
		if err == nil || !strings.Contains(err.Error(), "Unattended") || !strings.Contains(err.Error(), "Yes, No, True, False, 1, 0") {
			t.Errorf("Unattended=%s: error %v", v, err)
		}
	}
}

func TestParseBadValues(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string // substrings of the single error
	}{
		{"Overwrite", "[Capture]\nOverwrite=Maybe", []string{"f.inf:2:", "[Capture] Overwrite:", `"Maybe"`, "Yes, No, Append"}},
		{"Compression", "[Capture]\nCompression=zip", []string{"f.inf:2:", "Compression:", `"zip"`, "XPRESS, LZX, None"}},
		{"Unattended", "[Capture]\nUnattended=perhaps", []string{"f.inf:2:", "Unattended:", "perhaps"}},
		{"CheckIntegrity", "\n\n[Capture]\nCheckIntegrity=maybe", []string{"f.inf:4:", "CheckIntegrity:"}},
		{"UploadToWDSServer", "[WDS]\nUploadToWDSServer=sure", []string{"f.inf:2:", "[WDS] UploadToWDSServer:"}},
		{"DestinationFile not wim", "[Capture]\nDestinationFile=D:\\img.zip", []string{"f.inf:2:", "DestinationFile:", `"D:\img.zip"`, ".wim"}},
		{"DestinationFile directory", "[Capture]\nDestinationFile=D:\\Images\\", []string{"DestinationFile:", ".wim"}},
		{"DestinationFile relative", "[Capture]\nDestinationFile=ref.wim", []string{"DestinationFile:", "absolute"}},
		{"DestinationFile drive relative", "[Capture]\nDestinationFile=D:ref.wim", []string{"DestinationFile:", "absolute"}},
		{"DestinationFile UNC", "[Capture]\nDestinationFile=\\\\srv\\share\\ref.wim", []string{"DestinationFile:", "network paths"}},
		{"DestinationFile wildcard", "[Capture]\nDestinationFile=D:\\*.wim", []string{"DestinationFile:", "cannot contain"}},
		{"destination on captured volume", "[Capture]\nVolumeToCapture=C:\\\nDestinationFile=c:\\x.wim", []string{"f.inf:3:", "DestinationFile:", "volume being captured", `VolumeToCapture=C:\`}},
		{"destination on captured volume, other order", "[Capture]\nDestinationFile=C:\\x.wim\nVolumeToCapture=C:", []string{"f.inf:2:", "volume being captured"}},
		{"destination inside captured directory", "[Capture]\nVolumeToCapture=C:\\Data\nDestinationFile=C:\\data\\sub\\x.wim", []string{"inside the directory"}},
		{"destination inside captured linux directory", "[Capture]\nVolumeToCapture=/mnt/win\nDestinationFile=/mnt/win/../win/x.wim", []string{"inside the directory"}},
		{"VolumeToCapture relative", "[Capture]\nVolumeToCapture=sda2", []string{"VolumeToCapture:", "drive letter"}},
		{"VolumeToCapture drive relative", "[Capture]\nVolumeToCapture=C:dir", []string{"VolumeToCapture:", "absolute"}},
		{"SystemRoot wildcard", "[Capture]\nSystemRoot=\\Win*", []string{"SystemRoot:", `\Windows`}},
		{"SystemRoot root", "[Capture]\nSystemRoot=\\", []string{"SystemRoot:"}},
		{"SystemRoot other drive", "[Capture]\nVolumeToCapture=C:\nSystemRoot=D:\\Windows", []string{"SystemRoot:", "D:"}},
		{"ImageName too long", "[Capture]\nImageName=" + strings.Repeat("n", 1025), []string{"ImageName:", "too long", "1025"}},
		{"Server bad", "[WDS]\nWDSServerName=bad host!", []string{"f.inf:2:", "[WDS] WDSServerName:", "host name"}},
		{"Server port", "[WDS]\nWDSServerName=wds:99999", []string{"WDSServerName:", "port"}},
		{"Server empty port", "[WDS]\nWDSServerName=wds:", []string{"WDSServerName:", "port"}},
		{"Server bad ipv6", "[WDS]\nWDSServerName=[fd00::zz]:80", []string{"WDSServerName:", "IPv6"}},
		{"Username bare", "[WDS]\nUsername=capture", []string{"Username:", `DOMAIN\user and user@domain`}},
		{"Username empty domain", "[WDS]\nUsername=\\capture", []string{"Username:", "empty"}},
		{"Username bad domain", "[WDS]\nUsername=cap@bad domain", []string{"Username:", "domain"}},
		{"fingerprint too short", "[WDS]\nWDSServerCertificate=3F:A2:9C", []string{"f.inf:2:", "WDSServerCertificate:", "6 hex digits", "64"}},
		{"fingerprint not hex", "[WDS]\nWDSServerCertificate=" + strings.Repeat("ZZ:", 31) + "ZZ", []string{"WDSServerCertificate:", "not a hex digit"}},
		{"relative CA file", "[WDS]\nWDSServerCertificate=certs\\ca.pem", []string{"WDSServerCertificate:", "not a full path"}},
		{"DeleteLocal without upload", "[WDS]\nDeleteLocalWimOnSuccess=Yes", []string{"f.inf:2:", "DeleteLocalWimOnSuccess:", "UploadToWDSServer=Yes"}},
		{"bad exclusion pattern", "[ExclusionList]\n\\ok\nC:relative", []string{"f.inf:3:", "[ExclusionList]", "C:relative", "drive-relative"}},
		{"bad exception pattern", "[ExclusionException]\n\\a\\..\\b", []string{"f.inf:2:", "[ExclusionException]"}},
		{"conflicting duplicate", "[Capture]\nImageName=a\nImageName=b", []string{"f.inf:3:", "ImageName:", "line 2"}},
		{"malformed header", "[Capture\nImageName=a", []string{"f.inf:1:", "missing ']'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := Parse([]byte(tt.text), "f.inf")
			if err == nil {
				t.Fatalf("no error; settings %+v", s)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("want one error in an ErrorList, got %T: %v", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if s == nil {
				t.Error("settings are nil on a validation error")
			}
		})
	}
}

func TestGoodServersAndUsers(t *testing.T) {
	for _, v := range []string{"wds01", "WDS01", "wds01.corp.example", "wds01.corp.example.", "wds-1:443", "10.0.0.5", "10.0.0.5:8443",
		"fd00::5", "[fd00::5]", "[fd00::5]:8443", "my_netbios",
		"https://wds01.corp.example", "https://wds01:9443/", "HTTPS://[fd00::5]:8443"} {
		if msg := checkServer(v); msg != "" {
			t.Errorf("checkServer(%q) = %q", v, msg)
		}
	}
	for _, v := range []string{"-wds", "wds-", "a..b", "10.0.0", "wds:0", "wds:+80", "wds:http", "[fd00::5", "[fd00::5]x", "[10.0.0.1]", "a b",
		strings.Repeat("a", 64), strings.Repeat("a.", 130) + "a",
		"http://wds01", "https://wds01/images", "https://u@wds01", "https://wds01?x", "ftp://wds01", "https://"} {
		if msg := checkServer(v); msg == "" {
			t.Errorf("checkServer(%q) accepted", v)
		}
	}
	for _, v := range []string{`CORP\capture`, `corp.example\Cap Ture`, "cap@corp.example", "a@b"} {
		if msg := checkUsername(v); msg != "" {
			t.Errorf("checkUsername(%q) = %q", v, msg)
		}
	}
	for _, v := range []string{"capture", `a\b\c`, "a@b@c", `a@b\c`, "@corp", "cap@", `CORP\`, `CORP\a:b`, "a@-x"} {
		if msg := checkUsername(v); msg == "" {
			t.Errorf("checkUsername(%q) accepted", v)
		}
	}
}

func TestAllErrorsCollected(t *testing.T) {
	text := crlf(`[Capture]
Unattended=perhaps
VolumeToCapture=C:\
DestinationFile=C:\x.wim
Overwrite=Maybe
Compression=zip
[WDS]
WDSServerName=bad host
Username=nobody
DeleteLocalWimOnSuccess=Yes
`)
	_, _, err := Parse([]byte(text), "all.inf")
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %T %v is not an ErrorList", err, err)
	}
	var got []string
	for _, e := range list {
		got = append(got, fmt.Sprintf("%d %s", e.Line, e.Key))
	}
	want := []string{"2 Unattended", "4 DestinationFile", "5 Overwrite", "6 Compression", "8 WDSServerName", "9 Username", "10 DeleteLocalWimOnSuccess"}
	if !slices.Equal(got, want) {
		t.Errorf("errors\n%s\ngot  %q\nwant %q", err, got, want)
	}
	var one *Error
	if !errors.As(err, &one) || one.Line != 2 {
		t.Errorf("errors.As(*Error) = %v", one)
	}
}

func TestWarnings(t *testing.T) {
	text := `stray line before sections
[Capture]
ImageName=x
Colour=blue
UploadToWDSServer=No
just words
=value
ImageName=x
[WDS]
hunter2-line-without-equals
`
	_, w, err := Parse([]byte(text), "w.inf")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []string{
		"w.inf:1: text outside any section ignored",
		`w.inf:4: unknown key "Colour" in [Capture] ignored`,
		"w.inf:5: key UploadToWDSServer belongs in [WDS], not [Capture]; ignored",
		"w.inf:6: line in [Capture] has no '=' and is ignored",
		"w.inf:7: line in [Capture] has no key name before '=' and is ignored",
		"w.inf:8: ImageName is set again with the same value (first at line 3)",
		"w.inf:10: line in [WDS] has no '=' and is ignored",
	}
	var got []string
	for _, x := range w {
		got = append(got, x.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEmptyExclusionListWarns(t *testing.T) {
	s, w := mustParse(t, "[ExclusionList]\n; nothing\n[Capture]\n")
	if len(s.Exclusions) != 0 {
		t.Errorf("Exclusions = %q", s.Exclusions)
	}
	if len(w) != 1 || w[0].Line != 1 || !strings.Contains(w[0].Msg, "empty") {
		t.Errorf("warnings = %v", w)
	}
}

func TestEncodings(t *testing.T) {
	text := "[Capture]\r\nImageName=Référence ✓ 😀\r\n"
	tests := []struct {
		name    string
		data    []byte
		want    string // ImageName, when no error
		warn    string
		wantErr string
	}{
		{"utf8", []byte(text), "Référence ✓ 😀", "", ""},
		{"utf8 bom", append([]byte{0xEF, 0xBB, 0xBF}, text...), "Référence ✓ 😀", "", ""},
		{"utf16le", utf16le(text, true), "Référence ✓ 😀", "", ""},
		{"utf16be", utf16be(text), "Référence ✓ 😀", "", ""},
		{"utf16le bom twice", utf16le("\uFEFF"+text, true), "Référence ✓ 😀", "", ""},
		{"windows-1252", []byte("[Capture]\r\nImageName=R\xe9f\x80rence \x93x\x94\r\n"), "Réf€rence “x”", "Windows-1252", ""},
		{"utf16 without bom", utf16le(text, false), "", "", "NUL byte at offset 1"},
		{"utf16 odd length", append(utf16le(text, true), 'x'), "", "", "odd length"},
		{"utf16 unpaired high surrogate", append(utf16le("[Capture]\r\nImageName=", true), 0x3D, 0xD8, 'x', 0), "", "", "unpaired surrogate"},
		{"utf16 lone low surrogate", append(utf16le("[Capture]\r\n", true), 0x00, 0xDC), "", "", "unpaired surrogate"},
		{"utf16 nul", append(utf16le("[Capture]\r\n", true), 0, 0), "", "", "NUL character"},
		{"utf8 bom bad utf8", []byte("\xEF\xBB\xBF[Capture]\nImageName=\xff"), "", "", "not valid UTF-8"},
		{"control character", []byte("[Capture]\nImageName=a\x01b"), "", "", "e.inf:2: control character U+0001"},
		{"lone CR", []byte("[Capture]\rImageName=a"), "", "", "control character U+000D"},
		{"binary", []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0}, "", "", "NUL byte"},
		{"too big", bytes.Repeat([]byte("; comment line\n"), MaxSize/15+1), "", "", "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, w, err := Parse(tt.data, "e.inf")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "e.inf:") {
					t.Fatalf("error = %v, want one with %q", err, tt.wantErr)
				}
				if s != nil {
					t.Errorf("settings returned for an unreadable file")
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if s.ImageName != tt.want {
				t.Errorf("ImageName = %q, want %q", s.ImageName, tt.want)
			}
			if tt.warn == "" && len(w) != 0 || tt.warn != "" && (len(w) != 1 || !strings.Contains(w[0].Msg, tt.warn)) {
				t.Errorf("warnings = %v, want %q", w, tt.warn)
			}
		})
	}
}

func TestHostileInputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	long := "[Capture]\nImageName=" + strings.Repeat("x", MaxSize-100)
	inputs := [][]byte{
		[]byte(long),
		[]byte("[" + strings.Repeat("[", MaxSize-10)),
		[]byte("[ExclusionList]\n" + strings.Repeat("*", MaxSize-100)),
		[]byte(strings.Repeat("[Capture]\nImageName=a\n", 40000)),
		[]byte(strings.Repeat("x\n", MaxSize/2-1)),
		[]byte(strings.Repeat("[Capture\n", 100000)),
	}
	for range 50 {
		b := make([]byte, rng.IntN(4096))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		inputs = append(inputs, b, append([]byte{0xFF, 0xFE}, b...))
	}
	for i, in := range inputs {
		s, w, err := Parse(in, "h.inf")
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) > maxReports+1 {
				t.Errorf("input %d: error %T with %d entries", i, err, len(list))
			}
		}
		if len(w) > maxReports+1 {
			t.Errorf("input %d: %d warnings, want at most %d", i, len(w), maxReports+1)
		}
		_ = s
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	if _, err := Find(root); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Find on empty root: %v, want ErrNotExist", err)
	}
	dir := filepath.Join(root, "WINDOWS", "system32")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Find(root); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "WDSCapture.inf") {
		t.Errorf("Find without the file: %v", err)
	}
	file := filepath.Join(dir, "wdscapture.INF")
	if err := os.WriteFile(file, []byte(stockINF), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Find(root)
	if err != nil || got != file {
		t.Fatalf("Find = %q, %v; want %q", got, err, file)
	}
	// An exact-case name wins over a case variant.
	exact := filepath.Join(dir, "WDSCapture.inf")
	if err := os.WriteFile(exact, []byte(stockINF), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = Find(root)
	if err != nil || got != exact {
		t.Errorf("Find = %q, %v; want %q", got, err, exact)
	}
	s, _, err := Load(got)
	if err != nil || s.Source != exact {
		t.Errorf("Load = %+v, %v", s, err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Load(filepath.Join(dir, "none.inf")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
	if _, _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "is a directory, not a settings file") {
		t.Errorf("Load of a directory: %v", err)
	}
	big := filepath.Join(dir, "big.inf")
	if err := os.WriteFile(big, make([]byte, MaxSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(big); err == nil || !strings.Contains(err.Error(), "limit") || !strings.Contains(err.Error(), big) {
		t.Errorf("Load of a big file: %v", err)
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, _, err := Load("/dev/zero"); err == nil || !strings.Contains(err.Error(), "character device, not a settings file") {
			t.Errorf("Load of /dev/zero: %v", err)
		}
	}
}

func TestMatcherFromStockFile(t *testing.T) {
	s, _ := mustParse(t, stockINF+"[ExclusionException]\n%SYSTEMROOT%\\CSC\\keep\n")
	m, err := s.Matcher(`\WINDOWS`)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		`\pagefile.sys`:              true,
		`\old\pagefile.sys`:          true, // stock patterns are relative: any depth
		`\System Volume Information`: true,
		`\Windows\CSC\x`:             true,
		`\Windows\CSC\keep\x`:        false,
		`\Windows\System32\x.dll`:    false,
	} {
		if got := m.Excluded(path, false); got != want {
			t.Errorf("Excluded(%q) = %v, want %v", path, got, want)
		}
	}
	s.Exclusions = []string{`C:bad`}
	if _, err := s.Matcher(""); err == nil || !strings.Contains(err.Error(), "C:bad") {
		t.Errorf("Matcher with a bad pattern: %v", err)
	}
}
