// Package regf writes and reads Windows NT registry hive files (the "regf"
// format, version 1.5) in pure Go.
//
// The writer exists to build SOFTWARE and SYSTEM hives for tests and for the
// lab disk generator; it produces a base block with a valid XOR checksum,
// hbins, nk cells (compressed ASCII/Latin-1 names where possible, UTF-16LE
// otherwise), lh (or, by Hive.Lists, lf or li) subkey lists sorted by
// upper-cased name (split under an ri
// index list beyond MaxLeafEntries subkeys, so a key may have up to
// 65535×511 subkeys), vk cells with inline data for
// values of at most 4 bytes, data cells, db "big data" cells for values
// larger than 16344 bytes, and one shared sk (security) cell.
//
// The reader is a bounded, allocation-limited reader that follows the lookup
// rules of wimlib's registry code (see Reader); it never panics on damaged
// input.
package regf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf16"
)

// Registry value types (REG_*).
const (
	TypeNone             = 0
	TypeSZ               = 1
	TypeExpandSZ         = 2
	TypeBinary           = 3
	TypeDWORD            = 4
	TypeDWORDBigEndian   = 5
	TypeLink             = 6
	TypeMultiSZ          = 7
	TypeResourceList     = 8
	TypeFullResourceDesc = 9
	TypeResourceReqList  = 10
	TypeQWORD            = 11
)

// MaxLeafEntries is the number of subkeys the writer puts into one leaf
// list; a key with more subkeys gets an ri list pointing at several.
const MaxLeafEntries = 511

// ListKind is the kind of leaf subkey list a Hive is written with.
type ListKind string

// The leaf subkey lists. Windows XP and later write lh (entries with a hash
// of the upper-cased name); Windows NT 4 and 2000 wrote lf (entries with the
// first four characters of the name), and li (offsets only) is found in
// older hives and under ri lists. Readers must handle all three.
const (
	ListLH ListKind = "lh"
	ListLF ListKind = "lf"
	ListLI ListKind = "li"
)

// bigDataSegment is the largest piece of value data stored in one data cell;
// larger values are split into segments referenced from a db cell.
const bigDataSegment = 16344

const (
	hbinHeaderSize = 32
	hbinUnit       = 4096
	baseBlockSize  = 4096
	noCell         = 0xFFFFFFFF

	nkFlagHiveEntry = 0x0004
	nkFlagNoDelete  = 0x0008
	nkFlagCompName  = 0x0020
	vkFlagCompName  = 0x0001
)

// defaultTime is the FILETIME written into the base block and every key
// unless Hive.Time is set: 2024-01-01 00:00:00 UTC.
const defaultTime uint64 = 133485408000000000

// Hive is an in-memory registry hive under construction. The zero value is
// not usable; call New.
type Hive struct {
	root *Key
	// Time is the FILETIME stored as the last-write time of the hive and of
	// every key. New sets it to 2024-01-01 00:00:00 UTC.
	Time uint64
	// FileName is the name stored in the base block (at most 31 characters
	// are kept), for example `\SystemRoot\System32\Config\SYSTEM`.
	FileName string
	// Lists is the kind of leaf subkey list to write; "" means ListLH.
	Lists ListKind
}

// Key is a registry key of a Hive. Keys are created with Hive.Key or
// Key.Key and live as long as their hive.
type Key struct {
	name    string
	subkeys []*Key
	values  []value
}

type value struct {
	name string
	typ  uint32
	data []byte
}

// New returns an empty hive whose root key is named "ROOT".
func New() *Hive {
	return &Hive{root: &Key{name: "ROOT"}, Time: defaultTime}
}

// Root returns the root key of the hive.
func (h *Hive) Root() *Key { return h.root }

// Key returns the key at path (components separated by backslashes, relative
// to the root key), creating it and any missing intermediate keys. Names are
// matched case-insensitively; empty components are ignored, so "" is the root.
func (h *Hive) Key(path string) *Key { return h.root.Key(path) }

