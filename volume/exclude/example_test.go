package exclude_test

import (
	"fmt"

	"github.com/wdscapture/wdscapture/volume/exclude"
)

func ExampleMatcher_Excluded() {
	m, err := exclude.New(append([]string{`*.tmp`}, exclude.DefaultPatterns...), []string{`\Windows\CSC\keep`})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range []string{`\pagefile.sys`, `\Users\bob\x.TMP`, `\Windows\CSC`, `\Windows\CSC\keep`, `\Windows\CSC\other`, `\Windows\System32`} {
		fmt.Println(p, m.Excluded(p, false))
	}
	// Output:
	// \pagefile.sys true
	// \Users\bob\x.TMP true
	// \Windows\CSC false
	// \Windows\CSC\keep false
	// \Windows\CSC\other true
	// \Windows\System32 false
}
