package regf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
)

// Errors returned by the reader. Lookups wrap them, so test with errors.Is.
var (
	// ErrCorrupt means a structure the lookup needed is malformed.
	ErrCorrupt = errors.New("registry hive is corrupt")
	// ErrUnsupported means the hive uses a feature the reader does not
	// handle (another major version, big data on a lookup path, an unknown
	// subkey list type).
	ErrUnsupported = errors.New("registry hive feature not supported")
	// ErrKeyNotFound means a key on the path does not exist.
	ErrKeyNotFound = errors.New("registry key not found")
	// ErrValueNotFound means the key has no value of that name.
	ErrValueNotFound = errors.New("registry value not found")
)

// Safety limits, the same as wimlib's so that both accept the same hives.
const (
	maxValues          = 65536
	maxValueSize       = 1 << 20
	maxSubkeys         = 65536
	maxSubkeyListLevel = 5
	maxSubkeyLists     = 4096

	nkSize = 80 // nk cell up to its name, including the size field
	vkSize = 24 // vk cell up to its name, including the size field
)

// Reader reads keys and values from a hive file through an io.ReaderAt,
// reading only the cells a lookup touches. Its acceptance rules follow
// wimlib's (src/registry.c), so that what it finds is what wimlib finds:
//
//   - the base block must start with "regf" and have major version 1, and
//     the hbin area size it records must fit in the file; the checksum,
//     sequence numbers and hbin headers are not checked;
//   - a cell offset must be 8-aligned and inside the hbin area, the cell
//     must be in use (negative size) and big enough for what is read;
//   - subkey lists may be lf, lh, li or ri (ri at most 5 levels deep, at
//     most 4096 lists and 65536 subkeys per key); names are compared
//     case-insensitively per UTF-16 code unit;
//   - value data is at most 1 MiB; data of more than 4 bytes must be in one
//     data cell (db big-data cells give ErrUnsupported).
//
// All reads are bounded by those limits, so a damaged or hostile hive costs
// at most a few hundred thousand small reads and never more than a few MiB
// of memory per call. A Reader is safe for concurrent use if its ReaderAt is.
type Reader struct {
	r     io.ReaderAt
	total uint32 // size of the hbin area
	root  uint32

	// cache holds cells already read (by offset), so that damaged hives
	// whose lists point at the same cells over and over cost memory
	// lookups instead of reads. Bounded by maxCacheBytes.
	mu         sync.Mutex
	cache      map[uint32][]byte
	cacheBytes int
}

// maxCacheBytes bounds the cell cache of one Reader.
const maxCacheBytes = 32 << 20

// NewReader checks the base block of the hive in r (size bytes long) and
// returns a reader for it.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	var base [48]byte
	if size < baseBlockSize {
		return nil, fmt.Errorf("hive is %d bytes, smaller than its 4096-byte base block: %w", size, ErrCorrupt)
	}
	if _, err := r.ReadAt(base[:], 0); err != nil {
		return nil, fmt.Errorf("read hive base block: %w", err)
	}
	if string(base[:4]) != "regf" {
		return nil, fmt.Errorf("hive signature %q is not \"regf\": %w", base[:4], ErrUnsupported)
	}
	if v := binary.LittleEndian.Uint32(base[20:]); v != 1 {
		return nil, fmt.Errorf("hive major version %d is not 1: %w", v, ErrUnsupported)
	}
	total := binary.LittleEndian.Uint32(base[40:])
	if int64(total) > size-baseBlockSize {
		return nil, fmt.Errorf("hive hbin area of %d bytes does not fit in a %d-byte file: %w", total, size, ErrCorrupt)
	}
	return &Reader{r: r, total: total, root: binary.LittleEndian.Uint32(base[36:])}, nil
}

// cell reads the first want bytes of the in-use cell at off (relative to the
// hbin area), checking alignment and bounds the way wimlib does.
func (r *Reader) cell(off uint32, want int) ([]byte, error) {
	if off > r.total || off&7 != 0 || uint64(want) > uint64(r.total-off) {
		return nil, fmt.Errorf("cell offset 0x%x (%d bytes) outside the %d-byte hbin area or misaligned: %w", off, want, r.total, ErrCorrupt)
	}
	r.mu.Lock()
	buf, ok := r.cache[off]
	r.mu.Unlock()
	if ok && len(buf) >= want {
		buf = buf[:want:want]
	} else {
		buf = make([]byte, want)
		if _, err := r.r.ReadAt(buf, baseBlockSize+int64(off)); err != nil {
			return nil, fmt.Errorf("read cell at 0x%x: %w", off, err)
		}
		r.mu.Lock()
		if r.cacheBytes+want <= maxCacheBytes {
			if r.cache == nil {
				r.cache = make(map[uint32][]byte)
			}
			r.cacheBytes += want - len(r.cache[off])
			r.cache[off] = buf
		}
		r.mu.Unlock()
		buf = buf[:want:want]
	}
	actual := 0 - binary.LittleEndian.Uint32(buf) // in-use cells store a negative size
	if actual > 0x7FFFFFFF || uint64(want) > uint64(actual) {
		return nil, fmt.Errorf("cell at 0x%x is free or smaller than %d bytes: %w", off, want, ErrCorrupt)
	}
	return buf, nil
}

