// Package store is the image store: a collection of image groups, each a
// folder ROOT/Images/<Group> holding one res.rwm (a WIM with every file's
// data of the group's images, once) and one small metadata WIM per image,
// the way Windows Deployment Services keeps its image store. It adds,
// replaces, exports, verifies and enumerates images, and checks every
// access against the group's ACL and the image's read filter.
//
// # Groups and images
//
// Only first-level *.wim files of a group folder are images; res.rwm,
// group.json (the group's Settings) and subfolders are not. Group and
// image file names are checked (CheckGroupName, CheckImageFileName)
// before they touch a path and compare case-insensitively. The images of
// a group share one compression type: the first image (or `group add
// --compress`) sets it, later ones must match (*CompressionError).
//
// # Adding (and receiving uploads)
//
// Add takes an images.Reader, so a WIM in a file (images.Open) and one
// staged anywhere else (images.NewReader over any io.ReaderAt) go through
// one code path. The WIM may be a delta: the image's metadata and only
// the streams the group lacks (HasStreams answers which it has), its
// resources copied as they are; Add takes the rest from res.rwm and
// refuses (*MissingDataError, listing them) what is in neither. It checks
// the integrity table, parses the metadata, checks every stream it stores
// against its SHA-1 on the bytes it keeps (*DamagedError naming the file
// and the image's files), copies without recompressing, and publishes the
// image in one step. With AddOptions.Token set it also checks the group's
// write ACL (ErrAccessDenied). FreeSpace and the up-front check inside
// Add (*NoSpaceError) refuse a write the disk cannot hold.
//
// # Crash safety and concurrency
//
// New streams are appended to res.rwm past what its header names, the
// header is rewritten after a sync, and only then does the image's
// metadata WIM appear by rename: killed at any moment, a group is as it
// was before or after, and res.rwm keeps working for every image. Writers
// of one group exclude each other with an in-process lock and a flock on
// the group's .lock file, so the CLI and a server may run at once; two
// adds of one image name give one success and one ErrConflict. Readers
// take no lock. CrashEnv names a stage (CrashStages) at which a process
// kills itself, for crash tests of this package, the CLI and the server.
//
// # Principals
//
// ACLs hold principal names: DOMAIN\name users and groups as Token holds
// them (store/auth builds tokens from the users file and a directory).
// AuthenticatedUsers (NT AUTHORITY\Authenticated Users) and Everyone
// match every authenticated token; BUILTIN\Administrators, the default
// writer, is an ordinary group the authenticator puts in an
// administrator's token. A nil *Token is the store's administrator (the
// CLI), who is never checked.
//
// # Storage
//
// The files of the groups are kept by a Storage: LocalStorage (a folder
// per group) is the default; an object-storage backend implements the
// same few operations (atomic create, in-place append with a header
// rewrite, locks).
package store
