package upload

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// Stage is a step of an upload.
type Stage int

// The stages, in order.
const (
	// StageDedup: the blob list goes to the server, which answers which
	// data the group lacks.
	StageDedup Stage = iota
	// StageSend: the delta WIM (the image's metadata and the data the
	// group lacks) is being sent.
	StageSend
	// StageFinalize: the server verifies every stream and publishes the
	// image.
	StageFinalize
)

func (s Stage) String() string {
	switch s {
	case StageDedup:
		return "dedup"
	case StageSend:
		return "send"
	case StageFinalize:
		return "finalize"
	}
	return fmt.Sprintf("Stage(%d)", int(s))
}

// Progress is the state of an upload, reported whenever it changes (the
// receiver throttles).
type Progress struct {
	Stage Stage
	// Blobs is the number of distinct data streams of the image;
	// MissingBlobs of them the group lacks and are sent.
	Blobs, MissingBlobs int
	// ImageBytes is the stored size of the image's data (what a store
	// without dedup would need sent); SharedBytes of it the group holds
	// already and is not sent.
	ImageBytes, SharedBytes int64
	// Total is the size of the delta WIM (the missing data plus the
	// image's metadata, blob table and XML); Sent of it has been sent
	// (it goes back to the server's offset after a dropped connection).
	Total, Sent int64
	// Err is set when an attempt failed and the client tries again after
	// Wait.
	Err  error
	Wait time.Duration
}

// Request says what to upload where.
type Request struct {
	// Path is the local WIM and Index (1-based) the image in it.
	Path  string
	Index int
	// Group is the image group (WDSImageGroup).
	Group string
	// Name is the image's name in the group; "" takes its NAME in the WIM.
	Name string
	// File is the metadata WIM's file name in the group; "" lets the
	// server derive it from the name.
	File string
	// Description replaces the image's DESCRIPTION when not "".
	Description string
	// Progress, when set, receives the upload's progress.
	Progress func(Progress)
}

// Result is a published image.
type Result struct {
	// Group and Image are where the image landed, as enumeration shows it.
	Group string
	Image protocol.Image
	// NewStreams and NewBytes are what the image added to the group's
	// res.rwm; SharedStreams the streams it had already.
	NewStreams, SharedStreams int
	NewBytes                  uint64
	// Plan is the dedup answer: what had to be sent.
	Plan Progress
	// BodyBytes counts the upload data sent, resent parts included.
	// WireBytes counts every byte written to the network during the
	// upload: TLS records of requests, headers, the blob list and the
	// data.
	BodyBytes, WireBytes int64
	// Resumes counts the times the transfer continued after a failure.
	Resumes int
	// Duration is the upload's wall time, dedup to publication.
	Duration time.Duration
}

// errResend means the server refused the upload in a way that sending it
// again (from the dedup query) may fix: it lacks data the dedup query said
// it had, or the data arrived damaged.
var errResend = errors.New("send the image again")

// errVanished means the staged upload no longer exists before it was
// finalized (expired, deleted by an admin).
var errVanished = errors.New("the staged upload has vanished")

