// Package upload is the client of the image store protocol
// (store/PROTOCOL.md): it connects over TLS 1.3 to `imagestore serve`,
// trusting the server's certificate by its pinned SHA-256 fingerprint or a
// CA file, logs in (the password stays in memory, to log in again when a
// session ends or the server restarts), runs the pre-flight checks a
// capture needs before it starts (the group exists, the user may write it,
// the image name is free, its compression type, room on the server), lists
// groups and images, and uploads an image of a local WIM: the dedup query,
// then only the data the group lacks, as the deterministic "delta WIM"
// (images.Reader.PlanDelta) sent with tus 1.0 resumable semantics, then
// the finalize that returns once the server has verified and published
// the image.
//
// Resuming: after a dropped connection, a 5xx or a server restart the
// client asks the server's offset (HEAD, logging in again after a 401) and
// continues from there; a 423 (a dead connection still holding the upload)
// is waited out; Config.Retries failures in a row, with exponential
// backoff, end the upload (the count starts again whenever data moves).
// Finalize is idempotent and repeated after a lost answer. A refusal the
// server says sending again may fix (data the group lost meanwhile, data
// damaged on the way) makes one more pass from the dedup query.
//
// Errors are *Error values whose Kind (ErrAuth, ErrUnknownGroup,
// ErrForbidden, ErrNameExists, ErrCompression, ErrNoSpace, ErrUnreachable,
// ErrPinMismatch, ErrUntrusted, ...) callers branch on with errors.Is.
//
// Why an own tus client and not github.com/bdragon300/tusgo (v0.1.x, the
// maintained Go client): the client part of tus that this protocol uses is
// four requests (POST, HEAD, PATCH, DELETE) and about 150 lines here,
// while tusgo models an upload as a sequential io.Writer with its own
// buffering and retry loop, so the session re-login on 401, the
// server-specific answers (423 waits, 507, the JSON errors) and sending
// any range of a deterministic io.ReaderAt would still have to be written
// around it; and the Go module proxy this project builds from does not
// serve it.
package upload