// Node is a registry key found by a Reader.
type Node struct {
	r          *Reader
	off        uint32
	nk         []byte // nk cell including size field and name
	rawName    []byte
	compressed bool
}

// Root returns the hive's root key.
func (r *Reader) Root() (*Node, error) {
	k, err := r.readNK(r.root)
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	return k, nil
}

func (r *Reader) readNK(off uint32) (*Node, error) {
	hdr, err := r.cell(off, nkSize)
	if err != nil {
		return nil, err
	}
	if string(hdr[4:6]) != "nk" {
		return nil, fmt.Errorf("cell at 0x%x is %q, not a key (nk): %w", off, hdr[4:6], ErrCorrupt)
	}
	n := int(binary.LittleEndian.Uint16(hdr[0x4C:]))
	full, err := r.cell(off, nkSize+n)
	if err != nil {
		return nil, err
	}
	return &Node{r: r, off: off, nk: full, rawName: full[nkSize:],
		compressed: binary.LittleEndian.Uint16(full[6:])&nkFlagCompName != 0}, nil
}

// Key looks up the key at path (backslash-separated, relative to the root;
// repeated backslashes are ignored).
func (r *Reader) Key(path string) (*Node, error) {
	k, err := r.Root()
	if err != nil {
		return nil, err
	}
	for _, comp := range strings.Split(path, `\`) {
		if comp == "" {
			continue
		}
		k, err = k.Subkey(comp)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", path, err)
		}
	}
	return k, nil
}

// Name returns the key's name decoded to UTF-8 (Latin-1 for compressed
// names; unpaired surrogates in UTF-16 names become U+FFFD).
func (k *Node) Name() string { return decodeName(k.rawName, k.compressed) }

// RawName returns the on-disk bytes of the key's name and whether they are
// "compressed" (one Latin-1 byte per character) rather than UTF-16LE.
func (k *Node) RawName() ([]byte, bool) { return k.rawName, k.compressed }

// NumSubkeys returns the subkey count recorded in the key.
func (k *Node) NumSubkeys() uint32 { return binary.LittleEndian.Uint32(k.nk[0x18:]) }

// NumValues returns the value count recorded in the key.
func (k *Node) NumValues() uint32 { return binary.LittleEndian.Uint32(k.nk[0x28:]) }

// errStop ends a subkey iteration early.
var errStop = errors.New("stop")

// eachSubkey calls fn for every subkey in list order. It enforces the subkey
// count recorded in the key and wimlib's limits.
func (k *Node) eachSubkey(fn func(*Node) error) error {
	n := k.NumSubkeys()
	if n == 0 {
		return nil
	}
	if n > maxSubkeys {
		return fmt.Errorf("key records %d subkeys, more than %d: %w", n, maxSubkeys, ErrCorrupt)
	}
	st := iterState{levels: maxSubkeyListLevel, lists: maxSubkeyLists, remaining: n}
	err := k.r.walkList(binary.LittleEndian.Uint32(k.nk[0x20:]), &st, fn)
	if err == nil && st.remaining != 0 {
		err = fmt.Errorf("subkey lists hold %d fewer subkeys than the key records: %w", st.remaining, ErrCorrupt)
	}
	return err
}

type iterState struct {
	levels, lists, remaining uint32
}

func (r *Reader) walkList(off uint32, st *iterState, fn func(*Node) error) error {
	if st.levels == 0 || st.lists == 0 {
		return fmt.Errorf("subkey lists nest too deep or are too many: %w", ErrCorrupt)
	}
	st.lists--
	hdr, err := r.cell(off, 8)
	if err != nil {
		return err
	}
	typ := string(hdr[4:6])
	count := int(binary.LittleEndian.Uint16(hdr[6:]))
	step := 4
	if typ == "lf" || typ == "lh" {
		step = 8
	}
	list, err := r.cell(off, 8+count*step)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	switch typ {
	case "lf", "lh", "li":
		if st.remaining < uint32(count) {
			return fmt.Errorf("subkey list at 0x%x holds more subkeys than the key records: %w", off, ErrCorrupt)
		}
		st.remaining -= uint32(count)
		for i := 0; i < count; i++ {
			sub, err := r.readNK(le.Uint32(list[8+i*step:]))
			if err != nil {
				return err
			}
			if err := fn(sub); err != nil {
				return err
			}
		}
		return nil
	case "ri":
		st.levels--
		defer func() { st.levels++ }()
		for i := 0; i < count; i++ {
			if err := r.walkList(le.Uint32(list[8+i*4:]), st, fn); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("subkey list at 0x%x has unknown type %q: %w", off, typ, ErrUnsupported)
}

// Subkeys returns all subkeys of k in list order (the hive's sorted order).
// Any damaged list entry fails the whole call, as in wimlib.
func (k *Node) Subkeys() ([]*Node, error) {
	var out []*Node
	if err := k.eachSubkey(func(s *Node) error { out = append(out, s); return nil }); err != nil {
		return nil, fmt.Errorf("list subkeys of %q: %w", k.Name(), err)
	}
	return out, nil
}

// Subkey returns the first subkey called name (case-insensitive). A damaged
// list entry before the match is an error.
func (k *Node) Subkey(name string) (*Node, error) {
	want := utf16.Encode([]rune(name))
	var found *Node
	err := k.eachSubkey(func(s *Node) error {
		if namesEqual(want, s.rawName, s.compressed) {
			found = s
			return errStop
		}
		return nil
	})
	if found != nil {
		return found, nil
	}
	if err == nil {
		err = ErrKeyNotFound
	}
	return nil, fmt.Errorf("subkey %q: %w", name, err)
}

// namesEqual compares a name with an on-disk name, ignoring case the way
// wimlib does (each UTF-16 code unit upper-cased on its own).
func namesEqual(want []uint16, disk []byte, compressed bool) bool {
	if compressed {
		if len(disk) != len(want) {
			return false
		}
		for i, c := range want {
			if Upcase(c) != Upcase(uint16(disk[i])) {
				return false
			}
		}
		return true
	}
	if len(disk)/2 != len(want) {
		return false
	}
	for i, c := range want {
		if Upcase(c) != Upcase(binary.LittleEndian.Uint16(disk[2*i:])) {
			return false
		}
	}
	return true
}

// keepCase lists the BMP code units that Unicode's simple uppercase mapping
// changes but the upper-case table of wimlib (like the $UpCase table of an
// older Windows) leaves alone: µ, ı, ſ, title-case digraphs, Georgian
// Mkhedruli, Cherokee small letters and letters added to Unicode later.
// Measured by capturing directories named with every BMP character and
// reading SYSTEMROOT back (see metadata's TestUpcaseMatchesWimlib).
var keepCase = [...]struct{ lo, hi uint16 }{
	{0x00B5, 0x00B5}, {0x0131, 0x0131}, {0x017F, 0x017F}, {0x01C5, 0x01C5},
	{0x01C8, 0x01C8}, {0x01CB, 0x01CB}, {0x01F2, 0x01F2}, {0x023F, 0x0240},
	{0x0252, 0x0252}, {0x025C, 0x025C}, {0x0261, 0x0261}, {0x0265, 0x0266},
	{0x026A, 0x026A}, {0x026C, 0x026C}, {0x0282, 0x0282}, {0x0287, 0x0287},
	{0x029D, 0x029E}, {0x0345, 0x0345}, {0x03C2, 0x03C2}, {0x03D0, 0x03D1},
	{0x03D5, 0x03D6}, {0x03F0, 0x03F1}, {0x03F3, 0x03F3}, {0x03F5, 0x03F5},
	{0x0525, 0x0525}, {0x0527, 0x0527}, {0x0529, 0x0529}, {0x052B, 0x052B},
	{0x052D, 0x052D}, {0x052F, 0x052F}, {0x10D0, 0x10FA}, {0x10FD, 0x10FF},
	{0x13F8, 0x13FD}, {0x1C80, 0x1C88}, {0x1D8E, 0x1D8E}, {0x1E9B, 0x1E9B},
	{0x1FBE, 0x1FBE}, {0x2C5F, 0x2C5F}, {0x2CEC, 0x2CEC}, {0x2CEE, 0x2CEE},
	{0x2CF3, 0x2CF3}, {0x2D27, 0x2D27}, {0x2D2D, 0x2D2D}, {0xA661, 0xA661},
	{0xA699, 0xA699}, {0xA69B, 0xA69B}, {0xA791, 0xA791}, {0xA793, 0xA794},
	{0xA797, 0xA797}, {0xA799, 0xA799}, {0xA79B, 0xA79B}, {0xA79D, 0xA79D},
	{0xA79F, 0xA79F}, {0xA7A1, 0xA7A1}, {0xA7A3, 0xA7A3}, {0xA7A5, 0xA7A5},
	{0xA7A7, 0xA7A7}, {0xA7A9, 0xA7A9}, {0xA7B5, 0xA7B5}, {0xA7B7, 0xA7B7},
	{0xA7B9, 0xA7B9}, {0xA7BB, 0xA7BB}, {0xA7BD, 0xA7BD}, {0xA7BF, 0xA7BF},
	{0xA7C1, 0xA7C1}, {0xA7C3, 0xA7C3}, {0xA7C8, 0xA7C8}, {0xA7CA, 0xA7CA},
	{0xA7D1, 0xA7D1}, {0xA7D7, 0xA7D7}, {0xA7D9, 0xA7D9}, {0xA7F6, 0xA7F6},
	{0xAB53, 0xAB53}, {0xAB70, 0xABBF},
}

// Upcase upper-cases one UTF-16 code unit the way wimlib does: the simple
// Unicode mapping, except for the code units in keepCase; surrogates and
// code units whose upper case is outside the BMP are unchanged.
func Upcase(c uint16) uint16 {
	if c < 'a' {
		return c
	}
	if c <= 'z' {
		return c - 'a' + 'A'
	}
	if c < 0x80 || (c >= 0xD800 && c < 0xE000) {
		return c
	}
	for _, r := range keepCase {
		if c >= r.lo && c <= r.hi {
			return c
		}
	}
	u := unicode.ToUpper(rune(c))
	if u > 0xFFFF {
		return c
	}
	return uint16(u)
}

// Value is a registry value found by a Reader.
type Value struct {
	r *Reader
	// Name is the value name decoded to UTF-8 ("" for the default value).
	Name string
	// Type is the REG_* type.
	Type uint32
	vk   []byte
}

// Size returns the data size recorded in the value (without the inline flag).
func (v *Value) Size() uint32 { return binary.LittleEndian.Uint32(v.vk[8:]) & 0x7FFFFFFF }

// Data reads the value's data, following wimlib's rules: at most 1 MiB,
// inline data at most 4 bytes, otherwise one data cell holding all of it
// (ErrUnsupported for anything else, such as big data).
func (v *Value) Data() ([]byte, error) {
	le := binary.LittleEndian
	raw := le.Uint32(v.vk[8:])
	size := raw & 0x7FFFFFFF
	if size > maxValueSize {
		return nil, fmt.Errorf("value %q: %d bytes of data, more than %d: %w", v.Name, size, maxValueSize, ErrCorrupt)
	}
	if raw&0x80000000 != 0 {
		if size > 4 {
			return nil, fmt.Errorf("value %q: inline data of %d bytes: %w", v.Name, size, ErrCorrupt)
		}
		return append([]byte{}, v.vk[12:12+size]...), nil // a copy: vk is cached
	}
	off := le.Uint32(v.vk[12:])
	if _, err := v.r.cell(off, 4); err != nil {
		return nil, fmt.Errorf("value %q data: %w", v.Name, err)
	}
	c, err := v.r.cell(off, 4+int(size))
	if err != nil {
		return nil, fmt.Errorf("value %q: data of %d bytes not in one cell (big data?): %w", v.Name, size, ErrUnsupported)
	}
	return append([]byte{}, c[4:]...), nil // a copy: cells are cached
}

// BigData reads the value's data also when it is stored as big data (a db
// cell with segments), which wimlib does not do. Used to check the writer.
func (v *Value) BigData() ([]byte, error) {
	le := binary.LittleEndian
	raw := le.Uint32(v.vk[8:])
	size := raw & 0x7FFFFFFF
	if raw&0x80000000 != 0 || size <= bigDataSegment {
		return v.Data()
	}
	if size > 64*maxValueSize {
		return nil, fmt.Errorf("value %q: %d bytes of data: %w", v.Name, size, ErrCorrupt)
	}
	db, err := v.r.cell(le.Uint32(v.vk[12:]), 12)
	if err != nil {
		return nil, fmt.Errorf("value %q big data: %w", v.Name, err)
	}
	if string(db[4:6]) != "db" {
		return nil, fmt.Errorf("value %q: %d bytes in a %q cell, want db: %w", v.Name, size, db[4:6], ErrCorrupt)
	}
	n := int(le.Uint16(db[6:]))
	segs, err := v.r.cell(le.Uint32(db[8:]), 4+4*n)
	if err != nil {
		return nil, fmt.Errorf("value %q big data segment list: %w", v.Name, err)
	}
	out := make([]byte, 0, size)
	for i := 0; i < n && uint32(len(out)) < size; i++ {
		want := min(int(size)-len(out), bigDataSegment)
		c, err := v.r.cell(le.Uint32(segs[4+4*i:]), 4+want)
		if err != nil {
			return nil, fmt.Errorf("value %q big data segment %d: %w", v.Name, i, err)
		}
		out = append(out, c[4:]...)
	}
	if uint32(len(out)) != size {
		return nil, fmt.Errorf("value %q: big data segments hold %d of %d bytes: %w", v.Name, len(out), size, ErrCorrupt)
	}
	return out, nil
}

// eachValue calls fn for each value of k in value-list order.
func (k *Node) eachValue(fn func(*Value, []byte, bool) error) error {
	le := binary.LittleEndian
	n := k.NumValues()
	if n == 0 {
		return nil
	}
	if n > maxValues {
		return fmt.Errorf("key records %d values, more than %d: %w", n, maxValues, ErrCorrupt)
	}
	list, err := k.r.cell(le.Uint32(k.nk[0x2C:]), 4+4*int(n))
	if err != nil {
		return fmt.Errorf("value list: %w", err)
	}
	for i := 0; i < int(n); i++ {
		off := le.Uint32(list[4+4*i:])
		hdr, err := k.r.cell(off, vkSize)
		if err != nil {
			return err
		}
		if string(hdr[4:6]) != "vk" {
			return fmt.Errorf("cell at 0x%x is %q, not a value (vk): %w", off, hdr[4:6], ErrCorrupt)
		}
		vk, err := k.r.cell(off, vkSize+int(le.Uint16(hdr[6:])))
		if err != nil {
			return err
		}
		raw := vk[vkSize:]
		comp := le.Uint16(vk[20:])&vkFlagCompName != 0
		v := &Value{r: k.r, Name: decodeName(raw, comp), Type: le.Uint32(vk[16:]), vk: vk}
		if err := fn(v, raw, comp); err != nil {
			return err
		}
	}
	return nil
}

// Values returns all values of k in value-list order.
func (k *Node) Values() ([]*Value, error) {
	var out []*Value
	err := k.eachValue(func(v *Value, _ []byte, _ bool) error { out = append(out, v); return nil })
	if err != nil {
		return nil, fmt.Errorf("list values of %q: %w", k.Name(), err)
	}
	return out, nil
}

// Value returns the first value of k called name (case-insensitive).
func (k *Node) Value(name string) (*Value, error) {
	want := utf16.Encode([]rune(name))
	var found *Value
	err := k.eachValue(func(v *Value, raw []byte, comp bool) error {
		if namesEqual(want, raw, comp) {
			found = v
			return errStop
		}
		return nil
	})
	if found != nil {
		return found, nil
	}
	if err == nil {
		err = ErrValueNotFound
	}
	return nil, fmt.Errorf("value %q of key %q: %w", name, k.Name(), err)
}

// decodeName converts an on-disk name to UTF-8.
func decodeName(b []byte, compressed bool) string {
	if compressed {
		var sb strings.Builder
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String()
	}
	return DecodeUTF16(b)
}

// DecodeUTF16 converts UTF-16LE bytes to UTF-8; a trailing odd byte is
// dropped and unpaired surrogates become U+FFFD.
func DecodeUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	var sb strings.Builder
	for _, r := range utf16.Decode(u) {
		sb.WriteRune(r)
	}
	return sb.String()
}

// MultiString splits REG_MULTI_SZ data into its strings (stopping at the
// first empty string, as Windows does).
func MultiString(b []byte) []string {
	var out []string
	s := DecodeUTF16(b)
	for _, part := range strings.Split(s, "\x00") {
		if part == "" {
			break
		}
		out = append(out, part)
	}
	return out
}

// String decodes REG_SZ/REG_EXPAND_SZ data: UTF-16LE up to the first NUL.
func String(b []byte) string {
	s := DecodeUTF16(b)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return s
}
