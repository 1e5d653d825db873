// Package slapdtest runs a real OpenLDAP slapd for tests: its own process
// on loopback ports (ldap:// and ldaps:// with a test CA made here), a
// temporary slapd.conf with the memberof and ppolicy overlays, and a
// seeded directory (see fixture.go). It never touches a system slapd.
package slapdtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/wdscapture/wdscapture/internal/syncbuf"
)

// Server is a running (or stopped) slapd of a test.
type Server struct {
	Dir      string
	LDAPURL  string // ldap://127.0.0.1:PORT
	LDAPSURL string // ldaps://127.0.0.1:PORT
	CAFile   string // PEM of the CA that issued the server's certificate

	ldapPort, ldapsPort int
	slapd               string

	mu    sync.Mutex
	cmd   *exec.Cmd
	exit  chan error
	log   *syncbuf.Buffer
	admin *ldap.Conn
	// monitorSearches counts Operations' own searches since the start.
	monitorSearches int
}

// Path finds slapd (Debian puts it in /usr/sbin, often not on PATH).
func Path() (string, error) {
	if p, err := exec.LookPath("slapd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/slapd"); err == nil {
		return "/usr/sbin/slapd", nil
	}
	return "", errors.New("slapd is not installed (Debian package slapd; make deps installs it)")
}

// Require skips the test when slapd is not installed, except under CI (CI
// set in the environment), where that is a failure: make deps installs it.
func Require(t testing.TB) {
	t.Helper()
	if _, err := Path(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// Start writes a configuration, schema and certificates into dir, starts
// slapd and seeds it with the fixture directory.
func Start(dir string) (*Server, error) {
	slapd, err := Path()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, slapd: slapd, CAFile: filepath.Join(dir, "ca.pem")}
	if err := s.writeFiles(); err != nil {
		return nil, err
	}
	// A port found free may be taken before slapd binds it: try again.
	for try := 0; ; try++ {
		if s.ldapPort, err = freePort(); err == nil {
			s.ldapsPort, err = freePort()
		}
		if err != nil {
			return nil, err
		}
		s.LDAPURL = fmt.Sprintf("ldap://127.0.0.1:%d", s.ldapPort)
		s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", s.ldapsPort)
		if err = s.Resume(); err == nil {
			break
		}
		if try == 2 {
			return nil, err
		}
	}
	if err := s.seed(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Resume starts slapd (again) on the same ports and data.
func (s *Server) Resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("slapd is running")
	}
	s.log = &syncbuf.Buffer{}
	cmd := exec.Command(s.slapd, "-f", filepath.Join(s.Dir, "slapd.conf"),
		"-h", s.LDAPURL+"/ "+s.LDAPSURL+"/", "-d", "stats")
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	exit := make(chan error, 1)
	go func() { exit <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := ldap.DialURL(s.LDAPURL)
		if err == nil {
			err = c.Bind(AdminDN, AdminPassword)
			if err == nil {
				s.cmd, s.exit, s.admin, s.monitorSearches = cmd, exit, c, 0
				return nil
			}
			c.Close()
		}
		select {
		case werr := <-exit:
			return fmt.Errorf("slapd exited (%v):\n%s", werr, s.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exit
			return fmt.Errorf("slapd did not answer within 20s:\n%s", s.log.String())
		}
	}
}

// Stop stops slapd (SIGTERM, then SIGKILL after 10s) and waits for it.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	s.admin.Close()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exit:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exit
	}
	s.cmd, s.admin = nil, nil
	return nil
}

// Close stops slapd.
func (s *Server) Close() error { return s.Stop() }

// Log returns what slapd has logged (at level stats: connections,
// operations, bind DNs) since it last started.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

