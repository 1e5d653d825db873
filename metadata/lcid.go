package metadata

import (
	"sort"
	"strings"
)

// languageNames is the resolved LCID → locale name table used for the
// DEFAULT language.
var languageNames = buildLanguageNames()

// neutralOverrides lists neutral LCIDs whose default specific locale is not
// the one the generic rule in buildLanguageNames picks.
var neutralOverrides = map[uint16]string{
	0x0004: "zh-CN", // zh-Hans: Simplified Chinese defaults to the PRC
}

// placeholderLCIDs are the IDs [MS-LCID] §2.2.1 reserves for locales without
// an LCID of their own (LOCALE_NEUTRAL, LOCALE_CUSTOM_USER_DEFAULT,
// LOCALE_CUSTOM_UNSPECIFIED and the transient IDs). Windows resolves them to
// the user's default locale; wimlib's table was generated with en-US.
var placeholderLCIDs = []uint16{
	0x0000, 0x0C00, 0x1000, 0x2000, 0x2400, 0x2800, 0x2C00,
	0x3000, 0x3400, 0x3800, 0x3C00, 0x4000, 0x4400, 0x4800, 0x4C00,
}

// buildLanguageNames resolves every known LCID to a specific locale name:
// specific LCIDs map to their own name; a neutral language ID p (< 0x400)
// maps to its default sublanguage 0x0400|p; a neutral language-and-script ID
// maps to the specific locale with the lowest LCID whose name extends its
// tag (bs-Cyrl → bs-Cyrl-BA).
func buildLanguageNames() map[uint16]string {
	m := make(map[uint16]string, len(specificLocales)+len(neutralLocales)+len(placeholderLCIDs))
	ids := make([]int, 0, len(specificLocales))
	for id, name := range specificLocales {
		m[id] = name
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	for id, tag := range neutralLocales {
		if name, ok := neutralOverrides[id]; ok {
			m[id] = name
			continue
		}
		if id < 0x400 {
			if name, ok := specificLocales[0x400|id]; ok {
				m[id] = name
			}
			continue
		}
		for _, sid := range ids {
			if name := specificLocales[uint16(sid)]; strings.HasPrefix(name, tag+"-") {
				m[id] = name
				break
			}
		}
	}
	for _, id := range placeholderLCIDs {
		m[id] = "en-US"
	}
	return m
}

// LanguageName returns the locale name (such as "de-DE") for a Windows
// language ID, as wimlib resolves the SYSTEM hive's InstallLanguage. Only
// the low 16 bits (the language ID) are used; sort IDs are ignored.
func LanguageName(lcid uint32) (string, bool) {
	name, ok := languageNames[uint16(lcid)]
	return name, ok
}
