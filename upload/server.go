package upload

import (
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/wdscapture/wdscapture/inf"
)

// DefaultPort is the port of a server named without one: the port
// `imagestore serve` listens on by default.
const DefaultPort = 8443

// ParseServer turns WDSServerName into the server's base URL and host
// name: "wds01" (port DefaultPort), "wds01.corp.example:9443",
// "10.0.0.5", "[fd00::5]:8443", a bare IPv6 address, or an https URL
// ("https://wds01.corp.example", port 443 unless it names one). The
// syntax is inf.SplitServerName's, so that the INF and the client agree.
func ParseServer(name string) (base *url.URL, host string, err error) {
	host, port, err := inf.SplitServerName(name)
	if err != nil {
		return nil, "", fmt.Errorf("server %q: %w", name, err)
	}
	if host == "" {
		return nil, "", fmt.Errorf("server %q: no host", name)
	}
	if port == "" {
		port = strconv.Itoa(DefaultPort)
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, port)}, host, nil
}
