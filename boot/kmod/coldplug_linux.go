package kmod

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Modaliases returns the modalias of every device under
// sysRoot/bus/*/devices (sysRoot is "/sys" on a running system; CPUs are
// there too, under bus/cpu), sorted and without duplicates.
func Modaliases(sysRoot string) []string {
	seen := map[string]bool{}
	read := func(p string) {
		b, err := os.ReadFile(p)
		if err != nil || len(b) > 4096 {
			return
		}
		if a := strings.TrimSpace(string(b)); a != "" {
			seen[a] = true
		}
	}
	devs, _ := filepath.Glob(filepath.Join(sysRoot, "bus", "*", "devices", "*", "modalias"))
	for _, p := range devs {
		read(p)
	}
	return sortedKeys(seen)
}

// ColdplugRound loads the modules matching the devices present now and
// returns the names of the modules it loaded or tried for the first time.
// Call it again while it returns names: drivers create devices that other
// modules serve (a SCSI host → its disks → sd_mod).
func ColdplugRound(sysRoot string, m *Matcher, l *Loader, tried map[string]bool) (loaded []string, failed map[string]error) {
	failed = map[string]error{}
	var want []string
	for _, a := range Modaliases(sysRoot) {
		for _, mod := range m.Match(a) {
			if !tried[mod] {
				tried[mod] = true
				want = append(want, mod)
			}
		}
	}
	sort.Strings(want)
	for _, mod := range want {
		if err := l.Load(mod); err != nil {
			failed[mod] = err
		} else {
			loaded = append(loaded, mod)
		}
	}
	return loaded, failed
}