// Key returns the subkey of k at path, creating missing keys like Hive.Key.
func (k *Key) Key(path string) *Key {
	cur := k
	for _, comp := range strings.Split(path, `\`) {
		if comp == "" {
			continue
		}
		var next *Key
		for _, sk := range cur.subkeys {
			if equalFold(sk.name, comp) {
				next = sk
				break
			}
		}
		if next == nil {
			next = &Key{name: comp}
			cur.subkeys = append(cur.subkeys, next)
		}
		cur = next
	}
	return cur
}

// Name returns the key's name.
func (k *Key) Name() string { return k.name }

// SetString sets a REG_SZ value: UTF-16LE with a NUL terminator.
func (k *Key) SetString(name, v string) { k.set(name, TypeSZ, utf16z(v)) }

// SetExpandString sets a REG_EXPAND_SZ value: UTF-16LE with a NUL terminator.
func (k *Key) SetExpandString(name, v string) { k.set(name, TypeExpandSZ, utf16z(v)) }

// SetMultiString sets a REG_MULTI_SZ value: each string UTF-16LE and
// NUL-terminated, followed by an empty string (a second NUL).
func (k *Key) SetMultiString(name string, v []string) {
	var b []byte
	for _, s := range v {
		b = append(b, utf16z(s)...)
	}
	b = append(b, 0, 0)
	k.set(name, TypeMultiSZ, b)
}

// SetDWORD sets a REG_DWORD value (4 bytes, little-endian).
func (k *Key) SetDWORD(name string, v uint32) {
	k.set(name, TypeDWORD, binary.LittleEndian.AppendUint32(nil, v))
}

// SetQWORD sets a REG_QWORD value (8 bytes, little-endian).
func (k *Key) SetQWORD(name string, v uint64) {
	k.set(name, TypeQWORD, binary.LittleEndian.AppendUint64(nil, v))
}

// SetBinary sets a value of any type t with raw data b (copied). It is the
// way to write REG_BINARY values, and also deliberately malformed ones
// (a REG_DWORD of 3 bytes, a REG_SZ without terminator) for tests.
func (k *Key) SetBinary(name string, t uint32, b []byte) {
	k.set(name, t, append([]byte{}, b...))
}

// set adds or replaces (case-insensitively) the value called name.
func (k *Key) set(name string, t uint32, data []byte) {
	for i := range k.values {
		if equalFold(k.values[i].name, name) {
			k.values[i] = value{name: name, typ: t, data: data}
			return
		}
	}
	k.values = append(k.values, value{name: name, typ: t, data: data})
}

// utf16z encodes s as UTF-16LE with a NUL terminator.
func utf16z(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return append(b, 0, 0)
}

// upperUnits returns the UTF-16 code units of s, each upper-cased on its
// own (the way Windows compares registry names).
func upperUnits(s string) []uint16 {
	u := utf16.Encode([]rune(s))
	for i, c := range u {
		u[i] = Upcase(c)
	}
	return u
}

// equalFold reports whether two names are equal ignoring case, per UTF-16
// code unit.
func equalFold(a, b string) bool {
	ua, ub := upperUnits(a), upperUnits(b)
	if len(ua) != len(ub) {
		return false
	}
	for i := range ua {
		if ua[i] != ub[i] {
			return false
		}
	}
	return true
}

// compareUpper orders names by their upper-cased UTF-16 code units.
func compareUpper(a, b string) int {
	ua, ub := upperUnits(a), upperUnits(b)
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			if ua[i] < ub[i] {
				return -1
			}
			return 1
		}
	}
	return len(ua) - len(ub)
}

// encodeName returns the on-disk form of a key or value name: Latin-1 bytes
// when every character fits ("compressed"), otherwise UTF-16LE.
func encodeName(s string) (b []byte, compressed bool) {
	latin := true
	for _, r := range s {
		if r > 0xFF {
			latin = false
			break
		}
	}
	if latin {
		for _, r := range s {
			b = append(b, byte(r))
		}
		return b, true
	}
	u := utf16z(s)
	return u[:len(u)-2], false
}

// lhHash is the hash stored in lh lists: for each upper-cased UTF-16 code
// unit c of the name, h = h*37 + c.
func lhHash(name string) uint32 {
	var h uint32
	for _, c := range upperUnits(name) {
		h = h*37 + uint32(c)
	}
	return h
}

// lfHint is the hint stored in lf lists: the first four characters of the
// name (the low byte of each UTF-16 code unit), zero-padded.
func lfHint(name string) uint32 {
	var b [4]byte
	for i, c := range utf16.Encode([]rune(name)) {
		if i == len(b) {
			break
		}
		b[i] = byte(c)
	}
	return binary.LittleEndian.Uint32(b[:])
}

// builder lays out cells into hbins.
type builder struct {
	bins    []byte // the whole hbin area
	binUsed int    // bytes used in the last hbin (including its header)
	binSize int    // size of the last hbin
	binOff  int    // offset of the last hbin in bins
}

// alloc reserves a used cell holding payload (the bytes after the 4-byte
// size field) and returns the cell's offset in the hbin area.
func (b *builder) alloc(payload []byte) uint32 {
	size := (4 + len(payload) + 7) &^ 7
	if b.binSize == 0 || b.binUsed+size > b.binSize {
		b.newBin(size)
	}
	off := b.binOff + b.binUsed
	binary.LittleEndian.PutUint32(b.bins[off:], uint32(-int32(size)))
	copy(b.bins[off+4:], payload)
	b.binUsed += size
	return uint32(off)
}

// newBin closes the current hbin (its unused tail becomes a free cell) and
// starts one big enough for a cell of cellSize bytes.
func (b *builder) newBin(cellSize int) {
	b.closeBin()
	size := (hbinHeaderSize + cellSize + hbinUnit - 1) / hbinUnit * hbinUnit
	b.binOff = len(b.bins)
	b.bins = append(b.bins, make([]byte, size)...)
	h := b.bins[b.binOff:]
	copy(h, "hbin")
	binary.LittleEndian.PutUint32(h[4:], uint32(b.binOff))
	binary.LittleEndian.PutUint32(h[8:], uint32(size))
	b.binSize = size
	b.binUsed = hbinHeaderSize
}

func (b *builder) closeBin() {
	if b.binSize == 0 {
		return
	}
	if free := b.binSize - b.binUsed; free > 0 {
		binary.LittleEndian.PutUint32(b.bins[b.binOff+b.binUsed:], uint32(free))
	}
	b.binUsed = b.binSize
}

// Bytes serializes the hive. It fails only when the hive cannot be
// represented (a name longer than 32767 characters, too many subkeys).
func (h *Hive) Bytes() ([]byte, error) {
	var b builder
	sk := b.alloc(securityCellPayload())
	// The sk cell is a list of one: its flink and blink point to itself.
	binary.LittleEndian.PutUint32(b.bins[sk+8:], sk)
	binary.LittleEndian.PutUint32(b.bins[sk+12:], sk)
	refs := uint32(0)
	rootOff, err := h.writeKey(&b, h.root, noCell, sk, &refs, true)
	if err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint32(b.bins[sk+16:], refs)
	b.closeBin()

	out := make([]byte, baseBlockSize, baseBlockSize+len(b.bins))
	copy(out, "regf")
	le := binary.LittleEndian
	le.PutUint32(out[4:], 1) // primary sequence number
	le.PutUint32(out[8:], 1) // secondary sequence number
	le.PutUint64(out[12:], h.Time)
	le.PutUint32(out[20:], 1) // major version
	le.PutUint32(out[24:], 5) // minor version
	le.PutUint32(out[28:], 0) // file type: primary
	le.PutUint32(out[32:], 1) // file format: direct memory load
	le.PutUint32(out[36:], rootOff)
	le.PutUint32(out[40:], uint32(len(b.bins)))
	le.PutUint32(out[44:], 1) // clustering factor
	fn := utf16.Encode([]rune(h.FileName))
	if len(fn) > 31 {
		fn = fn[len(fn)-31:]
	}
	for i, c := range fn {
		le.PutUint16(out[48+2*i:], c)
	}
	le.PutUint32(out[0x1FC:], Checksum(out))
	return append(out, b.bins...), nil
}

// Checksum returns the base block checksum: the XOR of its first 127 little-
// endian 32-bit words, with 0 replaced by 1 and 0xFFFFFFFF by 0xFFFFFFFE.
// base must hold at least 508 bytes.
func Checksum(base []byte) uint32 {
	var x uint32
	for i := 0; i < 0x1FC; i += 4 {
		x ^= binary.LittleEndian.Uint32(base[i:])
	}
	switch x {
	case 0:
		return 1
	case 0xFFFFFFFF:
		return 0xFFFFFFFE
	}
	return x
}

// securityCellPayload returns an sk cell (without its size field) holding a
// self-relative security descriptor: owner BUILTIN\Administrators, group
// SYSTEM, DACL granting KEY_ALL_ACCESS to Administrators and SYSTEM and
// KEY_READ to Everyone. Links and reference count are filled in later.
func securityCellPayload() []byte {
	sid := func(auth byte, subs ...uint32) []byte {
		s := []byte{1, byte(len(subs)), 0, 0, 0, 0, 0, auth}
		for _, v := range subs {
			s = binary.LittleEndian.AppendUint32(s, v)
		}
		return s
	}
	admins := sid(5, 32, 544)
	system := sid(5, 18)
	everyone := sid(1, 0)
	ace := func(mask uint32, s []byte) []byte {
		a := []byte{0, 0x02, 0, 0} // ACCESS_ALLOWED, CONTAINER_INHERIT
		a = binary.LittleEndian.AppendUint32(a, mask)
		a = append(a, s...)
		binary.LittleEndian.PutUint16(a[2:], uint16(len(a)))
		return a
	}
	aces := append(ace(0xF003F, admins), ace(0xF003F, system)...)
	aces = append(aces, ace(0x20019, everyone)...)
	acl := []byte{2, 0, 0, 0, 3, 0, 0, 0}
	acl = append(acl, aces...)
	binary.LittleEndian.PutUint16(acl[2:], uint16(len(acl)))

	sd := make([]byte, 20)
	sd[0] = 1                                     // revision
	binary.LittleEndian.PutUint16(sd[2:], 0x8004) // self-relative, DACL present
	binary.LittleEndian.PutUint32(sd[4:], 20)     // owner
	binary.LittleEndian.PutUint32(sd[8:], uint32(20+len(admins)))
	binary.LittleEndian.PutUint32(sd[16:], uint32(20+len(admins)+len(system)))
	sd = append(sd, admins...)
	sd = append(sd, system...)
	sd = append(sd, acl...)

	p := make([]byte, 20, 20+len(sd))
	copy(p, "sk")
	binary.LittleEndian.PutUint32(p[16:], uint32(len(sd)))
	return append(p, sd...)
}

var errTooLong = errors.New("name longer than 32767 characters")

// writeKey writes k, its values and (recursively) its subkeys, returning the
// offset of k's nk cell.
func (h *Hive) writeKey(b *builder, k *Key, parent, sk uint32, refs *uint32, root bool) (uint32, error) {
	name, compressed := encodeName(k.name)
	if len(name) > 0xFFFF {
		return 0, fmt.Errorf("key %q: %w", k.name, errTooLong)
	}
	le := binary.LittleEndian
	nk := make([]byte, 76+len(name))
	copy(nk, "nk")
	flags := uint16(0)
	if compressed {
		flags |= nkFlagCompName
	}
	if root {
		flags |= nkFlagHiveEntry | nkFlagNoDelete
	}
	le.PutUint16(nk[2:], flags)
	le.PutUint64(nk[4:], h.Time)
	le.PutUint32(nk[16:], parent)
	le.PutUint32(nk[28:], noCell) // subkey list
	le.PutUint32(nk[32:], noCell) // volatile subkey list
	le.PutUint32(nk[40:], noCell) // value list
	le.PutUint32(nk[44:], sk)
	le.PutUint32(nk[48:], noCell) // class name
	le.PutUint16(nk[72:], uint16(len(name)))
	copy(nk[76:], name)
	off := b.alloc(nk)
	*refs++
	cell := func() []byte { return b.bins[off+4:] } // b.bins may move

	// Values.
	if len(k.values) > 0 {
		var maxName, maxData int
		offs := make([]byte, 0, 4*len(k.values))
		for _, v := range k.values {
			vo, err := writeValue(b, v)
			if err != nil {
				return 0, fmt.Errorf("key %q: %w", k.name, err)
			}
			offs = le.AppendUint32(offs, vo)
			maxName = max(maxName, 2*len(utf16.Encode([]rune(v.name))))
			maxData = max(maxData, len(v.data))
		}
		vl := b.alloc(offs)
		le.PutUint32(cell()[36:], uint32(len(k.values)))
		le.PutUint32(cell()[40:], vl)
		le.PutUint32(cell()[60:], uint32(maxName))
		le.PutUint32(cell()[64:], uint32(maxData))
	}

	// Subkeys, sorted by upper-cased name.
	if len(k.subkeys) > 0 {
		subs := append([]*Key{}, k.subkeys...)
		sort.SliceStable(subs, func(i, j int) bool { return compareUpper(subs[i].name, subs[j].name) < 0 })
		type entry struct {
			off  uint32
			hash uint32
		}
		ents := make([]entry, 0, len(subs))
		maxName := 0
		for _, s := range subs {
			so, err := h.writeKey(b, s, off, sk, refs, false)
			if err != nil {
				return 0, err
			}
			hash := lhHash(s.name)
			if h.Lists == ListLF {
				hash = lfHint(s.name)
			}
			ents = append(ents, entry{so, hash})
			maxName = max(maxName, 2*len(utf16.Encode([]rune(s.name))))
		}
		kind := h.Lists
		switch kind {
		case "":
			kind = ListLH
		case ListLH, ListLF, ListLI:
		default:
			return 0, fmt.Errorf("unknown subkey list kind %q", kind)
		}
		leaf := func(es []entry) uint32 {
			p := make([]byte, 4, 4+8*len(es))
			copy(p, kind)
			le.PutUint16(p[2:], uint16(len(es)))
			for _, e := range es {
				p = le.AppendUint32(p, e.off)
				if kind != ListLI {
					p = le.AppendUint32(p, e.hash)
				}
			}
			return b.alloc(p)
		}
		var list uint32
		if len(ents) <= MaxLeafEntries {
			list = leaf(ents)
		} else {
			nLeaves := (len(ents) + MaxLeafEntries - 1) / MaxLeafEntries
			if nLeaves > 0xFFFF {
				return 0, fmt.Errorf("key %q: %d subkeys is too many", k.name, len(ents))
			}
			p := make([]byte, 4, 4+4*nLeaves)
			copy(p, "ri")
			le.PutUint16(p[2:], uint16(nLeaves))
			for i := 0; i < len(ents); i += MaxLeafEntries {
				p = le.AppendUint32(p, leaf(ents[i:min(i+MaxLeafEntries, len(ents))]))
			}
			list = b.alloc(p)
		}
		le.PutUint32(cell()[20:], uint32(len(subs)))
		le.PutUint32(cell()[28:], list)
		le.PutUint32(cell()[52:], uint32(maxName))
	}
	return off, nil
}

// writeValue writes a vk cell and its data and returns the vk offset.
func writeValue(b *builder, v value) (uint32, error) {
	name, compressed := encodeName(v.name)
	if len(name) > 0xFFFF {
		return 0, fmt.Errorf("value %q: %w", v.name, errTooLong)
	}
	if uint64(len(v.data)) > 0x7FFFFFFF {
		return 0, fmt.Errorf("value %q: %d bytes of data is too large", v.name, len(v.data))
	}
	le := binary.LittleEndian
	vk := make([]byte, 20+len(name))
	copy(vk, "vk")
	le.PutUint16(vk[2:], uint16(len(name)))
	switch {
	case len(v.data) <= 4:
		le.PutUint32(vk[4:], uint32(len(v.data))|0x80000000)
		copy(vk[8:12], v.data)
	case len(v.data) <= bigDataSegment:
		le.PutUint32(vk[4:], uint32(len(v.data)))
		le.PutUint32(vk[8:], b.alloc(v.data))
	default:
		le.PutUint32(vk[4:], uint32(len(v.data)))
		var segs []byte
		n := 0
		for i := 0; i < len(v.data); i += bigDataSegment {
			segs = le.AppendUint32(segs, b.alloc(v.data[i:min(i+bigDataSegment, len(v.data))]))
			n++
		}
		if n > 0xFFFF {
			return 0, fmt.Errorf("value %q: %d bytes of data is too large", v.name, len(v.data))
		}
		list := b.alloc(segs)
		db := make([]byte, 8)
		copy(db, "db")
		le.PutUint16(db[2:], uint16(n))
		le.PutUint32(db[4:], list)
		le.PutUint32(vk[8:], b.alloc(db))
	}
	le.PutUint32(vk[12:], v.typ)
	if compressed {
		le.PutUint16(vk[16:], vkFlagCompName)
	}
	copy(vk[20:], name)
	return b.alloc(vk), nil
}
