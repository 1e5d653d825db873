package vmlab

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// GuestStoreAddr is where the guest reaches the image store of VM.Store:
// WDSServerName=10.0.2.101 in the INF (the default port).
const GuestStoreAddr = "10.0.2.101:8443"

// relayEnv names the loopback address a relay process connects to.
const relayEnv = "WDSCAPTURE_VMLAB_RELAY"

// relayReady is set once RelayMain has run in this process: only then
// may QEMU start this executable as a relay.
var relayReady atomic.Bool

// RelayMain makes this executable QEMU's relay to the image store. QEMU's
// restricted network forwards a guest connection only to a chardev (one
// connection for the VM's life) or to a command it starts per connection
// on the connection's socket; the lab's command is this executable again,
// which copies that socket to and from the store's loopback port. Call it
// first thing in main or TestMain: in a relay process it never returns.
func RelayMain() {
	addr := os.Getenv(relayEnv)
	if addr == "" {
		relayReady.Store(true)
		return
	}
	if err := relay(addr, os.Stdin, os.Stdout); err != nil {
		// Stderr is the guest's socket too: nothing may be written there.
		os.Exit(1)
	}
	os.Exit(0)
}

// relayCommand is the command QEMU runs per connection to the store.
func relayCommand(store string) (string, error) {
	if !relayReady.Load() {
		return "", errors.New("VM.Store needs vmlab.RelayMain() called at the start of main or TestMain")
	}
	host, port, err := net.SplitHostPort(store)
	if err != nil {
		return "", fmt.Errorf("VM.Store %q: %w", store, err)
	}
	if net.ParseIP(host) == nil {
		return "", fmt.Errorf("VM.Store %q: not an IP address", store)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("VM.Store %q: bad port", store)
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	// QEMU splits the command like a shell (no shell runs it).
	if strings.ContainsAny(exe, " '\"\\") {
		return "", fmt.Errorf("the relay path %q cannot be given to QEMU", exe)
	}
	return "env " + relayEnv + "=" + store + " " + exe, nil
}

// relay copies the connection on in/out to and from addr until both
// directions have ended.
func relay(addr string, in io.Reader, out io.Writer) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	up := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, in)
		// The guest closed its side: tell the store, and keep reading
		// its answer.
		_ = c.(*net.TCPConn).CloseWrite()
		up <- err
	}()
	// When the store closes its side, the guest's connection is done
	// (HTTP over TLS does not half-close): the process exits and QEMU
	// closes it.
	if _, err := io.Copy(out, c); err != nil {
		return errors.Join(err, <-up)
	}
	return nil
}
