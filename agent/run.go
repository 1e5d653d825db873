package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/inf"
	"github.com/wdscapture/wdscapture/internal/fileopen"
	"github.com/wdscapture/wdscapture/scan"
	"golang.org/x/sys/unix"
)

// RunOptions configures a run driven by WDSCapture.inf.
type RunOptions struct {
	// INFPath is the settings file; "" looks for Windows/System32/
	// WDSCapture.inf under Root (case-insensitively).
	INFPath string
	// Root is the boot root (X:\ of the capture environment), "/" by default.
	Root string
	// DiskImages are disk image files scanned in addition to the local disks.
	DiskImages []string
	// NoDevices leaves /sys/block out of the scan (lab runs).
	NoDevices bool
	// DriveMap maps drive letters of DestinationFile to directories where
	// that volume is mounted ("D" → "/mnt/d").
	DriveMap map[string]string
	// LogPath is the log file; "" writes DestinationFile + ".log".
	LogPath string
	// Interactive is true when a person can answer questions (standard
	// input is a terminal).
	Interactive bool
	// Threads bounds the compression workers; 0 means all cores.
	Threads int
	// Report is a scan of the disks made beforehand (the wizard's); nil
	// makes Prepare scan.
	Report *scan.Report
	// UploadRetries is how many failures in a row the upload survives
	// (0: upload.Config's default).
	UploadRetries int
}

// Plan is a fully resolved capture: what the settings and the scan decided.
type Plan struct {
	// Settings are the settings used, with what the run decided filled in
	// (the compression of a WIM being appended to).
	Settings *inf.Settings
	Request  CaptureRequest
	// Source is the volume or directory being captured.
	Source *Source
	// Destination is what was found at DestinationFile.
	Destination *Destination
	// Upload is the checked upload target (UploadToWDSServer=Yes).
	Upload *UploadTarget
}

// Close ends the plan's session with the image store, if any (Execute
// closes it itself).
func (p *Plan) Close() {
	if p != nil && p.Upload != nil {
		p.Upload.Client.Close()
	}
}

// Run loads the settings and, when they (with the scan) are complete, runs
// the capture without asking anything. An attended run (Unattended=No) on
// a terminal gives ErrNeedsWizard, wrapped: with settings missing, so that
// the wizard asks for them, and with every setting, so that the wizard
// shows them for confirmation.
func Run(ctx context.Context, o RunOptions, obs Observer) (*Result, error) {
	settings, err := LoadSettings(o, obs)
	if err != nil {
		return nil, err
	}
	if !settings.Unattended {
		if !o.Interactive {
			return nil, fail(KindSettings, errors.New("standard input is not a terminal and the run is not unattended: set Unattended=Yes in WDSCapture.inf (with ImageName and DestinationFile), or run wdscapture on a console"))
		}
		if missing := settings.Missing(); len(missing) > 0 {
			return nil, fail(KindSettings, fmt.Errorf("%w: the INF lacks %s", ErrNeedsWizard, strings.Join(missing, ", ")))
		}
		// Attended with every setting: the wizard still shows them for
		// confirmation.
		return nil, fail(KindSettings, fmt.Errorf("%w: Unattended=No asks the technician to confirm", ErrNeedsWizard))
	}
	plan, err := Prepare(ctx, settings, o, obs)
	if err != nil {
		return nil, err
	}
	return Execute(ctx, plan, o, obs)
}

// ErrNeedsWizard says the settings are incomplete and a person must fill
// them in.
var ErrNeedsWizard = errors.New("the settings are incomplete")

// LoadSettings finds and parses the INF (or returns defaults when there is
// none and no path was given).
func LoadSettings(o RunOptions, obs Observer) (*inf.Settings, error) {
	path := o.INFPath
	if path == "" {
		root := o.Root
		if root == "" {
			root = "/"
		}
		p, err := inf.Find(root)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				obs.note(PhaseSettings, slog.LevelInfo, "no WDSCapture.inf under %s; using defaults", filepath.Join(root, "Windows/System32"))
				return inf.Default(), nil
			}
			return nil, fail(KindSettings, err)
		}
		path = p
	}
	s, warns, err := inf.Load(path)
	for _, w := range warns {
		obs.note(PhaseSettings, slog.LevelWarn, "%s", w)
	}
	if err != nil {
		return nil, fail(KindSettings, err)
	}
	obs.note(PhaseSettings, slog.LevelInfo, "settings from %s", path)
	return s, nil
}

