package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/wdscapture/wdscapture/internal/jsondur"
	"github.com/wdscapture/wdscapture/store/auth/authconfig"
	"github.com/wdscapture/wdscapture/store/auth/ldapauth"
)

// Config is the server's configuration: flags of imagestore serve and,
// optionally, a JSON file (ROOT/Server/serve.json or --config).
type Config struct {
	// Root is the store root (ROOT/Images holds the groups).
	Root string `json:"-"`
	// Listen is the address to listen on, host:port.
	Listen string `json:"listen,omitempty"`
	// TLSCert and TLSKey are PEM files of a CA-issued certificate and its
	// key. Empty: a self-signed certificate kept in ROOT/Server/tls.
	TLSCert string `json:"tls_cert,omitempty"`
	TLSKey  string `json:"tls_key,omitempty"`
	// TLSHosts are extra DNS names and IP addresses for the self-signed
	// certificate (the host name, localhost and loopback are always in).
	TLSHosts []string `json:"tls_hosts,omitempty"`
	// SessionIdle ends a session after this long without a request;
	// SessionMax at the latest this long after the login.
	SessionIdle Duration `json:"session_idle,omitzero"`
	SessionMax  Duration `json:"session_max,omitzero"`
	// LoginFreeFailures is how many failed logins a user name (or
	// LoginFreeFailuresAddr an address) may have before further attempts
	// are delayed: LoginDelay after the next failure, doubling up to
	// LoginMaxDelay. Failures are forgotten after LoginForget.
	LoginFreeFailures     int      `json:"login_free_failures,omitempty"`
	LoginFreeFailuresAddr int      `json:"login_free_failures_addr,omitempty"`
	LoginDelay            Duration `json:"login_delay,omitzero"`
	LoginMaxDelay         Duration `json:"login_max_delay,omitzero"`
	LoginForget           Duration `json:"login_forget,omitzero"`
	// UploadExpiry removes a staged upload that saw no request for this
	// long (and the record of a finished one).
	UploadExpiry Duration `json:"upload_expiry,omitzero"`
	// MaxUploadBytes bounds one upload.
	MaxUploadBytes int64 `json:"max_upload_bytes,omitempty"`
	// MaxUploadsPerUser and MaxUploads bound unfinished uploads.
	MaxUploadsPerUser int `json:"max_uploads_per_user,omitempty"`
	MaxUploads        int `json:"max_uploads,omitempty"`
	// ReserveBytes is free space no upload may take (for the system and
	// res.rwm's tables).
	ReserveBytes int64 `json:"reserve_bytes,omitempty"`
	// FinalizeWorkers bounds finalizes that run at once (each reads and
	// hashes the whole upload).
	FinalizeWorkers int `json:"finalize_workers,omitempty"`
	// FinalizeWait is how long POST finalize waits for the result before
	// answering 202 (ask again).
	FinalizeWait Duration `json:"finalize_wait,omitzero"`
	// MaxConnections bounds the client connections open at once.
	MaxConnections int `json:"max_connections,omitempty"`
	// LogFormat is "text" or "json".
	LogFormat string `json:"log_format,omitempty"`
	// Directory, when set, authenticates domain accounts against Active
	// Directory or an LDAP server (package store/auth/ldapauth); the
	// users file keeps working beside it (package authconfig).
	Directory *ldapauth.Config `json:"directory,omitempty"`
	// TokenRefresh is how often a session's groups are looked up again
	// (a user removed from a group, disabled or deleted loses access
	// within this time, not at the end of the session).
	TokenRefresh Duration `json:"token_refresh,omitzero"`
}

// Duration is a time.Duration written as "30m" in JSON.
type Duration = jsondur.Duration

// DefaultConfig returns the defaults every unset field takes.
func DefaultConfig() Config {
	return Config{
		Listen:                ":8443",
		SessionIdle:           Duration(30 * time.Minute),
		SessionMax:            Duration(12 * time.Hour),
		LoginFreeFailures:     5,
		LoginFreeFailuresAddr: 20,
		LoginDelay:            Duration(time.Second),
		LoginMaxDelay:         Duration(5 * time.Minute),
		LoginForget:           Duration(15 * time.Minute),
		UploadExpiry:          Duration(24 * time.Hour),
		MaxUploadBytes:        1 << 40,
		MaxUploadsPerUser:     4,
		MaxUploads:            64,
		ReserveBytes:          1 << 30,
		FinalizeWorkers:       2,
		FinalizeWait:          Duration(20 * time.Second),
		TokenRefresh:          Duration(2 * time.Minute),
		MaxConnections:        256,
		LogFormat:             "text",
	}
}

// ConfigPath returns the default config file of the store at root,
// ROOT/Server/serve.json.
func ConfigPath(root string) string { return authconfig.ConfigPath(root) }

// LoadConfig reads a JSON config file over the defaults. A missing file
// at the default path is no error when optional is set.
func LoadConfig(path string, optional bool) (Config, error) {
	cfg := DefaultConfig()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && optional {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return cfg, fmt.Errorf("read %s: %w", path, err)
	}
	if err := parseConfig(data, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func parseConfig(data []byte, cfg *Config) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the configuration object")
	}
	return cfg.validate()
}

func (c *Config) validate() error {
	switch {
	case c.Listen == "":
		return errors.New("listen: empty address")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("tls_cert and tls_key go together")
	case c.SessionIdle <= 0 || c.SessionMax <= 0:
		return errors.New("session_idle and session_max must be positive")
	case c.LoginFreeFailures < 1 || c.LoginFreeFailuresAddr < 1:
		return errors.New("login_free_failures and login_free_failures_addr must be at least 1")
	case c.LoginDelay <= 0 || c.LoginMaxDelay < c.LoginDelay || c.LoginForget <= 0:
		return errors.New("login_delay must be positive, login_max_delay at least login_delay, login_forget positive")
	case c.UploadExpiry <= 0:
		return errors.New("upload_expiry must be positive")
	case c.MaxUploadBytes <= 0:
		return errors.New("max_upload_bytes must be positive")
	case c.MaxUploadsPerUser < 1 || c.MaxUploads < c.MaxUploadsPerUser:
		return errors.New("max_uploads_per_user must be at least 1 and max_uploads at least that")
	case c.ReserveBytes < 0:
		return errors.New("reserve_bytes must not be negative")
	case c.FinalizeWorkers < 1:
		return errors.New("finalize_workers must be at least 1")
	case c.FinalizeWait <= 0:
		return errors.New("finalize_wait must be positive")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("log_format %q: want text or json", c.LogFormat)
	case c.MaxConnections < 4:
		return errors.New("max_connections must be at least 4")
	case c.TokenRefresh <= 0:
		return errors.New("token_refresh must be positive")
	}
	if c.Directory != nil {
		return c.Directory.Check()
	}
	return nil
}
