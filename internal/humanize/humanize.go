// Package humanize formats sizes for people: the one byte formatter of the
// scan report, the agent's progress and log lines, and the wizard.
package humanize

import "fmt"

// Bytes formats n with binary units: "512 B", "16.0 MiB", "59.3 GiB",
// "120 GiB" (no decimal from 100 up, so the width stays small).
func Bytes(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / 1024
	u := 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if v >= 99.95 {
		return fmt.Sprintf("%.0f %s", v, units[u])
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}
