package inf

import (
	"fmt"
	"log/slog"
)

// redacted is what a non-empty Secret shows in every textual form.
const redacted = "[REDACTED]"

// Secret holds a password. Every way of printing, logging or marshalling it
// (fmt with any verb, String, GoString, MarshalText and so JSON, slog) shows
// "[REDACTED]" when it is set and "" when it is empty; only Reveal returns
// the value.
type Secret struct {
	v string
}

// NewSecret wraps a password.
func NewSecret(password string) Secret { return Secret{v: password} }

// Reveal returns the password. Call it only where the password is sent to the
// server, never to build a message.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the password is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String returns "[REDACTED]", or "" for an empty password.
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return redacted
}

// GoString is used by %#v.
func (s Secret) GoString() string { return fmt.Sprintf("inf.Secret(%q)", s.String()) }

// Format implements fmt.Formatter so that no verb (%d, %x, %+v ...) can reach
// the underlying string.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(s.GoString()))
		return
	}
	_, _ = f.Write([]byte(s.String()))
}

// MarshalText implements encoding.TextMarshaler (and so JSON) with the
// redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue implements slog.LogValuer with the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
