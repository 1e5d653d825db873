package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wdscapture/wdscapture/internal/atomicfile"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// Fingerprint returns the SHA-256 of a certificate's DER bytes as colon
// separated upper-case hex, the form `openssl x509 -fingerprint -sha256`
// prints and a client pins (protocol.Fingerprint).
func Fingerprint(der []byte) string { return protocol.Fingerprint(der) }

// SelfSignedPaths returns where the self-signed certificate and key of
// the store at root are kept.
func SelfSignedPaths(root string) (cert, key string) {
	dir := filepath.Join(root, "Server", "tls")
	return filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
}

// EnsureSelfSigned returns the store's self-signed certificate, making
// one (ECDSA P-256, ten years, for the host name, localhost, loopback and
// hosts) when there is none. The key is written with mode 0600 before the
// certificate, each through a temporary file and a rename, so an
// interrupted first start leaves no certificate without its key; created
// reports a new certificate.
func EnsureSelfSigned(root string, hosts []string) (cert tls.Certificate, created bool, err error) {
	certPath, keyPath := SelfSignedPaths(root)
	if c, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		if err := checkKeyMode(keyPath); err != nil {
			return tls.Certificate{}, false, err
		}
		return c, false, nil
	} else if _, serr := os.Stat(certPath); serr == nil {
		return tls.Certificate{}, false, fmt.Errorf("load the self-signed certificate: %w (delete %s to make a new one; clients pinning the old fingerprint must be told the new one)", err, filepath.Dir(certPath))
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return tls.Certificate{}, false, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, false, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, false, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "imagestore " + host, Organization: []string{"wdscapture image store"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	seen := map[string]bool{}
	for _, h := range append([]string{host, "localhost", "127.0.0.1", "::1"}, hosts...) {
		if h == "" || seen[strings.ToLower(h)] {
			continue
		}
		seen[strings.ToLower(h)] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, false, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, false, err
	}
	if err := atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return tls.Certificate{}, false, err
	}
	if err := atomicfile.Write(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, false, err
	}
	c, err := tls.LoadX509KeyPair(certPath, keyPath)
	return c, true, err
}

func checkKeyMode(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s: the private key is accessible to other users (mode %04o); run: chmod 600 %s", path, st.Mode().Perm(), path)
	}
	return nil
}

// certSource serves the certificate of a TLS handshake. A configured
// (CA-issued) certificate is reloaded when its files change, so a renewal
// needs no restart.
type certSource struct {
	certPath, keyPath string // "" for the self-signed one, which never changes

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   time.Time
	checked time.Time
}

func loadCertSource(cfg *Config) (*certSource, bool, error) {
	if cfg.TLSCert == "" {
		c, created, err := EnsureSelfSigned(cfg.Root, cfg.TLSHosts)
		if err != nil {
			return nil, false, fmt.Errorf("self-signed certificate: %w", err)
		}
		return &certSource{cert: &c}, created, nil
	}
	cs := &certSource{certPath: cfg.TLSCert, keyPath: cfg.TLSKey}
	if err := cs.reload(); err != nil {
		return nil, false, err
	}
	return cs, false, nil
}

func (cs *certSource) reload() error {
	st, err := os.Stat(cs.certPath)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	if err := checkKeyMode(cs.keyPath); err != nil {
		return err
	}
	c, err := tls.LoadX509KeyPair(cs.certPath, cs.keyPath)
	if err != nil {
		return fmt.Errorf("TLS certificate %s with key %s: %w", cs.certPath, cs.keyPath, err)
	}
	if len(c.Certificate) == 0 {
		return errors.New("TLS certificate file holds no certificate")
	}
	cs.cert, cs.stamp = &c, st.ModTime()
	return nil
}

// current returns the certificate, rechecking the files at most once a
// minute. A renewal that does not load keeps the old certificate.
func (cs *certSource) current() *tls.Certificate {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.certPath != "" && time.Since(cs.checked) > time.Minute {
		cs.checked = time.Now()
		if st, err := os.Stat(cs.certPath); err == nil && !st.ModTime().Equal(cs.stamp) {
			old := cs.cert
			if err := cs.reload(); err != nil {
				cs.cert = old
			}
		}
	}
	return cs.cert
}

// fingerprint returns the leaf certificate's SHA-256 fingerprint.
func (cs *certSource) fingerprint() string { return Fingerprint(cs.current().Certificate[0]) }

// tlsConfig is TLS 1.3 only, HTTP/1.1 (large uploads stream better
// without HTTP/2's per-stream flow control windows).
func (cs *certSource) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return cs.current(), nil
		},
		NextProtos: []string{"http/1.1"},
	}
}
