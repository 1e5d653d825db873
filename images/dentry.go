package images

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

const (
	dentryFixedSize    = 102 // through name_nbytes
	streamEntryFixSize = 38  // length, reserved, hash, name_nbytes
	maxNameUnits       = 32767
)

var zeroHash [20]byte

// Dentry is one directory entry of an image: a file, directory or reparse
// point, with the streams it refers to by SHA-1.
type Dentry struct {
	Name       string
	ShortName  string
	Attributes uint32
	// SecurityID indexes the image's security descriptors; -1 means none.
	SecurityID     int32
	CreationTime   uint64
	LastAccessTime uint64
	LastWriteTime  uint64
	ReparseTag     uint32
	rpReserved     uint16
	rpFlags        uint16
	// HardLinkID is non-zero when several dentries are names of one file.
	HardLinkID uint64
	// Streams are the file's streams: at most one unnamed data stream
	// (Name "", Reparse false), at most one reparse stream (Reparse true),
	// and any named data streams.
	Streams  []StreamRef
	Children []*Dentry
	Parent   *Dentry

	// offset is where the dentry was found in the metadata resource.
	offset int64
}

// StreamRef names one stream of a dentry by the SHA-1 of its contents; an
// all-zero hash is an empty stream.
type StreamRef struct {
	Name    string
	Reparse bool
	Hash    [20]byte
}

// IsDir reports whether d is a directory that may have children (a
// directory that is also a reparse point, such as a junction, has none).
func (d *Dentry) IsDir() bool {
	return d.Attributes&(attrDirectory|attrReparsePoint) == attrDirectory
}

// DataHash returns the hash of the unnamed data stream (zero if empty or absent).
func (d *Dentry) DataHash() [20]byte {
	for _, s := range d.Streams {
		if s.Name == "" && !s.Reparse {
			return s.Hash
		}
	}
	return zeroHash
}

// ReparseHash returns the hash of the reparse stream (zero if none).
func (d *Dentry) ReparseHash() [20]byte {
	for _, s := range d.Streams {
		if s.Reparse {
			return s.Hash
		}
	}
	return zeroHash
}

