package pid1

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wdscapture/wdscapture/agent"
	"github.com/wdscapture/wdscapture/boot/kmod"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/scan"
)

// Paths in the capture environment (X:\ is "/").
const (
	AgentPath     = "/bin/wdscapture"
	BusyboxPath   = "/bin/busybox"
	ShellPath     = "/bin/sh"
	BootLogPath   = "/Windows/Logs/wdscapture-boot.log"
	BootLogWin    = `X:\Windows\Logs\wdscapture-boot.log`
	BuildInfoPath = "/etc/wdscapture/build.json"
	// DestLogName is the copy of the boot log written beside the image.
	DestLogName = "wdscapture-boot.log"
)

// BuildInfo is written by the image builder into BuildInfoPath.
type BuildInfo struct {
	Version  string            `json:"version"`
	Built    string            `json:"built"`
	Kernel   string            `json:"kernel"`
	Packages map[string]string `json:"packages"`
}

// Exit codes of wdscapture, in words (see cmd/wdscapture).
var exitWords = map[int]string{
	1:   "the capture failed",
	2:   "wdscapture crashed (out of memory or an internal error)",
	3:   "there is nothing to capture (nothing was written)",
	4:   "the image did not verify",
	5:   "the upload failed",
	64:  "the settings or a pre-flight check failed (nothing was written)",
	130: "the capture was interrupted",
}

type env struct {
	cfg     *Config
	con     *Console
	logFile *os.File
	log     *slog.Logger
	build   BuildInfo
	kernel  string
	loader  *kmod.Loader
	matcher *kmod.Matcher
	tried   map[string]bool
	netOnce sync.Once
	netDone chan []NetResult
	netRes  []NetResult
	uptime  map[string]float64
	fw      string
	sb      string
	lock    string
}

// Main is the capture environment's PID 1. It never returns: the machine
// is powered off or rebooted at the end.
func Main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "wdsinit is the init of the capture image (PID 1); it is not meant to be run by hand")
		os.Exit(2)
	}
	e := setup()
	for attempt := 1; ; attempt++ {
		rep := e.safeAttempt(attempt)
		if !e.conclude(rep) {
			continue // retry
		}
	}
}

func uptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return f
}

func (e *env) mark(step string) { e.uptime[step] = uptime() }

func (e *env) logf(format string, args ...any) {
	e.log.Info(fmt.Sprintf(format, args...))
}

// say prints a line for the technician (and logs it).
func (e *env) say(format string, args ...any) {
	e.con.Printf(format+"\n", args...)
}

func setup() *env {
	// PID 1 must not die of a signal: Go's default for SIGINT and SIGTERM
	// is to exit, which would panic the kernel. They are caught and
	// dropped rather than ignored, since an ignored signal stays ignored
	// in the children (the shell and its commands).
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU)
	go func() {
		for range sigs {
		}
	}()
	e := &env{uptime: map[string]float64{}, tried: map[string]bool{}}
	pseudoErr := mountPseudo()
	_ = os.MkdirAll(filepath.Dir(BootLogPath), 0o755)
	lf, err := os.OpenFile(BootLogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		lf, _ = os.Open(os.DevNull)
	}
	e.logFile = lf
	e.log = slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cmdline, _ := os.ReadFile("/proc/cmdline")
	cfg, warns := ParseCmdline(string(cmdline))
	e.cfg = cfg
	e.con = OpenConsole(cfg.Cols, cfg.Rows, lf)
	e.mark("init")
	if b, err := os.ReadFile(BuildInfoPath); err == nil {
		_ = json.Unmarshal(b, &e.build)
	}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		e.kernel = unix.ByteSliceToString(uts.Release[:])
	}
	term := cfg.Term
	if term == "" {
		term = "linux"
	}
	os.Setenv("PATH", "/bin:/sbin")
	os.Setenv("HOME", "/root")
	os.Setenv("TERM", term)
	os.Setenv("LANG", "C.UTF-8")
	_ = os.MkdirAll("/root", 0o700)
	_ = os.MkdirAll("/etc", 0o755)

	e.say("")
	e.say("wdscapture capture environment %s (Linux %s), console %s", e.build.Version, e.kernel, e.con.Name)
	e.logf("kernel command line: %s", strings.TrimSpace(string(cmdline)))
	if pseudoErr != nil {
		e.say("warning: %v", pseudoErr)
	}
	for _, w := range warns {
		e.say("warning: kernel command line: %s", w)
	}
	if _, err := os.Stat(BusyboxPath); err == nil {
		if out, err := exec.Command(BusyboxPath, "--install", "-s", "/bin").CombinedOutput(); err != nil {
			e.logf("busybox --install: %v: %s", err, out)
		}
	}
	e.loadModules()
	if err := mountEFIVars(); err != nil {
		e.logf("%v", err)
	}
	e.firmware()
	e.say("firmware: %s%s", strings.ToUpper(e.fw), map[string]string{"on": ", Secure Boot on", "off": ", Secure Boot off", "": ""}[e.sb])
	if !cfg.NoNet {
		e.netDone = make(chan []NetResult, 1)
		go func() {
			res := SetupNetwork(context.Background(), cfg, 20*time.Second, e.logf)
			e.netDone <- res
		}()
	}
	e.settleDevices()
	e.mark("devices")
	return e
}

