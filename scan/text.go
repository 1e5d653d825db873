package scan

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/wdscapture/wdscapture/internal/humanize"
)

// textWidth is the width WriteText fits its lines into.
const textWidth = 80

// WriteJSON writes the report as indented JSON (the layout of JSON.md).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write scan report as JSON: %w", err)
	}
	return nil
}

// WriteText writes the report as a table for people, no line wider than
// 80 columns: one block per disk with one row per partition, then for
// each inspected volume the Windows found and its capture state with the
// reason, and finally the skipped devices.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	line := func(s string) { bw.WriteString(clip(s, textWidth) + "\n") }
	wrap := func(first, indent, text string) {
		for _, l := range wrapWords(first, indent, text, textWidth) {
			bw.WriteString(l + "\n")
		}
	}
	if len(r.Disks) == 0 {
		line("No disks found.")
	}
	for i, d := range r.Disks {
		if i > 0 {
			line("")
		}
		head := fmt.Sprintf("Disk %s  %s  %s  %s", d.Name, humanSize(d.Size), d.Table, d.Path)
		if d.Model != "" {
			head += "  " + d.Model
		}
		if d.Removable {
			head += "  (removable)"
		}
		line(head)
		if d.Error != "" {
			wrap("  ! ", "    ", d.Error)
		}
		for _, wn := range d.Warnings {
			wrap("  ! ", "    ", wn)
		}
		if len(d.Partitions) == 0 {
			if d.Error == "" {
				line("  (no partitions and no file system)")
			}
			continue
		}
		line(fmt.Sprintf("  %-3s %-4s%-10s %-10s%-17s%s", "#", "Ltr", "FS", "Size", "Label", "Type"))
		for _, p := range d.Partitions {
			ltr, fsName, label, size := "-", "-", "", humanSize(p.Size)
			if v := p.Volume; v != nil {
				if v.Letter != "" {
					ltr = v.Letter + ":"
				}
				if v.FS != FSUnknown {
					fsName = string(v.FS)
				}
				label = v.Label
			}
			typ := roleWords(p.Role)
			if p.Name != "" && p.Role != RoleMSR {
				typ += " \"" + p.Name + "\""
			}
			idx := fmt.Sprint(p.Index)
			if d.Table == TableSuperfloppy {
				idx = "-"
			}
			line(fmt.Sprintf("  %-3s %-4s%-10s %-10s%-17s%s", idx, ltr, clip(fsName, 10), size, clip(label, 16), typ))
			if p.Problem != "" {
				wrap("      ! ", "        ", p.Problem)
			}
			v := p.Volume
			if v == nil {
				continue
			}
			if v.Note != "" {
				wrap("      ! ", "        ", v.Note)
			}
			if win := v.Windows; win != nil {
				wrap("      ", "        ", describeWindows(win))
			}
			if v.State != StateNone {
				wrap("      ", "        ", strings.ToUpper(v.State.String())+": "+v.Reason)
				if v.Detail != "" {
					wrap("        (", "         ", v.Detail+")")
				}
			}
		}
	}
	if len(r.Skipped) > 0 {
		// One line per reason, so that eight loop devices take one line.
		var reasons []string
		names := map[string][]string{}
		for _, s := range r.Skipped {
			if _, ok := names[s.Reason]; !ok {
				reasons = append(reasons, s.Reason)
			}
			names[s.Reason] = append(names[s.Reason], s.Name)
		}
		line("")
		line("Skipped:")
		for _, reason := range reasons {
			wrap("  ", "    ", strings.Join(names[reason], ", ")+": "+reason)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write scan report: %w", err)
	}
	return nil
}

// describeWindows summarises an offline Windows in one phrase.
func describeWindows(w *WindowsInfo) string {
	var parts []string
	name := w.ProductName
	if name == "" {
		name = "Windows"
	}
	parts = append(parts, name)
	for _, s := range []string{w.Version, w.Arch, w.DefaultLanguage} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if w.SystemRoot != "" {
		parts = append(parts, "in \\"+w.SystemRoot)
	}
	return strings.Join(parts, " ")
}

// humanSize formats n bytes as humanize.Bytes does ("512 B", "16.0 MiB",
// "100 MiB"); a negative size (a damaged table) is printed as it is.
func humanSize(n int64) string {
	if n < 0 {
		return fmt.Sprintf("%d B", n)
	}
	return humanize.Bytes(uint64(n))
}

// clip shortens s to at most n runes, marking the cut with "~".
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7F {
			return '?'
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "~"
}

// wrapWords breaks text into lines of at most width runes, the first line
// starting with first and the others with indent. A word longer than a
// line is cut.
func wrapWords(first, indent, text string, width int) []string {
	var lines []string
	cur := first
	curLen := utf8.RuneCountInString(first)
	empty := true
	for _, word := range strings.Fields(text) {
		wl := utf8.RuneCountInString(word)
		if !empty && curLen+1+wl > width {
			lines = append(lines, cur)
			cur, curLen, empty = indent, utf8.RuneCountInString(indent), true
		}
		if empty {
			room := width - curLen
			if wl > room {
				word, wl = clip(word, room), room
			}
			cur += word
			curLen += wl
			empty = false
			continue
		}
		cur += " " + word
		curLen += 1 + wl
	}
	if !empty {
		lines = append(lines, cur)
	}
	return lines
}
