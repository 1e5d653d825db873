package images

import (
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ImageInfo is the XML description of one image.
type ImageInfo struct {
	Index              int
	Name               string
	Description        string
	Flags              string
	DisplayName        string
	DisplayDescription string
	DirCount           uint64
	FileCount          uint64
	TotalBytes         uint64
	HardLinkBytes      uint64
	// CreationTime and LastModificationTime are FILETIMEs.
	CreationTime         uint64
	LastModificationTime uint64
	// WindowsXML is the raw <WINDOWS>…</WINDOWS> element, "" when absent.
	WindowsXML string

	// raw is the element's inner XML as read, rewritten unchanged on append.
	raw string
}

const maxXMLSize = 64 << 20

type xmlTime struct {
	High string `xml:"HIGHPART"`
	Low  string `xml:"LOWPART"`
}

func (t xmlTime) value() uint64 {
	h, _ := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(t.High), "0x"), 16, 32)
	l, _ := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(t.Low), "0x"), 16, 32)
	return h<<32 | l
}

type xmlWindows struct {
	Inner string `xml:",innerxml"`
}

type xmlImage struct {
	Index              string      `xml:"INDEX,attr"`
	Inner              string      `xml:",innerxml"`
	Name               string      `xml:"NAME"`
	Description        string      `xml:"DESCRIPTION"`
	Flags              string      `xml:"FLAGS"`
	DisplayName        string      `xml:"DISPLAYNAME"`
	DisplayDescription string      `xml:"DISPLAYDESCRIPTION"`
	DirCount           uint64      `xml:"DIRCOUNT"`
	FileCount          uint64      `xml:"FILECOUNT"`
	TotalBytes         uint64      `xml:"TOTALBYTES"`
	HardLinkBytes      uint64      `xml:"HARDLINKBYTES"`
	Creation           xmlTime     `xml:"CREATIONTIME"`
	Modified           xmlTime     `xml:"LASTMODIFICATIONTIME"`
	Windows            *xmlWindows `xml:"WINDOWS"`
}

type xmlWIM struct {
	XMLName    xml.Name   `xml:"WIM"`
	TotalBytes uint64     `xml:"TOTALBYTES"`
	Images     []xmlImage `xml:"IMAGE"`
}

// parseXML decodes the UTF-16LE XML data of a WIM.
func parseXML(b []byte) ([]ImageInfo, error) {
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xFE {
		return nil, formatErr("XML data does not start with a UTF-16LE byte order mark (is it UTF-16?)")
	}
	if len(b)%2 != 0 {
		return nil, formatErr("XML data has an odd length %d: not UTF-16", len(b))
	}
	u := make([]uint16, (len(b)-2)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2+2*i:])
	}
	for i := 0; i < len(u); i++ {
		if utf16.IsSurrogate(rune(u[i])) {
			if u[i] >= 0xDC00 || i+1 == len(u) || u[i+1] < 0xDC00 || u[i+1] > 0xDFFF {
				return nil, formatErr("XML data: unpaired UTF-16 surrogate %#04x at byte %d", u[i], 2+2*i)
			}
			i++
		}
	}
	s := string(utf16.Decode(u))
	s = strings.TrimRight(s, "\x00")
	if err := checkXMLDocument(s); err != nil {
		return nil, formatErr("XML data: %v", err)
	}
	var doc xmlWIM
	dec := xml.NewDecoder(strings.NewReader(s))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		return nil, formatErr("XML data: %v", err)
	}
	var out []ImageInfo
	for i, im := range doc.Images {
		idx, err := strconv.Atoi(im.Index)
		if err != nil || idx != i+1 {
			return nil, formatErr("XML data: IMAGE element %d has INDEX=%q, want %d", i+1, im.Index, i+1)
		}
		info := ImageInfo{
			Index: idx, Name: im.Name, Description: im.Description, Flags: im.Flags,
			DisplayName: im.DisplayName, DisplayDescription: im.DisplayDescription,
			DirCount: im.DirCount, FileCount: im.FileCount, TotalBytes: im.TotalBytes,
			HardLinkBytes: im.HardLinkBytes, CreationTime: im.Creation.value(),
			LastModificationTime: im.Modified.value(), raw: im.Inner,
		}
		if im.Windows != nil {
			info.WindowsXML = "<WINDOWS>" + im.Windows.Inner + "</WINDOWS>"
		}
		out = append(out, info)
	}
	return out, nil
}

