package pid1

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
)

// NetResult is how one interface was configured.
type NetResult struct {
	Iface   string       `json:"iface"`
	MAC     string       `json:"mac,omitempty"`
	Method  string       `json:"method"` // "dhcp", "static" or "none"
	Addr    netip.Prefix `json:"addr"`
	Gateway netip.Addr   `json:"gateway"`
	DNS     []netip.Addr `json:"dns,omitempty"`
	Err     string       `json:"error,omitempty"`
}

func (r NetResult) String() string {
	if r.Method == "none" {
		return fmt.Sprintf("%s (%s): no address: %s", r.Iface, r.MAC, r.Err)
	}
	s := fmt.Sprintf("%s (%s): %s by %s", r.Iface, r.MAC, r.Addr, r.Method)
	if r.Gateway.IsValid() {
		s += ", gateway " + r.Gateway.String()
	}
	if len(r.DNS) > 0 {
		var ds []string
		for _, d := range r.DNS {
			ds = append(ds, d.String())
		}
		s += ", DNS " + strings.Join(ds, " ")
	}
	return s
}

// wiredLinks returns the Ethernet interfaces, sorted by name.
func wiredLinks(only string) ([]netlink.Link, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	var out []netlink.Link
	for _, l := range links {
		a := l.Attrs()
		if a.EncapType != "ether" || l.Type() != "device" || len(a.HardwareAddr) != 6 {
			continue
		}
		// Wireless interfaces have a phy80211 link; they need a supplicant.
		if _, err := os.Stat(filepath.Join("/sys/class/net", a.Name, "phy80211")); err == nil {
			continue
		}
		if only != "" && a.Name != only {
			continue
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Attrs().Name < out[j].Attrs().Name })
	return out, nil
}

// SetupNetwork brings up the loopback and every wired interface, asks for
// a DHCP lease on each (for at most timeout), and falls back to the static
// address of the command line on the first interface when no lease came.
// The first interface with a gateway gets the default route; the DNS
// servers go to /etc/resolv.conf.
func SetupNetwork(ctx context.Context, c *Config, timeout time.Duration, logf func(string, ...any)) []NetResult {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		if err := netlink.LinkSetUp(lo); err != nil {
			logf("network: lo: %v", err)
		}
	}
	links, err := wiredLinks(c.Iface)
	if err != nil {
		logf("network: %v", err)
		return nil
	}
	if len(links) == 0 {
		logf("network: no wired network interface found")
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	results := make([]NetResult, len(links))
	var wg sync.WaitGroup
	for i, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = dhcpLink(ctx, l)
		}()
	}
	wg.Wait()
	got := false
	for _, r := range results {
		got = got || r.Method == "dhcp"
	}
	if !got && c.Static != nil {
		results[0] = staticLink(links[0], c.Static)
	}
	routed := false
	var dns []netip.Addr
	for _, r := range results {
		if r.Method != "none" && r.Gateway.IsValid() && !routed {
			link := linkNamed(links, r.Iface)
			gw := net.IP(r.Gateway.AsSlice())
			if err := netlink.RouteReplace(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw}); err != nil {
				logf("network: default route via %s on %s: %v", r.Gateway, r.Iface, err)
			} else {
				routed = true
			}
		}
		dns = append(dns, r.DNS...)
	}
	writeResolvConf(dns, logf)
	return results
}

func linkNamed(links []netlink.Link, name string) netlink.Link {
	for _, l := range links {
		if l.Attrs().Name == name {
			return l
		}
	}
	return links[0]
}

// waitCarrier waits until the link reports a carrier (a cable), polling
// sysfs; it returns false when ctx ends first.
func waitCarrier(ctx context.Context, name string) bool {
	for {
		b, err := os.ReadFile(filepath.Join("/sys/class/net", name, "carrier"))
		if err == nil && strings.TrimSpace(string(b)) == "1" {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func dhcpLink(ctx context.Context, l netlink.Link) NetResult {
	a := l.Attrs()
	r := NetResult{Iface: a.Name, MAC: a.HardwareAddr.String(), Method: "none"}
	if err := netlink.LinkSetUp(l); err != nil {
		r.Err = fmt.Sprintf("bring up: %v", err)
		return r
	}
	if !waitCarrier(ctx, a.Name) {
		r.Err = "no link (is the cable plugged in?)"
		return r
	}
	client, err := nclient4.New(a.Name, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(3))
	if err != nil {
		r.Err = fmt.Sprintf("DHCP client: %v", err)
		return r
	}
	defer client.Close()
	var lease *nclient4.Lease
	for {
		lease, err = client.Request(ctx)
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			r.Err = "no DHCP server answered"
		} else {
			r.Err = fmt.Sprintf("DHCP: %v", err)
		}
		return r
	}
	ack := lease.ACK
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok {
		r.Err = "DHCP lease without an IPv4 address"
		return r
	}
	ones, _ := ack.SubnetMask().Size()
	if ack.SubnetMask() == nil {
		ones = 24
	}
	r.Addr = netip.PrefixFrom(ip, ones)
	if routers := dhcpv4.GetIPs(dhcpv4.OptionRouter, ack.Options); len(routers) > 0 {
		if gw, ok := netip.AddrFromSlice(routers[0].To4()); ok {
			r.Gateway = gw
		}
	}
	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok {
			r.DNS = append(r.DNS, a)
		}
	}
	if err := addAddr(l, r.Addr); err != nil {
		r.Err = err.Error()
		r.Method = "none"
		return r
	}
	r.Method = "dhcp"
	return r
}

func staticLink(l netlink.Link, st *StaticIP) NetResult {
	a := l.Attrs()
	r := NetResult{Iface: a.Name, MAC: a.HardwareAddr.String(), Method: "none", Addr: st.Addr, Gateway: st.Gateway, DNS: st.DNS}
	if err := netlink.LinkSetUp(l); err != nil {
		r.Err = fmt.Sprintf("bring up: %v", err)
		return r
	}
	if err := addAddr(l, st.Addr); err != nil {
		r.Err = err.Error()
		return r
	}
	r.Method = "static"
	return r
}

func addAddr(l netlink.Link, p netip.Prefix) error {
	ipnet := &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}
	if err := netlink.AddrReplace(l, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("set address %s on %s: %w", p, l.Attrs().Name, err)
	}
	return nil
}

func writeResolvConf(dns []netip.Addr, logf func(string, ...any)) {
	var b strings.Builder
	seen := map[netip.Addr]bool{}
	for _, d := range dns {
		if !seen[d] {
			seen[d] = true
			fmt.Fprintf(&b, "nameserver %s\n", d)
		}
	}
	if b.Len() == 0 {
		return
	}
	if err := os.WriteFile("/etc/resolv.conf", []byte(b.String()), 0o644); err != nil {
		logf("network: write /etc/resolv.conf: %v", err)
	}
}
