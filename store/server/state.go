package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wdscapture/wdscapture/internal/atomicfile"
	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// uploadState is the server's record of a finalize (ID.state): written
// before store.Add starts (finalizing, with everything needed to run it
// again after a crash) and when it ends for good (published or failed,
// with the answer the client gets). No state file means the upload is
// still receiving or complete.
type uploadState struct {
	State       string                     `json:"state"`
	Owner       string                     `json:"owner"`
	User        string                     `json:"user"`
	Groups      []string                   `json:"groups"`
	Group       string                     `json:"group"`
	Name        string                     `json:"name"`
	File        string                     `json:"file"`
	Description string                     `json:"description,omitempty"`
	Status      int                        `json:"status,omitempty"`
	Result      *protocol.FinalizeResponse `json:"result,omitempty"`
	Updated     time.Time                  `json:"updated"`
}

func (st *uploadState) token() store.Token { return store.Token{User: st.User, Groups: st.Groups} }

func (s *Server) statePath(id string) string { return filepath.Join(s.uploads.dir, id+".state") }

// readState returns the state of upload id, nil when it has none.
func (s *Server) readState(id string) (*uploadState, error) {
	data, err := os.ReadFile(s.statePath(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st uploadState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", s.statePath(id), err)
	}
	return &st, nil
}

func (s *Server) writeState(id string, st *uploadState) error {
	st.Updated = time.Now().UTC()
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicfile.Write(s.statePath(id), data, 0o600)
}

// removeStaged deletes an upload's bytes and tusd's record of it.
func (s *Server) removeStaged(id string) {
	os.Remove(filepath.Join(s.uploads.dir, id))
	os.Remove(filepath.Join(s.uploads.dir, id+".info"))
}

// expireUploads removes staged uploads that saw no data for
// UploadExpiry, the staged bytes of finished ones, the records of
// finished ones older than UploadExpiry, and stray temporary files.
// Finalizes in progress are left alone.
func (s *Server) expireUploads() {
	u := s.uploads
	ents, err := os.ReadDir(u.dir)
	if err != nil {
		s.log.Error("expire uploads", "err", err)
		return
	}
	now := time.Now()
	expiry := s.cfg.UploadExpiry.D()
	last := map[string]time.Time{}
	for _, e := range ents {
		name := e.Name()
		fi, err := e.Info()
		if err != nil {
			continue
		}
		id := strings.TrimSuffix(strings.TrimSuffix(name, ".info"), ".state")
		if !validID.MatchString(id) {
			if now.Sub(fi.ModTime()) > expiry && fi.Mode().IsRegular() {
				os.Remove(filepath.Join(u.dir, name))
			}
			continue
		}
		if !strings.HasSuffix(name, ".state") && fi.ModTime().After(last[id]) {
			last[id] = fi.ModTime()
		} else if _, ok := last[id]; !ok {
			last[id] = time.Time{}
		}
	}
	for id, t := range last {
		u.mu.Lock()
		_, running := u.jobs[id]
		u.mu.Unlock()
		if running {
			continue
		}
		st, err := s.readState(id)
		if err != nil {
			s.log.Error("unreadable upload state", "id", id, "err", err)
		}
		switch {
		case st != nil && st.State == protocol.StateFinalizing:
			// Resumed at start; never expired.
		case st != nil:
			s.removeStaged(id)
			if now.Sub(st.Updated) > expiry {
				os.Remove(s.statePath(id))
			}
		case !t.IsZero() && now.Sub(t) > expiry:
			s.removeStaged(id)
			os.Remove(s.statePath(id))
			s.log.Info("abandoned upload expired", "id", id, "idle", now.Sub(t).Round(time.Second))
		}
	}
}