// checkXMLDocument checks that s is one well-formed XML document whose
// root is WIM: an optional XML declaration first, then comments and
// blanks, one root element, and nothing after it but comments and blanks.
// The struct decoder alone stops at the end of the root element and skips
// text before it, which libxml2 (wimlib's parser) and DISM refuse.
func checkXMLDocument(s string) error {
	dec := xml.NewDecoder(strings.NewReader(s))
	dec.Strict = true
	depth, roots := 0, 0
	for i := 0; ; i++ {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if roots++; roots > 1 {
					return fmt.Errorf("a second root element <%s> after </WIM>", t.Name.Local)
				}
				if t.Name.Local != "WIM" || t.Name.Space != "" {
					return fmt.Errorf("root element is <%s>, want <WIM>", xmlName(t.Name))
				}
			}
			depth++
		case xml.EndElement:
			if depth--; depth < 0 {
				return fmt.Errorf("an end tag </%s> with no start tag", t.Name.Local)
			}
		case xml.CharData:
			if depth == 0 && strings.Trim(string(t), " \t\r\n") != "" {
				return errors.New("text outside the root element")
			}
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") && (i != 0 || depth != 0) {
				return errors.New("an XML declaration that is not at the start of the document")
			}
		case xml.Directive:
			return errors.New("a <!DOCTYPE> or other declaration, which WIM XML data never has")
		}
	}
	if roots == 0 {
		return errors.New("no root element")
	}
	if depth != 0 {
		return errors.New("the document ends inside an element")
	}
	return nil
}

func xmlName(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

// maxTextLen bounds an image name or description, in characters.
const maxTextLen = 1 << 16

// TextError reports an image name, description or other XML text that a
// WIM's XML data cannot hold.
type TextError struct {
	Field  string // "name", "description", ...
	Offset int    // byte offset of the first bad character in the value
	Rune   rune   // the character; utf8.RuneError for bytes that are not UTF-8
	Len    int    // set (with Rune 0) when the value is too long
}

func (e *TextError) Error() string {
	switch {
	case e.Len > 0:
		return fmt.Sprintf("image %s is %d characters long, more than the %d allowed", e.Field, e.Len, maxTextLen)
	case e.Rune == utf8.RuneError:
		return fmt.Sprintf("image %s is not valid UTF-8 (byte %d)", e.Field, e.Offset)
	}
	return fmt.Sprintf("image %s has the character %U at byte %d, which XML cannot hold (no control characters but tab, line feed and carriage return; no U+FFFE, U+FFFF)", e.Field, e.Rune, e.Offset)
}

// xmlChar reports whether r may appear in an XML 1.0 document (the Char
// production).
func xmlChar(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r':
		return true
	case r < 0x20:
		return false
	case r <= 0xD7FF:
		return true
	case r < 0xE000:
		return false
	case r <= 0xFFFD:
		return true
	}
	return r >= 0x10000 && r <= utf8.MaxRune
}

// CheckText checks that s can be stored as the text of an image's XML
// element: valid UTF-8 made of characters XML allows, at most 65536 of
// them. field names the value in the error.
func CheckText(field, s string) error {
	n := 0
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return &TextError{Field: field, Offset: i, Rune: utf8.RuneError}
			}
		}
		if !xmlChar(r) {
			return &TextError{Field: field, Offset: i, Rune: r}
		}
		n++
	}
	if n > maxTextLen {
		return &TextError{Field: field, Len: n}
	}
	return nil
}

