package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// decodeCase is a WIM that both verifiers read.
type decodeCase struct {
	name string // e.g. "dir-LZX wimlib's"
	wim  string
}

// decodeBench verifies every WIM with wimverify and with our verify (every
// blob decompressed and its SHA-1 checked, and the integrity table if there
// is one), alternating which goes first over the rounds, and prints the
// medians of wall and CPU time, the median of the rounds' CPU ratios and
// their range, and every round's CPU seconds.
func decodeBench(w io.Writer, cases []decodeCase, ours string, rounds int) error {
	fmt.Fprintf(w, "\n%-26s | %8s %8s %6s | %8s %8s %6s %11s\n", "verify (decode + SHA-1)", "wall wl", "ours", "ratio", "CPU wl", "ours", "ratio", "CPU range")
	for i, c := range cases {
		// From the page cache, for both: ours is written with O_DIRECT
		// and wimlib's through the cache, which would otherwise time a
		// disk read against a memory read.
		if err := warm(c.wim); err != nil {
			return err
		}
		var ws, os_ []measure
		var ratios []float64
		for r := range rounds {
			wl := func() (measure, error) { return run(w, "wimverify", c.wim) }
			us := func() (measure, error) { return run(w, ours, "verify", c.wim) }
			first, second := wl, us
			if (i+r)%2 == 1 {
				first, second = us, wl
			}
			a, err := first()
			if err != nil {
				return err
			}
			b, err := second()
			if err != nil {
				return err
			}
			if (i+r)%2 == 1 {
				a, b = b, a
			}
			ws, os_ = append(ws, a), append(os_, b)
			if a.cpu > 0 {
				ratios = append(ratios, b.cpu.Seconds()/a.cpu.Seconds())
			}
		}
		mw, mo := median(ws), median(os_)
		spread := "-"
		if len(ratios) > 0 {
			slices.Sort(ratios)
			spread = fmt.Sprintf("%.2f-%.2f", ratios[0], ratios[len(ratios)-1])
		}
		fmt.Fprintf(w, "%-26s | %8.2f %8.2f %6s | %8.2f %8.2f %6s %11s\n", c.name,
			mw.wall.Seconds(), mo.wall.Seconds(), ratio(mo.wall.Seconds(), mw.wall.Seconds()),
			mw.cpu.Seconds(), mo.cpu.Seconds(), medianRatio(ratios), spread)
		if rounds > 1 {
			fmt.Fprintf(w, "%-26s | rounds, CPU s: wimlib %s; ours %s\n", "", cpus(ws), cpus(os_))
		}
	}
	return nil
}

// medianRatio is the median of sorted ratios, formatted.
func medianRatio(sorted []float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	m := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		m = (sorted[len(sorted)/2-1] + m) / 2
	}
	return fmt.Sprintf("%.3f", m)
}

// cpus lists the CPU times of ms in seconds.
func cpus(ms []measure) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.2f", m.cpu.Seconds())
	}
	return b.String()
}
