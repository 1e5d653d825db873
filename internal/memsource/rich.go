package memsource

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/wdscapture/wdscapture/volume"
)

// SecurityDescriptor builds a valid self-relative security descriptor:
// owner and group BUILTIN\Administrators, a DACL with one allow ACE of mask
// for Everyone. Different masks give different descriptors.
func SecurityDescriptor(mask uint32) []byte {
	admins := []byte{1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0}
	everyone := []byte{1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}
	ace := make([]byte, 8, 8+len(everyone))
	ace[0], ace[1] = 0, 0 // ACCESS_ALLOWED, no flags
	binary.LittleEndian.PutUint16(ace[2:], uint16(8+len(everyone)))
	binary.LittleEndian.PutUint32(ace[4:], mask)
	ace = append(ace, everyone...)
	acl := make([]byte, 8, 8+len(ace))
	acl[0] = 2
	binary.LittleEndian.PutUint16(acl[2:], uint16(8+len(ace)))
	binary.LittleEndian.PutUint16(acl[4:], 1)
	acl = append(acl, ace...)
	sd := make([]byte, 20)
	sd[0] = 1
	binary.LittleEndian.PutUint16(sd[2:], 0x8004) // self-relative, DACL present
	owner := 20
	group := owner + len(admins)
	dacl := group + len(admins)
	binary.LittleEndian.PutUint32(sd[4:], uint32(owner))
	binary.LittleEndian.PutUint32(sd[8:], uint32(group))
	binary.LittleEndian.PutUint32(sd[16:], uint32(dacl))
	sd = append(sd, admins...)
	sd = append(sd, admins...)
	return append(sd, acl...)
}

// RichOptions tunes Rich.
type RichOptions struct {
	// BigFile adds a file of this many bytes (0: none); use more than
	// 4 GiB to exercise 8-byte chunk tables. Its content is zeros.
	BigFile int64
	// ManyFiles puts this many small files in one directory.
	ManyFiles int
	// Depth is the depth of the deep directory chain.
	Depth int
}

