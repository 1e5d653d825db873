package pid1

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/lab"
	"github.com/wdscapture/wdscapture/internal/tooltest"
)

func TestParseCmdline(t *testing.T) {
	c, warns := ParseCmdline(`BOOT_IMAGE=/boot/vmlinuz console=ttyS0,115200 quiet wds.inf=D:\capture\my.inf wds.finish=Reboot ` +
		`wds.onfailure=poweroff wds.report=http://10.0.2.100/report wds.ip=192.168.1.50/24,192.168.1.1,192.168.1.2 ` +
		`wds.cols=132 wds.rows=50 wds.shell wds.modules=e1000e,r8169 modprobe.blacklist=nouveau,i915 ` +
		`e1000e.InterruptThrottleRate=3000 usb-storage.delay_use=0 "wds.term=xterm-256color" wds.iface=eth1 wds.debug=1`)
	if len(warns) != 0 {
		t.Errorf("warnings %v", warns)
	}
	if c.INF != `D:\capture\my.inf` || c.Finish != ActionReboot || c.OnFailure != ActionShutdown || c.ReportURL != "http://10.0.2.100/report" ||
		c.Cols != 132 || c.Rows != 50 || !c.Shell || !c.Debug || c.Term != "xterm-256color" || c.Iface != "eth1" {
		t.Errorf("parsed %+v", c)
	}
	if c.Static == nil || c.Static.Addr.String() != "192.168.1.50/24" || c.Static.Gateway.String() != "192.168.1.1" || len(c.Static.DNS) != 1 {
		t.Errorf("static %+v", c.Static)
	}
	if strings.Join(c.Modules, ",") != "e1000e,r8169" || !c.Blacklist["nouveau"] || !c.Blacklist["i915"] {
		t.Errorf("modules %v blacklist %v", c.Modules, c.Blacklist)
	}
	if c.ModParams["e1000e"] != "InterruptThrottleRate=3000" || c.ModParams["usb_storage"] != "delay_use=0" || c.ModParams["console"] != "" {
		t.Errorf("module parameters %v", c.ModParams)
	}

	// Bad values warn and keep the defaults.
	c, warns = ParseCmdline("wds.finish=later wds.report=ftp://x wds.ip=10.0.0.1 wds.ip=10.0.0.1/8,192.168.0.1 wds.cols=5 wds.bogus=1 wds.net=maybe wds.term=a/b")
	if len(warns) != 8 {
		t.Errorf("%d warnings, want 8: %v", len(warns), warns)
	}
	if c.Finish != "" || c.OnFailure != ActionPrompt || c.ReportURL != "" || c.Static != nil || c.Cols != 0 || c.NoNet || c.Term != "" {
		t.Errorf("bad values changed the config: %+v", c)
	}
	if c, _ := ParseCmdline("wds.net=off"); !c.NoNet {
		t.Error("wds.net=off ignored")
	}
}

func FuzzParseCmdline(f *testing.F) {
	f.Add(`wds.inf="X:\a b.inf" wds.ip=1.2.3.4/24,1.2.3.1 mod.p=v`)
	f.Fuzz(func(t *testing.T, s string) {
		c, _ := ParseCmdline(s)
		if c == nil || c.OnFailure == "" {
			t.Fatal("no config")
		}
	})
}

func TestSplitCmdline(t *testing.T) {
	got := SplitCmdline(` a  b="c d" "e f"=g ` + "\t" + `h=""`)
	want := []string{"a", "b=c d", "e f=g", "h="}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q", got)
	}
}

func settings(t *testing.T, text string) *inf.Settings {
	t.Helper()
	s, _, err := inf.Parse([]byte(text), "test.inf")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPlanMounts scans generated disks (a reference PC with a data
// volume, and a destination disk) and checks which volumes the
// environment would mount.
func TestPlanMounts(t *testing.T) {
	tooltest.Require(t, "mkntfs", "wimapply")
	dir := t.TempDir()
	pc := filepath.Join(dir, "pc.img")
	if err := lab.Generate(pc, lab.Options{Files: 10, DataVolume: true, SecondWindows: true, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	rep, err := agent.Discover(t.Context(), false, []string{pc}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// C: generalized Windows, D: second Windows (not generalized), E: Data.
	letters := map[string]string{}
	for _, r := range rep.Volumes() {
		if r.Volume.Letter != "" {
			letters[r.Volume.Letter] = r.Volume.Label
		}
	}
	if letters["C"] != "Windows" || letters["E"] != "Data" {
		t.Fatalf("letters %v", letters)
	}
	cases := []struct {
		name, inf string
		want      string // mounted letters, or the error's words
		err       bool
	}{
		{"attended, no destination: every non-Windows volume", "[Capture]\nUnattended=No\n", "E", false},
		{"no INF at all", "", "E", false},
		{"destination E:", "[Capture]\nDestinationFile=E:\\img\\a.wim\n", "E", false},
		{"destination on the source", "[Capture]\nDestinationFile=C:\\a.wim\n", "the volume being captured", true},
		{"destination on another Windows", "[Capture]\nDestinationFile=D:\\a.wim\n", "holds a Windows installation", true},
		{"destination on a missing letter", "[Capture]\nDestinationFile=Q:\\a.wim\n", "no volume has that letter", true},
		{"destination on X:", "[Capture]\nDestinationFile=X:\\a.wim\n", "RAM disk", true},
		{"a Linux path", "[Capture]\nDestinationFile=/mnt/usb/a.wim\n", "", false},
	}
	for _, tc := range cases {
		var s *inf.Settings
		if tc.inf != "" {
			s = settings(t, tc.inf)
		}
		plans, err := PlanMounts(rep, s)
		if tc.err {
			if err == nil || !errors.Is(err, ErrDestination) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var got []string
		for _, p := range plans {
			got = append(got, p.Letter)
			if p.FSType != "ntfs3" || p.Dir != "/mnt/"+strings.ToLower(p.Letter) {
				t.Errorf("%s: plan %+v", tc.name, p)
			}
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%s: mounts %v, want %q", tc.name, got, tc.want)
		}
	}
	table := strings.Join(DriveTable(rep, []MountPlan{{Letter: "E", Dir: "/mnt/e"}}, "C"), "\n")
	for _, want := range []string{"X:  the capture environment", "C:  pc.img partition 3, ntfs", "to capture (read raw, never mounted)", "D:  pc.img", "not generalized", "E:  pc.img", "mounted read-write at /mnt/e"} {
		if !strings.Contains(table, want) {
			t.Errorf("drive table lacks %q:\n%s", want, table)
		}
	}
}
