package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wdscapture/wdscapture/store/protocol"
)

// TestCAIssuedCertificate: with --tls-cert/--tls-key the server presents
// that certificate, a client that trusts the CA connects without a pin,
// and no self-signed certificate is made.
func TestCAIssuedCertificate(t *testing.T) {
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "imagestore"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)

	root := t.TempDir()
	ts := startServerArgs(t, root, "", []string{"--tls-cert", certPath, "--tls-key", keyPath})
	if ts.fp != Fingerprint(leafDER) {
		t.Errorf("printed fingerprint %s is not the configured certificate's", ts.fp)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}
	resp, err := hc.Get("https://" + ts.addr + protocol.PathInfo)
	if err != nil {
		t.Fatalf("a client trusting the CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("info: %d", resp.StatusCode)
	}
	if fileExists(filepath.Join(root, "Server", "tls", "cert.pem")) {
		t.Error("a self-signed certificate was made although one was configured")
	}
	// A key others may read is refused.
	ts.stop()
	os.Chmod(keyPath, 0o640)
	if out := startFails(t, root, certPath, keyPath); !strings.Contains(out, "chmod 600") {
		t.Errorf("the server with a key readable by others: %q", out)
	}
}

// startFails runs serve expecting it to refuse to start; it returns its
// output (a server that starts is killed after 30 s).
func startFails(t *testing.T, root, cert, key string) string {
	t.Helper()
	out, err := execCommand(buildBinary(t), "serve", "--root", root, "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	if err == nil {
		return ""
	}
	return out
}
