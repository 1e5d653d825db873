package images

import (
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
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
	s := string(utf16.Decode(u))
	s = strings.TrimRight(s, "\x00")
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
