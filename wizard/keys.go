package wizard

import (
	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// The footer is built from the same key.Binding values that Update
// matches, page by page: a page lists the bindings it handles in its
// current state (keys()), so the footer cannot offer a key that does
// nothing. The text-editing keys of a text field (typing, ←/→, Home, End,
// Backspace, Ctrl-U) are not listed: a field with a cursor says so.

func binding(help, desc string, keys ...string) key.Binding {
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
}

// Bindings shared by the pages.
var (
	keyNext     = binding("Enter", "next", "enter")
	keyBack     = binding("Esc", "back", "esc")
	keyQuit     = binding("Ctrl-C", "quit", "ctrl+c")
	keyMove     = binding("Tab/Up/Down", "move", "tab", "shift+tab", "up", "down")
	keyTab      = binding("Tab", "move", "tab", "shift+tab")
	keyChoose   = binding("Left/Right", "change", "left", "right", "space")
	keyVolume   = binding("Up/Down", "volume", "down", "up")
	keyYes      = binding("y", "yes", "y", "Y")
	keyNo       = binding("n", "no", "n", "N")
	keyExit     = binding("Esc", "exit", "esc")
	keyLogPage  = binding("PgUp/PgDn", "scroll the log", "pgup", "pgdown", "up", "down")
	keyLogEnd   = binding("End", "newest lines", "end")
	keyCancel   = binding("Esc/Ctrl-C", "cancel the capture", "esc", "ctrl+c")
	keySave     = binding("Enter", "save", "enter")
	keyExitQuit = binding("Ctrl-C", "exit", "ctrl+c")
)

// withHelp returns b with another description.
func withHelp(b key.Binding, desc string) key.Binding {
	b.SetHelp(b.Help().Key, desc)
	return b
}

// matches reports whether k is one of the bindings.
func matches(k tea.KeyPressMsg, bs ...key.Binding) bool { return key.Matches(k, bs...) }

// newHelp returns the footer renderer, with styles that need no terminal
// query.
func newHelp(st styles) help.Model {
	h := help.New()
	h.ShortSeparator = "   "
	h.Ellipsis = "..."
	h.Styles = help.Styles{
		Ellipsis:       lipgloss.NewStyle(),
		ShortKey:       st.key,
		ShortDesc:      lipgloss.NewStyle(),
		ShortSeparator: lipgloss.NewStyle(),
		FullKey:        st.key,
		FullDesc:       lipgloss.NewStyle(),
		FullSeparator:  lipgloss.NewStyle(),
	}
	return h
}

// step moves a focus among n fields: Tab and Shift-Tab wrap around, Up and
// Down stop at the ends.
func step(k tea.KeyPressMsg, focus, n int) int {
	switch k.String() {
	case "tab":
		return (focus + 1) % n
	case "shift+tab":
		return (focus + n - 1) % n
	case "down":
		return min(n-1, focus+1)
	case "up":
		return max(0, focus-1)
	}
	return focus
}
