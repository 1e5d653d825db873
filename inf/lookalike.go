package inf

import (
	"strconv"
	"strings"
)

// quoteName quotes a key or section name from the file for a message.
// Every key and section name is ASCII, so a name with anything else is
// shown with those characters escaped (\u0420, \u200b), and when it reads
// as one of known once look-alike letters are mapped to Latin ones, the
// message says so: "Раssword" with a Cyrillic Р must not look like the
// Password key in a log.
func quoteName(name string, known []string) string {
	ascii := true
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 0x80 || c < 0x20 || c == 0x7f {
			ascii = false
			break
		}
	}
	if ascii {
		return `"` + name + `"`
	}
	q := strconv.QuoteToASCII(name)
	skeleton := strings.Map(latinLookalike, name)
	for _, k := range known {
		if strings.EqualFold(skeleton, k) {
			return q + " (looks like " + k + " but has non-Latin or invisible characters)"
		}
	}
	return q
}

// latinLookalike maps Cyrillic and Greek letters that look like Latin ones
// to those, and drops invisible characters.
func latinLookalike(r rune) rune {
	if r < 0x80 {
		return r
	}
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad':
		return -1
	}
	if l, ok := lookalikes[r]; ok {
		return l
	}
	return r
}

var lookalikes = map[rune]rune{
	// Cyrillic
	'а': 'a', 'А': 'A', 'В': 'B', 'с': 'c', 'С': 'C', 'е': 'e', 'Е': 'E', 'Н': 'H',
	'і': 'i', 'І': 'I', 'ј': 'j', 'Ј': 'J', 'К': 'K', 'М': 'M', 'о': 'o', 'О': 'O',
	'р': 'p', 'Р': 'P', 'ѕ': 's', 'Ѕ': 'S', 'Т': 'T', 'х': 'x', 'Х': 'X', 'у': 'y',
	'У': 'Y', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'Ԝ': 'W', 'һ': 'h', 'Ү': 'Y', 'ӏ': 'l',
	// Greek
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M',
	'Ν': 'N', 'Ο': 'O', 'ο': 'o', 'Ρ': 'P', 'ρ': 'p', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X',
	'ν': 'v', 'ι': 'i', 'κ': 'k',
}

// keyNames returns every key name.
func keyNames() []string {
	out := make([]string, len(knownKeys))
	for i, k := range knownKeys {
		out[i] = k.name
	}
	return out
}

// sectionNames are the section names in brackets, as quoteName compares
// them.
var sectionNames = []string{"[" + SectionCapture + "]", "[" + SectionWDS + "]", "[" + SectionExclusionList + "]", "[" + SectionExclusionException + "]"}
