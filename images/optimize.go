package images

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
)

// usedEnd returns the end of the last byte the WIM uses: the header, every
// resource of the blob table, and the blob table, XML data, integrity
// table and boot metadata themselves.
func (r *Reader) usedEnd() int64 {
	end := uint64(headerSize)
	for _, res := range []resHdr{r.hdr.BlobTable, r.hdr.XML, r.hdr.Integrity, r.hdr.BootMeta} {
		if res != (resHdr{}) {
			end = max(end, res.Offset+res.StoredSize)
		}
	}
	for _, b := range r.blobList {
		end = max(end, b.res.Offset+b.res.StoredSize)
	}
	return int64(end)
}

// Space says how a WIM file's bytes are used.
type Space struct {
	// Size is the file size.
	Size int64
	// Used is what the header, the resources the blob table lists (each
	// SHA-1 once) and the blob table, XML data and integrity table take.
	Used int64
}

// Unused is the dead space: bytes no part of the WIM refers to, left by
// earlier appends (each leaves the blob table, XML data and integrity
// table it replaced) and by interrupted writes. Optimize removes it.
func (s Space) Unused() int64 { return s.Size - s.Used }

// Space returns how the WIM's bytes are used.
func (r *Reader) Space() Space {
	used := uint64(headerSize)
	for _, res := range []resHdr{r.hdr.BlobTable, r.hdr.XML, r.hdr.Integrity} {
		used += res.StoredSize
	}
	seen := map[[20]byte]bool{}
	for _, b := range r.blobList {
		if !b.metadata() {
			if seen[b.hash] {
				continue
			}
			seen[b.hash] = true
		}
		used += b.res.StoredSize
	}
	return Space{Size: r.size, Used: int64(min(used, uint64(r.size)))}
}

// OptimizeOptions configures Optimize.
type OptimizeOptions struct {
	// Integrity writes an integrity table even when the WIM has none (one
	// it has is always kept).
	Integrity bool
	// Threads bounds the goroutines of the final verification; 0 means
	// GOMAXPROCS.
	Threads int
	// Progress, when set, is told the bytes copied, then verified, and
	// their totals; phase is "copy" or "verify".
	Progress func(phase string, done, total uint64)
}

// Optimize rewrites the WIM at path without dead space: every resource an
// image refers to is copied as stored (no recompression) into a new file
// beside it, with a new blob table, XML data and (when the WIM had one, or
// opts.Integrity) integrity table. The new file is verified in full before
// it replaces the old one by rename, so an interruption or a crash at any
// moment leaves the old WIM as it was (and at worst a hidden
// ".NAME.partial-*" file, which the next write into that directory
// removes). The WIM's GUID, images and boot index are kept. It returns
// the space before and after.
func Optimize(ctx context.Context, path string, opts OptimizeOptions) (before, after Space, err error) {
	r, err := Open(path)
	if err != nil {
		return before, after, err
	}
	defer r.Close()
	before = r.Space()
	if err := r.checkForAppend(ctx); err != nil {
		return before, after, fmt.Errorf("optimize %s: nothing was changed: %w", path, err)
	}
	hdrBytes, err := ReadHeaderBytes(r.f)
	if err != nil {
		return before, after, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return before, after, err
	}

	// The streams some image refers to, in file order.
	used := map[[20]byte]bool{}
	for i := range r.metas {
		img, err := r.Image(i + 1)
		if err != nil {
			return before, after, err
		}
		Walk(img.Root, func(d *Dentry) error {
			for _, s := range d.Streams {
				used[s.Hash] = true
			}
			return nil
		})
	}
	var keep []*blob
	var total uint64
	for _, b := range r.blobList {
		if b.metadata() || (used[b.hash] && r.blobs[b.hash] == b) {
			keep = append(keep, b)
			total += b.res.StoredSize
		}
	}

	w, err := Create(path, Options{Compression: r.comp, Integrity: opts.Integrity || r.HasIntegrity(), Overwrite: true, Threads: 1})
	if err != nil {
		return before, after, fmt.Errorf("optimize %s: %w", path, err)
	}
	defer w.Abort()
	w.hdr.GUID = r.hdr.GUID
	w.hdr.BootIndex = r.hdr.BootIndex
	w.hdr.Flags |= r.hdr.Flags & hdrFlagRPFix
	buf := make([]byte, 1<<20)
	var done uint64
	for _, b := range keep {
		nb := *b
		nb.res.Offset = uint64(w.out.pos)
		for off := uint64(0); off < b.res.StoredSize; {
			if err := ctx.Err(); err != nil {
				return before, after, fmt.Errorf("optimize %s: interrupted, nothing was changed: %w", path, err)
			}
			n := min(uint64(len(buf)), b.res.StoredSize-off)
			if _, err := r.f.ReadAt(buf[:n], int64(b.res.Offset+off)); err != nil && err != io.EOF {
				return before, after, fmt.Errorf("optimize %s: read at offset %d: %w", path, b.res.Offset+off, err)
			}
			if _, err := w.out.Write(buf[:n]); err != nil {
				return before, after, fmt.Errorf("optimize %s: %w", path, err)
			}
			off += n
			done += n
			if opts.Progress != nil {
				opts.Progress("copy", done, total)
			}
		}
		w.blobs = append(w.blobs, &nb)
		if nb.metadata() {
			w.metas = append(w.metas, &nb)
		}
	}
	w.images = append([]ImageInfo(nil), r.images...)
	mode := st.Mode().Perm()
	w.beforeRename = func(tmp string) error {
		if err := os.Chmod(tmp, mode); err != nil {
			return err
		}
		var vp func(done, total uint64)
		if opts.Progress != nil {
			vp = func(done, total uint64) { opts.Progress("verify", done, total) }
		}
		if err := VerifyContext(ctx, tmp, VerifyOptions{Threads: opts.Threads, Progress: vp}); err != nil {
			return fmt.Errorf("the rewritten WIM does not verify, the old one is kept: %w", err)
		}
		// Nothing may have changed the WIM since it was read.
		now, err := os.Stat(path)
		if err != nil {
			return err
		}
		h, err := readHeaderFile(path)
		if err != nil {
			return err
		}
		if now.Size() != st.Size() || !now.ModTime().Equal(st.ModTime()) || !bytes.Equal(h, hdrBytes) {
			return fmt.Errorf("%s changed while it was being optimized; it is kept as it is", path)
		}
		return nil
	}
	if err := w.Commit(); err != nil {
		return before, after, fmt.Errorf("optimize %s: %w", path, err)
	}
	r2, err := Open(path)
	if err != nil {
		return before, after, err
	}
	after = r2.Space()
	r2.Close()
	return before, after, nil
}

func readHeaderFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadHeaderBytes(f)
}
