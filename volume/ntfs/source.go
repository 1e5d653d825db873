package ntfs

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"

	"github.com/wdscapture/wdscapture/volume"
)

var _ volume.Source = (*Volume)(nil)

// handle is the Entry.Handle of entries made by a Volume.
type handle struct {
	v       *Volume
	num     uint64
	parent  *handle // for directory loop detection
	depth   int
	path    string // directories only: full path, for messages
	streams []*streamDesc
	oid     []byte // raw $OBJECT_ID value, nil when none
}

// maxDepth bounds directory nesting; Windows paths (32,767 UTF-16 units)
// cannot nest deeper than this.
const maxDepth = 16384

// maxReparseSize bounds a reparse point's data (NTFS allows 16 KiB).
const maxReparseSize = 64 << 10

// Root returns the root directory (MFT record 5).
func (v *Volume) Root() (*volume.Entry, error) {
	f, err := v.loadFile(recRoot)
	if err != nil {
		return nil, fmt.Errorf("ntfs: root directory: %w", err)
	}
	if !f.isDir() {
		return nil, fmt.Errorf("ntfs: root directory: MFT record 5 is not a directory")
	}
	e, err := v.makeEntry(f, nil)
	if err != nil {
		return nil, fmt.Errorf("ntfs: root directory: %w", err)
	}
	if e == nil {
		return nil, fmt.Errorf("ntfs: root directory is EFS-encrypted, cannot capture")
	}
	return e, nil
}

