package ntfs

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
)

// streamDesc describes where the logical bytes of one attribute value live.
type streamDesc struct {
	v        *Volume
	what     string // "MFT record N attribute ..." for error messages
	resident []byte
	isRes    bool
	// lazy resident streams keep only where their value is: the value is
	// read again from the MFT record when the stream is opened, so a
	// scanned tree does not hold every small file's data in memory.
	lazy     bool
	lazyRec  uint64
	lazyAt   string
	runs     []run // sorted by VCN, contiguous from VCN 0
	size     int64
	initSize int64
	unit     int64 // compression unit in clusters, 0 if not compressed
}

// maxUnitBytes bounds an LZNT1 compression unit (16 clusters of 4 KiB is
// what Windows uses; larger clusters cannot be compressed).
const maxUnitBytes = 1 << 20

// newStreamDesc combines the extents of one attribute into a descriptor.
// exts are all attribute records with the same type and name.
func (v *Volume) newStreamDesc(what string, exts []*attr) (*streamDesc, error) {
	if len(exts) == 0 {
		return nil, fmt.Errorf("%s: no attribute", what)
	}
	d := &streamDesc{v: v, what: what}
	if exts[0].resident {
		if len(exts) != 1 {
			return nil, fmt.Errorf("%s: %w", what, corruptf("resident attribute appears %d times", len(exts)))
		}
		d.isRes = true
		d.resident = exts[0].value
		d.size = int64(len(d.resident))
		d.initSize = d.size
		return d, nil
	}
	sorted := append([]*attr(nil), exts...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].startVCN < sorted[j].startVCN })
	first := sorted[0]
	if first.startVCN != 0 {
		return nil, fmt.Errorf("%s: %w", what, corruptf("no extent starts at VCN 0 (first starts at %d)", first.startVCN))
	}
	d.size, d.initSize = first.dataSize, first.initSize
	if first.flags&attrFlagCompressionMask != 0 {
		if first.flags&attrFlagCompressionMask != 1 {
			return nil, fmt.Errorf("%s: unsupported compression method %d", what, first.flags&attrFlagCompressionMask)
		}
		if first.compUnit == 0 {
			return nil, fmt.Errorf("%s: %w", what, corruptf("compressed attribute with compression unit 0"))
		}
		d.unit = 1 << first.compUnit
		if d.unit*v.clusterSize > maxUnitBytes {
			return nil, fmt.Errorf("%s: compression unit of %d bytes is not supported", what, d.unit*v.clusterSize)
		}
	}
	next := int64(0)
	for _, e := range sorted {
		if e.resident {
			return nil, fmt.Errorf("%s: %w", what, corruptf("resident and non-resident extents mixed"))
		}
		if e.startVCN != next {
			return nil, fmt.Errorf("%s: %w", what, corruptf("extent starts at VCN %d, expected %d (gap or overlap)", e.startVCN, next))
		}
		for _, r := range e.runs {
			if n := len(d.runs); n > 0 && d.runs[n-1].lcn == lcnSparse && r.lcn == lcnSparse {
				d.runs[n-1].length += r.length
				continue
			}
			d.runs = append(d.runs, r)
		}
		next = e.lastVCN + 1
	}
	if !v.bootstrap && d.size > d.mapped() {
		return nil, fmt.Errorf("%s: %w", what, corruptf("data size %d exceeds the %d bytes its runlist maps", d.size, d.mapped()))
	}
	return d, nil
}

// mapped returns the number of bytes covered by the runlist.
func (d *streamDesc) mapped() int64 {
	if n := len(d.runs); n > 0 {
		last := d.runs[n-1]
		return (last.vcn + last.length) * d.v.clusterSize
	}
	return 0
}

// findRun returns the index of the run containing vcn, or -1.
func (d *streamDesc) findRun(vcn int64, hint int) int {
	if hint >= 0 && hint < len(d.runs) {
		r := d.runs[hint]
		if vcn >= r.vcn && vcn < r.vcn+r.length {
			return hint
		}
		if hint+1 < len(d.runs) {
			r = d.runs[hint+1]
			if vcn >= r.vcn && vcn < r.vcn+r.length {
				return hint + 1
			}
		}
	}
	i := sort.Search(len(d.runs), func(i int) bool { return d.runs[i].vcn+d.runs[i].length > vcn })
	if i < len(d.runs) && d.runs[i].vcn <= vcn {
		return i
	}
	return -1
}

// streamReader reads a stream sequentially. Each reader has its own state;
// the volume is accessed only through io.ReaderAt, so readers may run
// concurrently.
type streamReader struct {
	d    *streamDesc
	pos  int64
	hint int
	// compressed streams: the decoded unit cache
	unitNo int64
	ubuf   []byte
	cbuf   []byte
}

func (d *streamDesc) open() *streamReader {
	return &streamReader{d: d, unitNo: -1}
}

// openLazy opens d, first fetching a lazy resident value.
func (d *streamDesc) openLazy() (*streamReader, error) {
	if !d.lazy {
		return d.open(), nil
	}
	f, err := d.v.loadFile(d.lazyRec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.what, err)
	}
	for _, a := range f.attrsOf(atData, d.lazyAt) {
		if a.resident && int64(len(a.value)) == d.size {
			nd := *d
			nd.lazy, nd.resident = false, a.value
			return nd.open(), nil
		}
	}
	return nil, fmt.Errorf("%s: resident value of %d bytes changed on disk since the directory was read", d.what, d.size)
}