// Prepare resolves the source volume and the destination and runs every
// pre-flight check, so that nothing is written before every setting is
// known to be usable. A refusal is a *CaptureError whose Err is Problems:
// every problem found, each naming its INF key.
func Prepare(ctx context.Context, s *inf.Settings, o RunOptions, obs Observer) (*Plan, error) {
	c := *s
	var ps Problems
	if err := c.Validate(); err != nil {
		ps = append(ps, fromINF(err)...)
	}
	for _, k := range c.Missing() {
		ps = append(ps, missing(k))
	}

	// The source.
	var src *Source
	if len(ps.Key(inf.KeyVolumeToCapture)) == 0 {
		obs.note(PhaseDiscover, slog.LevelInfo, "looking for the volume to capture")
		var sp Problems
		src, sp = resolveSource(ctx, &c, o)
		if err := ctx.Err(); err != nil {
			return nil, fail(KindInterrupted, err)
		}
		ps = append(ps, sp...)
		if src != nil {
			obs.note(PhaseDiscover, slog.LevelInfo, "%s", src.Describe())
		}
	}

	// The destination.
	var dest *Destination
	if c.DestinationFile != "" && len(ps.Key(inf.KeyDestinationFile)) == 0 {
		var dp Problems
		dest, dp = CheckDestination(&c, o, src)
		ps = append(ps, dp...)
	}
	matcher, err := c.Matcher(src.systemRoot())
	if err != nil {
		ps = append(ps, problem(KindSettings, inf.SectionExclusionList, "", err, "%v", err))
	}
	// The image store: checked with the rest, before anything is written.
	var target *UploadTarget
	if c.Upload && len(ps.Topic(TopicUpload)) == 0 {
		var up Problems
		target, up, err = prepareUpload(ctx, &c, dest, o, obs)
		if err != nil {
			return nil, err
		}
		ps = append(ps, up...)
	}
	if len(ps) > 0 {
		if target != nil {
			target.Client.Close()
		}
		return nil, ps.err()
	}

	plan := &Plan{Settings: &c, Source: src, Destination: dest, Upload: target}
	req := &plan.Request
	req.Source = src.Spec
	req.Dest = dest.Path
	req.Image = images.ImageOptions{Name: c.ImageName, Description: c.ImageDescription}
	req.Integrity = c.CheckIntegrity
	req.Verify = true
	req.Threads = o.Threads
	req.Compression = c.Compression
	req.MinFree = minFree
	req.Exclude = matcher
	switch c.Overwrite {
	case inf.OverwriteYes:
		req.Overwrite = true
	case inf.OverwriteAppend:
		if dest.Exists {
			req.Append = true
			// Images in one WIM share its compression.
			if err := c.Set(inf.KeyCompression, dest.Compression.String()); err != nil {
				return nil, fail(KindSettings, err)
			}
			req.Compression = c.Compression
		}
	}
	obs.note(PhasePreflight, slog.LevelInfo, "destination %s", req.Dest)
	return plan, nil
}

// Source is a resolved capture source.
type Source struct {
	// Spec is what Capture opens.
	Spec SourceSpec
	// Volume is the scanned volume, nil for a path from VolumeToCapture.
	Volume *scan.VolumeRef
	// Letter is the volume's drive letter ("C"), "" when it has none.
	Letter string
}

// String names the source: "C: (sda partition 3)" or its path.
func (s *Source) String() string {
	if s.Volume == nil {
		return s.Spec.Path
	}
	where := fmt.Sprintf("%s partition %d", s.Volume.Disk.Name, s.Volume.Partition.Index)
	if s.Letter == "" {
		return where
	}
	return s.Letter + ": (" + where + ")"
}

