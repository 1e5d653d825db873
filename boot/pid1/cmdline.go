package pid1

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/wdscapture/wdscapture/boot/kmod"
)

// Action is what the environment does when a run ends.
type Action string

// Actions.
const (
	ActionPrompt   Action = "prompt"   // show the result and wait for the technician
	ActionShutdown Action = "shutdown" // power off
	ActionReboot   Action = "reboot"
)

// ParseAction parses shutdown (or poweroff), reboot or prompt,
// case-insensitively.
func ParseAction(s string) (Action, error) {
	switch strings.ToLower(s) {
	case "shutdown", "poweroff":
		return ActionShutdown, nil
	case "reboot":
		return ActionReboot, nil
	case "prompt":
		return ActionPrompt, nil
	}
	return "", fmt.Errorf("%q: want shutdown, reboot or prompt", s)
}

// StaticIP is a fixed address for when DHCP gets none.
type StaticIP struct {
	Addr    netip.Prefix
	Gateway netip.Addr // zero: no default route
	DNS     []netip.Addr
}

// Config is what the kernel command line asks of the capture environment.
// Every key is documented in the README's technician section.
type Config struct {
	// INF is wds.inf=: the settings file, a path in the environment
	// (X:\Windows\System32\my.inf or /Windows/...) or on a disk volume
	// (D:\capture\WDSCapture.inf). "" looks in X:\Windows\System32.
	INF string
	// Finish is wds.finish=: what to do after a successful capture; ""
	// leaves it to the INF's Finish= key, whose default is shutdown when
	// unattended and prompt otherwise.
	Finish Action
	// OnFailure is wds.onfailure=: prompt (default) shows the failure
	// screen; shutdown and reboot are for unattended labs.
	OnFailure Action
	// ReportURL is wds.report=: an http(s) URL that receives the run's
	// result and logs as JSON (a lab or monitoring server).
	ReportURL string
	// NoNet is wds.net=off: leave the network down.
	NoNet bool
	// Iface is wds.iface=: configure only this interface.
	Iface string
	// Static is wds.ip=ADDR/PREFIX[,GATEWAY[,DNS...]]: used when DHCP
	// gets no lease.
	Static *StaticIP
	// Term is wds.term= (TERM for the agent; default linux).
	Term string
	// Cols and Rows are wds.cols= and wds.rows=: the size of a serial
	// console, which cannot report one (default 80x24).
	Cols, Rows int
	// Shell is wds.shell: open a shell before the capture starts.
	Shell bool
	// Modules is wds.modules=a,b: more modules to load at start.
	Modules []string
	// Blacklist is modprobe.blacklist=a,b: modules never loaded.
	Blacklist map[string]bool
	// ModParams are module parameters, "module.param=value" on the
	// command line, by module (for the modules loaded from the image).
	ModParams map[string]string
	// Debug is wds.debug: more detail on the console.
	Debug bool
}

// kernelKeys are command-line keys of the kernel itself, which are not
// module parameters.
var kernelKeys = map[string]bool{
	"console": true, "root": true, "init": true, "rdinit": true, "quiet": true, "panic": true,
	"loglevel": true, "initrd": true, "BOOT_IMAGE": true, "ro": true, "rw": true, "earlyprintk": true,
	"nomodeset": true, "vga": true, "video": true, "lockdown": true, "noapic": true, "acpi": true,
}

// SplitCmdline splits a kernel command line into words; double quotes
// group a value with blanks (key="a b").
func SplitCmdline(s string) []string {
	var words []string
	var cur strings.Builder
	quoted, any := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			any = true
		case (r == ' ' || r == '\t' || r == '\n') && !quoted:
			if any {
				words = append(words, cur.String())
			}
			cur.Reset()
			any = false
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if any {
		words = append(words, cur.String())
	}
	return words
}

