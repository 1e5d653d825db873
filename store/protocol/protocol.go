// Package protocol is the wire contract between the image store server
// (imagestore serve) and its clients (the capture agent's upload client):
// paths, JSON bodies, error codes, the binary blob list of the dedup query
// and the tus upload metadata. store/PROTOCOL.md explains the exchange;
// this package is its single definition in code, and its decoders are
// what the server runs on untrusted input.
package protocol

import "time"

// Version is the protocol version in the paths (/api/v1/...).
const Version = 1

// Paths. {group} and {id} are path segments: a group name (escaped as a
// URL path segment) and an upload ID.
const (
	PathInfo     = "/api/v1/info"                  // GET: Info, no authentication
	PathLogin    = "/api/v1/login"                 // POST LoginRequest: LoginResponse
	PathLogout   = "/api/v1/logout"                // POST: 204
	PathGroups   = "/api/v1/groups"                // GET: GroupsResponse
	PathGroup    = "/api/v1/groups/{group}"        // GET: Group
	PathDedup    = "/api/v1/groups/{group}/dedup"  // POST blob list: bitmap
	PathImages   = "/api/v1/images"                // GET [?group=G]: ImagesResponse
	PathUploads  = "/api/v1/uploads/"              // tus 1.0 (creation, termination, defer-length)
	PathFinalize = "/api/v1/uploads/{id}/finalize" // POST [FinalizeRequest]: FinalizeResponse
)

// HeaderAuthorization carries "Bearer TOKEN" on every authenticated
// request.
const HeaderAuthorization = "Authorization"

// Response headers of the dedup query.
const (
	HeaderMissingCount = "Dedup-Missing-Count" // blobs the group lacks
	HeaderMissingBytes = "Dedup-Missing-Bytes" // their uncompressed bytes
)

// Limits the server enforces (and a client can plan by). Info reports the
// configurable ones.
const (
	MaxJSONBody     = 16 << 10 // login, finalize
	MaxHeaderBytes  = 64 << 10 // all request headers together
	MaxDedupBlobs   = 1 << 22  // blobs in one dedup query (4 Mi: 112 MiB of list)
	MaxMetadataLen  = 1 << 10  // one decoded Upload-Metadata value
	MaxImageNameLen = 256      // image NAME and file name, bytes
	MaxDescLen      = 1024     // image DESCRIPTION, bytes
)

// Info describes the server.
type Info struct {
	Server   string `json:"server"` // "imagestore"
	Protocol int    `json:"protocol"`
	// MaxUploadBytes bounds one upload's Upload-Length.
	MaxUploadBytes int64 `json:"max_upload_bytes"`
	MaxDedupBlobs  int   `json:"max_dedup_blobs"`
	// UploadExpirySeconds is how long a staged upload that sees no
	// request is kept.
	UploadExpirySeconds int64 `json:"upload_expiry_seconds"`
}

