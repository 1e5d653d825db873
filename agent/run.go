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
	"github.com/wdscapture/wdscapture/scan"
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
}

// Plan is a fully resolved capture: what the settings and the scan decided.
type Plan struct {
	Settings *inf.Settings
	Request  CaptureRequest
	// Volume is the scanned volume being captured, nil for a directory.
	Volume *scan.VolumeRef
}

// Run loads the settings and, when they (with the scan) are complete, runs
// the capture without asking anything. An attended run (Unattended=No) on
// a terminal gives ErrNeedsWizard, wrapped: with settings missing, so that
// the wizard asks for them, and with every setting, so that the wizard
// shows them for confirmation.
func Run(ctx context.Context, o RunOptions, emit func(Event)) (*Result, error) {
	if emit == nil {
		emit = func(Event) {}
	}
	settings, err := LoadSettings(o, emit)
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
	plan, err := Prepare(ctx, settings, o, emit)
	if err != nil {
		return nil, err
	}
	return Execute(ctx, plan, o, emit)
}

// ErrNeedsWizard says the settings are incomplete and a person must fill
// them in.
var ErrNeedsWizard = errors.New("the settings are incomplete")

// LoadSettings finds and parses the INF (or returns defaults when there is
// none and no path was given).
func LoadSettings(o RunOptions, emit func(Event)) (*inf.Settings, error) {
	path := o.INFPath
	if path == "" {
		root := o.Root
		if root == "" {
			root = "/"
		}
		p, err := inf.Find(root)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				emit(Event{Phase: PhaseSettings, Message: "no WDSCapture.inf under " + filepath.Join(root, "Windows/System32") + "; using defaults"})
				return inf.Default(), nil
			}
			return nil, fail(KindSettings, err)
		}
		path = p
	}
	s, warns, err := inf.Load(path)
	for _, w := range warns {
		emit(Event{Phase: PhaseSettings, Warning: true, Message: w.String()})
	}
	if err != nil {
		return nil, fail(KindSettings, err)
	}
	emit(Event{Phase: PhaseSettings, Message: "settings from " + path})
	return s, nil
}

// Prepare resolves the source volume and the destination and runs the
// pre-flight checks, so that nothing is written before every setting is
// known to be usable.
func Prepare(ctx context.Context, s *inf.Settings, o RunOptions, emit func(Event)) (*Plan, error) {
	if err := s.Validate(); err != nil {
		return nil, fail(KindSettings, err)
	}
	if missing := s.Missing(); len(missing) > 0 {
		return nil, fail(KindSettings, fmt.Errorf("unattended capture: WDSCapture.inf must set %s", strings.Join(missing, ", ")))
	}
	if s.Upload {
		return nil, fail(KindSettings, errors.New("UploadToWDSServer=Yes: uploading to an image store is not available in this version; set UploadToWDSServer=No (the capture has not started)"))
	}
	plan := &Plan{Settings: s}
	req := &plan.Request
	req.Image = images.ImageOptions{Name: s.ImageName, Description: s.ImageDescription}
	req.Integrity = s.CheckIntegrity
	req.Verify = true
	req.Threads = o.Threads
	req.Compression = s.Compression

	// The source.
	emit(Event{Phase: PhaseDiscover, Message: "looking for the volume to capture"})
	if err := resolveSource(ctx, s, o, plan, emit); err != nil {
		return nil, err
	}

	// The destination.
	dest, err := resolveDestination(s.DestinationFile, o.DriveMap)
	if err != nil {
		return nil, fail(KindSettings, err)
	}
	req.Dest = dest
	emit(Event{Phase: PhasePreflight, Message: "destination " + dest})
	if err := preflight(plan); err != nil {
		return nil, err
	}
	matcher, err := s.Matcher(systemRootOf(plan))
	if err != nil {
		return nil, fail(KindSettings, err)
	}
	req.Exclude = matcher
	return plan, nil
}

