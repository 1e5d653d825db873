package store

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wdscapture/wdscapture/images"
)

// ImageEntry is one image as enumeration returns it: what WDS clients see
// of an image (its WIM metadata, folder and file name) and its ACL.
type ImageEntry struct {
	Group    string `json:"group"`
	FileName string `json:"file_name"`
	// Path is where the metadata WIM is (for local storage, a path).
	Path string `json:"path"`
	// Index is the image's index in its metadata WIM (always 1).
	Index       int    `json:"index"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Architecture is x86, amd64, arm64, arm or ia64 ("" if unknown).
	Architecture     string   `json:"architecture,omitempty"`
	HAL              string   `json:"hal,omitempty"`
	ProductName      string   `json:"product_name,omitempty"`
	EditionID        string   `json:"edition_id,omitempty"`
	InstallationType string   `json:"installation_type,omitempty"`
	ProductType      string   `json:"product_type,omitempty"`
	Version          string   `json:"version,omitempty"`
	Languages        []string `json:"languages,omitempty"`
	DefaultLanguage  string   `json:"default_language,omitempty"`
	SystemRoot       string   `json:"system_root,omitempty"`
	// Compression is the image's (and its group's) compression type.
	Compression string `json:"compression,omitempty"`
	// TotalBytes is the size of the image's data; FileCount and DirCount
	// its files and folders; MetadataBytes the size of its metadata WIM.
	TotalBytes    uint64 `json:"total_bytes"`
	FileCount     uint64 `json:"file_count"`
	DirCount      uint64 `json:"dir_count"`
	MetadataBytes int64  `json:"metadata_bytes"`
	// Created and Modified are the image's XML times; Added the time its
	// file was written into the group.
	Created  time.Time `json:"created,omitzero"`
	Modified time.Time `json:"modified,omitzero"`
	Added    time.Time `json:"added"`
	// GroupRead and GroupWrite are the group's ACL, ReadFilter the
	// image's own (empty: none).
	GroupRead  []string `json:"group_read"`
	GroupWrite []string `json:"group_write"`
	ReadFilter []string `json:"read_filter,omitempty"`
	// Error says why the image's metadata WIM cannot be read (an admin
	// listing shows damaged images; a user's listing leaves them out).
	Error string `json:"error,omitempty"`
}

// List returns the images tok may see, group by group (sorted by group and
// file name). A nil tok is the administrator, who sees every image,
// damaged ones included.
func (s *Store) List(tok *Token) ([]ImageEntry, error) {
	groups, err := s.st.Groups()
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	slices.SortFunc(groups, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	var out []ImageEntry
	for _, g := range groups {
		es, err := s.listGroup(g, tok)
		if err != nil {
			if tok != nil {
				// One group with a damaged settings file must not hide
				// the others from users; it shows none of its images.
				s.log.Warn("group left out of an enumeration", "group", g, "err", err)
				continue
			}
			return nil, err
		}
		out = append(out, es...)
	}
	return out, nil
}

// ListGroup returns the images of one group that tok may see (nil: all).
func (s *Store) ListGroup(group string, tok *Token) ([]ImageEntry, error) {
	g, err := s.resolveGroup(group)
	if err != nil {
		return nil, err
	}
	return s.listGroup(g, tok)
}

func (s *Store) listGroup(g string, tok *Token) ([]ImageEntry, error) {
	set, err := s.loadSettings(g)
	if err != nil {
		return nil, err
	}
	if tok != nil && !set.CanRead(*tok) {
		return nil, nil
	}
	recs, err := s.readImages(g)
	if err != nil {
		return nil, err
	}
	var out []ImageEntry
	for _, r := range recs {
		if tok != nil && (r.Err != nil || !set.CanSee(*tok, r.FileName)) {
			continue
		}
		e := ImageEntry{Group: g, FileName: r.FileName, Path: s.st.Where(g, r.FileName), MetadataBytes: r.Size,
			Added: r.ModTime, GroupRead: nonNilList(set.Read), GroupWrite: nonNilList(set.Write),
			ReadFilter: slices.Clone(set.imageFilter(r.FileName))}
		if r.Err != nil {
			e.Error = r.Err.Error()
		} else {
			fillEntry(&e, &r.Info, r.Comp)
		}
		out = append(out, e)
	}
	return out, nil
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return slices.Clone(l)
}

// filetime converts a FILETIME to a time (zero stays zero).
func filetime(ft uint64) time.Time {
	if ft == 0 {
		return time.Time{}
	}
	return time.Unix(0, 0).Add(time.Duration(int64(ft)-116444736000000000) * 100).UTC()
}

// windowsXML is the <WINDOWS> element of an image's XML.
type windowsXML struct {
	Arch             *int   `xml:"ARCH"`
	EditionID        string `xml:"EDITIONID"`
	InstallationType string `xml:"INSTALLATIONTYPE"`
	ProductName      string `xml:"PRODUCTNAME"`
	ProductType      string `xml:"PRODUCTTYPE"`
	HAL              string `xml:"HAL"`
	SystemRoot       string `xml:"SYSTEMROOT"`
	Version          struct {
		Major   string `xml:"MAJOR"`
		Minor   string `xml:"MINOR"`
		Build   string `xml:"BUILD"`
		SPBuild string `xml:"SPBUILD"`
	} `xml:"VERSION"`
	Languages struct {
		Language []string `xml:"LANGUAGE"`
		Default  string   `xml:"DEFAULT"`
	} `xml:"LANGUAGES"`
}

// archNames are the PROCESSOR_ARCHITECTURE values the ARCH element holds.
var archNames = map[int]string{0: "x86", 5: "arm", 6: "ia64", 9: "amd64", 12: "arm64"}

func fillEntry(e *ImageEntry, info *images.ImageInfo, comp images.Compression) {
	e.Index = 1
	e.Name, e.Description = info.Name, info.Description
	e.TotalBytes, e.FileCount, e.DirCount = info.TotalBytes, info.FileCount, info.DirCount
	e.Created, e.Modified = filetime(info.CreationTime), filetime(info.LastModificationTime)
	e.Compression = comp.String()
	if info.WindowsXML == "" {
		return
	}
	var w windowsXML
	if err := xml.Unmarshal([]byte(info.WindowsXML), &w); err != nil {
		return // the reader checked it is well formed; keep the rest
	}
	if w.Arch != nil {
		e.Architecture = archNames[*w.Arch]
		if e.Architecture == "" {
			e.Architecture = fmt.Sprintf("unknown (%d)", *w.Arch)
		}
	}
	e.HAL, e.ProductName, e.EditionID = w.HAL, w.ProductName, w.EditionID
	e.InstallationType, e.ProductType, e.SystemRoot = w.InstallationType, w.ProductType, w.SystemRoot
	var parts []string
	for _, p := range []string{w.Version.Major, w.Version.Minor, w.Version.Build, w.Version.SPBuild} {
		if p == "" {
			break
		}
		parts = append(parts, p)
	}
	e.Version = strings.Join(parts, ".")
	e.Languages, e.DefaultLanguage = w.Languages.Language, w.Languages.Default
}
