package storetest

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy is a TCP relay on loopback between a client and a server that can
// cut every connection each time a set number of bytes has gone from the
// clients to the server (a flaky link), and counts those bytes.
type Proxy struct {
	Addr   string
	target string
	ln     net.Listener

	mu    sync.Mutex
	up    int64 // bytes relayed client → server
	every int64 // cut every this many bytes (0: never)
	next  int64
	cuts  int
	// down refuses new connections; downAt sets down once up reaches it.
	down   bool
	downAt int64
	conns  map[net.Conn]bool // true: a client's connection
	wg     sync.WaitGroup
}

// NewProxy relays connections to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// CutEvery makes the proxy drop every connection each time another n
// bytes have been relayed to the server (0 stops cutting).
func (p *Proxy) CutEvery(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.every, p.next = n, p.up+n
}

// DownAfter makes the link fail for good once n more bytes have been
// relayed to the server: the connections are dropped and new ones
// refused, until SetDown(false).
func (p *Proxy) DownAfter(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downAt = p.up + n
}

// SetDown refuses (true) or relays (false) new connections.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down, p.downAt = down, 0
}

// Up returns the bytes relayed from the clients to the server.
func (p *Proxy) Up() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up
}

// Cuts returns how many times the proxy dropped the connections.
func (p *Proxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// Close stops the proxy and drops its connections.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", p.target, 10*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = true, false
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); p.relayUp(c, s) }()
		go func() { defer p.wg.Done(); io.Copy(c, s); p.drop(c, s) }()
	}
}

// relayUp copies client → server, cutting at the thresholds.
func (p *Proxy) relayUp(c, s net.Conn) {
	defer p.drop(c, s)
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p.mu.Lock()
			allow, cut := int64(n), false
			if p.every > 0 && p.up+allow >= p.next {
				allow, cut = p.next-p.up, true
				p.next += p.every
				p.cuts++
			}
			if p.downAt > 0 && p.up+allow >= p.downAt {
				allow, cut = min(allow, max(0, p.downAt-p.up)), true
				p.down, p.downAt = true, 0
				p.cuts++
			}
			p.up += allow
			p.mu.Unlock()
			if allow > 0 {
				if _, werr := s.Write(buf[:allow]); werr != nil {
					return
				}
			}
			if cut {
				p.cutAll()
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			if tc, ok := s.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
	}
}

// cutAll drops every open connection as a failing link would: the
// clients get a reset (what they sent that had not passed is lost), the
// server gets what had passed and then the end of the stream.
func (p *Proxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, client := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok && client {
			tc.SetLinger(0)
		}
		c.Close()
	}
	clear(p.conns)
}

func (p *Proxy) drop(a, b net.Conn) {
	a.Close()
	b.Close()
	p.mu.Lock()
	delete(p.conns, a)
	delete(p.conns, b)
	p.mu.Unlock()
}

// Blackhole is a listener that accepts connections and never answers (a
// server that hangs).
type Blackhole struct {
	Addr string
	ln   net.Listener
	mu   sync.Mutex
	held []net.Conn
}

// NewBlackhole listens on a free loopback port.
func NewBlackhole() (*Blackhole, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Blackhole{Addr: ln.Addr().String(), ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.held = append(b.held, c)
			b.mu.Unlock()
		}
	}()
	return b, nil
}

// Close stops listening and drops the held connections.
func (b *Blackhole) Close() {
	b.ln.Close()
	b.mu.Lock()
	for _, c := range b.held {
		c.Close()
	}
	b.mu.Unlock()
}
