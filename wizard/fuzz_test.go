package wizard

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/inf"
)

// fuzzKeys are the keys a fuzz input byte picks from.
var fuzzKeys = []tea.KeyPressMsg{
	{Code: tea.KeyEnter}, {Code: tea.KeyTab}, {Code: tea.KeyTab, Mod: tea.ModShift}, {Code: tea.KeyEscape},
	{Code: tea.KeyUp}, {Code: tea.KeyDown}, {Code: tea.KeyLeft}, {Code: tea.KeyRight},
	{Code: tea.KeySpace, Text: " "}, {Code: 'u', Mod: tea.ModCtrl}, {Code: tea.KeyBackspace}, {Code: 'c', Mod: tea.ModCtrl},
	{Code: 'n', Text: "n"}, {Code: 'x', Text: "x/"}, {Code: '.', Text: ".wim"}, {Code: 'D', Text: `D:\`},
	{Code: tea.KeyHome}, {Code: tea.KeyEnd}, {Code: 'y', Text: "y"}, {Code: tea.KeyPgUp},
}

// FuzzKeys presses any key sequence on any page (commands are not run, so
// no Prepare or capture starts): the model must not panic, every screen
// must fit the terminal, and the cursor, when shown, must be on it.
func FuzzKeys(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 13, 14, 0, 7, 0}, uint8(0), uint8(80))
	f.Add([]byte{0, 1, 1, 2, 4, 5, 5, 5, 9, 0, 3, 3, 3}, uint8(1), uint8(60))
	f.Add([]byte{11, 12, 11, 3, 0, 5, 4, 8, 6, 7}, uint8(5), uint8(40))
	f.Add([]byte{0, 15, 0, 0, 0, 0, 1, 1, 1, 7, 0, 0}, uint8(6), uint8(100))
	f.Add([]byte{9, 13, 0, 18, 0, 16, 17}, uint8(6), uint8(0))
	f.Fuzz(func(t *testing.T, keys []byte, page, w8 uint8) {
		// Enter on the finish page saves an INF: keep it in a temporary
		// directory.
		dir := t.TempDir()
		t.Chdir(dir)
		if len(keys) > 200 {
			keys = keys[:200]
		}
		a := newApp(t.Context(), Options{Settings: inf.Default(), Report: fixedReport(), Now: fixedNow,
			Run: agent.RunOptions{NoDevices: true, Root: dir, DriveMap: map[string]string{"D": dir}}})
		w, h := 40+int(w8)%100, 12+int(page)%20
		a.Update(tea.WindowSizeMsg{Width: w, Height: h})
		if p := pageID(page % 7); p != pageProgress {
			if p == pageFinish {
				a.sess.runResult = &agent.Result{Dest: dir + "/x.wim"}
			}
			a.show(p)
		}
		for _, k := range keys {
			a.Update(fuzzKeys[int(k)%len(fuzzKeys)])
			v, cursor := a.render()
			lines := strings.Split(v, "\n")
			if len(lines) != h {
				t.Fatalf("%d lines on a %d-line terminal:\n%s", len(lines), h, v)
			}
			for _, l := range lines {
				if ansi.StringWidth(l) > w {
					t.Fatalf("line wider than %d: %q", w, l)
				}
			}
			if cursor != nil && (cursor.X < 0 || cursor.X >= w || cursor.Y < 0 || cursor.Y >= h) {
				t.Fatalf("cursor at %d,%d off a %dx%d screen", cursor.X, cursor.Y, w, h)
			}
		}
	})
}