func systemRootOf(p *Plan) string {
	if p.Volume != nil && p.Volume.Volume.Windows != nil {
		return `\` + p.Volume.Volume.Windows.SystemRoot
	}
	return ""
}

func resolveSource(ctx context.Context, s *inf.Settings, o RunOptions, plan *Plan, emit func(Event)) error {
	v := s.VolumeToCapture
	if v != "" {
		if letter, rest, ok := inf.DriveLetter(v); !ok || strings.Trim(rest, `\/`) != "" || len(v) > 3 {
			// A path: a directory, a partition image or a device.
			if _, err := os.Stat(v); err != nil {
				return fail(KindNothing, fmt.Errorf("VolumeToCapture=%s: %w", v, err))
			}
			plan.Request.Source = SourceSpec{Path: v}
			emit(Event{Phase: PhaseDiscover, Message: "capturing " + v})
			return nil
		} else {
			v = strings.ToUpper(string(letter))
		}
	}
	rep, err := Discover(ctx, !o.NoDevices, o.DiskImages, slog.New(slog.DiscardHandler))
	if err != nil {
		return fail(KindNothing, fmt.Errorf("scan the disks: %w", err))
	}
	var chosen *scan.VolumeRef
	if v != "" {
		for _, ref := range rep.Volumes() {
			if ref.Volume.Letter == v {
				ref := ref
				chosen = &ref
			}
		}
		if chosen == nil {
			return fail(KindNothing, fmt.Errorf("VolumeToCapture=%s: no volume has that drive letter; the scan found %s", s.VolumeToCapture, describeVolumes(rep)))
		}
	} else {
		ready := rep.Ready()
		switch len(ready) {
		case 1:
			chosen = &ready[0]
		case 0:
			return fail(KindNothing, fmt.Errorf("no generalized Windows volume found (%s); run sysprep /generalize on the reference machine, or set VolumeToCapture", describeCandidates(rep)))
		default:
			var ls []string
			for _, r := range ready {
				ls = append(ls, r.Volume.Letter+":")
			}
			return fail(KindSettings, fmt.Errorf("%d generalized Windows volumes found (%s): set VolumeToCapture in WDSCapture.inf to choose one", len(ready), strings.Join(ls, ", ")))
		}
	}
	vol := chosen.Volume
	if vol.State != scan.StateReady {
		msg := vol.Reason
		if vol.Detail != "" {
			msg += " (" + vol.Detail + ")"
		}
		return fail(KindNothing, fmt.Errorf("volume %s: is not ready to capture: %s", vol.Letter, msg))
	}
	plan.Volume = chosen
	plan.Request.Source = SourceSpec{Path: chosen.Disk.Path, Offset: chosen.Partition.Start, Size: chosen.Partition.Size}
	w := vol.Windows
	emit(Event{Phase: PhaseDiscover, Message: fmt.Sprintf("volume %s: (%s partition %d): %s %s %s, %s", vol.Letter, chosen.Disk.Name, chosen.Partition.Index, w.ProductName, w.Version, w.Arch, strings.Join(w.Languages, " "))})
	return nil
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
			ls = append(ls, fmt.Sprintf("%s: %s", letterOr(r), r.Volume.Reason))
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

// resolveDestination turns DestinationFile into a local path: a Linux path
// is used as it is; a drive-letter path needs that volume mounted, given
// with DriveMap.
func resolveDestination(dest string, drives map[string]string) (string, error) {
	letter, rest, ok := inf.DriveLetter(dest)
	if !ok {
		return filepath.Clean(dest), nil
	}
	dir, found := drives[strings.ToUpper(string(letter))]
	if !found {
		return "", fmt.Errorf("DestinationFile=%s is on drive %c:, which is not mounted in the capture environment; mount it and pass --drive %c=/mount/point, or give a path such as /mnt/images/ref.wim", dest, letter, letter)
	}
	return filepath.Join(dir, filepath.FromSlash(strings.ReplaceAll(rest, `\`, "/"))), nil
}

func preflight(plan *Plan) error {
	s, req := plan.Settings, &plan.Request
	if !strings.EqualFold(filepath.Ext(req.Dest), ".wim") {
		return fail(KindSettings, fmt.Errorf("DestinationFile=%s: the file name must end in .wim", s.DestinationFile))
	}
	dir := filepath.Dir(req.Dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(KindSettings, fmt.Errorf("DestinationFile=%s: cannot create its directory: %w", s.DestinationFile, err))
	}
	// The destination must not be inside the tree or on the device being captured.
	if src, err := filepath.Abs(req.Source.Path); err == nil {
		if abs, err := filepath.Abs(req.Dest); err == nil {
			if abs == src || strings.HasPrefix(abs, src+string(filepath.Separator)) {
				return fail(KindSettings, fmt.Errorf("DestinationFile=%s lies inside the volume being captured (%s)", s.DestinationFile, req.Source.Path))
			}
		}
	}
	if st, err := os.Stat(req.Source.Path); err == nil && st.Mode()&os.ModeDevice != 0 {
		var dst syscall.Stat_t
		if err := syscall.Stat(dir, &dst); err == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Rdev == dst.Dev {
				return fail(KindSettings, fmt.Errorf("DestinationFile=%s is on the device being captured (%s)", s.DestinationFile, req.Source.Path))
			}
		}
	}
	_, err := os.Stat(req.Dest)
	exists := err == nil
	switch s.Overwrite {
	case inf.OverwriteNo:
		if exists {
			return fail(KindSettings, fmt.Errorf("DestinationFile=%s exists and Overwrite=No: set Overwrite=Yes to replace it or Overwrite=Append to add an image", s.DestinationFile))
		}
	case inf.OverwriteYes:
		req.Overwrite = true
	case inf.OverwriteAppend:
		if exists {
			r, err := images.Open(req.Dest)
			if err != nil {
				return fail(KindSettings, fmt.Errorf("Overwrite=Append: %w", err))
			}
			comp := r.Compression()
			r.Close()
			if s.Has("Compression") && comp != req.Compression {
				return fail(KindSettings, fmt.Errorf("Overwrite=Append: %s uses %v compression but Compression=%v; images in one WIM share a compression type (remove the Compression key to use the WIM's)", s.DestinationFile, comp, s.Compression))
			}
			req.Compression = comp
			req.Append = true
		}
	}
	// Free space: at least room for the metadata; the capture checks the
	// estimate again once it knows the data size.
	req.MinFree = 64 << 20
	return nil
}

// Execute runs a prepared plan: capture, verify, and the log file.
func Execute(ctx context.Context, plan *Plan, o RunOptions, emit func(Event)) (*Result, error) {
	logPath := o.LogPath
	if logPath == "" {
		logPath = plan.Request.Dest + ".log"
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fail(KindSettings, fmt.Errorf("open the log file: %w", err))
	}
	defer lf.Close()
	log := slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	log.Info("capture starting", "settings", plan.Settings, "source", plan.Request.Source.Path, "dest", plan.Request.Dest)
	fileEmit := func(e Event) {
		if e.Message != "" {
			if e.Warning {
				log.Warn(e.Message, "phase", e.Phase)
			} else {
				log.Info(e.Message, "phase", e.Phase)
			}
		}
		emit(e)
	}
	res, err := Capture(ctx, plan.Request, log, fileEmit)
	if err != nil {
		log.Error("capture failed", "err", err)
		return nil, err
	}
	log.Info("capture finished", "dest", res.Dest, "size", res.Size, "verified", res.Verified, "duration", res.Duration)
	return res, nil
}
