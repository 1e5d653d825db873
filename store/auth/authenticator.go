package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wdscapture/wdscapture/store"
)

// Authenticator checks who a user is and what groups they belong to.
// Implementations are safe for concurrent use.
//
// Errors a caller branches on: ErrUnknownUser (the backend has no such
// account: a Chain asks the next one), ErrBadPassword, ErrDisabled, and
// *UnavailableError (the backend cannot answer now: a directory that is
// down). The server reports the first three alike, so a client cannot
// probe which accounts exist.
type Authenticator interface {
	// Authenticate checks name's password and returns the user's token.
	// name is in any form ParseName accepts.
	Authenticate(ctx context.Context, name, password string) (store.Token, error)
	// Lookup returns the token name would get on login, without a
	// password, for an admin's `imagestore list --as`.
	Lookup(ctx context.Context, name string) (store.Token, error)
}

// GroupSource adds groups to a token that another backend built: the users
// file's groups may name directory principals.
type GroupSource interface {
	// ExpandGroups returns the groups (beyond tok's) that tok's user or
	// groups are members of.
	ExpandGroups(ctx context.Context, tok store.Token) ([]string, error)
}

// Errors of Authenticate and Lookup.
var (
	ErrUnknownUser = errors.New("unknown user")
	ErrBadPassword = errors.New("wrong password")
	ErrDisabled    = errors.New("account disabled")
)

// UnavailableError reports a backend that cannot answer (a directory
// server that is down); the server answers 503 rather than "wrong
// password".
type UnavailableError struct {
	Backend string
	Err     error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s is unavailable: %v", e.Backend, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// FileBackend authenticates against a users file. It rereads the file when
// it changes on disk, so `imagestore user` commands take effect on a
// running server.
type FileBackend struct {
	path string
	log  *slog.Logger

	mu    sync.Mutex
	users *Users
	stamp fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
	ino  uint64
}

// NewFileBackend opens the users file at path. A missing file is an empty
// one (nobody can log in until `imagestore user add`); a malformed or
// insecure file is an error.
func NewFileBackend(path string, log *slog.Logger) (*FileBackend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &FileBackend{path: path, log: log}
	if _, err := b.current(); err != nil {
		return nil, err
	}
	return b, nil
}

// Path returns the users file's path.
func (b *FileBackend) Path() string { return b.path }

// current returns the users file as it is now, reloading it when its
// stamp changed. A file that turned bad keeps the last good content (and
// is logged), so a half-edited file does not lock everybody out.
func (b *FileBackend) current() (*Users, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := os.Stat(b.path)
	if errors.Is(err, os.ErrNotExist) {
		b.users, b.stamp = &Users{}, fileStamp{}
		return b.users, nil
	}
	if err != nil {
		return nil, err
	}
	stamp := fileStamp{mod: st.ModTime(), size: st.Size(), ino: inode(st)}
	if b.users != nil && stamp == b.stamp {
		return b.users, nil
	}
	u, err := LoadUsers(b.path)
	if err != nil {
		if b.users != nil {
			b.log.Error("users file not reloaded, keeping the previous version", "err", err)
			return b.users, nil
		}
		return nil, err
	}
	b.users, b.stamp = u, stamp
	return u, nil
}

// Authenticate implements Authenticator.
func (b *FileBackend) Authenticate(ctx context.Context, name, password string) (store.Token, error) {
	u, err := b.current()
	if err != nil {
		return store.Token{}, &UnavailableError{Backend: "users file " + b.path, Err: err}
	}
	usr, err := u.Resolve(name)
	if err != nil {
		burnDummy(ctx, password)
		return store.Token{}, err
	}
	ok, err := VerifyPassword(ctx, usr.Hash, password)
	if err != nil {
		return store.Token{}, fmt.Errorf("check the password of %s: %w", usr.Name, err)
	}
	if !ok {
		return store.Token{}, fmt.Errorf("%w for %s", ErrBadPassword, usr.Name)
	}
	if usr.Disabled {
		return store.Token{}, fmt.Errorf("%w: %s", ErrDisabled, usr.Name)
	}
	return store.Token{User: usr.Name, Groups: u.GroupsOf(usr.Name)}, nil
}

// Lookup implements Authenticator.
func (b *FileBackend) Lookup(ctx context.Context, name string) (store.Token, error) {
	u, err := b.current()
	if err != nil {
		return store.Token{}, &UnavailableError{Backend: "users file " + b.path, Err: err}
	}
	usr, err := u.Resolve(name)
	if err != nil {
		return store.Token{}, err
	}
	if usr.Disabled {
		return store.Token{}, fmt.Errorf("%w: %s", ErrDisabled, usr.Name)
	}
	return store.Token{User: usr.Name, Groups: u.GroupsOf(usr.Name)}, nil
}

// ExpandGroups implements GroupSource.
func (b *FileBackend) ExpandGroups(ctx context.Context, tok store.Token) ([]string, error) {
	u, err := b.current()
	if err != nil {
		return nil, &UnavailableError{Backend: "users file " + b.path, Err: err}
	}
	return u.GroupsOf(append([]string{tok.User}, tok.Groups...)...), nil
}

// Chain asks its backends in order; the first that knows the user decides.
// A backend that answers ErrUnknownUser or is unavailable passes the name
// on; if none knows it and one was unavailable, the result is that
// *UnavailableError (not "unknown user": the account may well exist).
// Every token then gets the groups of Groups (the users file) and
// AuthenticatedUsers.
type Chain struct {
	Backends []Authenticator
	Groups   GroupSource
}

// Authenticate implements Authenticator.
func (c *Chain) Authenticate(ctx context.Context, name, password string) (store.Token, error) {
	if password == "" {
		// Directories treat an empty password as an anonymous bind.
		return store.Token{}, fmt.Errorf("%w: the password is empty", ErrBadPassword)
	}
	return c.run(ctx, func(a Authenticator) (store.Token, error) { return a.Authenticate(ctx, name, password) })
}

// Lookup implements Authenticator.
func (c *Chain) Lookup(ctx context.Context, name string) (store.Token, error) {
	return c.run(ctx, func(a Authenticator) (store.Token, error) { return a.Lookup(ctx, name) })
}

func (c *Chain) run(ctx context.Context, call func(Authenticator) (store.Token, error)) (store.Token, error) {
	var unavailable error
	for _, a := range c.Backends {
		tok, err := call(a)
		var ue *UnavailableError
		switch {
		case err == nil:
			return c.finish(ctx, tok)
		case errors.Is(err, ErrUnknownUser):
			continue
		case errors.As(err, &ue):
			if unavailable == nil {
				unavailable = err
			}
			continue
		default:
			return store.Token{}, err
		}
	}
	if unavailable != nil {
		return store.Token{}, unavailable
	}
	return store.Token{}, ErrUnknownUser
}

func (c *Chain) finish(ctx context.Context, tok store.Token) (store.Token, error) {
	if c.Groups != nil {
		more, err := c.Groups.ExpandGroups(ctx, tok)
		if err != nil {
			return store.Token{}, err
		}
		tok.Groups = appendNew(tok.Groups, more...)
	}
	tok.Groups = appendNew(tok.Groups, AuthenticatedUsers)
	return tok, nil
}

// appendNew appends the names not already in list (case-insensitively).
func appendNew(list []string, names ...string) []string {
	for _, n := range names {
		if !slices.ContainsFunc(list, func(o string) bool { return strings.EqualFold(o, n) }) {
			list = append(list, n)
		}
	}
	return list
}