// ReadDir returns the children of dir sorted by name. NTFS metafiles
// (records below 16, $Extend and its contents) are not listed; DOS names
// become the ShortName of their long-name entries; EFS-encrypted files are
// skipped with a warning.
func (v *Volume) ReadDir(dir *volume.Entry) ([]*volume.Entry, error) {
	h, ok := dir.Handle.(*handle)
	if !ok || h.v != v {
		return nil, fmt.Errorf("ntfs: ReadDir: entry %q was not made by this volume", dir.Name)
	}
	dirPath := h.path
	if dirPath == "" {
		dirPath = `\`
	}
	f, err := v.loadFile(h.num)
	if err != nil {
		return nil, fmt.Errorf("ntfs: read directory %s: %w", dirPath, err)
	}
	if !f.isDir() {
		return nil, fmt.Errorf("ntfs: read directory %s: MFT record %d is not a directory", dirPath, h.num)
	}
	ents, err := v.readDirIndex(f)
	if err != nil {
		return nil, fmt.Errorf("ntfs: read directory %s: %w", dirPath, err)
	}
	dos := make(map[uint64]string)
	for _, e := range ents {
		if e.fn.namespace == nsDOS || e.fn.namespace == nsWin32DOS {
			num := e.ref & refMask
			if _, dup := dos[num]; !dup {
				dos[num] = e.fn.name
			}
		}
	}
	files := make(map[uint64]*file)
	var out []*volume.Entry
	for _, e := range ents {
		num := e.ref & refMask
		if e.fn.namespace == nsDOS || num < firstUserRec || e.fn.name == "." || e.fn.name == ".." {
			continue
		}
		cf, ok := files[num]
		if !ok {
			cf, err = v.loadFile(num)
			if err == nil {
				if seq := uint16(e.ref >> 48); seq != 0 && seq != cf.seq {
					err = fmt.Errorf("MFT record %d: %w", num, corruptf("directory entry has sequence %d, record has %d (stale entry)", seq, cf.seq))
				}
			}
			if err != nil {
				err = fmt.Errorf("ntfs: directory %s entry %q: %w", dirPath, e.fn.name, err)
				if v.dirty {
					v.warn(err.Error() + " (volume is dirty; entry skipped)")
					files[num] = nil
					continue
				}
				return nil, err
			}
			files[num] = cf
		}
		if cf == nil {
			continue
		}
		ph := h
		if cf.isDir() {
			for a := h; a != nil; a = a.parent {
				if a.num == num {
					return nil, fmt.Errorf("ntfs: directory %s entry %q: %w", dirPath, e.fn.name, corruptf("directory MFT record %d contains itself (loop)", num))
				}
			}
			if h.depth+1 > maxDepth {
				return nil, fmt.Errorf("ntfs: directory %s: nesting deeper than %d levels", dirPath, maxDepth)
			}
		}
		ce, err := v.makeEntry(cf, ph)
		if err != nil {
			err = fmt.Errorf("ntfs: directory %s entry %q: %w", dirPath, e.fn.name, err)
			if v.dirty {
				v.warn(err.Error() + " (volume is dirty; entry skipped)")
				continue
			}
			return nil, err
		}
		if ce == nil {
			v.warn(fmt.Sprintf("skipped EFS-encrypted %q in directory %s (MFT record %d)", e.fn.name, dirPath, num))
			continue
		}
		ce.Name = e.fn.name
		if cf.isDir() {
			ce.Handle.(*handle).path = h.path + `\` + e.fn.name
		}
		if e.fn.namespace == nsWin32 || e.fn.namespace == nsWin32DOS {
			ce.ShortName = dos[num]
		}
		out = append(out, ce)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// makeEntry builds the entry of file f (name fields left empty); it
// returns nil for an EFS-encrypted file.
func (v *Volume) makeEntry(f *file, parent *handle) (*volume.Entry, error) {
	si := f.first(atStandardInformation, "")
	if si == nil || !si.resident || len(si.value) < 48 {
		return nil, fmt.Errorf("MFT record %d: %w", f.num, corruptf("missing or short $STANDARD_INFORMATION"))
	}
	b := si.value
	attrs := binary.LittleEndian.Uint32(b[0x20:])
	if f.isDir() {
		attrs |= volume.AttrDirectory
	} else {
		attrs &^= volume.AttrDirectory
	}
	if attrs == 0 {
		attrs = volume.AttrNormal
	}
	if attrs&volume.AttrEncrypted != 0 {
		return nil, nil
	}
	e := &volume.Entry{
		Attributes:     attrs,
		CreationTime:   binary.LittleEndian.Uint64(b[0x00:]),
		LastWriteTime:  binary.LittleEndian.Uint64(b[0x08:]),
		LastAccessTime: binary.LittleEndian.Uint64(b[0x18:]),
	}
	var secID uint32
	if len(b) >= 72 {
		secID = binary.LittleEndian.Uint32(b[0x34:])
	}
	sd, err := v.securityDescriptor(f, secID)
	if err != nil {
		return nil, err
	}
	e.Security = sd
	if attrs&volume.AttrReparsePoint != 0 {
		if rp := f.attrsOf(atReparsePoint, ""); len(rp) > 0 {
			d, err := v.newStreamDesc(fmt.Sprintf("MFT record %d $REPARSE_POINT", f.num), rp)
			if err != nil {
				return nil, err
			}
			data, err := d.readAll(maxReparseSize)
			if err != nil {
				return nil, err
			}
			if len(data) < 8 {
				return nil, fmt.Errorf("MFT record %d: %w", f.num, corruptf("reparse point data only %d bytes", len(data)))
			}
			e.ReparseTag = binary.LittleEndian.Uint32(data)
			e.ReparseData = data[8:]
		}
	}
	h := &handle{v: v, num: f.num, parent: parent}
	if parent != nil {
		h.depth = parent.depth + 1
	}
	// Like NTFS-3G (and so wimlib), only 16-byte $OBJECT_ID values are
	// used, extended with the birth ids from $Extend\$ObjId.
	if a := f.first(atObjectID, ""); a != nil && a.resident && len(a.value) == 16 {
		h.oid = v.fullObjectID(a.value)
	}
	if err := v.collectStreams(f, e, h); err != nil {
		return nil, err
	}
	if !f.isDir() {
		e.LinkID = f.num
	}
	e.Handle = h
	return e, nil
}

// collectStreams adds every $DATA attribute of f as a stream: the unnamed
// one first, then named ones by name. Empty streams are included.
func (v *Volume) collectStreams(f *file, e *volume.Entry, h *handle) error {
	var names []string
	groups := make(map[string][]*attr)
	for _, a := range f.attrs {
		if a.typ != atData {
			continue
		}
		if _, ok := groups[a.name]; !ok {
			names = append(names, a.name)
		}
		groups[a.name] = append(groups[a.name], a)
	}
	sort.Strings(names) // "" sorts first
	for _, name := range names {
		exts := groups[name]
		if exts[0].resident && len(exts) > 1 {
			// Duplicate resident streams: keep the first non-empty one.
			pick := exts[0]
			for _, a := range exts {
				if len(a.value) > 0 {
					pick = a
					break
				}
			}
			exts = []*attr{pick}
		}
		what := fmt.Sprintf("MFT record %d $DATA", f.num)
		if name != "" {
			what += fmt.Sprintf(" stream %q", name)
		}
		d, err := v.newStreamDesc(what, exts)
		if err != nil {
			return err
		}
		if d.isRes && d.size > 0 {
			d.resident, d.lazy, d.lazyRec, d.lazyAt = nil, true, f.num, name
		}
		e.Streams = append(e.Streams, volume.Stream{Name: name, Size: d.size})
		h.streams = append(h.streams, d)
	}
	return nil
}

// ObjectID returns the object id of e as wimlib records it: the 16-byte
// $OBJECT_ID value followed, when $Extend\$ObjId indexes it, by the birth
// volume id, birth object id and domain id (64 bytes in all); nil when e
// has none or was not made by v. The
// volume.Entry type has no field for it; a WIM writer that wants parity
// with wimlib can fetch it here.
func (v *Volume) ObjectID(e *volume.Entry) []byte {
	if h, ok := e.Handle.(*handle); ok && h.v == v {
		return h.oid
	}
	return nil
}

// OpenStream opens stream i of e. The reader is independent of all others
// and reads the volume through io.ReaderAt, so several may run at once.
func (v *Volume) OpenStream(e *volume.Entry, i int) (io.ReadCloser, error) {
	h, ok := e.Handle.(*handle)
	if !ok || h.v != v {
		return nil, fmt.Errorf("ntfs: OpenStream: entry %q was not made by this volume", e.Name)
	}
	if i < 0 || i >= len(h.streams) {
		return nil, fmt.Errorf("ntfs: OpenStream: %q has no stream %d", e.Name, i)
	}
	r, err := h.streams[i].openLazy()
	if err != nil {
		return nil, fmt.Errorf("ntfs: open %q stream %d: %w", e.Name, i, err)
	}
	return r, nil
}