// loadModules loads the image's start list and coldplugs the devices.
func (e *env) loadModules() {
	dir := filepath.Join("/lib/modules", e.kernel)
	f, err := os.Open(filepath.Join(dir, kmod.IndexFile))
	if err != nil {
		e.say("warning: no module index for kernel %s: %v (only built-in drivers are available)", e.kernel, err)
		return
	}
	ix, err := kmod.ReadIndex(f)
	f.Close()
	if err != nil {
		e.say("warning: %v", err)
		return
	}
	e.loader = &kmod.Loader{Dir: dir, Index: ix, Params: e.cfg.ModParams, Skip: e.cfg.Blacklist,
		Log: func(m string, err error) {
			if err != nil {
				e.log.Warn("module failed", "module", m, "err", err)
			} else {
				e.log.Debug("module loaded", "module", m)
			}
		}}
	e.matcher = kmod.NewMatcher(ix.Modules)
	for _, m := range append(append([]string{}, ix.Load...), e.cfg.Modules...) {
		if err := e.loader.Load(m); err != nil {
			e.say("warning: %v", err)
		}
	}
	e.coldplug()
	e.mark("modules")
}

// coldplug loads drivers for the devices present, round after round while
// new drivers bring new devices.
func (e *env) coldplug() int {
	if e.loader == nil {
		return 0
	}
	total := 0
	for round := 0; round < 8; round++ {
		loaded, failed := kmod.ColdplugRound("/sys", e.matcher, e.loader, e.tried)
		for m, err := range failed {
			if !errors.Is(err, kmod.ErrSkipped) {
				e.log.Warn("coldplug", "module", m, "err", err)
			}
		}
		total += len(loaded)
		if len(loaded) == 0 && len(failed) == 0 {
			break
		}
	}
	return total
}

// settleDevices waits, when USB or other slow buses are present, until
// the list of devices has not changed for a while, loading drivers for
// what appears (USB disks show up seconds after their controller).
func (e *env) settleDevices() {
	slow := false
	for _, m := range []string{"xhci_pci", "ehci_pci", "ohci_pci", "uhci_hcd", "usb_storage", "uas", "mmc_block", "sdhci_pci"} {
		if e.tried[m] {
			slow = true
		}
	}
	if !slow {
		return
	}
	deadline := time.Now().Add(8 * time.Second)
	last, stable := devicesKey(), time.Now()
	for time.Now().Before(deadline) && time.Since(stable) < 2*time.Second {
		time.Sleep(250 * time.Millisecond)
		e.coldplug()
		if k := devicesKey(); k != last {
			last, stable = k, time.Now()
		}
	}
}

func devicesKey() string {
	var b strings.Builder
	for _, a := range kmod.Modaliases("/sys") {
		b.WriteString(a)
	}
	ents, _ := os.ReadDir("/sys/block")
	for _, d := range ents {
		b.WriteString(d.Name())
	}
	return b.String()
}

func (e *env) firmware() {
	e.fw = "bios"
	if _, err := os.Stat("/sys/firmware/efi"); err == nil {
		e.fw = "uefi"
		if b, err := os.ReadFile("/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"); err == nil && len(b) >= 5 {
			e.sb = map[bool]string{true: "on", false: "off"}[b[4] == 1]
		}
	}
	if b, err := os.ReadFile("/sys/kernel/security/lockdown"); err == nil {
		e.lock = strings.TrimSpace(string(b))
	}
}

