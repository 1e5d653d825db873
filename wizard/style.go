package wizard

import (
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
)

// colorProfile decides the colour profile from the environment alone:
// asking the terminal (the background colour, the cursor position) would
// stall a serial console, which never answers, and swallow the keys typed
// meanwhile. NO_COLOR and terminals without colour (vt100, vt220, dumb)
// get no colour but keep bold and reverse video; every cue is also a
// character ("!", ">", "[*]", "x").
func colorProfile(getenv func(string) string) colorprofile.Profile {
	term := getenv("TERM")
	switch {
	case getenv("NO_COLOR") != "", term == "", term == "dumb":
		return colorprofile.Ascii
	case strings.HasPrefix(term, "vt") && !strings.Contains(term, "color"):
		return colorprofile.Ascii
	case getenv("COLORTERM") == "truecolor", getenv("COLORTERM") == "24bit", strings.Contains(term, "direct"):
		return colorprofile.TrueColor
	case strings.Contains(term, "256color"):
		return colorprofile.ANSI256
	}
	return colorprofile.ANSI
}

// styles of the wizard. Colours are the basic 16, so that every terminal
// with colour shows them alike.
type styles struct {
	title, focus, dim, err, ok, key lipgloss.Style
}

func newStyles() styles {
	return styles{
		title: lipgloss.NewStyle().Bold(true).Reverse(true),
		focus: lipgloss.NewStyle().Bold(true),
		dim:   lipgloss.NewStyle().Faint(true),
		err:   lipgloss.NewStyle().Foreground(lipgloss.Red).Bold(true),
		ok:    lipgloss.NewStyle().Foreground(lipgloss.Green),
		key:   lipgloss.NewStyle().Bold(true),
	}
}

// width is the number of terminal cells s takes.
func width(s string) int { return ansi.StringWidth(s) }

// clip cuts s to w cells, ending in "..." when it is cut. ASCII dots: a
// serial console may not show Unicode.
func clip(s string, w int) string {
	if width(s) <= w {
		return s
	}
	if w <= 3 {
		return ansi.Truncate(s, w, "")
	}
	return ansi.Truncate(s, w, "...")
}

// clipPath cuts a path to w cells in its middle, keeping the file name:
// "/srv/images/.../reference.wim". A file name too long on its own keeps
// its end.
func clipPath(p string, w int) string {
	if width(p) <= w {
		return p
	}
	// The file name keeps its separator: ".../ref.wim".
	i := strings.LastIndexAny(p, `/\`)
	base, dir := p[max(i, 0):], p[:max(i, 0)]
	if room := w - width(base) - 3; room >= 1 && dir != "" {
		return ansi.Truncate(dir, room, "") + "..." + base
	}
	if w <= 3 {
		return ansi.TruncateLeft(p, width(p)-w, "")
	}
	return "..." + ansi.TruncateLeft(p, width(p)-(w-3), "")
}

// wrap breaks text into lines of at most w cells, each indented by indent
// spaces and styled.
func wrap(text string, w, indent int, st lipgloss.Style) []string {
	w = max(10, w-indent)
	var out []string
	for _, l := range strings.Split(ansi.Wrap(text, w, " /\\"), "\n") {
		out = append(out, strings.Repeat(" ", indent)+st.Render(l))
	}
	return out
}

func padRight(s string, w int) string {
	if n := width(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}