// ParseCmdline reads the capture environment's settings from a kernel
// command line. Problems are returned as warnings: a bad value is ignored
// (the default stays), so that a typo never leaves a machine unbootable.
func ParseCmdline(s string) (*Config, []string) {
	c := &Config{OnFailure: ActionPrompt, Blacklist: map[string]bool{}, ModParams: map[string]string{}}
	var warns []string
	warn := func(format string, args ...any) { warns = append(warns, fmt.Sprintf(format, args...)) }
	for _, w := range SplitCmdline(s) {
		key, val, hasVal := strings.Cut(w, "=")
		switch key {
		case "wds.inf":
			c.INF = val
		case "wds.finish", "wds.onfailure":
			a, err := ParseAction(val)
			if err != nil {
				warn("%s=%s: %v", key, val, err)
				continue
			}
			if key == "wds.finish" {
				c.Finish = a
			} else {
				c.OnFailure = a
			}
		case "wds.report":
			u, err := url.Parse(val)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				warn("wds.report=%s: want an http:// or https:// URL", val)
				continue
			}
			c.ReportURL = val
		case "wds.net":
			switch strings.ToLower(val) {
			case "off", "none", "0", "no":
				c.NoNet = true
			case "dhcp", "on", "1", "yes":
				c.NoNet = false
			default:
				warn("wds.net=%s: want dhcp or off", val)
			}
		case "wds.iface":
			c.Iface = val
		case "wds.ip":
			st, err := parseStatic(val)
			if err != nil {
				warn("wds.ip=%s: %v", val, err)
				continue
			}
			c.Static = st
		case "wds.term":
			if val == "" || strings.ContainsAny(val, "/ \x00") {
				warn("wds.term=%s: not a terminal type", val)
				continue
			}
			c.Term = val
		case "wds.cols", "wds.rows":
			n, err := strconv.Atoi(val)
			if err != nil || n < 20 || n > 1000 {
				warn("%s=%s: want a number from 20 to 1000", key, val)
				continue
			}
			if key == "wds.cols" {
				c.Cols = n
			} else {
				c.Rows = n
			}
		case "wds.shell":
			c.Shell = !hasVal || val == "1" || strings.EqualFold(val, "yes")
		case "wds.debug":
			c.Debug = !hasVal || val == "1" || strings.EqualFold(val, "yes")
		case "wds.modules":
			for _, m := range strings.Split(val, ",") {
				if m = strings.TrimSpace(m); m != "" {
					c.Modules = append(c.Modules, kmod.Normalize(m))
				}
			}
		case "modprobe.blacklist", "module_blacklist":
			for _, m := range strings.Split(val, ",") {
				if m = strings.TrimSpace(m); m != "" {
					c.Blacklist[kmod.Normalize(m)] = true
				}
			}
		default:
			if strings.HasPrefix(key, "wds.") {
				warn("unknown kernel command line option %s", key)
				continue
			}
			// module.param=value
			mod, param, ok := strings.Cut(key, ".")
			if ok && hasVal && mod != "" && param != "" && !kernelKeys[mod] && !strings.ContainsAny(w, " \t") {
				mod = kmod.Normalize(mod)
				if c.ModParams[mod] != "" {
					c.ModParams[mod] += " "
				}
				c.ModParams[mod] += param + "=" + val
			}
		}
	}
	return c, warns
}

func parseStatic(v string) (*StaticIP, error) {
	parts := strings.Split(v, ",")
	p, err := netip.ParsePrefix(strings.TrimSpace(parts[0]))
	if err != nil || !p.Addr().Is4() {
		return nil, fmt.Errorf("want an IPv4 address with prefix length, like 192.168.1.50/24")
	}
	st := &StaticIP{Addr: p}
	if len(parts) > 1 && strings.TrimSpace(parts[1]) != "" {
		gw, err := netip.ParseAddr(strings.TrimSpace(parts[1]))
		if err != nil || !gw.Is4() || !p.Masked().Contains(gw) {
			return nil, fmt.Errorf("gateway %q is not an IPv4 address in %s", parts[1], p.Masked())
		}
		st.Gateway = gw
	}
	for _, d := range parts[min(2, len(parts)):] {
		a, err := netip.ParseAddr(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("DNS server %q is not an IP address", d)
		}
		st.DNS = append(st.DNS, a)
	}
	return st, nil
}