// network waits (at most wait) for the network set-up started at boot.
func (e *env) network(wait time.Duration) []NetResult {
	if e.netDone == nil {
		return nil
	}
	e.netOnce.Do(func() {
		select {
		case e.netRes = <-e.netDone:
			for _, r := range e.netRes {
				e.say("network: %s", r)
			}
		case <-time.After(wait):
			e.say("network: still waiting for an address; going on without")
		}
	})
	return e.netRes
}

// safeAttempt runs one attempt; a panic becomes a failed report, since
// PID 1 must never die.
func (e *env) safeAttempt(n int) (rep *Report) {
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("panic", "value", r, "stack", string(debug.Stack()))
			rep = e.newReport(n)
			rep.Result, rep.Stage = "failed", "environment"
			rep.Error = fmt.Sprintf("internal error in the capture environment: %v", r)
		}
	}()
	return e.attempt(n)
}

func (e *env) newReport(n int) *Report {
	return &Report{Attempt: n, ExitCode: -1, Build: e.build.Version, Kernel: e.kernel, Firmware: e.fw, SecureBoot: e.sb,
		Lockdown: e.lock, Console: e.con.Name, Uptime: e.uptime}
}

// infPath returns the settings file the agent will read ("" for its
// default, X:\Windows\System32\WDSCapture.inf) and a path the environment
// can read now.
func (e *env) infPath(rep *scan.Report) (agentPath, readable string, err error) {
	p := e.cfg.INF
	if p == "" {
		found, err := inf.Find("/")
		if err != nil {
			return "", "", nil // none: the wizard starts from defaults
		}
		return "", found, nil
	}
	if l, rest, ok := inf.DriveLetter(p); ok {
		local := "/" + strings.TrimLeft(strings.ReplaceAll(rest, `\`, "/"), "/")
		if strings.EqualFold(string(l), "X") {
			return local, local, nil
		}
		letter := strings.ToUpper(string(l))
		for _, r := range rep.Volumes() {
			if r.Volume.Letter != letter {
				continue
			}
			drv := fsDriver(r.Volume.FS)
			if drv == "" || holdsWindows(r.Volume) {
				return "", "", fmt.Errorf("wds.inf=%s: drive %s: (%s) is not read here (a Windows volume is never mounted); put the INF on another volume or build it into the image", p, letter, r.Volume.FS)
			}
			dir := "/run/wdscapture/inf-volume"
			if err := mountReadOnly(MountPlan{Letter: letter, Ref: r, FSType: drv}, dir); err != nil {
				return "", "", fmt.Errorf("wds.inf=%s: %w", p, err)
			}
			defer unmount(dir)
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(local, "/"))))
			if err != nil {
				return "", "", fmt.Errorf("wds.inf=%s: %w", p, err)
			}
			copyPath := "/run/wdscapture/WDSCapture.inf"
			_ = os.MkdirAll(filepath.Dir(copyPath), 0o700)
			if err := os.WriteFile(copyPath, data, 0o600); err != nil {
				return "", "", err
			}
			return copyPath, copyPath, nil
		}
		return "", "", fmt.Errorf("wds.inf=%s: no volume has the drive letter %s", p, letter)
	}
	return p, p, nil
}

func (e *env) attempt(n int) *Report {
	rep := e.newReport(n)
	fail := func(stage, format string, args ...any) *Report {
		rep.Result, rep.Stage, rep.Error = "failed", stage, fmt.Sprintf(format, args...)
		return rep
	}
	if n > 1 {
		e.say("\nlooking for drivers and disks again...")
		e.coldplug()
		e.settleDevices()
	}
	rep.Modules = nil
	if e.loader != nil {
		rep.Modules = e.loader.Loaded()
	}
	ctx := context.Background()
	disks, err := agent.Discover(ctx, true, nil, e.log)
	if err != nil {
		return fail("disks", "cannot list the disks: %v", err)
	}
	e.mark("scan")
	agentINF, readINF, err := e.infPath(disks)
	if err != nil {
		return fail("settings", "%v", err)
	}
	var settings *inf.Settings
	if readINF != "" {
		s, _, err := inf.Load(readINF)
		if s != nil {
			settings = s
		}
		if err != nil {
			e.logf("settings %s: %v (wdscapture reports it)", readINF, err)
		}
		e.say("settings: %s", readINF)
	} else {
		e.say("settings: no WDSCapture.inf; the wizard asks for everything")
	}
	if settings != nil {
		rep.Destination = settings.DestinationFile
		rep.Unattended = settings.Unattended
		rep.Finish = settings.Finish
	}
	plans, planErr := PlanMounts(disks, settings)
	src := sourceLetter(disks, settings)
	e.say("\ndrives:")
	rep.Drives = DriveTable(disks, plans, src)
	for _, l := range rep.Drives {
		e.say("%s", l)
	}
	e.say("")
	if planErr != nil {
		return fail("destination", "%v", planErr)
	}
	var mounted []MountPlan
	defer func() {
		for i := len(mounted) - 1; i >= 0; i-- {
			if err := unmount(mounted[i].Dir); err != nil {
				e.say("warning: %v", err)
				if rep.Result == "ok" {
					rep.Result, rep.Stage, rep.Error = "failed", "unmount", err.Error()
				}
			}
		}
	}()
	explicitDest := settings != nil && settings.DestinationFile != ""
	for _, m := range plans {
		dev, err := mountVolume(m)
		if err != nil {
			if explicitDest {
				return fail("destination", "%v", err)
			}
			e.say("warning: %v", err)
			continue
		}
		mounted = append(mounted, m)
		rep.Mounts = append(rep.Mounts, fmt.Sprintf("%s: %s %s %s", m.Letter, dev, m.FSType, m.Dir))
		e.logf("mounted %s: %s as %s at %s", m.Letter, dev, m.FSType, m.Dir)
	}
	e.mark("mounted")
	if (settings != nil && settings.Upload) || e.cfg.ReportURL != "" {
		rep.Network = e.network(15 * time.Second)
	}
	if e.cfg.Shell && n == 1 {
		e.say("wds.shell: a shell before the capture; type exit to go on")
		e.shell()
	}
	args := []string{}
	if agentINF != "" {
		args = append(args, "--inf", agentINF)
	}
	for _, m := range mounted {
		args = append(args, "--drive", m.Letter+"="+m.Dir)
	}
	e.say("starting wdscapture %s", strings.Join(args, " "))
	e.mark("agent-start")
	code, output := e.runAgent(args, settings != nil && settings.Unattended)
	e.mark("agent-end")
	rep.ExitCode = code
	rep.AgentOutput = output
	if code != 64 && code != 3 && code != 127 {
		// The capture started: the boot log goes beside the image. A run
		// refused before that (settings, nothing to capture) writes nothing.
		rep.BootLogCopy = e.copyLogToDestination(settings, mounted)
	}
	if code != 0 {
		what := exitWords[code]
		if what == "" {
			what = "wdscapture failed"
		}
		msg := fmt.Sprintf("%s (wdscapture exit code %d)", what, code)
		if last := lastAgentError(output); last != "" {
			msg += ":\n  " + last
		}
		return fail("agent", "%s", msg)
	}
	rep.Result = "ok"
	return rep
}

// lastAgentError returns the last "wdscapture: ..." line of the output.
func lastAgentError(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "wdscapture: ") {
			return strings.TrimPrefix(lines[i], "wdscapture: ")
		}
	}
	return ""
}

// runAgent runs wdscapture on the console. An unattended run's output is
// also kept for the log and the report.
func (e *env) runAgent(args []string, unattended bool) (int, string) {
	cmd := exec.Command(AgentPath, args...)
	cmd.Env = os.Environ()
	cmd.Stdin = e.con.TTY
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	var out bytes.Buffer
	var mu sync.Mutex
	if unattended {
		w := writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			out.Write(p)
			e.con.Printf("%s", p)
			return len(p), nil
		})
		cmd.Stdout, cmd.Stderr = w, w
	} else {
		cmd.Stdout, cmd.Stderr = e.con.TTY, e.con.TTY
	}
	err := cmd.Run()
	e.con.Reopen()
	reap()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
			if code < 0 {
				code = 128 + int(ee.Sys().(syscall.WaitStatus).Signal())
			}
		} else {
			e.say("cannot start %s: %v", AgentPath, err)
			return 127, err.Error()
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return code, out.String()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// copyLogToDestination puts a copy of the boot log beside the image, so
// that it leaves the machine with the WIM.
func (e *env) copyLogToDestination(s *inf.Settings, mounted []MountPlan) string {
	if s == nil || len(mounted) == 0 {
		return ""
	}
	l, rest, ok := inf.DriveLetter(s.DestinationFile)
	if !ok {
		return ""
	}
	for _, m := range mounted {
		if m.Letter != strings.ToUpper(string(l)) {
			continue
		}
		winDir := strings.TrimRight(rest[:strings.LastIndex(rest, `\`)+1], `\`)
		dir := filepath.Join(m.Dir, filepath.FromSlash(strings.ReplaceAll(winDir, `\`, "/")))
		_ = e.logFile.Sync()
		data, err := os.ReadFile(BootLogPath)
		if err != nil {
			return ""
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			e.logf("copy the boot log to %s: %v", dir, err)
			return ""
		}
		if err := os.WriteFile(filepath.Join(dir, DestLogName), data, 0o644); err != nil {
			e.logf("copy the boot log to %s: %v", dir, err)
			return ""
		}
		return m.Letter + ":" + winDir + `\` + DestLogName
	}
	return ""
}

// reap collects exited orphans (PID 1 inherits them).
func reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// shell runs an interactive shell on the console until it exits.
func (e *env) shell() {
	if _, err := os.Stat(ShellPath); err != nil {
		e.say("no shell in this image (%s)", ShellPath)
		return
	}
	cmd := exec.Command(ShellPath, "-l")
	cmd.Env = append(os.Environ(), "PS1=X:\\w> ")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.con.TTY, e.con.TTY, e.con.TTY
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		e.logf("shell: %v", err)
	}
	e.con.Reopen()
	reap()
}

// conclude reports the attempt and does what comes next. It returns false
// when the technician asks for a retry.
func (e *env) conclude(rep *Report) bool {
	e.mark("done")
	_ = e.logFile.Sync()
	if b, err := os.ReadFile(BootLogPath); err == nil {
		rep.BootLog = string(b)
	}
	e.say("WDSCAPTURE-RESULT: %s stage=%s exit=%d uptime=%.1fs", rep.Result, rep.Stage, rep.ExitCode, e.uptime["done"])
	if e.cfg.ReportURL != "" {
		e.network(15 * time.Second)
		if err := rep.Send(context.Background(), e.cfg.ReportURL); err != nil {
			e.say("warning: could not send the report to %s: %v", e.cfg.ReportURL, err)
		} else {
			e.logf("report sent to %s", e.cfg.ReportURL)
		}
	}
	if rep.Result == "ok" {
		action := e.cfg.Finish // the command line first, then the INF's Finish=
		if action == "" && rep.Finish != "" {
			action, _ = ParseAction(rep.Finish)
		}
		if action == "" {
			action = ActionPrompt
			if rep.Unattended {
				action = ActionShutdown
			}
		}
		e.say("\nCapture complete: %s", rep.Destination)
		if action != ActionPrompt {
			e.power(action)
		}
		return e.menu("[p] power off   [b] reboot   [s] shell   [r] capture again")
	}
	e.failureScreen(rep)
	if e.cfg.OnFailure != ActionPrompt {
		e.power(e.cfg.OnFailure)
	}
	return e.menu("[r] retry   [s] shell   [p] power off   [b] reboot")
}

func (e *env) failureScreen(rep *Report) {
	e.say("")
	e.say("==================== CAPTURE FAILED ====================")
	e.say("What failed: %s", stageWords[rep.Stage])
	e.say("  %s", rep.Error)
	e.say("Logs: %s (this environment)", BootLogWin)
	if rep.BootLogCopy != "" {
		e.say("      %s.log (the capture), and a copy of the boot log: %s", rep.Destination, rep.BootLogCopy)
	}
	e.say("=========================================================")
}

var stageWords = map[string]string{
	"disks":       "listing the disks",
	"settings":    "reading the settings (WDSCapture.inf)",
	"destination": "preparing the destination volume",
	"agent":       "the capture (wdscapture)",
	"unmount":     "closing the destination volume",
	"environment": "the capture environment itself",
}

// menu shows choices until one ends the environment or asks for a retry.
func (e *env) menu(choices string) bool {
	for {
		e.say("\n%s", choices)
		switch k := e.con.ReadKey(); k {
		case 'r':
			return false
		case 's':
			e.say("shell: type exit to come back to this menu")
			e.shell()
		case 'p':
			e.power(ActionShutdown)
		case 'b':
			e.power(ActionReboot)
		case 0:
			// The console cannot be read: nobody can answer.
			time.Sleep(time.Minute)
		}
	}
}

// power powers off or reboots; it returns only if that fails.
func (e *env) power(a Action) {
	e.say("%s...", map[Action]string{ActionShutdown: "powering off", ActionReboot: "rebooting"}[a])
	_ = e.logFile.Sync()
	e.con.Drain()
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if a == ActionReboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	if err := unix.Reboot(cmd); err != nil {
		e.say("%s failed: %v", a, err)
	}
}
