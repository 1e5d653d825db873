package upload

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wdscapture/wdscapture/store/protocol"
)

// The kinds of failure a caller branches on, with errors.Is: every error
// the Client returns is an *Error whose Kind is one of these.
var (
	// ErrUnreachable: no connection to the server (name not resolved,
	// refused, timed out, no TLS answer), or it answered as something
	// other than an image store.
	ErrUnreachable = errors.New("the image store cannot be reached")
	// ErrPinMismatch: the server's certificate is not the pinned one.
	ErrPinMismatch = errors.New("the server's certificate does not match the pinned fingerprint")
	// ErrUntrusted: the server's certificate is not issued by a trusted
	// CA (the CA file's, or the system's when nothing is configured), or
	// not for the server's name.
	ErrUntrusted = errors.New("the server's certificate is not trusted")
	// ErrAuth: wrong user name or password (or a disabled account).
	ErrAuth = errors.New("wrong user name or password")
	// ErrThrottled: too many failed logins; the server bars the name for
	// a while (Error.RetryAfter).
	ErrThrottled = errors.New("too many failed logins")
	// ErrUnknownGroup: no such image group, or the user may not see it.
	ErrUnknownGroup = errors.New("no such image group")
	// ErrForbidden: the user may not add images to the group.
	ErrForbidden = errors.New("not allowed to add images to the group")
	// ErrNameExists: the group has an image of that name or file name.
	ErrNameExists = errors.New("an image of that name exists in the group")
	// ErrCompression: the image's compression is not the group's.
	ErrCompression = errors.New("the image's compression is not the group's")
	// ErrNoSpace: the server has not enough free space.
	ErrNoSpace = errors.New("not enough free space on the server")
	// ErrTooManyUploads: the user has too many unfinished uploads.
	ErrTooManyUploads = errors.New("too many unfinished uploads")
	// ErrRejected: the server verified the upload and refused it (data
	// damaged on the way, not a valid image), also after sending it again.
	ErrRejected = errors.New("the server refused the image")
	// ErrServer: the server failed (5xx, an answer that breaks the
	// protocol) more often than the retries allow.
	ErrServer = errors.New("the image store failed")
	// ErrLocal: the local WIM cannot be read or has no such image.
	ErrLocal = errors.New("the local image cannot be read")
)

// Error is a failed operation of the Client.
type Error struct {
	// Kind is one of the Err* values above.
	Kind error
	// Op says what was being done: "log in", "read image group Win11".
	Op string
	// Server is the server's address as given.
	Server string
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	// API is the server's error answer, when it sent one.
	API *protocol.Error
	// Fingerprint is the SHA-256 fingerprint of the certificate the
	// server presented (ErrPinMismatch, ErrUntrusted).
	Fingerprint string
	// GroupCompression is the group's compression type (ErrCompression).
	GroupCompression string
	// Err is the underlying cause, nil when none.
	Err error
}

// Error says what failed, where and why, in one line.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
	}
	if e.Server != "" {
		fmt.Fprintf(&b, " (%s)", e.Server)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	switch {
	case e.API != nil && e.API.Message != "":
		b.WriteString(e.API.Message)
	case e.Err != nil:
		fmt.Fprintf(&b, "%v: %v", e.Kind, e.Err)
	default:
		fmt.Fprint(&b, e.Kind)
	}
	if e.Fingerprint != "" {
		fmt.Fprintf(&b, " (it presented SHA-256 fingerprint %s)", e.Fingerprint)
	}
	return b.String()
}

// Unwrap returns the kind and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	out := []error{e.Kind}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// kindOfAPI maps a server error answer to a kind.
func kindOfAPI(status int, api *protocol.Error) error {
	code := ""
	if api != nil {
		code = api.Code
	}
	switch code {
	case protocol.CodeUnauthorized:
		return ErrAuth
	case protocol.CodeThrottled:
		return ErrThrottled
	case protocol.CodeForbidden:
		return ErrForbidden
	case protocol.CodeNotFound:
		return ErrUnknownGroup
	case protocol.CodeConflict:
		return ErrNameExists
	case protocol.CodeCompression:
		return ErrCompression
	case protocol.CodeNoSpace:
		return ErrNoSpace
	case protocol.CodeTooMany:
		return ErrTooManyUploads
	case protocol.CodeDamaged, protocol.CodeInvalidWIM, protocol.CodeMissingData:
		return ErrRejected
	}
	switch status {
	case 401:
		return ErrAuth
	case 403:
		return ErrForbidden
	case 404:
		return ErrUnknownGroup
	case 507:
		return ErrNoSpace
	}
	return ErrServer
}
