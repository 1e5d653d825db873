// Package ntfs reads an NTFS file system directly from a partition image or
// block device, without mounting it, and presents it as a volume.Source.
// The volume is only ever read.
//
// What each entry carries follows wimlib's NTFS-3G capture mode, so that a
// capture equals `wimcapture IMAGE x.wim` of the same unmounted volume:
//
//   - Name is the POSIX, Win32 or "Win32 & DOS" name; DOS-only index
//     entries are not entries but become the ShortName of the Win32 names
//     of the same file in the same directory (a "Win32 & DOS" name is its
//     own short name).
//   - Attributes are the $STANDARD_INFORMATION flags with DIRECTORY taken
//     from the MFT record, and NORMAL when the result is 0.
//   - CreationTime, LastWriteTime and LastAccessTime are the raw
//     $STANDARD_INFORMATION FILETIMEs (100 ns).
//   - Security is the descriptor found in $Secure:$SDS by the security id of
//     $STANDARD_INFORMATION, else the file's own $SECURITY_DESCRIPTOR.
//   - ReparseTag and ReparseData come from $REPARSE_POINT (any tag, data
//     raw) when the REPARSE_POINT attribute is set.
//   - Streams are every $DATA attribute, unnamed first, then named ones by
//     name; empty ones included. Reparse points keep their unnamed stream.
//   - LinkID is the MFT record number for files (names of one file share
//     it); directories have 0.
//   - Compressed (LZNT1) and sparse streams read as their logical contents,
//     zeros beyond the initialized size.
//   - EFS-encrypted files and directories are skipped with a warning, and
//     NTFS metafiles (records below 16, so also $Extend) are never listed.
//   - Object ids, which volume.Entry cannot hold, are available from
//     Volume.ObjectID.
//
// Open refuses BitLocker volumes, dirty volumes and volumes Windows left
// hibernated (Fast Startup), the last two unless Options.AllowDirty.
// Corrupt metadata gives errors that name the MFT record and attribute; on a
// dirty volume opened with Options.AllowDirty, a broken directory entry is
// skipped with a warning instead. Every structure is bounds-checked and
// every walk (attribute lists, index trees, runlists) is bounded, so hostile
// input cannot panic, hang or allocate without limit.
package ntfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// Sentinel errors returned (wrapped) by Open.
var (
	// ErrNotNTFS means the bytes at the given offset are not an NTFS file system.
	ErrNotNTFS = errors.New("not an NTFS file system")
	// ErrBitLocker means the volume is BitLocker-encrypted ("-FVE-FS-").
	ErrBitLocker = errors.New("volume is BitLocker-encrypted")
	// ErrDirty means the volume is marked dirty (not cleanly unmounted,
	// e.g. crashed) and Options.AllowDirty was not set.
	ErrDirty = errors.New("NTFS volume is marked dirty")
	// ErrHibernated means Windows hibernated or shut down with Fast
	// Startup (\hiberfil.sys starts with "HIBR"), so recent changes may
	// not be on disk, and Options.AllowDirty was not set.
	ErrHibernated = errors.New("volume was left hibernated by Windows")
)

// Options tune Open.
type Options struct {
	// AllowDirty opens a volume whose dirty flag is set or that Windows
	// left hibernated. Its metadata may be inconsistent; inconsistencies
	// then become warnings where possible.
	AllowDirty bool
}

// Well-known MFT record numbers.
const (
	recMFT       = 0
	recVolume    = 3
	recRoot      = 5
	recSecure    = 9
	firstUserRec = 16
)

// Volume is an open NTFS volume. It implements volume.Source.
type Volume struct {
	r      io.ReaderAt
	closer io.Closer

	clusterSize   int64
	totalClusters int64
	recordSize    int64
	serial        uint64
	label         string
	dirty         bool
	hibernated    bool

	mft        *streamDesc // $MFT:$DATA
	mftRecords uint64
	bootstrap  bool // while $MFT's own runlist is incomplete
	recPool    sync.Pool
	mftCache   mftCache

	sds     *streamDesc           // $Secure:$SDS, nil when absent
	sdIndex map[uint32]sdLocation // security id → location in $SDS
	sdMu    sync.Mutex
	sdCache map[uint32][]byte

	objIDs map[[16]byte][48]byte // $ObjId:$O: object id → birth ids

	warnMu   sync.Mutex
	warnings []string
}

