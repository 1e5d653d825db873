package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
)

// DigestsFile is the name of a group's record of its streams' stored
// bytes: for each stream res.rwm holds, the SHA-256 of its resource as it
// was when its data was checked against its SHA-1 (on add, or optimize).
// Export and optimize compare the bytes they copy with it instead of
// decompressing every stream (which costs several times the copy); a
// stream without a record, or whose bytes differ from it, gets the full
// check. The record is only ever a shortcut: a lost, damaged or stale file
// costs time, never correctness. imagestore verify always checks the
// data itself.
const DigestsFile = "res.digests"

// digestsMagic starts a digests file (format version 1).
var digestsMagic = []byte("WDSDIG1\n")

// digestRecord is one record: stream SHA-1, stored size, SHA-256 of the
// stored bytes.
const digestRecord = 20 + 8 + 32

// maxDigestsSize bounds the file (millions of streams).
const maxDigestsSize = 1 << 30

type digestKey struct {
	hash   [20]byte
	stored uint64
}

// digests maps a stored stream to the SHA-256 of its resource.
type digests map[digestKey][32]byte

// errDigests is wrapped by errors about a malformed digests file.
var errDigests = errors.New("malformed stream digests file")

// parseDigests decodes a digests file.
func parseDigests(data []byte) (digests, error) {
	if !bytes.HasPrefix(data, digestsMagic) {
		return nil, fmt.Errorf("%w: it does not start with %q", errDigests, digestsMagic)
	}
	body := data[len(digestsMagic):]
	if len(body)%digestRecord != 0 {
		return nil, fmt.Errorf("%w: %d bytes of records is not a multiple of %d", errDigests, len(body), digestRecord)
	}
	d := make(digests, len(body)/digestRecord)
	for i := 0; i < len(body); i += digestRecord {
		var k digestKey
		copy(k.hash[:], body[i:])
		k.stored = binary.LittleEndian.Uint64(body[i+20:])
		var v [32]byte
		copy(v[:], body[i+28:])
		d[k] = v
	}
	return d, nil
}

// marshal encodes d, records sorted, so equal sets give equal files.
func (d digests) marshal() []byte {
	keys := make([]digestKey, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c := bytes.Compare(keys[i].hash[:], keys[j].hash[:]); c != 0 {
			return c < 0
		}
		return keys[i].stored < keys[j].stored
	})
	out := make([]byte, len(digestsMagic), len(digestsMagic)+len(keys)*digestRecord)
	copy(out, digestsMagic)
	var rec [digestRecord]byte
	for _, k := range keys {
		v := d[k]
		copy(rec[:], k.hash[:])
		binary.LittleEndian.PutUint64(rec[20:], k.stored)
		copy(rec[28:], v[:])
		out = append(out, rec[:]...)
	}
	return out
}

func (d digests) known(hash [20]byte, stored uint64) ([32]byte, bool) {
	v, ok := d[digestKey{hash, stored}]
	return v, ok
}

// loadDigests reads a group's digests; a missing or damaged file is an
// empty record (the checks then decompress), logged when damaged.
func (s *Store) loadDigests(g string) digests {
	f, err := s.st.Open(g, DigestsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return digests{}
	}
	if err == nil && f.Size() > maxDigestsSize {
		err = fmt.Errorf("%w: %d bytes", errDigests, f.Size())
	}
	var d digests
	if err == nil {
		data := make([]byte, f.Size())
		if _, err = f.ReadAt(data, 0); err == nil || errors.Is(err, io.EOF) {
			d, err = parseDigests(data)
		}
	}
	if f != nil {
		f.Close()
	}
	if err != nil {
		s.log.Warn("stream digests unusable; exports and optimize check every stream's data instead", "group", g, "err", err)
		return digests{}
	}
	return d
}

// saveDigests replaces a group's digests file.
func (s *Store) saveDigests(g string, d digests) error {
	f, err := s.st.Create(g, DigestsFile)
	if err != nil {
		return fmt.Errorf("write %s: %w", s.st.Where(g, DigestsFile), err)
	}
	if _, err := f.WriteAt(d.marshal(), 0); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", s.st.Where(g, DigestsFile), err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("write %s: %w", s.st.Where(g, DigestsFile), err)
	}
	return nil
}
