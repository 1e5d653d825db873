package images

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// Threads bounds the goroutines checking blobs; 0 means GOMAXPROCS.
	Threads int
	// Progress, when set, is called with bytes checked so far and the total.
	Progress func(done, total uint64)
}

// BadStream is a stream whose data is damaged or missing.
type BadStream struct {
	Hash [20]byte
	// Paths are the image paths that refer to the stream, as "image:path".
	Paths []string
	Err   error
}

// VerifyError lists everything Verify found wrong.
type VerifyError struct {
	Integrity error
	Bad       []BadStream
}

func (e *VerifyError) Error() string {
	var parts []string
	if e.Integrity != nil {
		parts = append(parts, e.Integrity.Error())
	}
	for i, b := range e.Bad {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("and %d more damaged streams", len(e.Bad)-10))
			break
		}
		where := "not referenced by any file"
		if len(b.Paths) > 0 {
			where = strings.Join(b.Paths, ", ")
		}
		parts = append(parts, fmt.Sprintf("%s: %v", where, b.Err))
	}
	return "verification failed: " + strings.Join(parts, "; ")
}

// Verify checks the integrity table (when present), every image's metadata
// and the SHA-1 of every stream, and names the files whose data is bad.
func Verify(path string, opts VerifyOptions) error {
	return VerifyContext(context.Background(), path, opts)
}

// VerifyContext is Verify that stops, returning an error wrapping
// ctx.Err(), as soon as ctx is done.
func VerifyContext(ctx context.Context, path string, opts VerifyOptions) error {
	r, err := Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.VerifyContext(ctx, opts); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Verify checks the WIM r reads as the function Verify does.
func (r *Reader) Verify(opts VerifyOptions) error {
	return r.VerifyContext(context.Background(), opts)
}

// VerifyContext is Verify that stops, returning an error wrapping
// ctx.Err(), as soon as ctx is done.
func (r *Reader) VerifyContext(ctx context.Context, opts VerifyOptions) error {
	interrupted := func() error { return fmt.Errorf("verification interrupted: %w", ctx.Err()) }
	verr := &VerifyError{}
	if r.HasIntegrity() {
		if err := r.checkIntegrity(ctx); err != nil {
			if ctx.Err() != nil {
				return interrupted()
			}
			var ie *IntegrityError
			if !errors.As(err, &ie) {
				return err
			}
			verr.Integrity = err
		}
	}
	// The paths of the files that use a stream are made only for the
	// streams found bad (pathsOf), at the end.
	var missing [][20]byte
	seen := map[[20]byte]bool{}
	for i := range r.metas {
		if ctx.Err() != nil {
			return interrupted()
		}
		img, err := r.Image(i + 1)
		if err != nil {
			return err
		}
		Walk(img.Root, func(d *Dentry) error {
			for _, s := range d.Streams {
				if s.Hash == zeroHash || seen[s.Hash] {
					continue
				}
				seen[s.Hash] = true
				if _, ok := r.blobs[s.Hash]; !ok {
					missing = append(missing, s.Hash)
				}
			}
			return nil
		})
	}
	for _, h := range missing {
		verr.Bad = append(verr.Bad, BadStream{Hash: h, Err: fmt.Errorf("stream %x is missing from the blob table", h)})
	}
	var total uint64
	list := make([]*blob, 0, len(r.blobs))
	for _, b := range r.blobs {
		list = append(list, b)
		total += b.res.Size
	}
	sort.Slice(list, func(i, j int) bool { return list[i].res.Offset < list[j].res.Offset })
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	threads = max(1, min(threads, MaxThreads, len(list)))
	var done atomic.Uint64
	var mu sync.Mutex
	ch := make(chan *blob)
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc, scErr := newScratch(r.comp)
			for b := range ch {
				err := scErr
				if err == nil {
					err = checkBlob(ctx, r, b, sc, &done, opts.Progress, total)
				}
				if err != nil && ctx.Err() == nil {
					mu.Lock()
					verr.Bad = append(verr.Bad, BadStream{Hash: b.hash, Err: err})
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for _, b := range list {
		select {
		case ch <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if ctx.Err() != nil {
		return interrupted()
	}
	if verr.Integrity != nil || len(verr.Bad) > 0 {
		if len(verr.Bad) > 0 {
			users, err := r.pathsOf(verr.Bad)
			if err != nil {
				return err
			}
			for i := range verr.Bad {
				verr.Bad[i].Paths = users[verr.Bad[i].Hash]
			}
		}
		sort.Slice(verr.Bad, func(i, j int) bool { return fmt.Sprint(verr.Bad[i].Paths) < fmt.Sprint(verr.Bad[j].Paths) })
		return verr
	}
	return nil
}

// pathsOf returns, for the hash of each stream in bad, the files in every
// image that use it, as "image:path[:stream]".
func (r *Reader) pathsOf(bad []BadStream) (map[[20]byte][]string, error) {
	users := map[[20]byte][]string{}
	for _, b := range bad {
		users[b.Hash] = nil
	}
	for i := range r.metas {
		img, err := r.Image(i + 1)
		if err != nil {
			return nil, err
		}
		Walk(img.Root, func(d *Dentry) error {
			for _, s := range d.Streams {
				ps, ok := users[s.Hash]
				if !ok {
					continue
				}
				p := fmt.Sprintf("%d:%s", i+1, d.Path())
				if s.Name != "" {
					p += ":" + s.Name
				}
				users[s.Hash] = append(ps, p)
			}
			return nil
		})
	}
	return users, nil
}

// checkIntegrity reads the integrity table and checks the bytes it covers.
func (r *Reader) checkIntegrity(ctx context.Context) error {
	tbl := make([]byte, r.hdr.Integrity.StoredSize)
	if _, err := r.f.ReadAt(tbl, int64(r.hdr.Integrity.Offset)); err != nil {
		return fmt.Errorf("read integrity table: %w", err)
	}
	end := int64(r.hdr.BlobTable.Offset + r.hdr.BlobTable.StoredSize)
	return checkIntegrity(ctx, r.f, tbl, headerSize, end)
}

// hashProgress writes to a hash and reports the bytes as checked; it
// fails once ctx is done.
type hashProgress struct {
	ctx      context.Context
	h        hash.Hash
	done     *atomic.Uint64
	progress func(uint64, uint64)
	total    uint64
}

func (w hashProgress) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	w.h.Write(p)
	if w.progress != nil && len(p) > 0 {
		w.progress(w.done.Add(uint64(len(p))), w.total)
	}
	return len(p), nil
}

func checkBlob(ctx context.Context, r *Reader, b *blob, sc *scratch, done *atomic.Uint64, progress func(uint64, uint64), total uint64) error {
	rr, err := openResourceWith(r.f, b.res, r.comp, "stream", sc)
	if err != nil {
		return err
	}
	// The decoded chunks go to the hash as they stand in the chunk buffer.
	h := sha1.New()
	m, err := rr.WriteTo(hashProgress{ctx, h, done, progress, total})
	if err != nil {
		return err
	}
	if n := uint64(m); n != b.res.Size {
		return fmt.Errorf("stream has %d bytes, want %d", n, b.res.Size)
	}
	var sum [20]byte
	h.Sum(sum[:0])
	if sum != b.hash {
		return fmt.Errorf("SHA-1 mismatch: data hashes to %x, blob table says %x", sum, b.hash)
	}
	return nil
}
