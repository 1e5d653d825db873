package upload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// Trust says which server certificate the client accepts. With neither
// field set the system's CAs are trusted (a CA-issued certificate for the
// server's name).
type Trust struct {
	// Fingerprint pins the server's certificate: the SHA-256 of its DER
	// bytes, as `imagestore serve` and `imagestore cert` print it. Only
	// that certificate is accepted, whoever issued it and whatever name
	// it carries (the pin says more than a name can).
	Fingerprint string
	// CAFile is a PEM file of the CA certificates that may issue the
	// server's certificate (which must then be for the server's name).
	CAFile string
}

// ParseTrust reads the value of WDSServerCertificate: a SHA-256
// fingerprint (64 hex digits, in pairs separated by ':' as openssl prints
// them, or not separated) or, when it contains a '/' or '\', the path of
// a CA file (already resolved to a local path by the caller).
func ParseTrust(v string) (Trust, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return Trust{}, nil
	}
	if strings.ContainsAny(v, `/\`) {
		return Trust{CAFile: v}, nil
	}
	fp, err := inf.ParseFingerprint(v)
	if err != nil {
		return Trust{}, err
	}
	return Trust{Fingerprint: fp}, nil
}

// String describes the trust for messages: "pinned AB:CD:…", "CA file
// PATH" or "the system's CAs".
func (t Trust) String() string {
	switch {
	case t.Fingerprint != "":
		return "certificate pinned to " + t.Fingerprint
	case t.CAFile != "":
		return "CA file " + t.CAFile
	}
	return "the system's CAs"
}

// certError is a refused server certificate.
type certError struct {
	kind error // ErrPinMismatch or ErrUntrusted
	fp   string
	err  error
}

func (e *certError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%v: %v", e.kind, e.err)
	}
	return e.kind.Error()
}

func (e *certError) Unwrap() error { return e.err }

// tlsConfig returns the client's TLS settings: TLS 1.3 only, HTTP/1.1,
// and the certificate check that t asks for.
func (t Trust) tlsConfig(host string) (*tls.Config, error) {
	var roots *x509.CertPool
	if t.Fingerprint != "" && t.CAFile != "" {
		return nil, errors.New("give a certificate fingerprint or a CA file, not both")
	}
	if t.Fingerprint != "" {
		fp, err := inf.ParseFingerprint(t.Fingerprint)
		if err != nil {
			return nil, err
		}
		t.Fingerprint = fp
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", t.CAFile)
		}
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: host,
		NextProtos: []string{"http/1.1"},
		// The check is VerifyConnection's: a pin replaces the chain and
		// name check, and a refusal names the certificate presented.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return &certError{kind: ErrUntrusted, err: errors.New("no certificate presented")}
			}
			leaf := cs.PeerCertificates[0]
			fp := protocol.Fingerprint(leaf.Raw)
			if t.Fingerprint != "" {
				if fp != t.Fingerprint {
					return &certError{kind: ErrPinMismatch, fp: fp}
				}
				return nil
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host}); err != nil {
				return &certError{kind: ErrUntrusted, fp: fp, err: err}
			}
			return nil
		},
	}, nil
}
