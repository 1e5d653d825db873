// Package authconfig builds the image store's authenticator from its
// configuration: the users file (ROOT/Server/users) always, and a
// directory (package ldapauth) when the server's configuration file has a
// "directory" section. `imagestore serve` and the admin commands that
// need tokens (`imagestore list --as`, `imagestore token`) build it the
// same way, so an admin sees what the server would decide.
package authconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/wdscapture/wdscapture/store/auth"
	"github.com/wdscapture/wdscapture/store/auth/ldapauth"
)

// DirectoryKey is the key of the directory section in the server's
// configuration file.
const DirectoryKey = "directory"

// ConfigPath returns the server's configuration file of the store at
// root: ROOT/Server/serve.json.
func ConfigPath(root string) string { return filepath.Join(root, auth.ServerDir, "serve.json") }

// maxConfigSize bounds the configuration file read.
const maxConfigSize = 1 << 20

// LoadDirectory reads the directory section of the configuration file at
// path (a JSON object; its other keys are the server's and are not
// checked here). It returns nil when the file has no directory section,
// or when it does not exist and optional is set.
func LoadDirectory(path string, optional bool) (*ldapauth.Config, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && optional {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxConfigSize)
	}
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the configuration object", path)
	}
	raw, ok := top[DirectoryKey]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	cfg, err := ldapauth.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &cfg, nil
}

// Auth is the store's authenticator: the directory first (when there is
// one), then the users file; every token gets the users file's groups
// (which may name directory users and groups) and Authenticated Users.
//
// The directory comes first because the users file spends an argon2 hash
// on every name it does not know (so that timing does not tell which
// accounts exist): asked first, it would do so on every directory login.
// A name of another domain costs the directory nothing, and a bare name
// that both know is the directory's: DOMAIN\name is never ambiguous.
type Auth struct {
	auth.Chain
	Users     *auth.FileBackend
	Directory *ldapauth.Backend // nil without a directory
}

// Open builds the authenticator of the store at root; dir is the
// directory section of the configuration (nil for none). It reads the
// users file, the directory's CA and the service account's password, but
// does not connect: a directory that is down fails the logins of its
// users with *auth.UnavailableError until it is back.
func Open(root string, dir *ldapauth.Config, log *slog.Logger) (*Auth, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	users, err := auth.NewFileBackend(auth.UsersPath(root), log)
	if err != nil {
		return nil, err
	}
	a := &Auth{Users: users}
	if dir != nil {
		if a.Directory, err = ldapauth.Open(*dir, log); err != nil {
			return nil, err
		}
		a.Backends = append(a.Backends, a.Directory)
		log.Info("directory configured", "domain", a.Directory.Domain(), "urls", dir.URLs, "base_dn", dir.BaseDN,
			"kind", kindOf(dir), "service_account", dir.BindDN != "")
	}
	a.Backends = append(a.Backends, users)
	a.Groups = users
	return a, nil
}

func kindOf(c *ldapauth.Config) string {
	if c.Kind == "" {
		return ldapauth.KindAD
	}
	return c.Kind
}

// Close closes the directory's connections.
func (a *Auth) Close() error {
	if a.Directory != nil {
		return a.Directory.Close()
	}
	return nil
}

// OpenStore is Open with the directory section of the store's own
// configuration file (ConfigPath(root), if it exists).
func OpenStore(root string, log *slog.Logger) (*Auth, error) {
	dir, err := LoadDirectory(ConfigPath(root), true)
	if err != nil {
		return nil, err
	}
	return Open(root, dir, log)
}
