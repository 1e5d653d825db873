package metadata

import (
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/internal/regf"
)

var reDefault = regexp.MustCompile(`<DEFAULT>(.*?)</DEFAULT>`)

// lcidSeed picks the random part of the LCID sample. It is fixed, so that a
// mismatch shows on every run, not only sometimes; METADATA_LCID_SEED
// overrides it to explore other samples.
const lcidSeed = 20

// lcidsToCheck returns the LCIDs to compare with wimlib. With full set it
// is every LCID in the table, the neighbours of each (next sublanguage,
// neutral form) and random IDs (about 1000 captures, two minutes); else
// every neutral ID and override, 60 random table entries and 20 random IDs.
func lcidsToCheck(full bool, seed uint64) []uint16 {
	set := map[uint16]bool{}
	rng := rand.New(rand.NewPCG(seed, 2))
	for id := range neutralLocales {
		set[id] = true // every neutral ID: the resolution rule is the weak spot
	}
	if full {
		for id := range languageNames {
			set[id] = true
			set[id+1] = true
			set[id&0x3FF] = true
		}
		for len(set) < len(languageNames)*2+50 {
			set[uint16(rng.IntN(0x10000))] = true
		}
	} else {
		for id := range neutralOverrides {
			set[id] = true
		}
		for id := range olderNames {
			set[id] = true
		}
		set[0x1000], set[0x0000], set[0x0C00], set[0x007F] = true, true, true, true
		table := make([]uint16, 0, len(languageNames))
		for id := range languageNames {
			table = append(table, id)
		}
		sort.Slice(table, func(i, j int) bool { return table[i] < table[j] })
		for i := 0; i < 60; i++ {
			set[table[rng.IntN(len(table))]] = true
		}
		for i := 0; i < 20; i++ {
			set[uint16(rng.IntN(0x10000))] = true
		}
	}
	ids := make([]uint16, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// TestLanguageNameMatchesWimlib captures one tree per LCID with the LCID as
// InstallLanguage and compares wimlib's DEFAULT with LanguageName.
func TestLanguageNameMatchesWimlib(t *testing.T) {
	if testing.Short() {
		t.Skip("captures ~300 trees with wimcapture; skipped with -short")
	}
	needTool(t, "wimcapture")
	full := os.Getenv("METADATA_LCID_SWEEP") != ""
	seed := uint64(lcidSeed)
	if s := os.Getenv("METADATA_LCID_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("METADATA_LCID_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("LCID sample seed %d (METADATA_LCID_SEED=%d reproduces it)", seed, seed)
	pe := peStub(0x8664)
	var bad []string
	ids := lcidsToCheck(full, seed)
	for _, id := range ids {
		dir := t.TempDir()
		writeFiles(t, dir, std(t, "Windows", pe, nil, func(h *regf.Hive) {
			h.Key(nlsKey).SetString("InstallLanguage", fmt.Sprintf("%04x", id))
		}))
		win, _ := wimlibXML(t, dir)
		want := ""
		if m := reDefault.FindStringSubmatch(win); m != nil {
			want = m[1]
		}
		got, _ := LanguageName(uint32(id))
		if got != want {
			bad = append(bad, fmt.Sprintf("0x%04X: ours %q wimlib %q", id, got, want))
		}
		os.RemoveAll(dir)
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d LCIDs differ:\n%s", len(bad), len(ids), strings.Join(bad, "\n"))
	}
	t.Logf("checked %d LCIDs against wimlib", len(ids))
}
