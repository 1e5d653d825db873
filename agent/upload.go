package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/humanize"
	"github.com/wdscapture/wdscapture/store/protocol"
	"github.com/wdscapture/wdscapture/upload"
)

// The phases of the upload, after the capture's.
var (
	PhaseUpload  = Phase{"upload", "sending the image to the image store", Bytes}
	PhasePublish = Phase{"publish", "the image store verifies and publishes the image", Steps}
)

// UploadTarget is where a run uploads its image, checked before the
// capture: a logged-in session and the image group as the server
// described it.
type UploadTarget struct {
	Client *upload.Client
	Group  protocol.Group
	// Name is the image's name in the group (ImageName).
	Name string
	// Server is WDSServerName; Trust the WDSServerCertificate in force.
	Server string
	Trust  upload.Trust
	// TrustValue is the pinned fingerprint or the local path of the CA
	// file (for the retry command line).
	TrustValue string
	User       string
}

// UploadResult says where the image landed.
type UploadResult struct {
	Server string // WDSServerName
	Group  string
	// Image is the published image as the store lists it (its file
	// name in the group, its name, sizes).
	Image protocol.Image
	// NewBytes is what the image added to the group's res.rwm; SentBytes
	// the bytes the agent wrote to the network for it (resent parts and
	// TLS included); DataBytes the delta it had to send; SharedBytes the
	// stored data of the image the group already had.
	NewBytes                          uint64
	SentBytes, DataBytes, SharedBytes int64
	// Resumes counts the times the transfer continued after a failure.
	Resumes int
	// LocalDeleted is true when DeleteLocalWimOnSuccess removed the local
	// WIM after the server had published the image.
	LocalDeleted bool
	Duration     time.Duration
}

// UploadError is a capture that succeeded and an upload that finally
// failed: the local WIM is kept, and RetryCommand uploads it again.
type UploadError struct {
	// Err is the upload's error (an *upload.Error).
	Err error
	// WIM and Index are the captured image, kept.
	WIM   string
	Index int
	// RetryCommand is the wdscapture command line that uploads it
	// (without the password, which it asks for).
	RetryCommand string
}

func (e *UploadError) Error() string {
	return fmt.Sprintf("%v\nThe image was captured and verified; %s is kept. To upload it again, run:\n  %s\n(it asks for the password, or reads it from --password-file FILE or $%s)",
		e.Err, e.WIM, e.RetryCommand, PasswordEnv)
}

func (e *UploadError) Unwrap() error { return e.Err }

// PasswordEnv is the environment variable `wdscapture upload` and
// `wdscapture images` read the password from.
const PasswordEnv = "WDSCAPTURE_PASSWORD"

// uploadKey is the INF key an upload error is about.
func uploadKey(err error) string {
	switch {
	case errors.Is(err, upload.ErrAuth), errors.Is(err, upload.ErrThrottled):
		return inf.KeyPassword
	case errors.Is(err, upload.ErrPinMismatch), errors.Is(err, upload.ErrUntrusted):
		return inf.KeyWDSServerCertificate
	case errors.Is(err, upload.ErrUnknownGroup), errors.Is(err, upload.ErrForbidden):
		return inf.KeyWDSImageGroup
	case errors.Is(err, upload.ErrNameExists):
		return inf.KeyImageName
	case errors.Is(err, upload.ErrCompression):
		return inf.KeyCompression
	}
	return inf.KeyWDSServerName
}

// uploadProblem turns a pre-flight error into a problem naming its key.
func uploadProblem(s *inf.Settings, err error) *SettingError {
	key := uploadKey(err)
	value := s.Value(key)
	switch key {
	case inf.KeyPassword:
		value = "" // never the password
		err = fmt.Errorf("%w (Username=%s with the Password given)", err, s.Username)
	case inf.KeyWDSServerCertificate:
		if value == "" {
			err = fmt.Errorf("%w; set WDSServerCertificate to the fingerprint `imagestore cert` prints on the server (or to a CA file)", err)
		}
	}
	return problem(KindUpload, key, value, err, "%v", err)
}