// LoginRequest is the body of POST /api/v1/login. User is DOMAIN\user,
// user@domain or a bare user name.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// LoginResponse gives a session token to send as "Authorization: Bearer
// TOKEN". The session ends after IdleSeconds without a request, at
// ExpiresAt at the latest, or at logout; then requests answer 401 and the
// client logs in again.
type LoginResponse struct {
	Token       string    `json:"token"`
	User        string    `json:"user"`   // DOMAIN\user, as the store knows the account
	Groups      []string  `json:"groups"` // the groups the store checks ACLs against
	IdleSeconds int64     `json:"idle_seconds"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// Group is an image group as a user sees it.
type Group struct {
	Name string `json:"name"`
	// Compression is "none", "XPRESS" or "LZX": every image added must
	// have it. "" means the group has none yet (its first image sets it).
	Compression string `json:"compression"`
	// MayWrite reports whether the user may add images.
	MayWrite bool `json:"may_write"`
	// Images counts the images the user sees.
	Images int `json:"images"`
	// FreeBytes is the space an upload may use (the disk's free space less
	// the server's reserve). An upload needs about twice its size while it
	// is staged and published.
	FreeBytes uint64 `json:"free_bytes"`
}

// GroupsResponse lists the groups the user may read or write.
type GroupsResponse struct {
	Groups []Group `json:"groups"`
}

// Image is one image as enumeration returns it (the WIM metadata of issue
// 15's enumeration, its group and file name, and its ACL).
type Image struct {
	Group            string    `json:"group"`
	FileName         string    `json:"file_name"`
	Index            int       `json:"index"`
	Name             string    `json:"name"`
	Description      string    `json:"description,omitempty"`
	Architecture     string    `json:"architecture,omitempty"`
	HAL              string    `json:"hal,omitempty"`
	ProductName      string    `json:"product_name,omitempty"`
	EditionID        string    `json:"edition_id,omitempty"`
	InstallationType string    `json:"installation_type,omitempty"`
	ProductType      string    `json:"product_type,omitempty"`
	Version          string    `json:"version,omitempty"`
	Languages        []string  `json:"languages,omitempty"`
	DefaultLanguage  string    `json:"default_language,omitempty"`
	Compression      string    `json:"compression,omitempty"`
	TotalBytes       uint64    `json:"total_bytes"`
	FileCount        uint64    `json:"file_count"`
	DirCount         uint64    `json:"dir_count"`
	MetadataBytes    int64     `json:"metadata_bytes"`
	Created          time.Time `json:"created,omitzero"`
	Modified         time.Time `json:"modified,omitzero"`
	Added            time.Time `json:"added"`
	GroupRead        []string  `json:"group_read"`
	GroupWrite       []string  `json:"group_write"`
	ReadFilter       []string  `json:"read_filter,omitempty"`
}

// ImagesResponse lists the images the user may see.
type ImagesResponse struct {
	Images []Image `json:"images"`
}

// Upload metadata keys (tus Upload-Metadata, values base64 as tus says).
const (
	MetaGroup       = "group"       // required: the image group
	MetaName        = "name"        // required: the image NAME in the group
	MetaFile        = "file"        // optional: the metadata WIM's file name (default from the name)
	MetaDescription = "description" // optional: DESCRIPTION
	// MetaCompression is optional: the upload's compression type (none,
	// XPRESS, LZX). When given, an upload to a group of another type is
	// refused at creation instead of at finalize.
	MetaCompression = "compression"
)

// FinalizeRequest optionally changes the name, file name or description
// given at creation (after a name clash, say). An empty body keeps them.
type FinalizeRequest struct {
	Name        string `json:"name,omitempty"`
	File        string `json:"file,omitempty"`
	Description string `json:"description,omitempty"`
}

// Upload states.
const (
	StateReceiving  = "receiving"  // not all bytes received
	StateComplete   = "complete"   // all bytes received, not finalized (or a retryable finalize failed)
	StateFinalizing = "finalizing" // being verified and published
	StatePublished  = "published"  // in the group, verified
	StateFailed     = "failed"     // refused for good; the staged data is gone
)

// FinalizeResponse is the state of a finalize. 200 with StatePublished or
// StateFailed is final; 202 with StateFinalizing means ask again (the same
// POST; it is idempotent) after Retry-After seconds.
type FinalizeResponse struct {
	State string `json:"state"`
	Group string `json:"group,omitempty"`
	// Image is the published image, as enumeration shows it.
	Image *Image `json:"image,omitempty"`
	// NewStreams and NewBytes count what this image added to res.rwm;
	// SharedStreams the streams the group had already.
	NewStreams    int    `json:"new_streams"`
	SharedStreams int    `json:"shared_streams"`
	NewBytes      uint64 `json:"new_bytes"`
	// Error says why a finalize failed (State failed, or complete after a
	// retryable failure).
	Error *Error `json:"error,omitempty"`
}

// Error is the body of every error response (Content-Type
// application/json).
type Error struct {
	Code    string `json:"code"`
	Message string `json:"error"`
	// RetryAfterSeconds repeats the Retry-After header of 429 and 503.
	RetryAfterSeconds int `json:"retry_after_seconds,omitempty"`
	// Missing lists the SHA-1s (hex) of the data neither the upload nor
	// the group has (CodeMissingData).
	Missing []string `json:"missing,omitempty"`
	// Compression is the group's type (CodeCompression).
	Compression string `json:"compression,omitempty"`
	// Need and Free are bytes (CodeNoSpace).
	Need uint64 `json:"need,omitempty"`
	Free uint64 `json:"free,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Error codes. A client branches on Code, never on Message.
const (
	CodeBadRequest   = "bad-request"          // 400: malformed request
	CodeUnauthorized = "unauthorized"         // 401: wrong user or password, or no valid session
	CodeThrottled    = "throttled"            // 429: too many failed logins; wait Retry-After
	CodeForbidden    = "forbidden"            // 403: the ACL does not allow it
	CodeNotFound     = "not-found"            // 404: no such group, image or upload (or not visible)
	CodeConflict     = "name-exists"          // 409: the group has an image of that name or file name
	CodeOffset       = "offset-mismatch"      // 409: tus offset does not match (HEAD, then resume)
	CodeIncomplete   = "incomplete"           // 409: finalize before all bytes arrived
	CodeCompression  = "compression-mismatch" // 409: the image's compression is not the group's
	CodeDamaged      = "damaged"              // 422: data fails verification; the message names the files
	CodeMissingData  = "missing-data"         // 422: data in neither the upload nor the group: redo the dedup query
	CodeInvalidWIM   = "invalid-wim"          // 422: the upload is not a WIM with one image
	CodeTooLarge     = "too-large"            // 413/431: body or header over the limit
	CodeNoSpace      = "no-space"             // 507: not enough free space
	CodeTooMany      = "too-many-uploads"     // 429: the user has too many unfinished uploads
	CodeUnavailable  = "unavailable"          // 503: a directory server or the store cannot answer now
	CodeShuttingDown = "shutting-down"        // 503: the server is stopping; retry
	CodeInternal     = "internal"             // 500
)
