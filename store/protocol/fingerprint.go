package protocol

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Fingerprint returns the SHA-256 of a certificate's DER bytes as
// colon-separated upper-case hex ("3F:A2:...:9C"), the form `openssl x509
// -fingerprint -sha256` and `imagestore cert` print and a client pins.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}
