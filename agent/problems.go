package agent

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wdscapture/wdscapture/inf"
)

// Topic is the part of the settings a problem is about. The wizard has one
// page per topic; an unattended run names the INF key instead.
type Topic int

// The topics.
const (
	TopicGeneral     Topic = iota // no one page: Unattended, the exclusion lists
	TopicSource                   // the volume, its Windows, the image name and description
	TopicDestination              // the WIM file, compression, what to do when it exists
	TopicUpload                   // the [WDS] section
)

// String returns the topic's name.
func (t Topic) String() string {
	switch t {
	case TopicSource:
		return "source"
	case TopicDestination:
		return "destination"
	case TopicUpload:
		return "upload"
	}
	return "general"
}

// TopicOf returns the topic of an INF key.
func TopicOf(key string) Topic {
	switch key {
	case inf.KeyVolumeToCapture, inf.KeySystemRoot, inf.KeyImageName, inf.KeyImageDescription:
		return TopicSource
	case inf.KeyDestinationFile, inf.KeyOverwrite, inf.KeyCompression, inf.KeyCheckIntegrity:
		return TopicDestination
	}
	if inf.SectionOf(key) == inf.SectionWDS {
		return TopicUpload
	}
	return TopicGeneral
}

// SettingError is one reason the settings cannot be used, found before
// anything is written. It names the INF key whose value must change, so
// that the wizard shows it next to that setting and an unattended run's
// message says what to fix.
type SettingError struct {
	// Key is the INF key to change (an inf.Key* constant), "" when no one
	// key is at fault.
	Key string
	// Kind is KindSettings, or KindNothing when there is nothing to
	// capture (no generalized Windows, a volume that cannot be read).
	Kind ErrorKind
	// Msg says what is wrong and what to do, without naming the key: the
	// text shown next to the setting.
	Msg string
	// Err is the full error: the key, its value (or the file and line the
	// value came from) and Msg, wrapping the cause when there is one.
	Err error
}

func (e *SettingError) Error() string { return e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

// Topic returns the topic of the key.
func (e *SettingError) Topic() Topic { return TopicOf(e.Key) }

// problem returns a SettingError "Key=value: msg". cause, when not nil, is
// wrapped (for errors.Is) but not repeated: msg says it in words.
func problem(kind ErrorKind, key, value string, cause error, format string, args ...any) *SettingError {
	msg := fmt.Sprintf(format, args...)
	where := key
	if value != "" {
		where += "=" + value
	}
	var err error
	switch {
	case where == "" && cause != nil:
		err = fmt.Errorf("%s: %w", msg, cause)
	case where == "":
		err = errors.New(msg)
	case cause != nil:
		err = &wrapped{text: where + ": " + msg, cause: cause}
	default:
		err = errors.New(where + ": " + msg)
	}
	return &SettingError{Key: key, Kind: kind, Msg: msg, Err: err}
}

// wrapped is an error with its own text that unwraps to its cause.
type wrapped struct {
	text  string
	cause error
}

func (w *wrapped) Error() string { return w.text }
func (w *wrapped) Unwrap() error { return w.cause }

// fromINF turns the INF's validation errors into problems, each under the
// key the error names.
func fromINF(err error) Problems {
	var list inf.ErrorList
	if !errors.As(err, &list) {
		return Problems{problem(KindSettings, "", "", err, "the settings are not valid")}
	}
	var ps Problems
	for _, e := range list {
		key := e.Key
		if key == "" && (e.Section == inf.SectionExclusionList || e.Section == inf.SectionExclusionException) {
			key = e.Section
		}
		ps = append(ps, &SettingError{Key: key, Kind: KindSettings, Msg: e.Msg, Err: e})
	}
	return ps
}

// Problems is every reason a run cannot start, each a *SettingError, in
// the order found. Prepare returns them all at once (as the Err of a
// *CaptureError), so that one correction pass fixes everything.
// errors.As finds the list, and each problem through Unwrap.
type Problems []*SettingError

func (p Problems) Error() string {
	msgs := make([]string, len(p))
	for i, e := range p {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns the individual problems.
func (p Problems) Unwrap() []error {
	out := make([]error, len(p))
	for i, e := range p {
		out[i] = e
	}
	return out
}

// Kind is KindSettings when any problem is a bad setting, else
// KindNothing when one says there is nothing to capture, else KindUpload
// (the image store refuses).
func (p Problems) Kind() ErrorKind {
	if len(p) == 0 {
		return KindSettings
	}
	nothing := false
	for _, e := range p {
		switch e.Kind {
		case KindNothing:
			nothing = true
		case KindUpload:
		default:
			return KindSettings
		}
	}
	if nothing {
		return KindNothing
	}
	return KindUpload
}

// Key returns the problems about key.
func (p Problems) Key(key string) Problems {
	var out Problems
	for _, e := range p {
		if strings.EqualFold(e.Key, key) {
			out = append(out, e)
		}
	}
	return out
}

// Topic returns the problems about topic t.
func (p Problems) Topic(t Topic) Problems {
	var out Problems
	for _, e := range p {
		if e.Topic() == t {
			out = append(out, e)
		}
	}
	return out
}

// err returns the problems as a *CaptureError, nil when there are none.
func (p Problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &CaptureError{Kind: p.Kind(), Err: p}
}

// missing is the problem of a key that must be set.
func missing(key string) *SettingError {
	what := "a capture needs it"
	switch key {
	case inf.KeyImageName:
		what = "give the image a name"
	case inf.KeyDestinationFile:
		what = "give the path of the .wim file to write"
	case inf.KeyWDSServerName, inf.KeyWDSImageGroup, inf.KeyUsername, inf.KeyPassword:
		what = "an upload needs it"
	}
	return problem(KindSettings, key, "", nil, "is not set: %s", what)
}

// CheckKeys returns the problems of the given keys alone: values that are
// not valid, and values a capture needs but lacks. The wizard checks a
// field with it as it is left.
func CheckKeys(s *inf.Settings, keys ...string) Problems {
	var ps Problems
	all := fromINF(s.Validate())
	for _, k := range keys {
		ps = append(ps, all.Key(k)...)
	}
	for _, k := range s.Missing() {
		for _, want := range keys {
			if strings.EqualFold(k, want) && len(ps.Key(k)) == 0 {
				ps = append(ps, missing(k))
			}
		}
	}
	return ps
}
