package images

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/wdscapture/wdscapture/volume"
)

// node is one entry of the tree being captured.
type node struct {
	e        *volume.Entry
	parent   *node
	children []*node
	ino      *inode
	secID    int32 // security ID, set by writeMetadata
}

func (n *node) path() string {
	if n.parent == nil {
		return `\`
	}
	var parts []string
	for p := n; p.parent != nil; p = p.parent {
		parts = append(parts, p.e.Name)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('\\')
		b.WriteString(parts[i])
	}
	return b.String()
}

// inode groups the names of one file (hard links) and its streams.
type inode struct {
	first   *node
	nlink   int
	id      uint64
	streams []*captureStream
	left    int // streams with data not yet stored (writeStreams)
}

// captureStream is one stream to store; hash is final once known is set.
type captureStream struct {
	ino     *inode
	index   int // index into Entry.Streams, or -1 for the reparse stream
	name    string
	size    uint64
	hash    [20]byte
	known   bool
	reparse bool
}

const maxDepth = 1024

// AddImage captures src as a new image. On error the writer must be
// aborted; the target file is unaffected. A failed check of what was
// written (Options.Verify) is a *CheckError.
func (w *Writer) AddImage(ctx context.Context, src volume.Source, opts ImageOptions) (*ImageInfo, error) {
	w.ctx = ctx
	info, err := w.addImage(ctx, src, opts)
	if err != nil {
		if ce := w.checkError(err); ce != nil {
			return nil, ce
		}
		return nil, err
	}
	return info, nil
}

// imageBuild is an image on its way into the WIM: what each phase of
// addImage hands to the next.
type imageBuild struct {
	src  volume.Source
	info *ImageInfo
	root *node
	// inodes are the files of the tree, hard links once, in scan order.
	inodes []*inode
	// streams are the streams with data, in the order they are written.
	streams []*captureStream
}

// addImage runs the phases of a capture in order: scan the tree, collect
// the streams, pre-hash the ones that may be duplicates, write the data,
// write the metadata.
func (w *Writer) addImage(ctx context.Context, src volume.Source, opts ImageOptions) (*ImageInfo, error) {
	if w.done {
		return nil, fmt.Errorf("add image: writer already closed")
	}
	if err := opts.Check(); err != nil {
		return nil, fmt.Errorf("add image: %w", err)
	}
	for _, im := range w.images {
		if opts.Name != "" && strings.EqualFold(im.Name, opts.Name) {
			return nil, fmt.Errorf("add image: %s already has an image named %q (index %d)", w.path, im.Name, im.Index)
		}
	}
	info := &ImageInfo{Index: len(w.images) + 1, Name: opts.Name, Description: opts.Description,
		Flags: opts.Flags, DisplayName: opts.DisplayName, DisplayDescription: opts.DisplayDescription,
		WindowsXML: opts.WindowsXML}
	info.CreationTime = filetimeNow()
	b := &imageBuild{src: src, info: info}
	if err := w.scanTree(ctx, b); err != nil {
		return nil, err
	}
	if err := w.collectStreams(b); err != nil {
		return nil, err
	}
	if w.opts.BeforeWrite != nil {
		if err := w.opts.BeforeWrite(w.prog.BytesTotal); err != nil {
			return nil, err
		}
	}
	if err := w.prehashStreams(ctx, b); err != nil {
		return nil, err
	}
	if err := w.writeStreams(ctx, b); err != nil {
		return nil, err
	}
	if err := w.writeMetadata(ctx, b); err != nil {
		return nil, err
	}
	info.LastModificationTime = filetimeNow()
	w.images = append(w.images, *info)
	if opts.Boot {
		w.hdr.BootIndex = uint32(info.Index)
	}
	return info, nil
}

// scanTree reads the source tree into b.root: every entry, sorted the way
// Windows sorts names, hard links grouped into inodes, and the image's
// file and directory counts.
func (w *Writer) scanTree(ctx context.Context, b *imageBuild) error {
	w.prog = Progress{Phase: "scan"}
	w.report()
	rootEntry, err := b.src.Root()
	if err != nil {
		return fmt.Errorf("read source root: %w", err)
	}
	if !rootEntry.IsDir() {
		return fmt.Errorf("source root is not a directory")
	}
	b.root = &node{e: rootEntry}
	links := map[uint64]*inode{}
	var scan func(n *node, depth int) error
	scan = func(n *node, depth int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if n.e.LinkID != 0 && !n.e.IsDir() {
			if ino, ok := links[n.e.LinkID]; ok {
				ino.nlink++
				n.ino = ino
			}
		}
		if n.ino == nil {
			n.ino = &inode{first: n, nlink: 1}
			if n.e.LinkID != 0 && !n.e.IsDir() {
				links[n.e.LinkID] = n.ino
			}
			b.inodes = append(b.inodes, n.ino)
		}
		// As wimlib and DISM count them: a reparse point is a file even
		// with the directory attribute (a directory symlink, a junction).
		if n.e.IsDir() && n.e.Attributes&volume.AttrReparsePoint == 0 {
			b.info.DirCount++
		} else {
			b.info.FileCount++
		}
		w.prog.FilesTotal++
		w.report()
		if !n.e.IsDir() || n.e.Attributes&volume.AttrReparsePoint != 0 {
			return nil
		}
		if depth >= maxDepth {
			return fmt.Errorf("%s: directory tree deeper than %d levels", n.path(), maxDepth)
		}
		kids, err := b.src.ReadDir(n.e)
		if err != nil {
			return fmt.Errorf("read directory %s: %w", n.path(), err)
		}
		sortEntries(kids)
		for i, k := range kids {
			if err := checkName(k.Name); err != nil {
				return fmt.Errorf("in %s: %w", n.path(), err)
			}
			if i > 0 && kids[i-1].Name == k.Name {
				return fmt.Errorf("in %s: two entries named %q", n.path(), k.Name)
			}
			c := &node{e: k, parent: n}
			n.children = append(n.children, c)
			if err := scan(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return scan(b.root, 0)
}

// collectStreams lists the streams of each inode (the reparse data counts
// as one), numbers the hard-linked inodes, and sets b.streams to those
// with data and the progress total to their size.
func (w *Writer) collectStreams(b *imageBuild) error {
	var linkID uint64
	for _, ino := range b.inodes {
		e := ino.first.e
		if ino.nlink > 1 {
			linkID++
			ino.id = linkID
		}
		if e.Attributes&volume.AttrReparsePoint != 0 {
			s := &captureStream{ino: ino, index: -1, size: uint64(len(e.ReparseData)), reparse: true}
			s.hash, s.known = sha1.Sum(e.ReparseData), true
			ino.streams = append(ino.streams, s)
		}
		for i, st := range e.Streams {
			if st.Size < 0 {
				return fmt.Errorf("%s: stream %q has negative size", ino.first.path(), st.Name)
			}
			if e.IsDir() && st.Name == "" {
				continue // a directory has no unnamed data stream in a WIM
			}
			s := &captureStream{ino: ino, index: i, name: st.Name, size: uint64(st.Size)}
			ino.streams = append(ino.streams, s)
		}
		for _, s := range ino.streams {
			if s.size == 0 {
				s.hash, s.known = zeroHash, true
				continue
			}
			w.prog.BytesTotal += s.size
			b.streams = append(b.streams, s)
		}
	}
	return nil
}

// prehashStreams hashes first the streams whose size matches another's
// (in this image or in the WIM): they may be duplicates, which are then
// neither compressed nor written twice.
func (w *Writer) prehashStreams(ctx context.Context, b *imageBuild) error {
	sizeCount := map[uint64]int{}
	for _, s := range b.streams {
		sizeCount[s.size]++
	}
	var prehash []*captureStream
	for _, s := range b.streams {
		if !s.known && (sizeCount[s.size] > 1 || w.sizes[s.size] > 0) {
			prehash = append(prehash, s)
		}
	}
	if len(prehash) == 0 {
		return nil
	}
	writeTotal := w.prog.BytesTotal
	w.prog.Phase, w.prog.BytesDone, w.prog.BytesTotal = "hash", 0, 0
	for _, s := range prehash {
		w.prog.BytesTotal += s.size
	}
	w.report()
	if err := w.hashStreams(ctx, b.src, prehash); err != nil {
		return err
	}
	w.report() // the hash phase at 100%
	w.prog.BytesDone, w.prog.BytesTotal = 0, writeTotal
	return nil
}

// writeStreams stores every stream of b that the WIM does not hold yet and
// counts a reference for each one it does.
func (w *Writer) writeStreams(ctx context.Context, b *imageBuild) error {
	// Files are counted as the technician sees them: a file is done when
	// all its streams are stored (hard links count once per name).
	var filesWithData uint64
	for _, s := range b.streams {
		if s.ino.left == 0 && !s.ino.first.e.IsDir() {
			filesWithData += uint64(s.ino.nlink)
		}
		s.ino.left++
	}
	w.prog.Phase = "write"
	w.prog.FilesTotal = b.info.FileCount
	w.prog.FilesDone = b.info.FileCount - filesWithData
	w.report()
	for _, s := range b.streams {
		if s.ino.left--; s.ino.left == 0 && !s.ino.first.e.IsDir() {
			w.prog.FilesDone += uint64(s.ino.nlink)
		}
		if s.known {
			if bl, ok := w.byHash[s.hash]; ok {
				bl.refcnt += uint32(s.ino.nlink)
				w.addBytes(s.size)
				continue
			}
		}
		w.prog.Path = s.ino.first.path()
		res, pend, sum, err := w.writeStream(ctx, b.src, s)
		if err != nil {
			return err
		}
		if s.known && sum != s.hash {
			w.log.Warn("file changed while it was captured; its new contents were stored", "path", s.ino.first.path())
		}
		s.hash, s.known = sum, true
		if bl, ok := w.byHash[sum]; ok {
			// Changed content that now duplicates a stored blob: keep
			// the stored copy and reclaim the space just written.
			bl.refcnt += uint32(s.ino.nlink)
			if pend != nil {
				if err := w.finishAll(); err != nil {
					return err
				}
				res = pend.hdr
			}
			if err := w.rewind(int64(res.Offset)); err != nil {
				return err
			}
			continue
		}
		bl := &blob{res: res, part: 1, refcnt: uint32(s.ino.nlink), hash: sum}
		if pend != nil {
			pend.attach(bl)
		}
		w.blobs = append(w.blobs, bl)
		w.byHash[sum] = bl
		w.sizes[s.size]++
	}
	if w.pool != nil {
		if err := w.finishAll(); err != nil {
			return err
		}
	}
	w.report() // the write phase at 100%
	return nil
}

// writeMetadata builds the image's security data and dentry tree, writes
// them as its metadata resource and completes b.info's byte counts. The
// dentries are encoded straight from the scanned tree, one at a time: a
// tree of Dentry values beside it would hold as much memory again, at the
// capture's peak.
func (w *Writer) writeMetadata(ctx context.Context, b *imageBuild) error {
	w.prog.Phase = "metadata"
	w.prog.Path = ""
	w.report()
	info := b.info
	sec := newSecurityTable()
	// Security IDs in pre-order, as a reader numbers them.
	var index func(n *node)
	index = func(n *node) {
		n.secID = sec.add(n.e.Security)
		for _, s := range n.ino.streams {
			info.TotalBytes += s.size
			if n != n.ino.first {
				info.HardLinkBytes += s.size
			}
		}
		for _, c := range n.children {
			index(c)
		}
	}
	index(b.root)
	// The resource is encoded as it is compressed, through a pipe: held
	// whole beside the scanned tree, it would set the capture's peak.
	var d Dentry
	secData := sec.marshal()
	l := layoutDentries(len(secData), b.root, func(n *node) []*node { return n.children }, func(n *node) *Dentry {
		n.fillDentry(&d)
		return &d
	})
	pr, pw := io.Pipe()
	encoded := make(chan error, 1)
	go func() {
		err := l.write(pw, secData, b.root)
		pw.CloseWithError(err)
		encoded <- err
	}()
	res, sum, err := w.writeResource(ctx, pr, l.size, resFlagMetadata, "the image metadata")
	pr.CloseWithError(errors.New("metadata no longer read")) // stops the encoder if it is still writing
	if encErr := <-encoded; err == nil && encErr != nil {
		err = encErr // it wrote more than it laid out
	}
	// The metadata is written: let the scanned tree go.
	b.root, b.inodes, b.streams = nil, nil, nil
	if err != nil {
		return fmt.Errorf("write metadata resource: %w", err)
	}
	mb := &blob{res: res, part: 1, refcnt: 1, hash: sum}
	w.blobs = append(w.blobs, mb)
	w.metas = append(w.metas, mb)
	return nil
}

// fillDentry sets d to the dentry of n (its security ID assigned), reusing
// d's stream slice.
func (n *node) fillDentry(d *Dentry) {
	e := n.e
	*d = Dentry{
		Name: e.Name, ShortName: e.ShortName, Attributes: e.Attributes,
		SecurityID: n.secID, CreationTime: e.CreationTime,
		LastAccessTime: e.LastAccessTime, LastWriteTime: e.LastWriteTime,
		HardLinkID: n.ino.id, Streams: d.Streams[:0],
	}
	if n.parent == nil {
		d.Name, d.ShortName = "", ""
	}
	if d.Attributes == 0 {
		d.Attributes = volume.AttrNormal
	}
	if e.Attributes&volume.AttrReparsePoint != 0 {
		d.ReparseTag = e.ReparseTag
		d.HardLinkID = 0
	}
	for _, s := range n.ino.streams {
		d.Streams = append(d.Streams, StreamRef{Name: s.name, Reparse: s.reparse, Hash: s.hash})
	}
}

// rewind drops everything written from off on.
func (w *Writer) rewind(off int64) error {
	w.forgetRegions(off)
	return w.out.rewind(off)
}

func (w *Writer) openStream(src volume.Source, s *captureStream) (io.ReadCloser, error) {
	if s.reparse {
		return io.NopCloser(bytes.NewReader(s.ino.first.e.ReparseData)), nil
	}
	rc, err := src.OpenStream(s.ino.first.e, s.index)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", streamPath(s), err)
	}
	return rc, nil
}

func streamPath(s *captureStream) string {
	p := s.ino.first.path()
	if s.name != "" {
		p += ":" + s.name
	}
	return p
}

// writeStream stores s: written out (res) when the WIM is uncompressed,
// queued for compression (pend) otherwise.
func (w *Writer) writeStream(ctx context.Context, src volume.Source, s *captureStream) (res resHdr, pend *pendingRes, sum [20]byte, err error) {
	rc, err := w.openStream(src, s)
	if err != nil {
		return res, nil, sum, err
	}
	defer rc.Close()
	if w.pool == nil || s.size == 0 {
		res, sum, err = w.writeResource(ctx, rc, s.size, 0, streamPath(s))
		return res, nil, sum, err
	}
	pend, sum, err = w.queueResource(ctx, rc, s.size, 0, streamPath(s))
	return res, pend, sum, err
}

// hashBufSize is the read size of the hash phase: small enough that the
// data is still in the CPU cache when SHA-1 reads it.
const hashBufSize = 128 << 10

// hashStreams computes the SHA-1 of each stream with a bounded set of
// goroutines.
func (w *Writer) hashStreams(ctx context.Context, src volume.Source, list []*captureStream) error {
	hashOne := func(s *captureStream, buf []byte) error {
		h := sha1.New()
		rc, err := w.openStream(src, s)
		if err != nil {
			return err
		}
		defer rc.Close()
		n, err := io.CopyBuffer(h, io.LimitReader(rc, int64(s.size)), buf)
		if err != nil {
			return fmt.Errorf("read %s: %w", streamPath(s), err)
		}
		if uint64(n) != s.size {
			return fmt.Errorf("read %s: got %d bytes, want %d (file shrank?)", streamPath(s), n, s.size)
		}
		h.Sum(s.hash[:0])
		s.known = true
		return nil
	}
	if w.opts.threads() == 1 {
		// One thread: no goroutine hand-offs, which cost a wake-up per file.
		buf := make([]byte, hashBufSize)
		for _, s := range list {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := hashOne(s, buf); err != nil {
				return err
			}
			w.prog.BytesDone += s.size
			w.report()
		}
		return nil
	}
	var mu sync.Mutex
	var firstErr error
	ch := make(chan *captureStream, 64)
	var wg sync.WaitGroup
	for i := 0; i < w.opts.threads(); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, hashBufSize)
			for s := range ch {
				err := hashOne(s, buf)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, s := range list {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		ch <- s
		w.prog.BytesDone += s.size
		w.report()
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// marshalMetadata lays out the security data and the dentry tree: the root
// dentry, an end marker, then every directory's children in pre-order.
func marshalMetadata(sec *securityTable, root *Dentry) []byte {
	secData := sec.marshal()
	l := layoutDentries(len(secData), root, func(d *Dentry) []*Dentry { return d.Children }, func(d *Dentry) *Dentry { return d })
	var buf bytes.Buffer
	buf.Grow(int(l.size))
	l.write(&buf, secData, root) // a bytes.Buffer does not fail
	return buf.Bytes()
}

// dentryLayout is where each directory's children go in a metadata
// resource, for any tree: children lists a node's children, and dentry
// gives its dentry, which need only stay valid until the next call.
type dentryLayout[T comparable] struct {
	children func(T) []T
	dentry   func(T) *Dentry
	subdir   map[T]uint64 // directories only
	size     uint64       // of the whole resource
}

// layoutDentries lays out the tree under root after secLen bytes of
// security data.
func layoutDentries[T comparable](secLen int, root T, children func(T) []T, dentry func(T) *Dentry) *dentryLayout[T] {
	l := &dentryLayout[T]{children: children, dentry: dentry, subdir: map[T]uint64{}}
	pos := uint64(secLen + dentryLength(dentry(root)) + 8)
	var assign func(t T)
	assign = func(t T) {
		if !dentry(t).IsDir() {
			return
		}
		l.subdir[t] = pos
		for _, c := range children(t) {
			pos += uint64(dentryLength(dentry(c)))
		}
		pos += 8
		for _, c := range children(t) {
			assign(c)
		}
	}
	assign(root)
	l.size = pos
	return l
}

// write encodes the resource onto w, in pieces of about 64 KiB.
func (l *dentryLayout[T]) write(w io.Writer, secData []byte, root T) error {
	const piece = 64 << 10
	var written uint64
	b := make([]byte, 0, piece+4096)
	flush := func(force bool) error {
		if len(b) < piece && !force {
			return nil
		}
		n, err := w.Write(b)
		written += uint64(n)
		b = b[:0]
		return err
	}
	if _, err := w.Write(secData); err != nil {
		return err
	}
	written += uint64(len(secData))
	b = appendDentry(b, l.dentry(root), l.subdir[root])
	b = append(b, make([]byte, 8)...)
	var emit func(t T) error
	emit = func(t T) error {
		if !l.dentry(t).IsDir() {
			return nil
		}
		for _, c := range l.children(t) {
			b = appendDentry(b, l.dentry(c), l.subdir[c])
			if err := flush(false); err != nil {
				return err
			}
		}
		b = append(b, make([]byte, 8)...)
		for _, c := range l.children(t) {
			if err := emit(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := emit(root); err != nil {
		return err
	}
	if err := flush(true); err != nil {
		return err
	}
	if written != l.size {
		return fmt.Errorf("internal error: metadata of %d bytes laid out as %d", written, l.size)
	}
	return nil
}

// sortEntries orders names the way Windows collates them: case-insensitive
// UTF-16, ties broken case-sensitively.
func sortEntries(es []*volume.Entry) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := strings.ToUpper(es[i].Name), strings.ToUpper(es[j].Name)
		if a != b {
			return utf16Less(a, b)
		}
		return utf16Less(es[i].Name, es[j].Name)
	})
}

func utf16Less(a, b string) bool {
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			return ua[i] < ub[i]
		}
	}
	return len(ua) < len(ub)
}

func checkName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("invalid file name %q", name)
	}
	if strings.ContainsAny(name, "\\\x00") {
		return fmt.Errorf("file name %q contains a backslash or NUL", name)
	}
	if n := len(utf16.Encode([]rune(name))); n > maxNameUnits {
		return fmt.Errorf("file name of %d UTF-16 units is too long", n)
	}
	return nil
}
