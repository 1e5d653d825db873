package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/fileopen"
	"github.com/wdscapture/wdscapture/internal/humanize"
	"github.com/wdscapture/wdscapture/scan"
	"github.com/wdscapture/wdscapture/volume"
	"github.com/wdscapture/wdscapture/volume/ntfs"
)

// ntfsSource logs the volume's warnings (skipped EFS files…) when closed.
type ntfsSource struct {
	*ntfs.Volume
	log  *slog.Logger
	file *os.File
}

func (s *ntfsSource) Close() error {
	for _, w := range s.Warnings() {
		s.log.Warn(w)
	}
	err := s.Volume.Close()
	if s.file != nil {
		s.file.Close()
	}
	return err
}

// CaptureRequest says what to capture and where.
type CaptureRequest struct {
	// Source is what to capture.
	Source SourceSpec
	// Dest is the .wim file to write.
	Dest        string
	Image       images.ImageOptions
	Compression images.Compression
	Level       int
	Threads     int
	Integrity   bool
	// Append adds the image to an existing Dest; Overwrite replaces Dest
	// once the new WIM is complete. With neither, an existing Dest is an error.
	Append    bool
	Overwrite bool
	// Exclude leaves paths out of the image; nil keeps everything.
	Exclude volume.Excluder
	// Verify checks the WIM as it is written (images.Options.Verify):
	// every chunk decompressed and compared with its source, every byte
	// read back from the disk; a failure is KindVerify and leaves no WIM
	// (or, with Append, the old one as it was).
	Verify bool
	// NoWindowsInfo skips reading the <WINDOWS> metadata from the tree.
	NoWindowsInfo bool
	// MinFree is free space to keep on the destination beyond the estimate.
	MinFree uint64
	// AllowDirty captures an NTFS volume whose dirty flag is set (only on a
	// person's explicit request; unattended runs never set it).
	AllowDirty bool
}

// SourceSpec names a capture source: a directory, or an NTFS volume in a
// file or block device (a partition image, or Size bytes at Offset of a
// whole-disk image or device).
type SourceSpec struct {
	Path         string
	Offset, Size int64
}

// ImageXML is the XML information of the new image.
type ImageXML = images.ImageOptions

// Result describes a finished capture.
type Result struct {
	Dest  string
	Image images.ImageInfo
	Size  int64 // bytes of the WIM file
	// Appended is set when the image was added to an existing WIM; Added
	// is then how much the file grew, and Unused its dead space (see
	// images.Optimize).
	Appended      bool
	Added, Unused int64
	Verified      bool
	Duration      time.Duration
	// Upload says where the image landed in the image store (nil when
	// it was not uploaded).
	Upload *UploadResult
}

// CaptureError carries the exit-code class of a failed capture.
type CaptureError struct {
	Kind ErrorKind
	Err  error
}

// ErrorKind classifies failures for exit codes.
type ErrorKind int

// Failure classes.
const (
	KindCapture ErrorKind = iota + 1
	KindSettings
	KindNothing
	KindVerify
	KindUpload
	KindInterrupted
)

func (e *CaptureError) Error() string { return e.Err.Error() }
func (e *CaptureError) Unwrap() error { return e.Err }

func fail(kind ErrorKind, err error) error {
	if errors.Is(err, context.Canceled) {
		kind = KindInterrupted
		var ie *InterruptedError
		if !errors.As(err, &ie) {
			err = &InterruptedError{Msg: "interrupted before the capture started; nothing was written"}
		}
	}
	return &CaptureError{Kind: kind, Err: err}
}

// InterruptedError says what an interruption (Ctrl-C, SIGTERM) left
// behind, in words a technician can act on. It wraps context.Canceled.
type InterruptedError struct{ Msg string }

func (e *InterruptedError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, context.Canceled) true.
func (e *InterruptedError) Unwrap() error { return context.Canceled }

// interruptedWriting describes an interruption before the new WIM (or
// appended image) was committed.
func interruptedWriting(req CaptureRequest) error {
	if req.Append {
		return &InterruptedError{Msg: fmt.Sprintf("interrupted: the capture was stopped; %s is unchanged", req.Dest)}
	}
	return &InterruptedError{Msg: fmt.Sprintf("interrupted: the capture was stopped; %s was not written", req.Dest)}
}

