package wizard

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/inf"
)

// fuzzKeys are the keys a fuzz input byte picks from.
var fuzzKeys = []tea.KeyMsg{
	{Type: tea.KeyEnter}, {Type: tea.KeyTab}, {Type: tea.KeyShiftTab}, {Type: tea.KeyEsc},
	{Type: tea.KeyUp}, {Type: tea.KeyDown}, {Type: tea.KeyLeft}, {Type: tea.KeyRight},
	{Type: tea.KeySpace, Runes: []rune{' '}}, {Type: tea.KeyCtrlU}, {Type: tea.KeyBackspace}, {Type: tea.KeyCtrlC},
	{Type: tea.KeyRunes, Runes: []rune("n")}, {Type: tea.KeyRunes, Runes: []rune("x/")}, {Type: tea.KeyRunes, Runes: []rune(".wim")},
	{Type: tea.KeyRunes, Runes: []rune(`D:\`)},
}

// FuzzKeys presses any key sequence on any page (commands are not run, so
// no Prepare or capture starts): the model must not panic, and every
// screen must fit the terminal.
func FuzzKeys(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 13, 14, 0, 7, 0}, uint8(0), uint8(80))
	f.Add([]byte{0, 1, 1, 2, 4, 5, 5, 5, 9, 0, 3, 3, 3}, uint8(1), uint8(60))
	f.Add([]byte{11, 12, 11, 3, 0, 5, 4, 8, 6, 7}, uint8(5), uint8(40))
	f.Add([]byte{0, 15, 0, 0, 0, 0, 1, 1, 1, 7, 0, 0}, uint8(6), uint8(100))
	f.Add([]byte{9, 13, 0}, uint8(6), uint8(0)) // a long error wrapped on a narrow screen
	f.Fuzz(func(t *testing.T, keys []byte, page, width uint8) {
		// Enter on the finish page saves an INF: keep it in a temporary
		// directory, also for relative paths.
		dir := t.TempDir()
		t.Chdir(dir)
		if len(keys) > 200 {
			keys = keys[:200]
		}
		m := newModel(t.Context(), Options{Settings: inf.Default(), Report: fixedReport(), Now: fixedNow,
			Run: agent.RunOptions{NoDevices: true}}, lipgloss.DefaultRenderer())
		w, h := 40+int(width)%100, 12+int(page)%20
		m.Update(tea.WindowSizeMsg{Width: w, Height: h})
		if p := pageID(page % 7); p != pageProgress {
			m.show(p)
			if p == pageFinish {
				m.finish(&agent.Result{Dest: dir + "/x.wim"}, nil)
			}
		}
		for _, k := range keys {
			m.Update(fuzzKeys[int(k)%len(fuzzKeys)])
			v := m.View()
			if n := strings.Count(v, "\n") + 1; n != h {
				t.Fatalf("%d lines on a %d-line terminal:\n%s", n, h, v)
			}
			for _, l := range strings.Split(v, "\n") {
				if lipgloss.Width(l) > w {
					t.Fatalf("line wider than %d: %q", w, l)
				}
			}
		}
	})
}
