// Package storetest runs real `imagestore serve` processes on loopback for
// the tests of the store's clients (upload, the agent, the lab): it builds
// the imagestore binary once per test process, seeds a store root (users
// file with cheap argon2id parameters, image groups, serve.json) and
// starts, kills and restarts the server on a fixed port.
package storetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/auth"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// Binary returns the path of an imagestore binary built from this module
// (once per process; Cleanup removes it).
func Binary() (string, error) {
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "storetest-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "imagestore")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/wdscapture/wdscapture/cmd/imagestore").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build imagestore: %v\n%s", err, out)
		}
	})
	return binPath, binErr
}

// UseBinary makes Start run the imagestore binary at path instead of
// building one (call it before anything starts a server).
func UseBinary(path string) {
	binOnce.Do(func() { binPath = path })
}

// Cleanup removes the built binary (call it from TestMain after m.Run).
func Cleanup() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// cheap are argon2id parameters for test accounts (the server checks a
// hash with the parameters stored in it).
var cheap = auth.HashParams{Memory: 64, Time: 1, Threads: 1}

// Domain is the test users' domain: users are LAB\name.
const Domain = "LAB"

// Seed writes the users file of the store at root (users: name →
// password, a bare name in domain LAB; groups: group → member names) and serve.json
// (config; reserve_bytes defaults to 1 MiB so that tests do not depend on
// the disk's free space).
func Seed(root string, users map[string]string, groups map[string][]string, config map[string]any) error {
	if _, err := auth.EnsureServerDir(root); err != nil {
		return err
	}
	u := &auth.Users{Domains: []auth.Domain{{Name: Domain, DNS: []string{"lab.example.com"}}}}
	for name, pw := range users {
		h, err := auth.HashPasswordWith(pw, cheap)
		if err != nil {
			return err
		}
		u.Users = append(u.Users, auth.User{Name: qualify(name), Hash: h})
	}
	for g, members := range groups {
		var ms []string
		for _, m := range members {
			ms = append(ms, qualify(m))
		}
		u.Groups = append(u.Groups, auth.Group{Name: qualify(g), Members: ms})
	}
	if err := auth.SaveUsers(auth.UsersPath(root), u); err != nil {
		return err
	}
	cfg := map[string]any{"reserve_bytes": 1 << 20}
	for k, v := range config {
		cfg[k] = v
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, auth.ServerDir, "serve.json"), b, 0o600)
}

// AddGroup creates an image group with its ACL (nil: the store's
// defaults) and, when comp is not nil, its compression type.
func AddGroup(root, name string, read, write []string, comp *images.Compression) error {
	s, err := store.Open(root)
	if err != nil {
		return err
	}
	return s.CreateGroup(context.Background(), name, store.GroupOptions{Read: read, Write: write, Compression: comp})
}

// qualify puts a bare name in Domain.
func qualify(name string) string {
	if strings.Contains(name, `\`) {
		return name
	}
	return Domain + `\` + name
}

// Server is one imagestore serve process (and its successors after
// Restart, on the same address).
type Server struct {
	Root        string
	Addr        string // 127.0.0.1:PORT
	Fingerprint string // the certificate's SHA-256, AB:CD:...

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	logs   bytes.Buffer
}

var serveLine = regexp.MustCompile(`on https://(\S+)\n`)
var fpLine = regexp.MustCompile(`fingerprint ([0-9A-F:]{95})\n`)

// Start runs imagestore serve for the store at root on addr
// ("127.0.0.1:0" when empty: a free port).
func Start(root, addr string) (*Server, error) {
	s := &Server{Root: root, Addr: addr}
	if s.Addr == "" {
		s.Addr = "127.0.0.1:0"
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) start() error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "serve", "--root", s.Root, "--listen", s.Addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	s.mu.Lock()
	cmd.Stderr = &lockedWriter{mu: &s.mu, w: &s.logs}
	s.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	br := bufio.NewReader(stdout)
	var out bytes.Buffer
	addr, fp := "", ""
	lines := make(chan string)
	go func() {
		defer close(lines)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				lines <- line
			}
			if err != nil {
				return
			}
		}
	}()
	timeout := time.After(60 * time.Second)
	for fp == "" || addr == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				<-exited
				return fmt.Errorf("imagestore serve ended before it served:\n%s\n%s", out.String(), s.Logs())
			}
			out.WriteString(line)
			if m := serveLine.FindStringSubmatch(line); m != nil {
				addr = m[1]
			}
			if m := fpLine.FindStringSubmatch(line); m != nil {
				fp = m[1]
			}
		case <-timeout:
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("imagestore serve did not start within a minute:\n%s\n%s", out.String(), s.Logs())
		}
	}
	go func() {
		for range lines {
		}
	}()
	s.mu.Lock()
	s.cmd, s.exited, s.Addr, s.Fingerprint = cmd, exited, addr, fp
	s.mu.Unlock()
	return nil
}

// Kill ends the server with SIGKILL (a crash) and waits for it.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Stop ends the server with SIGTERM (graceful) and waits for it.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-exited
	}
}

// Restart starts the server again on the same address (after Kill or
// Stop).
func (s *Server) Restart() error {
	var err error
	for range 50 { // the port may linger a moment
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}

// Logs returns what the server processes wrote to stderr.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// Imagestore runs an imagestore admin command on the server's store and
// returns its standard output.
func (s *Server) Imagestore(args ...string) (string, error) {
	bin, err := Binary()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, append(args, "--root", s.Root)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("imagestore %v: %w\n%s", args, err, stderr.String())
	}
	return stdout.String(), nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