// OpenSource opens a capture source: a directory tree, or an NTFS volume
// read raw (never mounted, opened read-only) from a regular file or a
// block device. Anything else (a FIFO, a character device such as
// /dev/zero, a socket) is refused before it is opened, since opening a
// FIFO waits for a writer and reading a character device never ends.
func OpenSource(spec SourceSpec, allowDirty bool, log *slog.Logger) (volume.Source, error) {
	st, err := os.Stat(spec.Path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return volume.OpenDir(spec.Path, log)
	}
	const want = "a directory, an NTFS partition image or a block device"
	if !st.Mode().IsRegular() && !fileopen.IsBlockDevice(st.Mode()) {
		return nil, &fileopen.TypeError{Path: spec.Path, Mode: st.Mode(), Want: want}
	}
	f, _, err := fileopen.Open(spec.Path, want, true)
	if err != nil {
		return nil, err
	}
	off, size := spec.Offset, spec.Size
	if size == 0 {
		if size, err = f.Seek(0, io.SeekEnd); err != nil {
			f.Close()
			return nil, fmt.Errorf("size of %s: %w", spec.Path, err)
		}
		if size == 0 {
			f.Close()
			return nil, fmt.Errorf("%s is empty: %w", spec.Path, ErrNotNTFS)
		}
	}
	v, err := ntfs.Open(f, off, size, ntfs.Options{AllowDirty: allowDirty})
	if err != nil {
		f.Close()
		where := spec.Path
		if spec.Offset != 0 || spec.Size != 0 {
			where = fmt.Sprintf("%s at offset %d", spec.Path, spec.Offset)
		}
		if errors.Is(err, ntfs.ErrNotNTFS) {
			return nil, fmt.Errorf("%s holds no NTFS file system (%s): %w", where, strings.TrimPrefix(err.Error(), "ntfs: "), ErrNotNTFS)
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &ntfsSource{Volume: v, log: log, file: f}, nil
}

// ErrNotNTFS is wrapped by OpenSource's error for a file or device that
// holds no NTFS file system.
var ErrNotNTFS = errors.New("capture a directory, an NTFS partition image or a block device holding NTFS")

// Capture runs one capture, reporting to obs.
func Capture(ctx context.Context, req CaptureRequest, log *slog.Logger, obs Observer) (*Result, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	if req.Append && req.Overwrite {
		return nil, fail(KindSettings, errors.New("append and overwrite exclude each other"))
	}
	if err := req.Image.Check(); err != nil {
		return nil, fail(KindSettings, err)
	}
	src, err := OpenSource(req.Source, req.AllowDirty, log)
	if err != nil {
		var te *fileopen.TypeError
		if !errors.As(err, &te) && !errors.Is(err, ErrNotNTFS) {
			err = fmt.Errorf("open source %s: %w", req.Source.Path, err)
		}
		return nil, fail(KindNothing, err)
	}
	defer src.Close()
	if _, isNTFS := src.(*ntfsSource); isNTFS {
		h, err := scan.CheckHibernation(volume.FS(src))
		if err != nil {
			return nil, fail(KindNothing, fmt.Errorf("%s: check hiberfil.sys: %w", req.Source.Path, err))
		}
		if h.Hibernated {
			return nil, fail(KindNothing, fmt.Errorf("%s: %s (hiberfil.sys starts with %q)", req.Source.Path, scan.StateHibernated.Reason(), h.Signature))
		}
	}
	img := req.Image
	if !req.NoWindowsInfo {
		obs.note(PhaseScan, slog.LevelInfo, "reading the Windows metadata (hives, kernel32.dll)")
		if info := windowsImageOptions(src, &img, log); info != nil {
			obs.note(PhaseScan, slog.LevelInfo, "found %s (%s) in \\%s", info.Windows.ProductName, info.Windows.EditionID, info.Windows.SystemRoot)
		}
	}
	if req.Exclude != nil {
		src = volume.Filter(src, req.Exclude)
	}
	// A capture's heap is mostly its tree and long-lived buffers, with
	// little garbage: collecting at 1.25 times the live heap rather than
	// Go's default 2 keeps the peak memory near wimlib's, for a few more
	// (cheap) collections. GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(25))
	}
	tr := NewTracker(obs)
	phase := ""
	opts := images.Options{
		Compression: req.Compression, Level: req.Level, Threads: req.Threads,
		Integrity: req.Integrity, Overwrite: req.Overwrite, Logger: log, Verify: req.Verify,
		BeforeWrite: func(total uint64) error { return checkFreeSpace(req, total) },
		Progress: func(p images.Progress) {
			ph, known := imagesPhases[p.Phase]
			if p.Phase != phase {
				phase = p.Phase
				if !known {
					tr.End()
					return
				}
				if msg := phaseMessage(p); msg != "" {
					obs.note(ph, slog.LevelInfo, "%s", msg)
				}
				tr.Begin(ph, p.BytesTotal)
			}
			if !known {
				return
			}
			switch ph.Unit {
			case Items:
				tr.Update(p.FilesTotal, 0, 0, 0, "")
			case Bytes:
				tr.Update(p.BytesDone, p.BytesTotal, p.FilesDone, p.FilesTotal, p.Path)
			}
		},
	}
	var w *images.Writer
	var sizeBefore int64
	if req.Append {
		if st, err := os.Stat(req.Dest); err == nil {
			sizeBefore = st.Size()
		}
		w, err = images.AppendContext(ctx, req.Dest, opts)
	} else {
		w, err = images.Create(req.Dest, opts)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fail(KindInterrupted, interruptedWriting(req))
		}
		var ie *images.IntegrityError
		if errors.Is(err, images.ErrFormat) || errors.As(err, &ie) {
			return nil, fail(KindVerify, err) // the WIM to append to is damaged
		}
		return nil, fail(KindSettings, err)
	}
	info, err := w.AddImage(ctx, src, img)
	if err != nil {
		w.Abort()
		if ctx.Err() != nil {
			return nil, fail(KindInterrupted, interruptedWriting(req))
		}
		return nil, fail(writeErrorKind(err), err)
	}
	if err := w.Commit(); err != nil {
		return nil, fail(writeErrorKind(err), err)
	}
	tr.End()
	res := &Result{Dest: req.Dest, Image: *info, Verified: req.Verify}
	if st, err := os.Stat(req.Dest); err == nil {
		res.Size = st.Size()
	}
	if req.Append {
		res.Appended = true
		res.Added = max(0, res.Size-sizeBefore)
		if r, err := images.Open(req.Dest); err == nil {
			res.Unused = r.Space().Unused()
			r.Close()
		}
	}
	res.Duration = time.Since(start)
	obs.note(PhaseDone, slog.LevelInfo, "%s: image %d %q, %d files, %d directories, %s in %s",
		req.Dest, info.Index, info.Name, info.FileCount, info.DirCount, humanize.Bytes(uint64(res.Size)), res.Duration.Round(time.Millisecond))
	return res, nil
}

