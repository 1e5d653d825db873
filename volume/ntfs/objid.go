package ntfs

import (
	"encoding/binary"
	"fmt"
)

const recExtend = 11

// loadObjectIDs reads $Extend\$ObjId:$O, the index that holds the birth
// volume id, birth object id and domain id of each object id. Like
// NTFS-3G, ObjectID merges them into 16-byte $OBJECT_ID values.
func (v *Volume) loadObjectIDs() error {
	ext, err := v.loadFile(recExtend)
	if err != nil {
		return err
	}
	if !ext.isDir() {
		return nil
	}
	ents, err := v.readDirIndex(ext)
	if err != nil {
		return err
	}
	var num uint64
	for _, e := range ents {
		if e.fn.name == "$ObjId" {
			num = e.ref & refMask
		}
	}
	if num == 0 {
		return nil
	}
	f, err := v.loadFile(num)
	if err != nil {
		return fmt.Errorf("$Extend\\$ObjId: %w", err)
	}
	if f.first(atIndexRoot, "$O") == nil {
		return nil
	}
	ids := make(map[[16]byte][48]byte)
	err = v.readIndex(f, "$O", func(e []byte) error {
		doff := int(binary.LittleEndian.Uint16(e))
		dlen := int(binary.LittleEndian.Uint16(e[2:]))
		kl := int(binary.LittleEndian.Uint16(e[10:]))
		if kl != 16 || dlen < 56 || doff < 16+kl || doff+dlen > len(e) {
			return corruptf("$O entry key %d bytes, data %d bytes at %d", kl, dlen, doff)
		}
		var k [16]byte
		var d [48]byte
		copy(k[:], e[16:32])
		copy(d[:], e[doff+8:doff+56])
		ids[k] = d
		return nil
	})
	if err != nil {
		return fmt.Errorf("$Extend\\$ObjId: %w", err)
	}
	v.objIDs = ids
	return nil
}

// fullObjectID extends a 16-byte object id with its $O index data.
func (v *Volume) fullObjectID(oid []byte) []byte {
	if len(oid) != 16 || v.objIDs == nil {
		return oid
	}
	var k [16]byte
	copy(k[:], oid)
	d, ok := v.objIDs[k]
	if !ok {
		return oid
	}
	return append(append([]byte(nil), oid...), d[:]...)
}
