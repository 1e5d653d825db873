package wizard

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// field is one input of a page.
type field interface {
	// Key is the INF key the field sets ("" for a wizard-only field).
	Key() string
	// Label is the name shown left of the value.
	Label() string
	// View renders the value in w cells; cursor is the column of the
	// terminal cursor in it, -1 when the field shows none.
	View(st styles, w int, focused bool) (line string, cursor int)
	// Update handles a key; it reports whether the key was used and
	// whether the value changed.
	Update(k tea.KeyPressMsg) (used, changed bool)
	// Paste inserts text (a terminal paste); it reports a change.
	Paste(text string) bool
	// Err is the message shown under the field.
	Err() string
	SetErr(msg string)
}

// baseField holds what every field has.
type baseField struct {
	key, label, err string
}

func (f *baseField) Key() string       { return f.key }
func (f *baseField) Label() string     { return f.label }
func (f *baseField) Err() string       { return f.err }
func (f *baseField) SetErr(msg string) { f.err = msg }

// textField is a line of text. The field is written here rather than
// taken from bubbles/textinput: textinput puts the terminal cursor at the
// text position without its scroll offset (wrong once a long value
// scrolls) and cannot mark the text hidden at either edge.
type textField struct {
	baseField
	value  []rune
	pos    int // cursor, in runes
	offset int // first rune shown
	secret bool
	limit  int
}

func newTextField(key, label, value string) *textField {
	f := &textField{baseField: baseField{key: key, label: label}, limit: 4096}
	f.SetValue(value)
	return f
}

// Value is the text, trimmed of surrounding blanks.
func (f *textField) Value() string { return strings.TrimSpace(string(f.value)) }

// Raw is the text as typed (a password keeps its blanks).
func (f *textField) Raw() string { return string(f.value) }

// SetValue replaces the text and puts the cursor at its end.
func (f *textField) SetValue(s string) {
	f.value = []rune(s)
	f.pos, f.offset = len(f.value), 0
}

func (f *textField) insert(s string) bool {
	var rs []rune
	for _, r := range s {
		if r >= 0x20 && r != 0x7f {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 || len(f.value) >= f.limit {
		return false
	}
	rs = rs[:min(len(rs), f.limit-len(f.value))]
	f.value = append(f.value[:f.pos], append(rs, f.value[f.pos:]...)...)
	f.pos += len(rs)
	return true
}

func (f *textField) Paste(text string) bool {
	return f.insert(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(text))
}

// Update edits: typing, ←/→, Home/End (Ctrl-A/E), Backspace/Delete,
// Ctrl-U (delete before the cursor), Ctrl-K (after), Ctrl-W (a word).
func (f *textField) Update(k tea.KeyPressMsg) (used, changed bool) {
	old := string(f.value)
	switch k.String() {
	case "left", "ctrl+b":
		f.pos = max(0, f.pos-1)
	case "right", "ctrl+f":
		f.pos = min(len(f.value), f.pos+1)
	case "home", "ctrl+a":
		f.pos = 0
	case "end", "ctrl+e":
		f.pos = len(f.value)
	case "backspace", "ctrl+h":
		if f.pos > 0 {
			f.value = append(f.value[:f.pos-1], f.value[f.pos:]...)
			f.pos--
		}
	case "delete", "ctrl+d":
		if f.pos < len(f.value) {
			f.value = append(f.value[:f.pos], f.value[f.pos+1:]...)
		}
	case "ctrl+u":
		f.value = append([]rune(nil), f.value[f.pos:]...)
		f.pos = 0
	case "ctrl+k":
		f.value = f.value[:f.pos]
	case "ctrl+w":
		i := f.pos
		for i > 0 && f.value[i-1] == ' ' {
			i--
		}
		for i > 0 && f.value[i-1] != ' ' {
			i--
		}
		f.value = append(f.value[:i], f.value[f.pos:]...)
		f.pos = i
	default:
		if k.Text == "" || k.Mod&(tea.ModCtrl|tea.ModAlt) != 0 {
			return false, false
		}
		f.insert(k.Text)
	}
	return true, string(f.value) != old
}

// View shows the part of the text around the cursor. A cell at each edge
// marks text hidden beyond it with "<" or ">", so that a long path shows
// how it goes on; the cursor never sits on a marker.
func (f *textField) View(st styles, w int, focused bool) (string, int) {
	if !focused && len(f.value) == 0 {
		return " " + st.dim.Render("(empty)"), -1
	}
	shown := f.value
	if f.secret {
		shown = []rune(strings.Repeat("*", len(f.value)))
	}
	inner := max(1, w-2)
	rw := func(i int) int { return ansi.StringWidth(string(shown[i])) }
	widthOf := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			n += rw(i)
		}
		return n
	}
	// Keep the cursor (one cell past the text at its end) in view.
	if f.pos < f.offset {
		f.offset = f.pos
	}
	for f.offset < f.pos && widthOf(f.offset, f.pos)+1 > inner {
		f.offset++
	}
	if widthOf(0, len(shown)) < inner {
		f.offset = 0
	}
	end := f.offset
	for end < len(shown) && widthOf(f.offset, end+1) <= inner {
		end++
	}
	left, right := " ", " "
	if f.offset > 0 {
		left = "<"
	}
	if end < len(shown) {
		right = ">"
	}
	text := string(shown[f.offset:end])
	line := st.dim.Render(left) + text + strings.Repeat(" ", max(0, inner-ansi.StringWidth(text))) + st.dim.Render(right)
	cursor := -1
	if focused {
		cursor = 1 + widthOf(f.offset, f.pos)
	}
	return line, cursor
}

// choiceField is one of a few options, changed with ←/→ or Space.
type choiceField struct {
	baseField
	opts []string
	sel  int
	// fixed, when set, refuses changes with this message (appending keeps
	// the WIM's compression).
	fixed string
}

func newChoiceField(key, label string, opts []string, sel int) *choiceField {
	return &choiceField{baseField: baseField{key: key, label: label}, opts: opts, sel: sel}
}

func (f *choiceField) Value() string { return f.opts[f.sel] }

func (f *choiceField) Paste(string) bool { return false }

func (f *choiceField) Update(k tea.KeyPressMsg) (used, changed bool) {
	d := 0
	switch k.String() {
	case "left":
		d = len(f.opts) - 1
	case "right", "space":
		d = 1
	default:
		return false, false
	}
	if f.fixed != "" {
		f.err = f.fixed
		return true, false
	}
	f.sel = (f.sel + d) % len(f.opts)
	return true, true
}

func (f *choiceField) View(st styles, w int, focused bool) (string, int) {
	var parts []string
	for i, o := range f.opts {
		mark := "( ) "
		if i == f.sel {
			mark = "(*) "
		}
		parts = append(parts, mark+o)
	}
	return clip(strings.Join(parts, "  "), w), -1
}

// labelWidth is the column where values start.
const labelWidth = 16

// fieldLines renders a field: "> Label         value" and its message
// below. cursor is the column of the terminal cursor, -1 for none.
func fieldLines(st styles, f field, w int, focused bool) (lines []string, cursor int) {
	mark, label := "  ", fmt.Sprintf("%-*s", labelWidth-2, f.Label())
	if focused {
		mark, label = "> ", st.focus.Render(label)
	}
	val, c := f.View(st, w-labelWidth, focused)
	lines = append(lines, mark+label+val)
	cursor = -1
	if c >= 0 {
		cursor = labelWidth + c
	}
	if f.Err() != "" {
		lines = append(lines, wrap("! "+f.Err(), w, labelWidth, st.err)...)
	}
	return lines, cursor
}
