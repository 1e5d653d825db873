package metadata

import (
	"strings"
)

// EscapeText escapes element text the way libxml2 serializes it for wimlib
// 1.13: &, <, > and carriage return become &amp; &lt; &gt; &#13;; quotes,
// tab, line feed and non-ASCII are written as is (encoding/xml's EscapeText
// differs: it also escapes quotes, tab and line feed).
func EscapeText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\r':
			b.WriteString("&#13;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func element(b *strings.Builder, name, text string) {
	if text == "" {
		return
	}
	b.WriteString("<" + name + ">")
	b.WriteString(EscapeText(text))
	b.WriteString("</" + name + ">")
}

// WindowsXML returns the <WINDOWS>…</WINDOWS> element as wimlib writes it
// (no whitespace between elements; element order SYSTEMROOT, ARCH,
// EDITIONID, INSTALLATIONTYPE, PRODUCTNAME, VERSION{MAJOR, MINOR, BUILD,
// SPBUILD, SPLEVEL}, PRODUCTTYPE, PRODUCTSUITE, HAL, LANGUAGES{LANGUAGE…,
// DEFAULT}). It returns "" when the info has no system root.
func (i *Info) WindowsXML() string {
	w := &i.Windows
	if w.SystemRoot == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString("<WINDOWS>")
	element(&b, "SYSTEMROOT", w.SystemRoot)
	if w.Arch != nil {
		element(&b, "ARCH", formatInt(int64(*w.Arch)))
	}
	element(&b, "EDITIONID", w.EditionID)
	element(&b, "INSTALLATIONTYPE", w.InstallationType)
	element(&b, "PRODUCTNAME", w.ProductName)
	v := &w.Version
	if v.Major != nil || v.Minor != nil || v.Build != nil || v.SPBuild != nil || v.SPLevel != nil {
		b.WriteString("<VERSION>")
		for _, f := range []struct {
			name string
			n    *int64
		}{{"MAJOR", v.Major}, {"MINOR", v.Minor}} {
			if f.n != nil {
				element(&b, f.name, formatInt(*f.n))
			}
		}
		if v.Build != nil {
			element(&b, "BUILD", *v.Build)
		}
		if v.SPBuild != nil {
			element(&b, "SPBUILD", formatInt(*v.SPBuild))
		}
		if v.SPLevel != nil {
			element(&b, "SPLEVEL", formatInt(*v.SPLevel))
		}
		b.WriteString("</VERSION>")
	}
	element(&b, "PRODUCTTYPE", w.ProductType)
	element(&b, "PRODUCTSUITE", w.ProductSuite)
	element(&b, "HAL", w.HAL)
	if len(w.Languages) > 0 || w.DefaultLanguage != "" {
		b.WriteString("<LANGUAGES>")
		for _, l := range w.Languages {
			element(&b, "LANGUAGE", l)
		}
		element(&b, "DEFAULT", w.DefaultLanguage)
		b.WriteString("</LANGUAGES>")
	}
	b.WriteString("</WINDOWS>")
	return b.String()
}

// ImageElementsXML returns the FLAGS, DISPLAYNAME and DISPLAYDESCRIPTION
// elements (only those present) as wimlib writes them after <WINDOWS>.
func (i *Info) ImageElementsXML() string {
	var b strings.Builder
	element(&b, "FLAGS", i.Flags)
	element(&b, "DISPLAYNAME", i.DisplayName)
	element(&b, "DISPLAYDESCRIPTION", i.DisplayDescription)
	return b.String()
}