// Upload sends image req.Index of the WIM at req.Path to req.Group: the
// dedup query, a tus upload of the delta WIM (resumed after dropped
// connections and server restarts, at most Config.Retries failures in a
// row), and the finalize, which returns once the server has verified and
// published the image. Before sending data it checks that the group
// exists, the user may write it, its compression is the WIM's and the
// name is free. Errors are *Error.
func (c *Client) Upload(ctx context.Context, req Request) (*Result, error) {
	start := time.Now()
	wire0 := c.WireBytes()
	if req.Index == 0 {
		req.Index = 1
	}
	local := func(err error) error {
		return &Error{Kind: ErrLocal, Op: "read " + req.Path, Err: err}
	}
	r, err := images.Open(req.Path)
	if err != nil {
		return nil, local(err)
	}
	defer r.Close()
	imgs := r.Images()
	if req.Index < 1 || req.Index > len(imgs) {
		return nil, local(fmt.Errorf("no image %d (the WIM has %d)", req.Index, len(imgs)))
	}
	if req.Name == "" {
		req.Name = imgs[req.Index-1].Name
	}
	if _, err := c.Preflight(ctx, Check{Group: req.Group, Name: req.Name, File: req.File, Compression: r.Compression().String()}); err != nil {
		return nil, err
	}
	refs, err := r.ImageBlobs(req.Index)
	if err != nil {
		return nil, local(err)
	}
	res := &Result{Group: req.Group}
	report := func(p Progress) {
		if req.Progress != nil {
			req.Progress(p)
		}
	}
	for attempt := 1; ; attempt++ {
		report(Progress{Stage: StageDedup, Blobs: len(refs)})
		missing, err := c.dedup(ctx, req.Group, refs)
		if err != nil {
			return nil, err
		}
		full, err := r.PlanDelta(req.Index, func(images.BlobRef) bool { return true })
		if err != nil {
			return nil, local(err)
		}
		delta, err := r.PlanDelta(req.Index, func(b images.BlobRef) bool { return missing[b.Hash] })
		if err != nil {
			return nil, local(err)
		}
		plan := Progress{Stage: StageSend, Blobs: len(refs), MissingBlobs: delta.BlobCount(),
			ImageBytes: full.PayloadSize(), SharedBytes: full.PayloadSize() - delta.PayloadSize(), Total: delta.Size()}
		res.Plan = plan
		report(plan)
		c.cfg.Logger.Info("upload planned", "group", req.Group, "name", req.Name, "blobs", len(refs), "missing", delta.BlobCount(),
			"send", delta.Size(), "shared", plan.SharedBytes)
		loc, err := c.create(ctx, delta.Size(), req, r.Compression().String())
		if err != nil {
			return nil, err
		}
		fr, err := c.sendAndFinalize(ctx, loc, delta, plan, res, report)
		if err == nil {
			res.Group, res.NewStreams, res.SharedStreams, res.NewBytes = fr.Group, fr.NewStreams, fr.SharedStreams, fr.NewBytes
			if fr.Image != nil {
				res.Image = *fr.Image
			}
			res.WireBytes = c.WireBytes() - wire0
			res.Duration = time.Since(start)
			c.cfg.Logger.Info("image published", "group", fr.Group, "name", req.Name, "new_bytes", fr.NewBytes, "wire_bytes", res.WireBytes)
			return res, nil
		}
		if (errors.Is(err, errResend) || errors.Is(err, errVanished)) && attempt < 2 {
			c.cfg.Logger.Warn("sending the image again", "err", err)
			report(Progress{Stage: StageDedup, Blobs: len(refs), Err: err})
			continue
		}
		if errors.Is(err, errVanished) || errors.Is(err, errResend) {
			var e *Error
			if !errors.As(err, &e) {
				err = &Error{Kind: ErrRejected, Op: "upload", Server: c.cfg.Server, Err: err}
			}
		}
		if !errors.Is(err, errVanished) && ctx.Err() == nil && !retryable(err) {
			c.terminate(loc)
		}
		return nil, err
	}
}

// sendAndFinalize sends the delta to the upload at loc and finalizes it.
func (c *Client) sendAndFinalize(ctx context.Context, loc string, delta *images.Delta, plan Progress, res *Result, report func(Progress)) (*protocol.FinalizeResponse, error) {
	known := true // a new upload is at offset 0
	for range 3 {
		if err := c.transfer(ctx, loc, delta, known, plan, res, report); err != nil {
			return nil, err
		}
		p := plan
		p.Stage, p.Sent = StageFinalize, plan.Total
		report(p)
		fr, err := c.finalize(ctx, loc, report, p)
		if errors.Is(err, errIncomplete) {
			known = false // ask the server where the data ends, send the rest
			continue
		}
		return fr, err
	}
	return nil, &Error{Kind: ErrServer, Op: "finalize", Server: c.cfg.Server, Err: errors.New("the server keeps answering that the upload is incomplete")}
}

// dedup asks which of refs the group lacks.
func (c *Client) dedup(ctx context.Context, group string, refs []images.BlobRef) (map[[20]byte]bool, error) {
	body := protocol.AppendBlobList(make([]byte, 0, len(refs)*protocol.BlobRecordSize), refs)
	op := fmt.Sprintf("ask image group %q which data it lacks", group)
	var bitmap []byte
	err := c.retry().run(ctx, c.cfg.Logger, func() error {
		resp, data, err := c.call(ctx, request{method: http.MethodPost, path: strings.Replace(protocol.PathDedup, "{group}", group, 1),
			body: body, contentType: protocol.ContentTypeBlobList, limit: int64(len(refs)/8 + 1024)})
		if err != nil {
			return c.transportError(ctx, op, err)
		}
		if resp.StatusCode != http.StatusOK {
			return c.apiError(op, resp, data)
		}
		if err := protocol.CheckBitmap(data, len(refs)); err != nil {
			return c.errorf(ErrServer, op, resp.StatusCode, err, "malformed answer")
		}
		bitmap = data
		return nil
	})
	if err != nil {
		return nil, err
	}
	missing := map[[20]byte]bool{}
	for i, ref := range refs {
		if protocol.Bitmap(bitmap).Missing(i) {
			missing[ref.Hash] = true
		}
	}
	return missing, nil
}

