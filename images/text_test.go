package images

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

// decoderAccepts asks encoding/xml, independently of CheckText, whether s
// is acceptable element text once escaped.
func decoderAccepts(s string) bool {
	dec := xml.NewDecoder(strings.NewReader("<a>" + escape(s) + "</a>"))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if err != nil {
			return errors.Is(err, io.EOF)
		}
	}
}

// TestImageTextEveryRune tries every Unicode code point as image text:
// CheckText must accept exactly those XML allows, and everything accepted
// must come back unchanged from the XML data the writer makes.
func TestImageTextEveryRune(t *testing.T) {
	var batch []rune
	flush := func() {
		name := string(batch)
		imgs := []ImageInfo{{Index: 1, Name: name, Description: "d" + name}}
		got, err := parseXML(marshalXML(imgs, 0))
		if err != nil || len(got) != 1 || got[0].Name != name || got[0].Description != "d"+name {
			t.Fatalf("runes %U-%U do not survive the XML data: %v", batch[0], batch[len(batch)-1], err)
		}
		batch = batch[:0]
	}
	rejected := 0
	for r := rune(0); r <= utf8.MaxRune; r++ {
		s := string(r)
		if r >= 0xD800 && r <= 0xDFFF {
			s = string([]byte{0xED, byte(0xA0 | (r>>6)&0x1F), byte(0x80 | r&0x3F)}) // a surrogate, encoded as Go never does
		}
		// A refused character must be one encoding/xml refuses too; the
		// accepted ones are proven by parsing them back in batches.
		if err := CheckText("name", s); err != nil {
			if decoderAccepts(s) {
				t.Fatalf("%U: CheckText = %v, but encoding/xml accepts it", r, err)
			}
			rejected++
			continue
		}
		batch = append(batch, r)
		if len(batch) == 4096 {
			flush()
		}
	}
	flush()
	// C0 controls but tab, LF, CR (29); surrogates (2048); U+FFFE, U+FFFF.
	if rejected != 29+2048+2 {
		t.Errorf("%d code points rejected, want %d", rejected, 29+2048+2)
	}
}

// FuzzImageText feeds arbitrary strings as image name and description:
// what CheckText accepts must come back unchanged from the XML data, and
// what it refuses, encoding/xml must refuse too.
func FuzzImageText(f *testing.F) {
	for _, s := range []string{"Windows 11", "a & b <c> \"d\" 'e'", "tab\tLF\nCR\r", "\x01", "\uFFFE", "\xff", "ü€𝄞", "]]>", "&#1;"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, name, desc string) {
		errN, errD := CheckText("name", name), CheckText("description", desc)
		if (errN == nil) != decoderAccepts(name) || (errD == nil) != decoderAccepts(desc) {
			t.Fatalf("CheckText disagrees with encoding/xml: %v, %v", errN, errD)
		}
		if errN != nil || errD != nil {
			return
		}
		imgs := []ImageInfo{{Index: 1, Name: name, Description: desc, Flags: name, DisplayName: desc}}
		data := marshalXML(imgs, 0)
		if err := checkXMLRoundTrip(data, imgs); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAppendRefusesBadText appends an image whose name or description XML
// cannot hold: the append is refused before anything is written and the
// WIM stays byte for byte as it was (wiminfo once failed on it with error
// 73).
func TestAppendRefusesBadText(t *testing.T) {
	tooltest.Require(t, "wiminfo")
	wim := filepath.Join(t.TempDir(), "a.wim")
	writeWIM(t, wim, memsource.New(memsource.Text("a.txt", "one")), Options{Compression: CompressXPRESS, Integrity: true}, ImageOptions{Name: "first"})
	before, _ := os.ReadFile(wim)
	for _, img := range []ImageOptions{
		{Name: "bad\x01name"},
		{Name: "ok", Description: "bad \uFFFE description"},
		{Name: "ok", Flags: "\x1b[31m"},
		{Name: "bad \xff UTF-8"},
	} {
		w, err := Append(wim, Options{Compression: CompressXPRESS, Integrity: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.AddImage(context.Background(), memsource.New(memsource.Text("b.txt", "two")), img)
		var te *TextError
		if !errors.As(err, &te) {
			t.Errorf("%q: AddImage = %v, want a TextError", img.Name, err)
		}
		w.Abort()
		after, _ := os.ReadFile(wim)
		if !bytes.Equal(before, after) {
			t.Fatalf("%q: the WIM changed", img.Name)
		}
	}
	tooltest.Run(t, "wiminfo", wim)
}

// TestCommitRefusesXMLThatDoesNotParse gets text past AddImage's check
// (as a bug elsewhere might) and expects Commit to refuse the append and
// leave the WIM readable.
func TestCommitRefusesXMLThatDoesNotParse(t *testing.T) {
	tooltest.Require(t, "wiminfo", "wimverify")
	wim := filepath.Join(t.TempDir(), "c.wim")
	writeWIM(t, wim, memsource.New(memsource.Text("a.txt", "one")), Options{Compression: CompressLZX}, ImageOptions{Name: "first"})
	before, _ := os.ReadFile(wim)
	w, err := Append(wim, Options{Compression: CompressLZX})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddImage(context.Background(), memsource.New(memsource.Text("b.txt", "two")), ImageOptions{Name: "second"}); err != nil {
		t.Fatal(err)
	}
	w.images[1].Name = "broken\x02"
	if err := w.Commit(); err == nil {
		t.Fatal("Commit wrote XML data that does not parse")
	}
	after, _ := os.ReadFile(wim)
	if !bytes.Equal(before, after) {
		t.Fatal("the WIM changed")
	}
	tooltest.Run(t, "wimverify", wim)
}
