package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
	"time"

	"github.com/wdscapture/wdscapture/store"
)

// Sessions are kept in memory only: a restart logs everybody out, and
// clients log in again (they keep the password for the run). The map is
// keyed by the SHA-256 of the token, so not even a memory dump of the
// server yields a usable token.
type sessions struct {
	idle, max time.Duration
	perUser   int
	limit     int

	mu   sync.Mutex
	byID map[[32]byte]*session
}

type session struct {
	tok       store.Token
	created   time.Time
	lastUsed  time.Time
	refreshed time.Time // when tok's groups were last looked up
}

func newSessions(idle, max time.Duration) *sessions {
	return &sessions{idle: idle, max: max, perUser: 32, limit: 100000, byID: map[[32]byte]*session{}}
}

// create starts a session for tok and returns its token and end time.
func (s *sessions) create(tok store.Token) (string, time.Time, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", time.Time{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	// A user who logs in again and again (a script in a loop) keeps at
	// most perUser sessions: the oldest go.
	var oldest *[32]byte
	n := 0
	for id, se := range s.byID {
		if strings.EqualFold(se.tok.User, tok.User) {
			n++
			if oldest == nil || se.created.Before(s.byID[*oldest].created) {
				id := id
				oldest = &id
			}
		}
	}
	if n >= s.perUser && oldest != nil {
		delete(s.byID, *oldest)
	}
	if len(s.byID) >= s.limit {
		return "", time.Time{}, errTooManySessions
	}
	s.byID[sha256.Sum256([]byte(token))] = &session{tok: tok, created: now, lastUsed: now, refreshed: now}
	return token, now.Add(s.max), nil
}

// get returns the token of a live session and marks it used; stale
// reports that its groups were looked up longer than refresh ago (the
// caller refreshes them).
func (s *sessions) get(token string, refresh time.Duration) (tok store.Token, stale, ok bool) {
	if len(token) != 43 {
		return store.Token{}, false, false
	}
	id := sha256.Sum256([]byte(token))
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.byID[id]
	if !ok {
		return store.Token{}, false, false
	}
	if now.Sub(se.lastUsed) > s.idle || now.Sub(se.created) > s.max {
		delete(s.byID, id)
		return store.Token{}, false, false
	}
	se.lastUsed = now
	return se.tok, refresh > 0 && now.Sub(se.refreshed) > refresh, true
}

// update replaces a session's token after a refresh.
func (s *sessions) update(token string, tok store.Token) {
	id := sha256.Sum256([]byte(token))
	s.mu.Lock()
	if se, ok := s.byID[id]; ok {
		se.tok, se.refreshed = tok, time.Now()
	}
	s.mu.Unlock()
}

// endUser ends every session of user.
func (s *sessions) endUser(user string) {
	s.mu.Lock()
	for id, se := range s.byID {
		if strings.EqualFold(se.tok.User, user) {
			delete(s.byID, id)
		}
	}
	s.mu.Unlock()
}

// end ends a session.
func (s *sessions) end(token string) {
	id := sha256.Sum256([]byte(token))
	s.mu.Lock()
	delete(s.byID, id)
	s.mu.Unlock()
}

func (s *sessions) expire() {
	s.mu.Lock()
	s.expireLocked(time.Now())
	s.mu.Unlock()
}

func (s *sessions) expireLocked(now time.Time) {
	for id, se := range s.byID {
		if now.Sub(se.lastUsed) > s.idle || now.Sub(se.created) > s.max {
			delete(s.byID, id)
		}
	}
}