// Describe is the line the run logs about the source.
func (s *Source) Describe() string {
	if s.Volume == nil {
		return "capturing " + s.Spec.Path
	}
	vol := s.Volume.Volume
	w := vol.Windows
	if w == nil {
		return "volume " + s.String()
	}
	return fmt.Sprintf("volume %s: (%s partition %d): %s %s %s, %s", vol.Letter, s.Volume.Disk.Name, s.Volume.Partition.Index, w.ProductName, w.Version, w.Arch, strings.Join(w.Languages, " "))
}

func (s *Source) systemRoot() string {
	if s != nil && s.Volume != nil && s.Volume.Volume.Windows != nil {
		return `\` + s.Volume.Volume.Windows.SystemRoot
	}
	return ""
}

// sourcePath reports whether VolumeToCapture names a path (a directory, a
// partition image or a device) rather than a drive letter.
func sourcePath(v string) bool {
	_, rest, ok := inf.DriveLetter(v)
	return v != "" && (!ok || strings.Trim(rest, `\/`) != "" || len(v) > 3)
}

// resolveSource finds the source VolumeToCapture names, scanning the disks
// for a drive letter or for the one generalized Windows.
func resolveSource(ctx context.Context, s *inf.Settings, o RunOptions) (*Source, Problems) {
	if sourcePath(s.VolumeToCapture) {
		return SourceFor(s, nil)
	}
	rep := o.Report
	var err error
	if rep == nil {
		rep, err = ScanDisks(ctx, o)
	}
	if err != nil {
		return nil, Problems{problem(KindNothing, inf.KeyVolumeToCapture, s.VolumeToCapture, err, "scanning the disks failed: %v", err)}
	}
	return SourceFor(s, rep)
}

// SourceFor resolves VolumeToCapture against a scan: a drive letter must
// name a volume ready to capture; without one, the scan must have found
// exactly one generalized Windows volume. A path is checked on its own
// (rep may be nil then).
func SourceFor(s *inf.Settings, rep *scan.Report) (*Source, Problems) {
	key, v := inf.KeyVolumeToCapture, s.VolumeToCapture
	if sourcePath(v) {
		if err := checkSourcePath(v); err != nil {
			return nil, Problems{problem(KindNothing, key, v, err, "%v", err)}
		}
		return &Source{Spec: SourceSpec{Path: v}}, nil
	}
	if rep == nil {
		return nil, Problems{problem(KindNothing, key, v, nil, "the disks have not been scanned")}
	}
	var chosen *scan.VolumeRef
	if v != "" {
		letter, _, _ := inf.DriveLetter(v)
		for _, ref := range rep.Volumes() {
			if ref.Volume.Letter == string(letter) {
				chosen = &ref
			}
		}
		if chosen == nil {
			return nil, Problems{problem(KindNothing, key, v, nil, "no volume has that drive letter; the scan found %s", describeVolumes(rep))}
		}
	} else {
		ready := rep.Ready()
		switch len(ready) {
		case 1:
			chosen = &ready[0]
		case 0:
			return nil, Problems{problem(KindNothing, key, "", nil, "no generalized Windows volume found (%s); run sysprep /generalize on the reference machine, or set VolumeToCapture", describeCandidates(rep))}
		default:
			var ls []string
			for _, r := range ready {
				ls = append(ls, letterOr(r))
			}
			return nil, Problems{problem(KindSettings, key, "", nil, "%d generalized Windows volumes found (%s): set VolumeToCapture to choose one", len(ready), strings.Join(ls, ", "))}
		}
	}
	vol := chosen.Volume
	if vol.State != scan.StateReady {
		msg := vol.Reason
		if vol.Detail != "" {
			msg += " (" + vol.Detail + ")"
		}
		return nil, Problems{problem(KindNothing, key, v, nil, "volume %s is not ready to capture: %s", letterOr(*chosen), msg)}
	}
	return &Source{
		Spec:   SourceSpec{Path: chosen.Disk.Path, Offset: chosen.Partition.Start, Size: chosen.Partition.Size},
		Volume: chosen,
		Letter: vol.Letter,
	}, nil
}

func describeVolumes(rep *scan.Report) string {
	var ls []string
	for _, r := range rep.Volumes() {
		if r.Volume.Letter != "" {
			ls = append(ls, fmt.Sprintf("%s: (%s)", r.Volume.Letter, r.Volume.FS))
		}
	}
	if len(ls) == 0 {
		return "no lettered volumes"
	}
	return strings.Join(ls, ", ")
}

func describeCandidates(rep *scan.Report) string {
	var ls []string
	for _, r := range rep.Volumes() {
		if r.Volume.State != scan.StateNone && r.Volume.State != scan.StateNoWindows && r.Volume.State != scan.StateReady {
			ls = append(ls, letterOr(r)+" "+r.Volume.Reason)
		}
	}
	if len(ls) == 0 {
		return "no NTFS volume holds Windows"
	}
	return strings.Join(ls, "; ")
}

func letterOr(r scan.VolumeRef) string {
	if r.Volume.Letter != "" {
		return r.Volume.Letter + ":"
	}
	return fmt.Sprintf("%s partition %d", r.Disk.Name, r.Partition.Index)
}

// ScanDisks scans what the run options name (the local disks unless
// NoDevices, and DiskImages), as the run does: the disks holding the
// mapped drives are scanned and lettered too.
func ScanDisks(ctx context.Context, o RunOptions) (*scan.Report, error) {
	opts := ScanOptions(!o.NoDevices, o.DiskImages, slog.New(slog.DiscardHandler))
	opts.AllowMounted = mountedDrives(o.DriveMap)
	return scan.Scan(ctx, opts)
}

// mountedDrives returns the devices ("major:minor") mounted at the
// directories of drives: the capture environment mounts the destination
// volume before the agent runs, and its disk must still be scanned and
// lettered as Windows PE would, not skipped as the running system.
func mountedDrives(drives map[string]string) []string {
	var out []string
	for _, dir := range drives {
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err == nil {
			out = append(out, fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)))
		}
	}
	return out
}

// Execute runs a prepared plan: capture, verify, the log file, and the
// upload. When the capture succeeds and the upload finally fails, the
// Result comes with an error: a *CaptureError of KindUpload wrapping an
// *UploadError (the local WIM is kept; it says how to retry).
func Execute(ctx context.Context, plan *Plan, o RunOptions, obs Observer) (*Result, error) {
	defer plan.Close()
	logPath := o.LogPath
	if logPath == "" {
		logPath = plan.Request.Dest + ".log"
	}
	if err := os.MkdirAll(filepath.Dir(plan.Request.Dest), 0o755); err != nil {
		return nil, fail(KindSettings, problem(KindSettings, inf.KeyDestinationFile, plan.Settings.DestinationFile, err, "cannot create its directory: %v", err))
	}
	lf, err := openLog(logPath)
	if err != nil {
		return nil, fail(KindSettings, fmt.Errorf("open the log file: %w", err))
	}
	defer lf.Close()
	log := slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	log.Info("capture starting", "settings", plan.Settings, "source", plan.Request.Source.Path, "dest", plan.Request.Dest)
	for _, w := range plan.Settings.Warnings {
		log.Warn(w.String(), "phase", PhaseSettings.Name)
	}
	// Notes go to the log file too.
	fileObs := obs
	fileObs.Note = func(n Note) {
		log.Log(context.Background(), n.Level, n.Text, "phase", n.Phase.Name)
		if obs.Note != nil {
			obs.Note(n)
		}
	}
	res, err := Capture(ctx, plan.Request, log, fileObs)
	if err != nil {
		log.Error("capture failed", "err", err)
		return nil, err
	}
	log.Info("capture finished", "dest", res.Dest, "size", res.Size, "verified", res.Verified, "duration", res.Duration)
	if plan.Upload != nil {
		up, err := runUpload(ctx, plan, res, log, fileObs)
		if err != nil {
			return res, fail(KindUpload, err)
		}
		res.Upload = up
	}
	return res, nil
}

// openLog opens the capture log for appending. It is readable by its owner
// only (0600; an older log with wider permissions is narrowed): it names
// servers, accounts and paths. A FIFO or device is refused rather than
// waited on.
func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = &fileopen.TypeError{Path: path, Mode: st.Mode(), Want: "a regular file"}
	}
	if err == nil && st.Mode().Perm()&0o077 != 0 {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = syscall.SetNonblock(int(f.Fd()), false)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