// create makes the tus upload (declaring its compression type comp) and
// returns its path.
func (c *Client) create(ctx context.Context, size int64, req Request, comp string) (string, error) {
	meta := []string{
		protocol.MetaGroup + " " + b64(req.Group),
		protocol.MetaName + " " + b64(req.Name),
		protocol.MetaCompression + " " + b64(comp),
	}
	if req.File != "" {
		meta = append(meta, protocol.MetaFile+" "+b64(req.File))
	}
	if req.Description != "" {
		meta = append(meta, protocol.MetaDescription+" "+b64(req.Description))
	}
	op := fmt.Sprintf("create the upload of %q in group %q", req.Name, req.Group)
	var loc string
	err := c.retry().run(ctx, c.cfg.Logger, func() error {
		resp, data, err := c.call(ctx, request{method: http.MethodPost, path: protocol.PathUploads, header: map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Length": strconv.FormatInt(size, 10), "Upload-Metadata": strings.Join(meta, ","),
		}})
		if err != nil {
			return c.transportError(ctx, op, err)
		}
		if resp.StatusCode != http.StatusCreated {
			return c.apiError(op, resp, data)
		}
		l, err := resp.Location()
		if err != nil || !strings.HasPrefix(l.Path, protocol.PathUploads) || len(l.Path) == len(protocol.PathUploads) {
			return c.errorf(ErrServer, op, resp.StatusCode, err, "no upload location in the answer")
		}
		loc = l.Path
		return nil
	})
	return loc, err
}

// errIncomplete: finalize found the upload short of data.
var errIncomplete = errors.New("the upload is incomplete")