// OpenFile opens the NTFS file system in a whole-partition image or block
// device at path, read-only.
func OpenFile(path string, opts Options) (*Volume, error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("ntfs: %w", err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ntfs: size of %s: %w", path, err)
	}
	v, err := Open(f, 0, size, opts)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err) // err starts with "ntfs: "
	}
	v.closer = f
	return v, nil
}

// Open reads the NTFS file system found at byte offset off (size bytes) of
// r. It never writes. The returned errors wrap ErrNotNTFS, ErrBitLocker or
// ErrDirty where those apply.
func Open(r io.ReaderAt, off, size int64, opts Options) (*Volume, error) {
	if off < 0 || size <= 0 {
		return nil, fmt.Errorf("ntfs: invalid partition range (offset %d, size %d)", off, size)
	}
	sr := io.NewSectionReader(r, off, size)
	boot := make([]byte, 512)
	if n, err := sr.ReadAt(boot, 0); n != len(boot) {
		return nil, fmt.Errorf("ntfs: read boot sector at offset %d: %w (%v)", off, ErrNotNTFS, err)
	}
	bs, err := parseBoot(boot)
	if err != nil {
		return nil, fmt.Errorf("ntfs: at offset %d: %w", off, err)
	}
	if volBytes := bs.totalSectors * bs.bytesPerSector; volBytes > size {
		return nil, fmt.Errorf("ntfs: at offset %d: file system is %d bytes but the partition only %d (truncated image?)", off, volBytes, size)
	}
	v := &Volume{
		r:             sr,
		clusterSize:   bs.clusterSize,
		totalClusters: bs.totalSectors * bs.bytesPerSector / bs.clusterSize,
		recordSize:    bs.recordSize,
		serial:        bs.serial,
		sdCache:       make(map[uint32][]byte),
	}
	if err := v.loadMFT(bs.mftLCN); err != nil {
		return nil, fmt.Errorf("ntfs: %w", err)
	}
	if err := v.loadVolumeInfo(); err != nil {
		return nil, fmt.Errorf("ntfs: %w", err)
	}
	if v.dirty && !opts.AllowDirty {
		return nil, fmt.Errorf("ntfs: at offset %d: %w (run chkdsk in Windows, or disable hibernation/Fast Startup and shut down fully)", off, ErrDirty)
	}
	if v.hibernated, err = v.checkHibernation(); err != nil {
		return nil, fmt.Errorf("ntfs: %w", err)
	}
	if v.hibernated && !opts.AllowDirty {
		return nil, fmt.Errorf("ntfs: at offset %d: %w (boot Windows and shut down fully: disable Fast Startup or run shutdown /s /t 0)", off, ErrHibernated)
	}
	if err := v.loadSecure(); err != nil {
		return nil, fmt.Errorf("ntfs: %w", err)
	}
	if err := v.loadObjectIDs(); err != nil {
		v.warn(fmt.Sprintf("object ids: %v (object ids are captured without birth ids)", err))
	}
	return v, nil
}

// Label returns the volume label.
func (v *Volume) Label() string { return v.label }

// Serial returns the volume serial number from the boot sector.
func (v *Volume) Serial() uint64 { return v.serial }

// Dirty reports whether the volume's dirty flag is set.
func (v *Volume) Dirty() bool { return v.dirty }

// Warnings returns the problems met so far that did not stop reading, such
// as skipped EFS-encrypted files.
func (v *Volume) Warnings() []string {
	v.warnMu.Lock()
	defer v.warnMu.Unlock()
	return append([]string(nil), v.warnings...)
}

// Close releases the volume; it closes the file opened by OpenFile.
func (v *Volume) Close() error {
	if v.closer != nil {
		c := v.closer
		v.closer = nil
		if err := c.Close(); err != nil {
			return fmt.Errorf("ntfs: close: %w", err)
		}
	}
	return nil
}

func (v *Volume) warn(msg string) {
	msg = strings.TrimPrefix(msg, "ntfs: ")
	slog.Warn("ntfs: " + msg)
	v.warnMu.Lock()
	v.warnings = append(v.warnings, msg)
	v.warnMu.Unlock()
}