// WaitLog waits until what slapd logged after offset off contains want,
// and returns that part of the log and whether it did. slapd writes its
// log from its own threads, so a line about an operation may arrive after
// the client already has the operation's answer; the wait is bounded by a
// generous limit that only a hung slapd reaches.
func (s *Server) WaitLog(off int, want string) (string, bool) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := s.Log()
		if off > len(l) {
			off = len(l)
		}
		if strings.Contains(l[off:], want) || time.Now().After(deadline) {
			return l[off:], strings.Contains(l[off:], want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Operations returns how many operations of a kind ("Bind", "Search")
// slapd has started since it last started, from its monitor database,
// less those of Operations itself (its searches, the admin's bind).
func (s *Server) Operations(kind string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil {
		return 0, errors.New("slapd is not running")
	}
	s.monitorSearches++
	res, err := s.admin.Search(ldap.NewSearchRequest("cn="+kind+",cn=Operations,cn=Monitor", ldap.ScopeBaseObject,
		ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"monitorOpInitiated"}, nil))
	if err != nil {
		return 0, err
	}
	if len(res.Entries) != 1 {
		return 0, fmt.Errorf("monitor: %d entries for %s", len(res.Entries), kind)
	}
	n, err := strconv.Atoi(res.Entries[0].GetAttributeValue("monitorOpInitiated"))
	switch kind {
	case "Search":
		n -= s.monitorSearches
	case "Bind":
		n-- // the admin connection's
	}
	return n, err
}

// Modify changes an entry as the directory's administrator.
func (s *Server) Modify(req *ldap.ModifyRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil {
		return errors.New("slapd is not running")
	}
	return s.admin.Modify(req)
}

func (s *Server) writeFiles() error {
	for _, sub := range []string{"contoso", "example"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, sub), 0o700); err != nil {
			return err
		}
	}
	if err := writeCerts(s.Dir); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "ad-model.schema"), []byte(adModelSchema), 0o600); err != nil {
		return err
	}
	var conf bytes.Buffer
	if err := confTemplate.Execute(&conf, map[string]string{
		"Dir": s.Dir, "AdminDN": AdminDN, "AdminPassword": AdminPassword,
		"ExampleAdminDN": ExampleAdminDN, "ServiceDN": ServiceDN,
	}); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, "slapd.conf"), conf.Bytes(), 0o600)
}

// confTemplate is slapd.conf: two databases, CONTOSO modelled on Active
// Directory (see adModelSchema) and EXAMPLE an ordinary OpenLDAP
// directory, plus the monitor database that counts operations.
var confTemplate = template.Must(template.New("slapd.conf").Parse(`
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include {{.Dir}}/ad-model.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload ppolicy
pidfile {{.Dir}}/slapd.pid
argsfile {{.Dir}}/slapd.args
TLSCACertificateFile {{.Dir}}/ca.pem
TLSCertificateFile {{.Dir}}/server.pem
TLSCertificateKeyFile {{.Dir}}/server-key.pem

database mdb
maxsize 67108864
suffix "dc=contoso,dc=test"
rootdn "{{.AdminDN}}"
rootpw "{{.AdminPassword}}"
directory {{.Dir}}/contoso
overlay memberof
memberof-group-oc group
memberof-member-ad member
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="{{.ServiceDN}}" read by self read by * none

database mdb
maxsize 67108864
suffix "dc=example,dc=org"
rootdn "{{.ExampleAdminDN}}"
rootpw "{{.AdminPassword}}"
directory {{.Dir}}/example
overlay memberof
overlay ppolicy
access to attrs=userPassword by anonymous auth by * none
access to * by * read

database monitor
access to dn.subtree="cn=Monitor" by dn.exact="{{.AdminDN}}" read by * none
`))

// writeCerts makes a test CA (ca.pem) and a certificate for 127.0.0.1 and
// localhost that it issued (server.pem, server-key.pem).
func writeCerts(dir string) error {
	ca, caKey, err := newCA(dir)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, "server.pem"), "CERTIFICATE", der); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, "server-key.pem"), "PRIVATE KEY", keyDER)
}

// NewCA makes a certificate authority of its own in dir and returns the
// path of its certificate (dir/ca.pem): one that issued nothing slapd
// has, for tests that a server it did not certify is refused.
func NewCA(dir string) (string, error) {
	_, _, err := newCA(dir)
	return filepath.Join(dir, "ca.pem"), err
}

func newCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wdscapture test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return ca, key, writePEM(filepath.Join(dir, "ca.pem"), "CERTIFICATE", der)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
