package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wdscapture/wdscapture/images"
)

// More errors a caller branches on.
var (
	// ErrCompressionMismatch: the image's compression type is not the
	// group's (a *CompressionError says which).
	ErrCompressionMismatch = errors.New("compression type mismatch")
	// ErrMissingData: an image refers to data that is neither in the WIM
	// given to the store nor in the group (a *MissingDataError lists it).
	ErrMissingData = errors.New("missing data")
	// ErrNoSpace: the store's disk has too little free space (a
	// *NoSpaceError says how much is needed).
	ErrNoSpace = errors.New("not enough free space")
)

// DamagedError reports data that fails verification, in a WIM given to the
// store or in a file the store keeps.
type DamagedError struct {
	// File is the damaged file: the name the caller gave the source WIM,
	// or the path of the store's file.
	File string
	// Paths are the image files whose data is damaged ("\Windows\x.dll"),
	// when known.
	Paths []string
	Err   error
}

func (e *DamagedError) Error() string {
	where := e.File
	if len(e.Paths) > 0 {
		ps := e.Paths
		more := ""
		if len(ps) > 5 {
			ps, more = ps[:5], fmt.Sprintf(" and %d more", len(e.Paths)-5)
		}
		where += " (data of " + strings.Join(ps, ", ") + more + ")"
	}
	return fmt.Sprintf("%s is damaged: %v", where, e.Err)
}

// Unwrap makes errors.Is(err, ErrDamaged) true and exposes the cause.
func (e *DamagedError) Unwrap() []error { return []error{ErrDamaged, e.Err} }

// CompressionError says that an image's compression type is not its
// group's.
type CompressionError struct {
	Group      string
	GroupType  images.Compression
	File       string
	SourceType images.Compression
}

func (e *CompressionError) Error() string {
	return fmt.Sprintf("image group %q holds %v-compressed images and %s is %v-compressed: images of one group share their file data, so they share one compression type. Convert it first (wimexport %s 1 NEW.wim --compress=%v), or capture it again with wdscapture capture --compress %s, or add it to another group",
		e.Group, e.GroupType, e.File, e.SourceType, e.File, e.GroupType, strings.ToLower(e.GroupType.String()))
}

// Unwrap makes errors.Is(err, ErrCompressionMismatch) true.
func (e *CompressionError) Unwrap() error { return ErrCompressionMismatch }

// MissingStream is a stream an image refers to but nobody holds.
type MissingStream struct {
	Hash [20]byte
	Path string // the first file of the image that refers to it
}

// MissingDataError lists the streams of an image that are neither in the
// WIM given to the store nor in the group's res.rwm. An upload client
// sends them (again) and finalizes once more.
type MissingDataError struct {
	File, Group string
	Missing     []MissingStream
}

func (e *MissingDataError) Error() string {
	var ps []string
	for i, m := range e.Missing {
		if i == 5 {
			ps = append(ps, fmt.Sprintf("and %d more", len(e.Missing)-5))
			break
		}
		ps = append(ps, fmt.Sprintf("%s (SHA-1 %x)", m.Path, m.Hash))
	}
	return fmt.Sprintf("%s refers to data that is neither in it nor in image group %q: %s",
		e.File, e.Group, strings.Join(ps, ", "))
}

// Unwrap makes errors.Is(err, ErrMissingData) true.
func (e *MissingDataError) Unwrap() error { return ErrMissingData }

// NoSpaceError says that a write needs more space than the disk has.
type NoSpaceError struct {
	Where      string
	Need, Free uint64
}

func (e *NoSpaceError) Error() string {
	return fmt.Sprintf("not enough free space in %s: need %d bytes, %d free", e.Where, e.Need, e.Free)
}

// Unwrap makes errors.Is(err, ErrNoSpace) true.
func (e *NoSpaceError) Unwrap() error { return ErrNoSpace }