// loadMFT bootstraps $MFT:$DATA from record 0 at cluster mftLCN.
func (v *Volume) loadMFT(mftLCN int64) error {
	buf := make([]byte, v.recordSize)
	if n, err := v.r.ReadAt(buf, mftLCN*v.clusterSize); n != len(buf) {
		return fmt.Errorf("read $MFT record 0 at cluster %d: %w", mftLCN, errOr(err))
	}
	if err := applyFixups(buf, "FILE"); err != nil {
		return fmt.Errorf("MFT record 0: %w", err)
	}
	rec, err := parseRecord(buf, recMFT, v.totalClusters)
	if err != nil {
		return fmt.Errorf("MFT record 0: %w", err)
	}
	// First a descriptor from the base record's extents alone; it must map
	// the extension records that hold the rest of the runlist.
	var exts []*attr
	for _, a := range rec.attrs {
		if a.typ == atData && a.name == "" {
			exts = append(exts, a)
		}
	}
	v.bootstrap = true
	v.mft, err = v.newStreamDesc("$MFT:$DATA", exts)
	v.bootstrap = false
	if err != nil {
		return err
	}
	if v.mft.isRes || v.mft.size < firstUserRec*v.recordSize {
		return fmt.Errorf("$MFT:$DATA: %w", corruptf("size %d too small", v.mft.size))
	}
	v.mftRecords = uint64(v.mft.size / v.recordSize)
	f, err := v.loadFile(recMFT)
	if err != nil {
		return err
	}
	d, err := v.newStreamDesc("$MFT:$DATA", f.attrsOf(atData, ""))
	if err != nil {
		return err
	}
	v.mft = d
	v.mftRecords = uint64(d.size / v.recordSize)
	return nil
}