// Rich returns a tree holding every case a capture must carry: security
// descriptors, DOS short names, attributes, all timestamps at 100 ns
// precision, named streams (empty ones too, and on a directory), empty
// files, duplicate contents, hard links, symlink, junction and other
// reparse points (one with a data stream as well), Unicode names with
// surrogate pairs, a 255-unit name, a deep chain of directories and a
// large directory.
func Rich(o RichOptions) *Source {
	t0 := uint64(133000000000000000) // 2022-06 in FILETIME
	stamp := func(f *File, k uint64) *File {
		f.CreationTime = t0 + k*10000001 + 1
		f.LastWriteTime = t0 + k*10000003 + 7
		f.LastAccessTime = t0 + k*10000007 + 9
		return f
	}
	sd1, sd2, sd3 := SecurityDescriptor(0x1F01FF), SecurityDescriptor(0x1200A9), SecurityDescriptor(0x120089)
	n := uint64(0)
	next := func(f *File) *File {
		n++
		stamp(f, n)
		if f.Security == nil {
			f.Security = sd2
		}
		return f
	}
	shared := Bytes(strings.Repeat("shared content of two hard links\r\n", 50))
	link1 := next(Regular("link1.txt", shared))
	link1.LinkID = 42
	link2 := next(Regular("link2.txt", shared))
	link2.LinkID = 42
	link2.CreationTime, link2.LastWriteTime, link2.LastAccessTime = link1.CreationTime, link1.LastWriteTime, link1.LastAccessTime
	link2.Security = link1.Security

	sym := next(Regular("sym-to-target.txt", Bytes(nil)))
	sym.Attributes = volume.AttrReparsePoint | volume.AttrArchive
	sym.ReparseTag = volume.ReparseTagSymlink
	sym.ReparseData, _ = volume.SymlinkReparseData("target.txt")

	junction := next(Dir("Junction"))
	junction.Attributes = volume.AttrDirectory | volume.AttrReparsePoint
	junction.ReparseTag = volume.ReparseTagMountPoint
	junction.ReparseData = junctionData(`\??\C:\Users`, `C:\Users`)

	wof := next(Regular("compact.dll", Pattern{N: 5000, Seed: 7}))
	wof.Attributes = volume.AttrReparsePoint | volume.AttrArchive | volume.AttrSparseFile
	wof.ReparseTag = 0x80000017
	wof.ReparseData = []byte{1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}
	wof.WithStream("WofCompressedData", Pattern{N: 3000, Seed: 8})

	ads := next(Text("ads.txt", "main stream\r\n")).
		WithStream("Zone.Identifier", Bytes("[ZoneTransfer]\r\nZoneId=3\r\n")).
		WithStream("empty", Bytes(nil)).
		WithStream("ストリーム", Bytes("unicode stream name"))
	adsDir := next(Dir("dir with stream"))
	adsDir.WithStream("meta", Bytes("a stream on a directory"))

	hidden := next(Text("pagefile-like.sys", "hidden system file"))
	hidden.Attributes = volume.AttrHidden | volume.AttrSystem | volume.AttrArchive
	ro := next(Text("readonly.txt", "read only"))
	ro.Attributes = volume.AttrReadOnly
	ro.Security = sd3

	long := next(Text("A Long File Name.document", "has a short name"))
	long.ShortName = "ALONGF~1.DOC"

	progFiles := next(Dir("Program Files",
		next(Regular("dup-a.bin", Pattern{N: 70000, Seed: 3})),
		next(Dir("Sub", next(Regular("dup-b.bin", Pattern{N: 70000, Seed: 3})), link2)),
	))
	progFiles.ShortName = "PROGRA~1"

	uni := next(Dir("Ünïcödé 日本語 😀",
		next(Text("Привет мир.txt", "hello")),
		next(Text("emoji 😀🎉 name.txt", "surrogates")),
		next(Text(strings.Repeat("n", 251)+".txt", "a 255-unit name")),
	))

	deep := next(Dir("deep"))
	cur := deep
	for i := 0; i < o.Depth; i++ {
		d := next(Dir(fmt.Sprintf("level%03d", i)))
		cur.Children = append(cur.Children, d)
		cur = d
	}
	cur.Children = append(cur.Children, next(Text("bottom.txt", "at the bottom")))

	many := next(Dir("Many"))
	for i := 0; i < o.ManyFiles; i++ {
		many.Children = append(many.Children, next(Text(fmt.Sprintf("file%05d.log", i), fmt.Sprintf("entry %d\r\n", i%97))))
	}

	kids := []*File{
		link1, sym, junction, wof, ads, adsDir, hidden, ro, long, progFiles, uni, deep, many,
		next(Text("empty.txt", "")),
		next(Regular("random.bin", Pattern{N: 200000, Seed: 11})),
		next(Regular("zeros.bin", Pattern{N: 100000, Zero: true})),
		next(Text("target.txt", "the symlink's target")),
	}
	if o.BigFile > 0 {
		big := next(Regular("big.vhd", Pattern{N: o.BigFile, Zero: true}))
		big.Attributes = volume.AttrSparseFile | volume.AttrArchive
		kids = append(kids, big)
	}
	src := New(kids...)
	stamp(src.Root_, 0)
	src.Root_.Security = sd1
	return src
}

// junctionData builds mount-point reparse data (after the 8-byte header).
func junctionData(subst, print string) []byte {
	enc := func(s string) []byte {
		var b []byte
		for _, r := range s {
			b = binary.LittleEndian.AppendUint16(b, uint16(r))
		}
		return b
	}
	s, p := enc(subst), enc(print)
	b := make([]byte, 8)
	binary.LittleEndian.PutUint16(b[0:], 0)
	binary.LittleEndian.PutUint16(b[2:], uint16(len(s)))
	binary.LittleEndian.PutUint16(b[4:], uint16(len(s)+2))
	binary.LittleEndian.PutUint16(b[6:], uint16(len(p)))
	b = append(b, s...)
	b = append(b, 0, 0)
	b = append(b, p...)
	return append(b, 0, 0)
}
