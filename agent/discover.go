package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"

	"github.com/wdscapture/wdscapture/metadata"
	"github.com/wdscapture/wdscapture/scan"
	"github.com/wdscapture/wdscapture/volume"
	"github.com/wdscapture/wdscapture/volume/ntfs"
)

// ScanOptions returns scan options wired to the raw-NTFS reader and the
// metadata reader. blockDevices scans /sys/block; images adds disk image
// files.
func ScanOptions(blockDevices bool, images []string, log *slog.Logger) scan.Options {
	return scan.Options{
		BlockDevices: blockDevices,
		Images:       images,
		Logger:       log,
		OpenVolume:   openNTFSView,
		Inspect:      inspectWindows,
	}
}

// Discover scans the local disks (and images) for volumes.
func Discover(ctx context.Context, blockDevices bool, images []string, log *slog.Logger) (*scan.Report, error) {
	return scan.Scan(ctx, ScanOptions(blockDevices, images, log))
}

func openNTFSView(r io.ReaderAt, off, size int64) (fs.FS, func() error, error) {
	v, err := ntfs.Open(r, off, size, ntfs.Options{AllowDirty: true})
	if err != nil {
		switch {
		case errors.Is(err, ntfs.ErrBitLocker):
			return nil, nil, fmt.Errorf("%w: %v", scan.ErrBitLocker, err)
		case errors.Is(err, ntfs.ErrNotNTFS):
			return nil, nil, fmt.Errorf("%w: %v", scan.ErrNotNTFS, err)
		}
		return nil, nil, err
	}
	if v.Dirty() {
		return volume.FS(v), v.Close, fmt.Errorf("%w", scan.ErrDirty)
	}
	return volume.FS(v), v.Close, nil
}

func inspectWindows(fsys fs.FS) (*scan.WindowsInfo, error) {
	info, warns, err := metadata.Read(fsys)
	if err != nil {
		if errors.Is(err, metadata.ErrNoSystemRoot) {
			return nil, fmt.Errorf("%w", scan.ErrNoWindows)
		}
		return nil, err
	}
	w := info.Windows
	wi := &scan.WindowsInfo{
		SystemRoot: w.SystemRoot, ProductName: w.ProductName, EditionID: w.EditionID,
		InstallationType: w.InstallationType, Languages: w.Languages, DefaultLanguage: w.DefaultLanguage,
		RegistryImageState: info.ImageState, Warnings: warns,
	}
	if w.Arch != nil {
		wi.Arch = scan.ArchName(*w.Arch)
	}
	wi.Version = versionString(w.Version)
	if s, err := metadata.ReadStateINI(fsys, w.SystemRoot); err == nil {
		wi.StateINIImageState = s
	} else {
		wi.Warnings = append(wi.Warnings, "State.ini: "+err.Error())
	}
	return wi, nil
}

func versionString(v metadata.Version) string {
	if v.Major == nil || v.Minor == nil {
		return ""
	}
	s := strconv.FormatInt(*v.Major, 10) + "." + strconv.FormatInt(*v.Minor, 10)
	if v.Build != nil {
		s += "." + *v.Build
		if v.SPBuild != nil {
			s += "." + strconv.FormatInt(*v.SPBuild, 10)
		}
	}
	return s
}

// windowsImageOptions fills the image's Windows XML from the source tree,
// as wimlib does for every capture; it is silent when the tree holds no
// Windows. Fields the caller set are kept.
func windowsImageOptions(src volume.Source, opts *ImageXML, log *slog.Logger) *metadata.Info {
	info, warns, err := metadata.Read(volume.FS(src))
	if err != nil {
		if !errors.Is(err, metadata.ErrNoSystemRoot) {
			log.Warn("could not read the Windows metadata", "err", err)
		}
		return nil
	}
	// Absent values are normal (no ImageState before Sysprep, no version
	// numbers on Windows 7); damaged ones deserve one warning.
	var damaged []string
	for _, w := range warns {
		if strings.Contains(w, "not present") {
			log.Debug("Windows metadata: " + w)
		} else {
			damaged = append(damaged, w)
		}
	}
	if len(damaged) > 0 {
		log.Warn(fmt.Sprintf("Windows metadata: %d values could not be read and are left out of the image XML", len(damaged)), "first", damaged[0])
		for _, w := range damaged[1:] {
			log.Debug("Windows metadata: " + w)
		}
	}
	opts.WindowsXML = info.WindowsXML()
	if opts.Flags == "" {
		opts.Flags = info.Flags
	}
	if opts.DisplayName == "" {
		opts.DisplayName = info.DisplayName
	}
	if opts.DisplayDescription == "" {
		opts.DisplayDescription = info.DisplayDescription
	}
	return info
}