func errOr(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// loadVolumeInfo reads the label and dirty flag from $Volume.
func (v *Volume) loadVolumeInfo() error {
	f, err := v.loadFile(recVolume)
	if err != nil {
		return err
	}
	if a := f.first(atVolumeName, ""); a != nil && a.resident {
		v.label = decodeUTF16(a.value)
	}
	a := f.first(atVolumeInformation, "")
	if a == nil || !a.resident || len(a.value) < 12 {
		return fmt.Errorf("MFT record 3 ($Volume): %w", corruptf("no valid $VOLUME_INFORMATION"))
	}
	v.dirty = binary.LittleEndian.Uint16(a.value[10:])&0x0001 != 0
	return nil
}

// readRecord reads and parses MFT record num. The raw buffer is pooled:
// parseRecord copies everything it keeps.
func (v *Volume) readRecord(num uint64) (*record, error) {
	if num >= v.mftRecords {
		return nil, fmt.Errorf("MFT record %d: %w", num, corruptf("beyond the end of $MFT (%d records)", v.mftRecords))
	}
	bp, _ := v.recPool.Get().(*[]byte)
	if bp == nil || int64(len(*bp)) != v.recordSize {
		b := make([]byte, v.recordSize)
		bp = &b
	}
	defer v.recPool.Put(bp)
	buf := *bp
	if err := v.readMFT(buf, int64(num)*v.recordSize); err != nil {
		return nil, fmt.Errorf("MFT record %d: %w", num, err)
	}
	if err := applyFixups(buf, "FILE"); err != nil {
		return nil, fmt.Errorf("MFT record %d: %w", num, err)
	}
	rec, err := parseRecord(buf, num, v.totalClusters)
	if err != nil {
		return nil, fmt.Errorf("MFT record %d: %w", num, err)
	}
	return rec, nil
}

// MFT reads go through a small cache of 64 KiB blocks: directory listings
// touch records that are mostly adjacent, and one big read replaces dozens
// of 1 KiB ones.
const (
	mftBlockSize   = 64 << 10
	mftCacheBlocks = 64
)

type mftCache struct {
	mu     sync.Mutex
	blocks map[int64][]byte
	fifo   []int64
}

// readMFT fills buf (one record, which never straddles a cache block) from
// $MFT:$DATA at offset off.
func (v *Volume) readMFT(buf []byte, off int64) error {
	if v.bootstrap || v.recordSize > mftBlockSize {
		_, err := v.mft.readAt(buf, off, nil)
		return err
	}
	bn := off / mftBlockSize
	c := &v.mftCache
	c.mu.Lock()
	blk, ok := c.blocks[bn]
	c.mu.Unlock()
	if !ok {
		n := min(mftBlockSize, v.mft.size-bn*mftBlockSize)
		blk = make([]byte, n)
		if _, err := v.mft.readAt(blk, bn*mftBlockSize, nil); err != nil {
			return err
		}
		c.mu.Lock()
		if c.blocks == nil {
			c.blocks = make(map[int64][]byte)
		}
		if _, dup := c.blocks[bn]; !dup {
			if len(c.fifo) >= mftCacheBlocks {
				delete(c.blocks, c.fifo[0])
				c.fifo = c.fifo[1:]
			}
			c.blocks[bn] = blk
			c.fifo = append(c.fifo, bn)
		}
		c.mu.Unlock()
	}
	in := off - bn*mftBlockSize
	if in+int64(len(buf)) > int64(len(blk)) {
		return corruptf("record at $MFT offset %d beyond its end", off)
	}
	copy(buf, blk[in:])
	return nil
}

// file is a base MFT record together with the attributes of its extension
// records.
type file struct {
	num   uint64
	seq   uint16
	flags uint16
	attrs []*attr
	names int // FILE_NAME attributes across all records
}

func (f *file) isDir() bool { return f.flags&recordDirectory != 0 }

// attrsOf returns the attributes with type typ and name name, in order.
func (f *file) attrsOf(typ uint32, name string) []*attr {
	var out []*attr
	for _, a := range f.attrs {
		if a.typ == typ && a.name == name {
			out = append(out, a)
		}
	}
	return out
}

func (f *file) first(typ uint32, name string) *attr {
	for _, a := range f.attrs {
		if a.typ == typ && a.name == name {
			return a
		}
	}
	return nil
}

// maxAttrListSize bounds $ATTRIBUTE_LIST; real lists stay far below.
const maxAttrListSize = 8 << 20

// loadFile reads base record num and, through its $ATTRIBUTE_LIST, every
// extension record.
func (v *Volume) loadFile(num uint64) (*file, error) {
	rec, err := v.readRecord(num)
	if err != nil {
		return nil, err
	}
	if rec.flags&recordInUse == 0 {
		return nil, fmt.Errorf("MFT record %d: %w", num, corruptf("record is not in use"))
	}
	if rec.base&refMask != 0 {
		return nil, fmt.Errorf("MFT record %d: %w", num, corruptf("is an extension record of record %d, not a base record", rec.base&refMask))
	}
	f := &file{num: num, seq: rec.seq, flags: rec.flags, attrs: rec.attrs, names: rec.nameRefs}
	var list *attr
	for _, a := range rec.attrs {
		if a.typ == atAttributeList {
			if list != nil {
				return nil, fmt.Errorf("MFT record %d: %w", num, corruptf("two $ATTRIBUTE_LIST attributes"))
			}
			list = a
		}
	}
	if list == nil {
		return f, nil
	}
	what := fmt.Sprintf("MFT record %d $ATTRIBUTE_LIST", num)
	ld, err := v.newStreamDesc(what, []*attr{list})
	if err != nil {
		return nil, err
	}
	data, err := ld.readAll(maxAttrListSize)
	if err != nil {
		return nil, err
	}
	refs, err := parseAttrList(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	seen := map[uint64]bool{num: true}
	for _, ref := range refs {
		ext := ref & refMask
		if seen[ext] {
			continue
		}
		seen[ext] = true
		er, err := v.readRecord(ext)
		if err != nil {
			return nil, fmt.Errorf("MFT record %d: extension: %w", num, err)
		}
		if er.flags&recordInUse == 0 || er.base&refMask != num {
			return nil, fmt.Errorf("MFT record %d: %w", num, corruptf("extension record %d is not in use or belongs to record %d", ext, er.base&refMask))
		}
		if seq := uint16(ref >> 48); seq != 0 && seq != er.seq {
			return nil, fmt.Errorf("MFT record %d: %w", num, corruptf("extension record %d has sequence %d, list says %d", ext, er.seq, seq))
		}
		f.attrs = append(f.attrs, er.attrs...)
		f.names += er.nameRefs
	}
	return f, nil
}

// parseAttrList returns the MFT references named by an $ATTRIBUTE_LIST.
func parseAttrList(b []byte) ([]uint64, error) {
	var refs []uint64
	for off := 0; off < len(b); {
		if off+0x1A > len(b) {
			return nil, corruptf("entry at offset %d truncated", off)
		}
		l := int(binary.LittleEndian.Uint16(b[off+4:]))
		if l < 0x1A || off+l > len(b) {
			return nil, corruptf("entry at offset %d has bad length %d", off, l)
		}
		refs = append(refs, binary.LittleEndian.Uint64(b[off+0x10:]))
		off += l
	}
	return refs, nil
}