// Path returns the full path of d inside its image, `\`-separated.
func (d *Dentry) Path() string {
	if d.Parent == nil {
		return `\`
	}
	var parts []string
	for p := d; p.Parent != nil; p = p.Parent {
		parts = append(parts, p.Name)
	}
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for i := len(parts) - 1; i >= 0; i-- {
		b = append(b, '\\')
		b = append(b, parts[i]...)
	}
	return string(b)
}

const (
	attrDirectory    = 0x10
	attrReparsePoint = 0x400
	attrEncrypted    = 0x4000
)

func encodeUTF16(s string) []uint16 { return utf16.Encode([]rune(s)) }

func utf16Bytes(u []uint16) []byte {
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func decodeUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func align8(n int) int { return (n + 7) &^ 7 }

// streamLayout applies DISM's rules for where stream hashes go: when the
// dentry stores one unnamed stream and no named ones, its hash is the main
// hash; otherwise every stream is an extra entry, reparse first, then the
// unnamed data stream, then named streams, and the main hash is zero.
func streamLayout(d *Dentry) (main [20]byte, extra []StreamRef) {
	var unnamed []StreamRef
	var named []StreamRef
	var data, rp StreamRef
	for _, s := range d.Streams {
		switch {
		case s.Reparse:
			rp = s
		case s.Name == "":
			data = s
		default:
			named = append(named, s)
		}
	}
	if d.Attributes&attrReparsePoint != 0 {
		unnamed = append(unnamed, StreamRef{Hash: rp.Hash, Reparse: true})
	}
	if d.Attributes&attrDirectory == 0 {
		unnamed = append(unnamed, StreamRef{Hash: data.Hash})
	}
	if len(unnamed) <= 1 && len(named) == 0 {
		if len(unnamed) == 1 {
			main = unnamed[0].Hash
		}
		return main, nil
	}
	return zeroHash, append(unnamed, named...)
}

// dentryLength returns the bytes d takes on disk, extra stream entries included.
func dentryLength(d *Dentry) int {
	n := align8(dentryBaseLength(d))
	_, extra := streamLayout(d)
	for _, s := range extra {
		n += streamEntryLength(s.Name)
	}
	return n
}

func dentryBaseLength(d *Dentry) int {
	n := dentryFixedSize
	if d.Name != "" {
		n += 2*len(encodeUTF16(d.Name)) + 2
	}
	if d.ShortName != "" {
		n += 2*len(encodeUTF16(d.ShortName)) + 2
	}
	return n
}

func streamEntryLength(name string) int {
	n := streamEntryFixSize
	if name != "" {
		n += 2*len(encodeUTF16(name)) + 2
	}
	return align8(n)
}

// appendDentry encodes d (with its extra stream entries) onto b.
func appendDentry(b []byte, d *Dentry, subdirOffset uint64) []byte {
	start := len(b)
	name := utf16Bytes(encodeUTF16(d.Name))
	short := utf16Bytes(encodeUTF16(d.ShortName))
	var fixed [dentryFixedSize]byte
	binary.LittleEndian.PutUint32(fixed[0x08:], d.Attributes)
	binary.LittleEndian.PutUint32(fixed[0x0C:], uint32(d.SecurityID))
	binary.LittleEndian.PutUint64(fixed[0x10:], subdirOffset)
	binary.LittleEndian.PutUint64(fixed[0x28:], d.CreationTime)
	binary.LittleEndian.PutUint64(fixed[0x30:], d.LastAccessTime)
	binary.LittleEndian.PutUint64(fixed[0x38:], d.LastWriteTime)
	main, extra := streamLayout(d)
	copy(fixed[0x40:], main[:])
	if d.Attributes&attrReparsePoint != 0 {
		binary.LittleEndian.PutUint32(fixed[0x58:], d.ReparseTag)
		binary.LittleEndian.PutUint16(fixed[0x5C:], d.rpReserved)
		binary.LittleEndian.PutUint16(fixed[0x5E:], d.rpFlags)
	} else {
		binary.LittleEndian.PutUint64(fixed[0x58:], d.HardLinkID)
	}
	binary.LittleEndian.PutUint16(fixed[0x60:], uint16(len(extra)))
	binary.LittleEndian.PutUint16(fixed[0x62:], uint16(len(short)))
	binary.LittleEndian.PutUint16(fixed[0x64:], uint16(len(name)))
	b = append(b, fixed[:]...)
	if len(name) > 0 {
		b = append(b, name...)
		b = append(b, 0, 0)
	}
	if len(short) > 0 {
		b = append(b, short...)
		b = append(b, 0, 0)
	}
	for (len(b)-start)%8 != 0 {
		b = append(b, 0)
	}
	binary.LittleEndian.PutUint64(b[start:], uint64(len(b)-start))
	for _, s := range extra {
		es := len(b)
		var f [streamEntryFixSize]byte
		copy(f[16:], s.Hash[:])
		sn := utf16Bytes(encodeUTF16(s.Name))
		binary.LittleEndian.PutUint16(f[36:], uint16(len(sn)))
		b = append(b, f[:]...)
		if len(sn) > 0 {
			b = append(b, sn...)
			b = append(b, 0, 0)
		}
		for (len(b)-es)%8 != 0 {
			b = append(b, 0)
		}
		binary.LittleEndian.PutUint64(b[es:], uint64(len(b)-es))
	}
	return b
}

// parseDentry decodes the dentry at off in buf. It returns nil, 0 for an
// end-of-directory marker. next is the offset of the following sibling.
func parseDentry(buf []byte, off int64) (d *Dentry, subdir uint64, next int64, err error) {
	if off < 0 || off+8 > int64(len(buf)) {
		return nil, 0, 0, formatErr("dentry at offset %d runs past the end of the %d-byte metadata resource", off, len(buf))
	}
	length := binary.LittleEndian.Uint64(buf[off:])
	if length == 0 {
		return nil, 0, off + 8, nil
	}
	if length < dentryFixedSize || length > uint64(int64(len(buf))-off) {
		return nil, 0, 0, formatErr("dentry at offset %d has bad length %d", off, length)
	}
	p := buf[off : off+int64(length)]
	d = &Dentry{
		offset:         off,
		Attributes:     binary.LittleEndian.Uint32(p[0x08:]),
		SecurityID:     int32(binary.LittleEndian.Uint32(p[0x0C:])),
		CreationTime:   binary.LittleEndian.Uint64(p[0x28:]),
		LastAccessTime: binary.LittleEndian.Uint64(p[0x30:]),
		LastWriteTime:  binary.LittleEndian.Uint64(p[0x38:]),
	}
	subdir = binary.LittleEndian.Uint64(p[0x10:])
	var main [20]byte
	copy(main[:], p[0x40:0x54])
	if d.Attributes&attrReparsePoint != 0 {
		d.ReparseTag = binary.LittleEndian.Uint32(p[0x58:])
		d.rpReserved = binary.LittleEndian.Uint16(p[0x5C:])
		d.rpFlags = binary.LittleEndian.Uint16(p[0x5E:])
	} else {
		d.HardLinkID = binary.LittleEndian.Uint64(p[0x58:])
	}
	nExtra := int(binary.LittleEndian.Uint16(p[0x60:]))
	shortLen := int(binary.LittleEndian.Uint16(p[0x62:]))
	nameLen := int(binary.LittleEndian.Uint16(p[0x64:]))
	if shortLen%2 != 0 || nameLen%2 != 0 {
		return nil, 0, 0, formatErr("dentry at offset %d has odd name length", off)
	}
	need := dentryFixedSize
	if nameLen > 0 {
		need += nameLen + 2
	}
	if shortLen > 0 {
		need += shortLen + 2
	}
	if need > len(p) {
		return nil, 0, 0, formatErr("dentry at offset %d: names (%d+%d bytes) overrun its length %d", off, nameLen, shortLen, length)
	}
	q := p[dentryFixedSize:]
	if nameLen > 0 {
		d.Name = decodeUTF16(q[:nameLen])
		q = q[nameLen+2:]
	}
	if shortLen > 0 {
		d.ShortName = decodeUTF16(q[:shortLen])
	}
	next = off + int64(align8(int(length)))
	// Extra stream entries follow the dentry.
	var entries []StreamRef
	for i := 0; i < nExtra; i++ {
		if next+streamEntryFixSize > int64(len(buf)) {
			return nil, 0, 0, formatErr("stream entry %d of dentry %q at offset %d runs past the metadata resource", i, d.Name, off)
		}
		slen := binary.LittleEndian.Uint64(buf[next:])
		if slen < streamEntryFixSize || slen > uint64(int64(len(buf))-next) {
			return nil, 0, 0, formatErr("stream entry %d of dentry %q at offset %d has bad length %d", i, d.Name, next, slen)
		}
		e := buf[next : next+int64(slen)]
		var s StreamRef
		copy(s.Hash[:], e[16:36])
		nl := int(binary.LittleEndian.Uint16(e[36:]))
		if nl%2 != 0 || streamEntryFixSize+nl > len(e) {
			return nil, 0, 0, formatErr("stream entry %d of dentry %q at offset %d: bad name length %d", i, d.Name, next, nl)
		}
		s.Name = decodeUTF16(e[streamEntryFixSize : streamEntryFixSize+nl])
		entries = append(entries, s)
		next += int64(align8(int(slen)))
	}
	d.Streams = assignStreams(d.Attributes, main, entries)
	return d, subdir, next, nil
}

// assignStreams interprets the main hash and extra entries the way DISM and
// wimlib do: the first non-zero unnamed hash of a reparse point is its
// reparse stream, the next unnamed one is the data stream.
func assignStreams(attrs uint32, main [20]byte, extra []StreamRef) []StreamRef {
	all := append([]StreamRef{{Hash: main}}, extra...)
	var out []StreamRef
	foundRP, foundData := false, false
	for i, s := range all {
		if s.Name != "" {
			out = append(out, s)
			continue
		}
		if i == 0 && s.Hash == zeroHash {
			continue
		}
		if attrs&attrReparsePoint != 0 && !foundRP {
			foundRP = true
			out = append(out, StreamRef{Reparse: true, Hash: s.Hash})
		} else if !foundData {
			foundData = true
			out = append(out, StreamRef{Hash: s.Hash})
		}
	}
	if !foundRP && !foundData {
		out = append(out, StreamRef{Reparse: attrs&attrReparsePoint != 0, Hash: main})
	}
	return out
}

// parseDentryTree reads the tree whose root dentry is at off. It rejects
// cycles and absurd depth.
func parseDentryTree(buf []byte, off int64) (*Dentry, error) {
	root, subdir, _, err := parseDentry(buf, off)
	if err != nil {
		return nil, fmt.Errorf("root dentry: %w", err)
	}
	if root == nil {
		return nil, formatErr("metadata resource has no root dentry at offset %d", off)
	}
	visited := map[int64]bool{}
	var walk func(dir *Dentry, subdir uint64, depth int) error
	count := 0
	walk = func(dir *Dentry, subdir uint64, depth int) error {
		if !dir.IsDir() || subdir == 0 {
			return nil
		}
		if depth > 4096 {
			return formatErr("directory tree deeper than 4096 levels at %q (cyclic?)", dir.Path())
		}
		pos := int64(subdir)
		if subdir > uint64(len(buf)) || visited[pos] {
			return formatErr("directory %q: child list offset %d is invalid or already used (cyclic tree)", dir.Path(), subdir)
		}
		visited[pos] = true
		for {
			child, sub, next, err := parseDentry(buf, pos)
			if err != nil {
				return fmt.Errorf("in directory %q: %w", dir.Path(), err)
			}
			if child == nil {
				break
			}
			if child.Name == "" {
				return formatErr("directory %q has a child with an empty name at offset %d", dir.Path(), pos)
			}
			count++
			if count > len(buf)/dentryFixedSize+1 {
				return formatErr("more dentries than the metadata resource can hold (cyclic tree)")
			}
			child.Parent = dir
			dir.Children = append(dir.Children, child)
			if err := walk(child, sub, depth+1); err != nil {
				return err
			}
			pos = next
		}
		return nil
	}
	if err := walk(root, subdir, 0); err != nil {
		return nil, err
	}
	return root, nil
}
