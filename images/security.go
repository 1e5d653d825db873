package images

import (
	"crypto/sha1"
	"encoding/binary"
)

// securityTable is an image's table of security descriptors, de-duplicated.
type securityTable struct {
	descs [][]byte
	index map[[20]byte]int32
}

func newSecurityTable() *securityTable {
	return &securityTable{index: map[[20]byte]int32{}}
}

// add returns the security ID of sd, adding it if it is new; -1 for none.
func (t *securityTable) add(sd []byte) int32 {
	if len(sd) == 0 {
		return -1
	}
	h := sha1.Sum(sd)
	if id, ok := t.index[h]; ok {
		return id
	}
	id := int32(len(t.descs))
	t.descs = append(t.descs, append([]byte(nil), sd...))
	t.index[h] = id
	return id
}

// marshal encodes the security data block (8-byte aligned).
func (t *securityTable) marshal() []byte {
	n := 8 + 8*len(t.descs)
	for _, d := range t.descs {
		n += len(d)
	}
	total := align8(n)
	b := make([]byte, 8+8*len(t.descs), total)
	binary.LittleEndian.PutUint32(b[0:], uint32(total))
	binary.LittleEndian.PutUint32(b[4:], uint32(len(t.descs)))
	for i, d := range t.descs {
		binary.LittleEndian.PutUint64(b[8+8*i:], uint64(len(d)))
	}
	for _, d := range t.descs {
		b = append(b, d...)
	}
	for len(b) < total {
		b = append(b, 0)
	}
	return b
}

// parseSecurity decodes the security data at the start of a metadata
// resource and returns the descriptors and the offset of the root dentry.
func parseSecurity(buf []byte) ([][]byte, int64, error) {
	if len(buf) < 8 {
		return nil, 0, formatErr("metadata resource of %d bytes is too short for its security data", len(buf))
	}
	total := binary.LittleEndian.Uint32(buf[0:])
	count := binary.LittleEndian.Uint32(buf[4:])
	if total == 0 { // some writers leave it 0 for "no descriptors"
		total = 8
	}
	if uint64(total) > uint64(len(buf)) || total < 8 {
		return nil, 0, formatErr("security data length %d exceeds the %d-byte metadata resource", total, len(buf))
	}
	if uint64(count)*8+8 > uint64(total) {
		return nil, 0, formatErr("security data claims %d descriptors, more than its %d bytes hold", count, total)
	}
	p := uint64(8 + 8*count)
	descs := make([][]byte, count)
	for i := range descs {
		sz := binary.LittleEndian.Uint64(buf[8+8*i:])
		if sz > uint64(total)-p {
			return nil, 0, formatErr("security descriptor %d (%d bytes) overruns the security data (%d bytes)", i, sz, total)
		}
		descs[i] = buf[p : p+sz]
		p += sz
	}
	return descs, int64(align8(int(total))), nil
}
