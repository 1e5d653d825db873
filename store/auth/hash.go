package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// HashParams are argon2id parameters.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultHashParams follow RFC 9106's second recommended option (64 MiB,
// three passes, four lanes): about a tenth of a second per check here.
var DefaultHashParams = HashParams{Memory: 64 << 10, Time: 3, Threads: 4}

// hashParams is what HashPassword uses; tests lower it.
var hashParams = DefaultHashParams

// Bounds on parameters read from a hash string, so that a damaged or
// hostile users file cannot make one check take gigabytes or minutes.
const (
	maxMemory  = 1 << 20 // 1 GiB
	maxTime    = 64
	saltLen    = 16
	keyLen     = 32
	maxKeyLen  = 128
	maxSaltLen = 64
	// MaxPasswordLen bounds passwords (bytes); longer ones are refused
	// before any hashing.
	MaxPasswordLen = 1024
)

// ErrHashFormat is wrapped by errors about a stored hash that cannot be
// parsed.
var ErrHashFormat = errors.New("malformed password hash")

// hashSlots bounds concurrent argon2 computations: each takes
// HashParams.Memory, and a burst of logins must not exhaust the server's
// memory.
var hashSlots = make(chan struct{}, 2)

// HashPassword returns the PHC-format argon2id hash of password with a
// fresh random salt: $argon2id$v=19$m=M,t=T,p=P$SALT$KEY.
func HashPassword(password string) (string, error) {
	return HashPasswordWith(password, hashParams)
}

// HashPasswordWith hashes with the given parameters. Tests use cheap ones
// for accounts they make by the dozen; the server checks any hash with the
// parameters stored in it.
func HashPasswordWith(password string, p HashParams) (string, error) {
	if password == "" {
		return "", errors.New("the password is empty")
	}
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("the password is longer than %d bytes", MaxPasswordLen)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("random salt: %w", err)
	}
	if p.Time < 1 || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory || p.Time > maxTime {
		return "", fmt.Errorf("argon2id parameters %+v out of range", p)
	}
	hashSlots <- struct{}{}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	<-hashSlots
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

type parsedHash struct {
	p         HashParams
	salt, key []byte
}

func parseHash(s string) (parsedHash, error) {
	bad := func(what string) (parsedHash, error) {
		return parsedHash{}, fmt.Errorf("%w: %s", ErrHashFormat, what)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("want $argon2id$v=19$m=..,t=..,p=..$salt$key")
	}
	if parts[1] != "argon2id" {
		return bad("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported argon2 version")
	}
	var h parsedHash
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return bad("parameter without '='")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("parameter " + k + " is not a number")
		}
		switch k {
		case "m":
			h.p.Memory = uint32(n)
		case "t":
			h.p.Time = uint32(n)
		case "p":
			if n > 255 {
				return bad("p over 255")
			}
			h.p.Threads = uint8(n)
		default:
			return bad("unknown parameter " + k)
		}
	}
	if h.p.Time < 1 || h.p.Time > maxTime || h.p.Threads < 1 || h.p.Memory < 8*uint32(h.p.Threads) || h.p.Memory > maxMemory {
		return bad("parameters out of range")
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 || len(h.salt) > maxSaltLen {
		return bad("bad salt")
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > maxKeyLen {
		return bad("bad key")
	}
	return h, nil
}

// CheckHash validates the syntax and parameters of a stored hash.
func CheckHash(s string) error {
	_, err := parseHash(s)
	return err
}

// VerifyPassword reports whether password matches the stored hash, in time
// independent of where they differ. It waits for a hashing slot, giving up
// when ctx ends.
func VerifyPassword(ctx context.Context, hash, password string) (bool, error) {
	h, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordLen {
		return false, nil
	}
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	key := argon2.IDKey([]byte(password), h.salt, h.p.Time, h.p.Memory, h.p.Threads, uint32(len(h.key)))
	<-hashSlots
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// dummyHash is checked against when a user does not exist, so that an
// unknown name takes as long as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("not a password anyone has")
	if err != nil {
		return ""
	}
	return h
})

// burnDummy spends the time of one password check.
func burnDummy(ctx context.Context, password string) {
	VerifyPassword(ctx, dummyHash(), password)
}
