package metadata

import (
	"sort"
	"strings"
)

// languageNames is the resolved LCID → locale name table used for the
// DEFAULT language.
var languageNames = buildLanguageNames()

// neutralOverrides lists neutral LCIDs whose default specific locale is not
// the one the generic rule in buildLanguageNames picks (observed by
// capturing trees with wimcapture; see TestLanguageNameMatchesWimlib).
var neutralOverrides = map[uint16]string{
	0x0004: "zh-CN",       // zh-Hans
	0x000A: "es-ES",       // es: modern sort, not es-ES_tradnl
	0x003C: "ga-IE",       // ga: 0x083C, there is no 0x043C
	0x0059: "sd-Arab-PK",  // sd
	0x005D: "iu-Latn-CA",  // iu
	0x005F: "tzm-Latn-DZ", // tzm
	0x0067: "ff-Latn-SN",  // ff
	0x0073: "ti-ER",       // ti
	0x6C1A: "sr-Cyrl-RS",  // sr-Cyrl
	0x701A: "sr-Latn-RS",  // sr-Latn
	0x7804: "zh-CN",       // zh
	0x7850: "mn-MN",       // mn-Cyrl
	0x7C04: "zh-HK",       // zh-Hant
	0x783B: "sma-SE",      // sma
	0x7C1A: "sr-Latn-RS",  // sr
	0x7C3B: "smj-SE",      // smj
}

// olderNames are the names the Windows release behind wimlib's table gives
// to LCIDs that [MS-LCID] v20240423 has since renamed.
var olderNames = map[uint16]string{
	0x0460: "ks-Arab-IN",
	0x0471: "kr-NG",
	0x0476: "la-001",
	0x0486: "quc-Latn-GT",
}

// placeholderLCIDs are the IDs [MS-LCID] §2.2.1 reserves for locales without
// an LCID of their own (LOCALE_NEUTRAL, LOCALE_CUSTOM_USER_DEFAULT,
// LOCALE_CUSTOM_UNSPECIFIED and the transient IDs). Windows resolves them to
// the user's default locale; wimlib's table was generated with en-US
// (except 0x1000, see buildLanguageNames).
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
		if old, ok := olderNames[id]; ok {
			name = old
		}
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
			if name, ok := m[0x400|id]; ok {
				m[id] = name
			}
			continue
		}
		for _, sid := range ids {
			if name := m[uint16(sid)]; strings.HasPrefix(name, tag+"-") {
				m[id] = name
				break
			}
		}
	}
	for _, id := range placeholderLCIDs {
		m[id] = "en-US"
	}
	// LOCALE_CUSTOM_UNSPECIFIED resolved to ks-Arab-IN on the machine that
	// generated wimlib's table.
	m[0x1000] = "ks-Arab-IN"
	return m
}

// LanguageName returns the locale name (such as "de-DE") for a Windows
// language ID, as wimlib resolves the SYSTEM hive's InstallLanguage. Only
// the low 16 bits (the language ID) are used; sort IDs are ignored.
func LanguageName(lcid uint32) (string, bool) {
	name, ok := languageNames[uint16(lcid)]
	return name, ok
}