// Check checks every text of the options with CheckText, and the WINDOWS
// element for well-formedness.
func (o *ImageOptions) Check() error {
	for _, f := range []struct{ name, v string }{
		{"name", o.Name}, {"description", o.Description}, {"flags", o.Flags},
		{"display name", o.DisplayName}, {"display description", o.DisplayDescription},
	} {
		if err := CheckText(f.name, f.v); err != nil {
			return err
		}
	}
	return validWindowsXML(o.WindowsXML)
}

// escape escapes text as wimlib and DISM do: &, <, > and CR only (quotes,
// tabs and newlines are legal in element text).
func escape(s string) string {
	return xmlTextEscaper.Replace(s)
}

var xmlTextEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#13;")

func timeXML(tag string, t uint64) string {
	return fmt.Sprintf("<%s><HIGHPART>0x%08X</HIGHPART><LOWPART>0x%08X</LOWPART></%s>", tag, t>>32, t&0xFFFFFFFF, tag)
}

// innerXML renders an image's elements in the order DISM writes them.
func (im *ImageInfo) innerXML() string {
	if im.raw != "" {
		return im.raw
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<DIRCOUNT>%d</DIRCOUNT><FILECOUNT>%d</FILECOUNT><TOTALBYTES>%d</TOTALBYTES><HARDLINKBYTES>%d</HARDLINKBYTES>",
		im.DirCount, im.FileCount, im.TotalBytes, im.HardLinkBytes)
	b.WriteString(timeXML("CREATIONTIME", im.CreationTime))
	b.WriteString(timeXML("LASTMODIFICATIONTIME", im.LastModificationTime))
	b.WriteString(im.WindowsXML)
	for _, e := range []struct{ tag, v string }{
		{"NAME", im.Name}, {"DESCRIPTION", im.Description}, {"FLAGS", im.Flags},
		{"DISPLAYNAME", im.DisplayName}, {"DISPLAYDESCRIPTION", im.DisplayDescription},
	} {
		if e.v != "" {
			fmt.Fprintf(&b, "<%s>%s</%s>", e.tag, escape(e.v), e.tag)
		}
	}
	return b.String()
}

// marshalXML renders the WIM's XML data as UTF-16LE with a byte order mark.
func marshalXML(images []ImageInfo, totalBytes uint64) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<WIM><TOTALBYTES>%d</TOTALBYTES>", totalBytes)
	for i := range images {
		fmt.Fprintf(&b, "<IMAGE INDEX=\"%d\">%s</IMAGE>", images[i].Index, images[i].innerXML())
	}
	b.WriteString("</WIM>")
	u := utf16.Encode([]rune(b.String()))
	out := make([]byte, 2+2*len(u))
	out[0], out[1] = 0xFF, 0xFE
	for i, c := range u {
		binary.LittleEndian.PutUint16(out[2+2*i:], c)
	}
	return out
}

// validWindowsXML checks that s is one well-formed <WINDOWS> element.
func validWindowsXML(s string) error {
	if s == "" {
		return nil
	}
	dec := xml.NewDecoder(strings.NewReader(s))
	var w struct {
		XMLName xml.Name `xml:"WINDOWS"`
	}
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("WINDOWS XML is not a well-formed <WINDOWS> element: %w", err)
	}
	return nil
}

// checkXMLRoundTrip parses the XML data about to be committed and checks
// that it gives back images: a WIM whose XML does not parse is unreadable
// (wiminfo fails with error 73), so such data is never written.
func checkXMLRoundTrip(data []byte, images []ImageInfo) error {
	got, err := parseXML(data)
	if err != nil {
		return fmt.Errorf("the new XML data does not parse back (nothing was committed): %w", err)
	}
	if len(got) != len(images) {
		return fmt.Errorf("the new XML data parses back to %d images, not %d (nothing was committed)", len(got), len(images))
	}
	for i := range got {
		a, b := &got[i], &images[i]
		if a.Name != b.Name || a.Description != b.Description || a.Flags != b.Flags ||
			a.DisplayName != b.DisplayName || a.DisplayDescription != b.DisplayDescription {
			return fmt.Errorf("image %d's name or description does not survive the XML data (nothing was committed)", i+1)
		}
	}
	return nil
}
