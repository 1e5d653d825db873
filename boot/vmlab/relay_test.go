package vmlab

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
)

// TestRelay copies a request to a loopback server and its answer back,
// as the relay does for each guest connection to the store: the server
// reads the whole request (the relay passes on the guest's end of it),
// answers and closes.
func TestRelay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- string(b)
		io.WriteString(c, "answer to "+string(b))
	}()
	req := strings.Repeat("request ", 100000)
	var out bytes.Buffer
	if err := relay(ln.Addr().String(), strings.NewReader(req), &out); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != req {
		t.Errorf("the server got %d bytes; want %d", len(s), len(req))
	}
	if out.String() != "answer to "+req {
		t.Errorf("the relay passed back %d bytes; want %d", out.Len(), len("answer to "+req))
	}
}

// TestRelayRefused: a store that does not listen is an error (the relay
// process exits 1 and QEMU closes the guest's connection).
func TestRelayRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := relay(addr, strings.NewReader("x"), io.Discard); err == nil {
		t.Fatal("relay to a closed port succeeded")
	}
}

func TestRelayCommand(t *testing.T) {
	for _, tc := range []struct {
		store string
		ok    bool
	}{
		{"127.0.0.1:8443", true},
		{"127.0.0.1", false},
		{"127.0.0.1:8443 evil", false},
		{"wds01:8443", false},
	} {
		cmd, err := relayCommand(tc.store)
		if (err == nil) != tc.ok {
			t.Errorf("relayCommand(%q) = %q, %v", tc.store, cmd, err)
			continue
		}
		if err == nil && !strings.HasPrefix(cmd, "env "+relayEnv+"="+tc.store+" ") {
			t.Errorf("relayCommand(%q) = %q", tc.store, cmd)
		}
	}
}