// writeErrorKind classifies an error of the images writer: a failed check
// of what it wrote is a verification failure.
func writeErrorKind(err error) ErrorKind {
	var ce *images.CheckError
	if errors.As(err, &ce) {
		return KindVerify
	}
	return KindCapture
}

// phaseMessage is the log line at the start of an images phase.
func phaseMessage(p images.Progress) string {
	switch p.Phase {
	case "write":
		return fmt.Sprintf("writing %s in %d files", humanize.Bytes(p.BytesTotal), p.FilesTotal)
	case "scan", "hash", "metadata", "integrity", "verify":
		return imagesPhases[p.Phase].Title
	}
	return ""
}

// checkFreeSpace refuses to start writing when the destination volume
// clearly cannot hold the WIM: the data size times a typical ratio for
// the compression, plus MinFree. The refusal names DestinationFile, so
// that the wizard leads back to the page where another disk is chosen.
func checkFreeSpace(req CaptureRequest, total uint64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(req.Dest), &st); err != nil {
		return nil // unknown: let the write itself fail clearly
	}
	free := st.Bavail * uint64(st.Bsize)
	ratio := map[images.Compression]float64{images.CompressNone: 1.0, images.CompressXPRESS: 0.45, images.CompressLZX: 0.4}[req.Compression]
	need := uint64(float64(total)*ratio) + req.MinFree
	if free < need {
		return problem(KindSettings, inf.KeyDestinationFile, req.Dest, nil, "not enough free space: about %s needed (%s of data, %v), %s free; choose another disk", humanize.Bytes(need), humanize.Bytes(total), req.Compression, humanize.Bytes(free))
	}
	return nil
}