// transfer sends delta to the upload at loc until the server has all of
// it. known says the offset is 0 (a new upload); otherwise HEAD asks.
func (c *Client) transfer(ctx context.Context, loc string, delta *images.Delta, known bool, plan Progress, res *Result, report func(Progress)) error {
	size := delta.Size()
	var offset int64
	failures, wait := 0, c.cfg.RetryMin
	mark := int64(-1) // the offset at the last failure
	op := "send the image data"
	retry := func(err error, d time.Duration) error {
		if offset > mark {
			failures, wait = 0, c.cfg.RetryMin // data moved since the last failure
		}
		mark = offset
		failures++
		if failures > c.cfg.Retries {
			return err
		}
		if d == 0 {
			d = wait
			wait = min(2*wait, c.cfg.RetryMax)
		}
		c.cfg.Logger.Warn("upload interrupted; resuming", "offset", offset, "attempt", failures, "wait", d, "err", err)
		p := plan
		p.Sent, p.Err, p.Wait = offset, err, d
		report(p)
		res.Resumes++
		known = false
		return sleep(ctx, d)
	}
	for {
		if !known {
			off, err := c.head(ctx, loc)
			if err != nil {
				if errors.Is(err, errVanished) || !retryable(err) {
					return err
				}
				if err := retry(err, 0); err != nil {
					return err
				}
				continue
			}
			offset, known = off, true
		}
		if offset >= size {
			return nil
		}
		n := min(c.cfg.ChunkSize, size-offset)
		var read atomic.Int64
		body := &progressReader{r: io.NewSectionReader(delta, offset, n), n: &read, f: func(done int64) {
			p := plan
			p.Sent = offset + done
			report(p)
		}}
		resp, data, err := c.send(ctx, request{method: http.MethodPatch, path: loc, bodyReader: body, bodyLen: n, auth: true,
			contentType: "application/offset+octet-stream",
			header:      map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": strconv.FormatInt(offset, 10)}})
		res.BodyBytes += read.Load()
		if err != nil {
			if err := retry(c.transportError(ctx, op, err), 0); err != nil {
				return err
			}
			continue
		}
		switch resp.StatusCode {
		case http.StatusNoContent:
			off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
			if err != nil || off < offset || off > size {
				return c.errorf(ErrServer, op, resp.StatusCode, err, "the answer's Upload-Offset %q is not between %d and %d", resp.Header.Get("Upload-Offset"), offset, size)
			}
			offset = off
			continue
		case http.StatusUnauthorized:
			// The session ended (a server restart): log in, ask where to go on.
			if err := c.logIn(ctx); err != nil {
				if !retryable(err) {
					return err
				}
				if err := retry(err, 0); err != nil {
					return err
				}
			}
			known = false
			continue
		case http.StatusConflict, http.StatusLocked:
			// 409: another offset (an earlier attempt's bytes arrived
			// after all); 423: a dead connection still holds the upload.
			d := retryAfter(resp.Header)
			if resp.StatusCode == http.StatusLocked && d == 0 {
				d = 3 * time.Second
			}
			if err := retry(c.apiError(op, resp, data), d); err != nil {
				return err
			}
			continue
		case http.StatusNotFound:
			return &Error{Kind: ErrServer, Op: op, Server: c.cfg.Server, Status: resp.StatusCode, Err: errVanished}
		}
		apiErr := c.apiError(op, resp, data)
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusInsufficientStorage || resp.StatusCode == http.StatusTooManyRequests {
			if err := retry(apiErr, retryAfter(resp.Header)); err != nil {
				return err
			}
			continue
		}
		return apiErr
	}
}

// head asks where the upload at loc continues.
func (c *Client) head(ctx context.Context, loc string) (int64, error) {
	op := "ask where the upload continues"
	for range 2 {
		resp, data, err := c.send(ctx, request{method: http.MethodHead, path: loc, auth: true, header: map[string]string{"Tus-Resumable": "1.0.0"}})
		if err != nil {
			return 0, c.transportError(ctx, op, err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
			if err != nil || off < 0 {
				return 0, c.errorf(ErrServer, op, resp.StatusCode, err, "no valid Upload-Offset in the answer")
			}
			return off, nil
		case http.StatusUnauthorized:
			if err := c.logIn(ctx); err != nil {
				return 0, err
			}
			continue
		case http.StatusNotFound:
			return 0, &Error{Kind: ErrServer, Op: op, Server: c.cfg.Server, Status: resp.StatusCode, Err: errVanished}
		}
		e := c.apiError(op, resp, data)
		return 0, e
	}
	return 0, c.errorf(ErrAuth, op, http.StatusUnauthorized, nil, "the server refuses the new session")
}

// finalize asks the server to verify and publish the upload, and waits
// for the result (the request is idempotent: it is repeated after a
// dropped answer, a restart, or a 202).
func (c *Client) finalize(ctx context.Context, loc string, report func(Progress), p Progress) (*protocol.FinalizeResponse, error) {
	op := "publish the image"
	failures, wait := 0, c.cfg.RetryMin
	fail := func(err error, d time.Duration) error {
		failures++
		if failures > c.cfg.Retries {
			return err
		}
		if d == 0 {
			d, wait = wait, min(2*wait, c.cfg.RetryMax)
		}
		c.cfg.Logger.Warn("finalize interrupted; asking again", "attempt", failures, "wait", d, "err", err)
		q := p
		q.Err, q.Wait = err, d
		report(q)
		return sleep(ctx, d)
	}
	for {
		resp, data, err := c.call(ctx, request{method: http.MethodPost, path: loc + "/finalize"})
		if err != nil {
			err = c.transportError(ctx, op, err)
			if !retryable(err) {
				return nil, err
			}
			if err := fail(err, 0); err != nil {
				return nil, err
			}
			continue
		}
		var fr protocol.FinalizeResponse
		_ = json.Unmarshal(data, &fr)
		switch {
		case resp.StatusCode == http.StatusOK && fr.State == protocol.StatePublished:
			return &fr, nil
		case resp.StatusCode == http.StatusAccepted:
			d := retryAfter(resp.Header)
			if d == 0 {
				d = 2 * time.Second
			}
			if err := sleep(ctx, d); err != nil {
				return nil, err
			}
			continue
		}
		e := c.finalizeError(op, resp, data, &fr)
		switch {
		case e.API != nil && e.API.Code == protocol.CodeIncomplete:
			return nil, errIncomplete
		case e.API != nil && (e.API.Code == protocol.CodeMissingData || e.API.Code == protocol.CodeDamaged):
			e.Err = errResend
			return nil, e
		case resp.StatusCode == http.StatusNotFound:
			// Finalized by an earlier request whose record expired, or
			// expired itself: either way nothing to publish from here.
			e.Kind, e.Err = ErrServer, errVanished
			return nil, e
		case retryable(e):
			if err := fail(e, retryAfter(resp.Header)); err != nil {
				return nil, err
			}
			continue
		}
		return nil, e
	}
}

// finalizeError reads a finalize refusal: a FinalizeResponse with its
// error, or a plain error answer.
func (c *Client) finalizeError(op string, resp *http.Response, data []byte, fr *protocol.FinalizeResponse) *Error {
	if fr.Error != nil && fr.Error.Code != "" {
		return &Error{Kind: kindOfAPI(resp.StatusCode, fr.Error), Op: op, Server: c.cfg.Server, Status: resp.StatusCode,
			API: fr.Error, GroupCompression: fr.Error.Compression}
	}
	var e *Error
	if errors.As(c.apiError(op, resp, data), &e) {
		return e
	}
	return &Error{Kind: ErrServer, Op: op, Server: c.cfg.Server, Status: resp.StatusCode}
}

// terminate deletes an upload that cannot be published (best effort: it
// would expire anyway), so that it does not count against the user's
// unfinished uploads.
func (c *Client) terminate(loc string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.call(ctx, request{method: http.MethodDelete, path: loc, header: map[string]string{"Tus-Resumable": "1.0.0"}})
}

// progressReader counts what the transport reads of a PATCH body.
type progressReader struct {
	r io.Reader
	n *atomic.Int64
	f func(done int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.f(p.n.Add(int64(n)))
	}
	return n, err
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