// Read implements io.Reader.
func (s *streamReader) Read(p []byte) (int, error) {
	if s.pos >= s.d.size {
		return 0, io.EOF
	}
	n, err := s.d.readAt(p, s.pos, s)
	s.pos += int64(n)
	return n, err
}

// Close implements io.Closer.
func (s *streamReader) Close() error {
	s.ubuf, s.cbuf = nil, nil
	return nil
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// WriteTo implements io.WriterTo with large reads, so io.Copy into a hash
// does few, big ReadAt calls.
func (s *streamReader) WriteTo(w io.Writer) (int64, error) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := s.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// readAt fills at most len(p) bytes from offset off; it returns fewer bytes
// only at the end of the stream (then with io.EOF) or with an error. st
// holds per-reader caches and may be nil.
func (d *streamDesc) readAt(p []byte, off int64, st *streamReader) (int, error) {
	if off >= d.size {
		return 0, io.EOF
	}
	want := len(p)
	if rem := d.size - off; int64(want) > rem {
		want = int(rem)
	}
	done := 0
	for done < want {
		n, err := d.readSome(p[done:want], off+int64(done), st)
		done += n
		if err != nil {
			return done, err
		}
	}
	if done < len(p) {
		return done, io.EOF
	}
	return done, nil
}

// readSome reads a contiguous piece (never crossing a run, unit or the
// initialized-size boundary) into p; it returns at least one byte or an
// error.
func (d *streamDesc) readSome(p []byte, off int64, st *streamReader) (int, error) {
	if d.isRes {
		return copy(p, d.resident[off:]), nil
	}
	if off >= d.initSize {
		clear(p)
		return len(p), nil
	}
	if lim := d.initSize - off; int64(len(p)) > lim {
		p = p[:lim]
	}
	if d.unit != 0 {
		return d.readCompressed(p, off, st)
	}
	cs := d.v.clusterSize
	vcn := off / cs
	hint := 0
	if st != nil {
		hint = st.hint
	}
	i := d.findRun(vcn, hint)
	if i < 0 {
		return 0, fmt.Errorf("%s: offset %d is not mapped by the runlist (%d bytes mapped)", d.what, off, d.mapped())
	}
	if st != nil {
		st.hint = i
	}
	r := d.runs[i]
	if end := (r.vcn+r.length)*cs - off; int64(len(p)) > end {
		p = p[:end]
	}
	if r.lcn == lcnSparse {
		clear(p)
		return len(p), nil
	}
	phys := r.lcn*cs + (off - r.vcn*cs)
	n, err := d.v.r.ReadAt(p, phys)
	if n == len(p) {
		return n, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, fmt.Errorf("%s: read %d bytes at volume offset %d: %w", d.what, len(p), phys, err)
}

// readCompressed serves p from the LZNT1 unit containing off.
func (d *streamDesc) readCompressed(p []byte, off int64, st *streamReader) (int, error) {
	if st == nil {
		st = &streamReader{d: d, unitNo: -1}
	}
	cs := d.v.clusterSize
	ubytes := d.unit * cs
	u := off / ubytes
	if st.unitNo != u {
		if err := d.loadUnit(u, st); err != nil {
			st.unitNo = -1
			return 0, err
		}
		st.unitNo = u
	}
	return copy(p, st.ubuf[off-u*ubytes:]), nil
}

// loadUnit decodes compression unit u into st.ubuf.
func (d *streamDesc) loadUnit(u int64, st *streamReader) error {
	cs := d.v.clusterSize
	ubytes := int(d.unit * cs)
	if st.ubuf == nil {
		st.ubuf = make([]byte, ubytes)
		st.cbuf = make([]byte, ubytes)
	}
	start, end := u*d.unit, (u+1)*d.unit
	cb := st.cbuf[:0]
	allocated := int64(0)
	for vcn := start; vcn < end; {
		i := d.findRun(vcn, st.hint)
		if i < 0 {
			break // beyond the runlist: treat as a hole
		}
		st.hint = i
		r := d.runs[i]
		n := min(r.vcn+r.length, end) - vcn
		if r.lcn != lcnSparse {
			phys := r.lcn*cs + (vcn-r.vcn)*cs
			seg := cb[len(cb) : len(cb)+int(n*cs)]
			if m, err := d.v.r.ReadAt(seg, phys); m != len(seg) {
				if err == nil || errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("%s: read compression unit %d at volume offset %d: %w", d.what, u, phys, err)
			}
			cb = cb[:len(cb)+len(seg)]
			allocated += n
		}
		vcn += n
	}
	switch {
	case allocated == d.unit:
		copy(st.ubuf, cb)
	case allocated == 0:
		clear(st.ubuf)
	default:
		clear(st.ubuf)
		if err := decompressLZNT1(st.ubuf, cb); err != nil {
			return fmt.Errorf("%s: compression unit %d: %w", d.what, u, err)
		}
	}
	return nil
}

// readAll reads a whole (small) stream, refusing more than limit bytes.
func (d *streamDesc) readAll(limit int64) ([]byte, error) {
	if d.size > limit {
		return nil, fmt.Errorf("%s: %w", d.what, corruptf("size %d exceeds the limit of %d bytes", d.size, limit))
	}
	b := make([]byte, d.size)
	if _, err := d.readAt(b, 0, nil); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}