// resolveTrust reads WDSServerCertificate, resolving a CA file's drive
// letter as DestinationFile's is.
func resolveTrust(s *inf.Settings, o RunOptions) (upload.Trust, error) {
	v := s.ServerCertificate
	if v == "" || !strings.ContainsAny(v, `/\`) {
		return upload.ParseTrust(v)
	}
	p, err := ResolvePath(v, o.DriveMap, o.Root)
	if err != nil {
		return upload.Trust{}, err
	}
	return upload.Trust{CAFile: p}, nil
}

// prepareUpload runs the upload's pre-flight before anything is captured:
// it connects and logs in, checks that the group exists, that the user may
// add images to it, that ImageName is free there and that the server has
// room, and gives s the group's compression type. Its problems name the
// INF key to fix (KindUpload); err is set only when the run was
// interrupted. dest, when not nil, is the destination Prepare found (a
// WIM appended to fixes the compression).
func prepareUpload(ctx context.Context, s *inf.Settings, dest *Destination, o RunOptions, obs Observer) (*UploadTarget, Problems, error) {
	obs.note(PhasePreflight, slog.LevelInfo, "connecting to the image store %s as %s", s.ServerName, s.Username)
	trust, err := resolveTrust(s, o)
	if err != nil {
		return nil, Problems{problem(KindUpload, inf.KeyWDSServerCertificate, s.ServerCertificate, err, "%v", err)}, nil
	}
	interrupted := func(err error) error {
		if ctx.Err() != nil {
			return fail(KindInterrupted, err)
		}
		return nil
	}
	c, err := upload.Connect(ctx, upload.Config{Server: s.ServerName, Trust: trust, User: s.Username, Password: s.Password, Retries: o.UploadRetries})
	if err != nil {
		if ierr := interrupted(err); ierr != nil {
			return nil, nil, ierr
		}
		return nil, Problems{uploadProblem(s, err)}, nil
	}
	// Images in one WIM share its compression: appending fixes it.
	appendTo := ""
	if dest != nil && dest.Exists && s.Overwrite == inf.OverwriteAppend {
		appendTo = dest.Compression.String()
	}
	g, err := c.Preflight(ctx, upload.Check{Group: s.ImageGroup, Name: s.ImageName, Compression: appendTo})
	if err != nil {
		c.Close()
		if ierr := interrupted(err); ierr != nil {
			return nil, nil, ierr
		}
		p := uploadProblem(s, err)
		if errors.Is(err, upload.ErrCompression) && appendTo != "" {
			p = problem(KindUpload, inf.KeyDestinationFile, s.DestinationFile, err,
				"the WIM to append to is %s, image group %s takes only %s (the images of a group share their data): choose another DestinationFile, Overwrite=Yes, or another group",
				appendTo, g.Name, g.Compression)
		}
		return nil, Problems{p}, nil
	}
	if g.Compression != "" {
		comp, err := images.ParseCompression(g.Compression)
		if err != nil {
			c.Close()
			return nil, Problems{problem(KindUpload, inf.KeyWDSImageGroup, s.ImageGroup, err, "the server gives the group an unknown compression type %q", g.Compression)}, nil
		}
		if comp != s.Compression && appendTo == "" {
			if s.Has(inf.KeyCompression) {
				obs.note(PhasePreflight, slog.LevelWarn, "Compression=%s conflicts with image group %s, whose images are %s (they share their data): capturing with %s",
					s.Value(inf.KeyCompression), g.Name, g.Compression, g.Compression)
			}
			s.Compression = comp
		}
	}
	kind := g.Compression
	if kind == "" {
		kind = "none yet; this image sets it to " + s.Compression.String()
	}
	obs.note(PhasePreflight, slog.LevelInfo, "image group %s on %s: %s may add images, compression %s, %s free on the server",
		g.Name, s.ServerName, c.User(), kind, humanize.Bytes(g.FreeBytes))
	return &UploadTarget{Client: c, Group: g, Name: s.ImageName, Server: s.ServerName, Trust: trust,
		TrustValue: trust.Fingerprint + trust.CAFile, User: s.Username}, nil, nil
}

// runUpload uploads the captured image of a run.
func runUpload(ctx context.Context, plan *Plan, res *Result, log *slog.Logger, obs Observer) (*UploadResult, error) {
	return UploadImage(ctx, UploadJob{Target: plan.Upload, WIM: res.Dest, Index: res.Image.Index,
		DeleteLocal: plan.Settings.DeleteLocalWimOnSuccess}, log, obs)
}

// UploadJob is one image of a local WIM to upload.
type UploadJob struct {
	// Target is the connected store and checked group.
	Target *UploadTarget
	// WIM and Index are the local image.
	WIM   string
	Index int
	// Description replaces the image's DESCRIPTION when not "".
	Description string
	// DeleteLocal removes the WIM once the server has published the image
	// (not when the WIM holds other images).
	DeleteLocal bool
}

// UploadImage uploads an image of a local WIM (the captured one, or an
// existing one for `wdscapture upload`), reporting the upload and publish
// phases to obs and the numbers to log, and deletes the local WIM when
// asked once the server has published the image. A failure is an
// *UploadError (the WIM is kept) with the command line that retries.
func UploadImage(ctx context.Context, job UploadJob, log *slog.Logger, obs Observer) (*UploadResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := job.Target
	res := &Result{Dest: job.WIM, Image: images.ImageInfo{Index: job.Index}}
	tr := NewTracker(obs)
	started := false
	var last upload.Progress
	ur, err := t.Client.Upload(ctx, upload.Request{Path: res.Dest, Index: res.Image.Index, Group: t.Group.Name, Name: t.Name,
		Description: job.Description, Progress: func(p upload.Progress) {
			switch {
			case p.Err != nil:
				obs.note(PhaseUpload, slog.LevelWarn, "%v; trying again in %s", p.Err, p.Wait.Round(100*time.Millisecond))
			case p.Stage == upload.StageDedup:
				obs.note(PhaseUpload, slog.LevelInfo, "asking image group %s which of the image's %d data streams it lacks", t.Group.Name, p.Blobs)
			case p.Stage == upload.StageSend && !started:
				started = true
				obs.note(PhaseUpload, slog.LevelInfo, "sending %s (%d of %d streams); %s of the image's %s is on the server already",
					humanize.Bytes(uint64(p.Total)), p.MissingBlobs, p.Blobs, humanize.Bytes(uint64(p.SharedBytes)), humanize.Bytes(uint64(p.ImageBytes)))
				tr.Begin(PhaseUpload, uint64(p.Total))
				tr.SetOnServer(uint64(p.SharedBytes))
			case p.Stage == upload.StageSend:
				tr.Update(uint64(p.Sent), uint64(p.Total), 0, 0, "")
			case p.Stage == upload.StageFinalize && last.Stage != upload.StageFinalize:
				tr.Begin(PhasePublish, 0)
			}
			if p.Err == nil {
				last = p
			}
		}})
	tr.End()
	if err != nil {
		log.Error("upload failed", "err", err)
		cmd := RetryCommand(res.Dest, res.Image.Index, t.Server, t.TrustValue, t.Group.Name, t.User, t.Name, job.DeleteLocal)
		return nil, &UploadError{Err: err, WIM: res.Dest, Index: res.Image.Index, RetryCommand: cmd}
	}
	out := &UploadResult{Server: t.Server, Group: ur.Group, Image: ur.Image, NewBytes: ur.NewBytes,
		SentBytes: ur.WireBytes, DataBytes: ur.Plan.Total, SharedBytes: ur.Plan.SharedBytes, Resumes: ur.Resumes, Duration: ur.Duration}
	obs.note(PhasePublish, slog.LevelInfo, "verified and published by the server %s: image group %s, file %s (%s new in the group's res.rwm; %s sent in %s)",
		t.Server, ur.Group, ur.Image.FileName, humanize.Bytes(ur.NewBytes), humanize.Bytes(uint64(ur.WireBytes)), ur.Duration.Round(time.Millisecond))
	log.Info("upload finished", "server", t.Server, "group", ur.Group, "file", ur.Image.FileName, "name", ur.Image.Name,
		"streams", ur.Plan.Blobs, "missing_blobs", ur.Plan.MissingBlobs, "data_bytes", ur.Plan.Total, "shared_bytes", ur.Plan.SharedBytes, "image_bytes", ur.Plan.ImageBytes,
		"wire_bytes", ur.WireBytes, "body_bytes", ur.BodyBytes, "new_bytes", ur.NewBytes, "resumes", ur.Resumes, "duration", ur.Duration)
	if job.DeleteLocal {
		out.LocalDeleted = deleteLocal(res, log, obs)
	}
	return out, nil
}

// deleteLocal removes the uploaded local WIM, unless it holds other
// images (an appended WIM), which the upload did not take.
func deleteLocal(res *Result, log *slog.Logger, obs Observer) bool {
	r, err := images.Open(res.Dest)
	if err != nil {
		obs.note(PhasePublish, slog.LevelWarn, "DeleteLocalWimOnSuccess: %s not deleted: %v", res.Dest, err)
		return false
	}
	n := len(r.Images())
	r.Close()
	if n > 1 {
		obs.note(PhasePublish, slog.LevelWarn, "DeleteLocalWimOnSuccess: %s is kept: it holds %d other images, which were not uploaded", res.Dest, n-1)
		return false
	}
	if err := os.Remove(res.Dest); err != nil {
		obs.note(PhasePublish, slog.LevelWarn, "DeleteLocalWimOnSuccess: %v", err)
		return false
	}
	log.Info("local WIM deleted after the verified upload", "dest", res.Dest)
	obs.note(PhasePublish, slog.LevelInfo, "deleted %s (DeleteLocalWimOnSuccess=Yes; the server has verified the image)", res.Dest)
	return true
}

// RetryCommand is the `wdscapture upload` command line that uploads image
// index of wim as the agent would have: everything but the password.
func RetryCommand(wim string, index int, server, trust, group, user, name string, deleteLocal bool) string {
	args := []string{"wdscapture", "upload", shellQuote(wim), strconv.Itoa(index),
		"--server", shellQuote(server), "--group", shellQuote(group), "--user", shellQuote(user)}
	if name != "" {
		args = append(args, "--name", shellQuote(name))
	}
	if trust != "" {
		args = append(args, "--server-cert", shellQuote(trust))
	}
	if deleteLocal {
		args = append(args, "--delete-local")
	}
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// StoreGroups connects to the image store the [WDS] settings of s name
// (WDSServerName, WDSServerCertificate, Username, Password), as the
// wizard's Connect does, and returns the account as the store knows it and
// the image groups it may see, each with its compression type and whether
// the account may add images. Problems name the INF key to fix.
func StoreGroups(ctx context.Context, s *inf.Settings, o RunOptions) (user string, groups []protocol.Group, ps Problems) {
	if ps = CheckKeys(s, inf.KeyWDSServerName, inf.KeyWDSServerCertificate, inf.KeyUsername, inf.KeyPassword); len(ps) > 0 {
		return "", nil, ps
	}
	trust, err := resolveTrust(s, o)
	if err != nil {
		return "", nil, Problems{problem(KindUpload, inf.KeyWDSServerCertificate, s.ServerCertificate, err, "%v", err)}
	}
	c, err := upload.Connect(ctx, upload.Config{Server: s.ServerName, Trust: trust, User: s.Username, Password: s.Password, Retries: o.UploadRetries})
	if err != nil {
		return "", nil, Problems{uploadProblem(s, err)}
	}
	defer c.Close()
	gs, err := c.Groups(ctx)
	if err != nil {
		return "", nil, Problems{uploadProblem(s, err)}
	}
	return c.User(), gs, nil
}
