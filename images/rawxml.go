package images

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// SetName sets the image's NAME element ("" removes it), keeping every
// other element of its XML as it was read.
func (im *ImageInfo) SetName(name string) {
	im.Name = name
	im.raw = setElement(im.raw, "NAME", name)
}

// SetDescription sets the image's DESCRIPTION element ("" removes it),
// keeping every other element of its XML as it was read.
func (im *ImageInfo) SetDescription(desc string) {
	im.Description = desc
	im.raw = setElement(im.raw, "DESCRIPTION", desc)
}

// setElement replaces (or adds, or with text "" removes) the top-level
// element tag of the inner XML raw. An empty raw stays empty: the XML is
// then rendered from the fields.
func setElement(raw, tag, text string) string {
	if raw == "" {
		return ""
	}
	elem := ""
	if text != "" {
		elem = "<" + tag + ">" + escape(text) + "</" + tag + ">"
	}
	dec := xml.NewDecoder(strings.NewReader(raw))
	depth := 0
	var start int64 = -1
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			// parseXML read this text before; if it is not well formed
			// now, add the element at the end rather than guess.
			return raw + elem
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && t.Name.Local == tag {
				start = before
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 && start >= 0 {
				return raw[:start] + elem + raw[dec.InputOffset():]
			}
		}
	}
	return raw + elem
}
