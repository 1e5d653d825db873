package wizard

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/inf"
)

// welcomePage says what the wizard does and what the INF already sets.
type welcomePage struct{}

func (*welcomePage) title() string               { return "Welcome" }
func (*welcomePage) back() bool                  { return true }
func (*welcomePage) enter(*session) tea.Cmd      { return nil }
func (*welcomePage) keys(*session) []key.Binding { return []key.Binding{keyNext} }

func (*welcomePage) update(s *session, msg tea.Msg) (tea.Cmd, nav) {
	if k, ok := msg.(tea.KeyPressMsg); ok && matches(k, keyNext) {
		return nil, nav{kind: navNext}
	}
	return nil, nav{}
}

func (*welcomePage) view(s *session, st styles, w, h int) ([]string, *tea.Cursor) {
	lines := []string{
		"This wizard captures a generalized (sysprepped) Windows volume into a",
		"Windows image (.wim) file. The volume is read directly, never mounted,",
		"and the new image is verified when it is written.",
		"",
		"You will choose the volume to capture, name the image, choose where the",
		"WIM file is written, then confirm before anything is written.",
		"",
	}
	if s.o.INFPath != "" {
		lines = append(lines, "Settings file: "+clipPath(s.o.INFPath, w-15))
		for _, l := range infStatus(s) {
			lines = append(lines, wrap(l, w, 0, st.focus)...)
		}
	} else {
		lines = append(lines, "No WDSCapture.inf was found: every page will be shown.")
	}
	lines = append(lines, "")
	switch {
	case s.scanning:
		lines = append(lines, "Scanning the disks...")
	case s.scanErr != nil:
		lines = append(lines, wrap("! scanning the disks failed: "+s.scanErr.Error(), w, 0, st.err)...)
	case s.report != nil:
		vols, ready := len(s.report.Volumes()), len(s.report.Ready())
		line := fmt.Sprintf("The scan found %d volumes; %d hold a generalized Windows.", vols, ready)
		switch {
		case vols == 1 && ready == 1:
			line = "The scan found 1 volume; it holds a generalized Windows."
		case vols == 1:
			line = "The scan found 1 volume; it does not hold a generalized Windows."
		case ready == 1:
			line = fmt.Sprintf("The scan found %d volumes; 1 holds a generalized Windows.", vols)
		}
		lines = append(lines, line)
	}
	lines = append(lines, "", "Press Enter to continue.")
	return lines, nil
}

// infStatus says what the INF leaves to the wizard, judged by the agent's
// checks: missing keys, bad values, a volume that cannot be captured.
func infStatus(s *session) []string {
	loaded := s.loaded
	var out []string
	if miss := loaded.Missing(); len(miss) > 0 {
		it := "it"
		if len(miss) > 1 {
			it = "them"
		}
		out = append(out, fmt.Sprintf("It does not set %s: the wizard asks for %s.", andList(miss), it))
	}
	bad := 0
	for _, p := range agent.CheckKeys(loaded, allKeys...) {
		isMissing := false
		for _, k := range loaded.Missing() {
			isMissing = isMissing || k == p.Key
		}
		if !isMissing {
			bad++
		}
	}
	if bad > 0 {
		out = append(out, fmt.Sprintf("%d of its values are not valid: the pages that set them say why.", bad))
	}
	volumeOK := true
	if !s.scanning && !strings.HasPrefix(loaded.VolumeToCapture, "/") {
		if _, ps := agent.SourceFor(loaded, s.report); len(ps) > 0 {
			volumeOK = false
			if loaded.VolumeToCapture != "" {
				out = append(out, fmt.Sprintf("Its VolumeToCapture=%s cannot be captured: choose the volume on the next page.", loaded.VolumeToCapture))
			}
		}
	}
	if loaded.DestinationFile != "" && bad == 0 && volumeOK && !s.scanning {
		src, _ := agent.SourceFor(loaded, s.report)
		if _, ps := agent.CheckDestination(loaded, s.o.Run, src); len(ps) > 0 {
			out = append(out, "Its DestinationFile cannot be used as it is: the Destination page says why.")
		}
	}
	if len(out) == 0 && volumeOK && !s.scanning {
		out = append(out, "It sets everything the capture needs: the next page is the summary, to confirm.")
	}
	return out
}

// allKeys are the keys the pages set.
var allKeys = []string{
	inf.KeyVolumeToCapture, inf.KeySystemRoot, inf.KeyImageName, inf.KeyImageDescription,
	inf.KeyDestinationFile, inf.KeyOverwrite, inf.KeyCompression, inf.KeyCheckIntegrity,
	inf.KeyUploadToWDSServer, inf.KeyWDSServerName, inf.KeyWDSImageGroup, inf.KeyUsername, inf.KeyPassword,
	inf.KeyDeleteLocalWimOnSuccess,
}

// andList joins "a", "b" and "c" as "a, b and c".
func andList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
