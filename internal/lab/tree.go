package lab

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/wdscapture/wdscapture/internal/memsource"
	"github.com/wdscapture/wdscapture/internal/regf"
	"github.com/wdscapture/wdscapture/metadata"
	"github.com/wdscapture/wdscapture/volume"
)

// baseTime is the FILETIME of the generated files: 2024-03-01 00:00:00 UTC.
const baseTime uint64 = 133537248000000000

// Security descriptors of the tree: a few distinct ones, as on a real volume.
var (
	sdFull     = memsource.SecurityDescriptor(0x1F01FF)
	sdReadExec = memsource.SecurityDescriptor(0x1200A9)
	sdRead     = memsource.SecurityDescriptor(0x120089)
	sdModify   = memsource.SecurityDescriptor(0x1301BF)
)

// Tree returns the synthetic Windows volume of o (the content of the
// Windows partition), for tests that do not need a disk. Invalid options
// are replaced by their defaults field by field where possible; Generate
// reports them as errors instead.
func Tree(o Options) *memsource.Source {
	src, err := tree(o)
	if err != nil {
		// Fall back to a fully default machine rather than fail.
		logger(o).Warn("lab: invalid options, using the default machine", "err", err)
		d, _ := Options{CacheDir: o.CacheDir, Logger: o.Logger}.withDefaults()
		src, err = buildTree(d)
		if err != nil {
			panic(fmt.Sprintf("lab: default tree: %v", err)) // fixed content: a bug
		}
	}
	return src
}

// tree checks o and builds its tree.
func tree(o Options) (*memsource.Source, error) {
	d, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return buildTree(d)
}

func logger(o Options) *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// treeBuilder numbers the entries to give each its own timestamps.
type treeBuilder struct {
	o Options
	n uint64
}

// stamp sets the times and (if unset) the security descriptor of f.
func (b *treeBuilder) stamp(f *memsource.File) *memsource.File {
	b.n++
	f.CreationTime = baseTime + b.n*10_000_000
	f.LastWriteTime = f.CreationTime + b.n*1_234_567
	f.LastAccessTime = f.LastWriteTime + 5_000_000
	if f.Security == nil {
		f.Security = sdReadExec
	}
	return f
}

func (b *treeBuilder) dir(name string, kids ...*memsource.File) *memsource.File {
	return b.stamp(memsource.Dir(name, kids...))
}

func (b *treeBuilder) file(name string, c memsource.Content) *memsource.File {
	return b.stamp(memsource.Regular(name, c))
}

func (b *treeBuilder) text(name, s string) *memsource.File {
	return b.stamp(memsource.Text(name, s))
}

// hidden marks f hidden and system.
func hidden(f *memsource.File) *memsource.File {
	f.Attributes |= volume.AttrHidden | volume.AttrSystem
	return f
}

// short sets the DOS name.
func short(f *memsource.File, s string) *memsource.File {
	f.ShortName = s
	return f
}

func buildTree(o Options) (*memsource.Source, error) {
	b := &treeBuilder{o: o}
	pe := kernel32(o)
	software, system, err := hives(o)
	if err != nil {
		return nil, err
	}
	user, err := userHive()
	if err != nil {
		return nil, err
	}

	kernel := b.file("kernel32.dll", memsource.Bytes(pe))
	kernel.Security = sdRead
	kernel.LinkID = 1
	// The WinSxS copy is a hard link: same streams, times, attributes, SD.
	sxsKernel := &memsource.File{Entry: kernel.Entry, Data: kernel.Data}
	sxsName := map[string]string{"amd64": "amd64", "386": "x86", "arm64": "arm64"}[o.Arch]
	sxsDir := fmt.Sprintf("%s_microsoft-windows-kernel32_31bf3856ad364e35_%d.%d.%d.1_none_8c6f2e1d9a0b4c57", sxsName, o.Major, o.Minor, o.Build)

	config := b.dir("config",
		b.file("SOFTWARE", memsource.Bytes(software)),
		b.file("SYSTEM", memsource.Bytes(system)),
	)
	for _, f := range config.Children {
		f.Security = sdFull
	}
	sys32 := b.dir("System32",
		kernel,
		config,
		b.dir("drivers", b.dir("etc",
			b.text("hosts", "# Copyright (c) 1993-2009 Microsoft Corp.\r\n#\r\n# localhost name resolution is handled within DNS itself.\r\n#\t127.0.0.1       localhost\r\n#\t::1             localhost\r\n"))),
		b.dir("Sysprep", sysprepFiles(b, o)...),
	)
	windows := b.dir("Windows",
		sys32,
		b.dir("WinSxS", b.dir(sxsDir, sxsKernel)),
		b.dir("Setup", b.dir("State", b.text("State.ini", "[State]\r\nImageState="+o.stateINI()+"\r\n"))),
		b.dir("Panther", b.text("setupact.log", strings.Repeat("2024-03-01 08:00:00, Info                  [windeploy.exe] Sysprep generalize pass completed\r\n", 40))),
		b.dir("Temp"), // empty directory
		b.dir("CSC", b.dir("v2.0.6")),
	)

	users := b.dir("Users",
		b.dir("Default", hidden(b.file("NTUSER.DAT", memsource.Bytes(user)))),
		b.dir("Public",
			b.dir("Documents",
				b.text("Résumé – Ünïcödé.txt", "naïve café, 日本語のテキスト, emoji 😀\r\n"),
				b.text("日本語のファイル名.txt", "こんにちは\r\n"),
			),
			b.dir("Downloads",
				b.file("setup.exe", memsource.Pattern{N: 48 << 10, Seed: 77}).
					WithStream("Zone.Identifier", memsource.Bytes("[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=https://example.com/setup.exe\r\n")),
			),
			b.dir("Music"), // empty directory
		),
	)
	for _, f := range users.Children {
		f.Security = sdModify
	}
	users.Security = sdFull
	hosts, _ := volume.SymlinkReparseData(`../../Windows/System32/drivers/etc/hosts`)
	link := b.file("hosts-link", memsource.Bytes(nil))
	link.Attributes = volume.AttrReparsePoint | volume.AttrArchive
	link.ReparseTag = volume.ReparseTagSymlink
	link.ReparseData = hosts
	link.Streams, link.Data = nil, nil
	pub := users.Children[1]
	pub.Children = append(pub.Children, link)
	// A directory with a named stream.
	pub.WithStream("desktop.ini.meta", memsource.Bytes("LocalizedResourceName=@%SystemRoot%\\system32\\shell32.dll,-21816\r\n"))

	docs := b.dir("Documents and Settings")
	docs.Attributes = volume.AttrDirectory | volume.AttrReparsePoint | volume.AttrHidden | volume.AttrSystem
	docs.ReparseTag = volume.ReparseTagMountPoint
	docs.ReparseData = mountPointData(`\??\C:\Users`, `C:\Users`)
	short(docs, "DOCUME~1")

	progFiles := short(b.dir("Program Files", b.dir("Contoso", b.dir("Suite"))), "PROGRA~1")
	progData := short(hidden(b.dir("ProgramData", b.dir("Contoso", b.dir("Logs")))), "PROGRA~3")

	root := []*memsource.File{windows, users, docs, progFiles, progData}
	if o.Arch != "386" {
		root = append(root, short(b.dir("Program Files (x86)", b.dir("Common Files")), "PROGRA~2"))
	}

	// Files a capture excludes by default.
	root = append(root,
		hidden(b.file("pagefile.sys", memsource.Pattern{N: 1 << 20, Zero: true})),
		hidden(b.file("swapfile.sys", memsource.Pattern{N: 256 << 10, Zero: true})),
		short(hidden(b.dir("System Volume Information",
			b.file("WPSettings.dat", memsource.Pattern{N: 12, Seed: 5}),
			b.text("IndexerVolumeGuid", "{3808876B-C176-4E48-B7AE-04046E6CC752}"),
		)), "SYSTEM~1"),
		short(hidden(b.dir("$Recycle.Bin", b.dir("S-1-5-21-1004336348-1177238915-682003330-1001",
			b.text("desktop.ini", "[.ShellClassInfo]\r\nCLSID={645FF040-5081-101B-9F08-00AA002F954E}\r\n"),
			b.text("$RZ4Q7KX.txt", "deleted before sysprep\r\n"),
		))), "$RECYC~1"),
	)
	if o.Hibernated {
		root = append(root, hidden(b.file("hiberfil.sys", prefixed{head: []byte("HIBR"), tail: memsource.Pattern{N: 1<<20 - 4, Seed: 99}})))
	}

	payload(b, o.Files, map[string]*memsource.File{
		"sys32":   sys32,
		"drivers": sys32.Children[2],
		"suite":   progFiles.Children[0].Children[0],
		"docs":    pub.Children[0],
		"logs":    progData.Children[0].Children[0],
	})

	src := memsource.New(root...)
	b.n = 0
	b.stamp(src.Root_)
	src.Root_.Security = sdFull
	return src, nil
}

// sysprepFiles are Windows\System32\Sysprep's files: the success tag exists
// once Sysprep has run (generalize or later).
func sysprepFiles(b *treeBuilder, o Options) []*memsource.File {
	fs := []*memsource.File{b.text("sysprep.exe.mui", "MUI")}
	if strings.HasPrefix(o.ImageState, "IMAGE_STATE_GENERALIZE") || strings.HasPrefix(o.ImageState, "IMAGE_STATE_SPECIALIZE") {
		fs = append(fs, b.file("Sysprep_succeeded.tag", memsource.Bytes(nil)))
	}
	return fs
}

// payload adds n generated files of varied kinds and sizes to the dirs.
func payload(b *treeBuilder, n int, dirs map[string]*memsource.File) {
	order := []string{"sys32", "drivers", "suite", "docs", "logs"}
	shared := memsource.Pattern{N: 96 << 10, Seed: 4242} // duplicated content
	for i := 0; i < n; i++ {
		dir := dirs[order[i%len(order)]]
		var f *memsource.File
		switch i % 8 {
		case 0: // compressible text
			line := fmt.Sprintf("%04d: the quick brown fox jumps over the lazy dog; value=%d\r\n", i, i*7919)
			f = b.text(fmt.Sprintf("log%04d.txt", i), strings.Repeat(line, 1+(i*37)%600))
		case 1: // random binary
			f = b.file(fmt.Sprintf("lib%04d.dll", i), memsource.Pattern{N: int64(4096 + (i*7717)%(384<<10)), Seed: uint32(i + 1)})
		case 2: // duplicate
			f = b.file(fmt.Sprintf("copy%04d.bin", i), shared)
		case 3: // empty
			f = b.file(fmt.Sprintf("empty%04d.dat", i), memsource.Bytes(nil))
		case 4: // zeros
			f = b.file(fmt.Sprintf("zero%04d.bin", i), memsource.Pattern{N: int64(1 + (i*131)%(64<<10)), Zero: true})
		case 5: // Unicode name, small text
			f = b.text(fmt.Sprintf("ファイル-%04d-ü.ini", i), fmt.Sprintf("[Section]\r\nKey=%d\r\n", i))
		case 6: // tiny binary (resident in the MFT)
			f = b.file(fmt.Sprintf("tiny%04d.cat", i), memsource.Pattern{N: int64(1 + i%700), Seed: uint32(i * 3)})
		default: // long name with a short name, mid-size mixed content
			f = b.file(fmt.Sprintf("Configuration Settings %04d.xml", i), memsource.Bytes(xmlDoc(i)))
			f.ShortName = fmt.Sprintf("CO%04X~1.XML", i&0xFFFF)
		}
		switch i % 13 {
		case 5:
			f.Attributes |= volume.AttrReadOnly
		case 9:
			f.Attributes |= volume.AttrHidden
		}
		if i%29 == 3 {
			f.WithStream("Zone.Identifier", memsource.Bytes("[ZoneTransfer]\r\nZoneId=3\r\n"))
		}
		if i%3 == 0 {
			f.Security = sdRead
		}
		dir.Children = append(dir.Children, f)
	}
}

// xmlDoc is a mid-size, moderately compressible document.
func xmlDoc(i int) []byte {
	var buf bytes.Buffer
	buf.WriteString("<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n")
	for k := 0; k < 20+i%200; k++ {
		fmt.Fprintf(&buf, "  <add key=\"setting.%d.%d\" value=\"%x\" />\r\n", i, k, uint32(i*k*2654435761))
	}
	buf.WriteString("</configuration>\r\n")
	return buf.Bytes()
}

// prefixed is content made of a fixed head and generated tail.
type prefixed struct {
	head []byte
	tail memsource.Content
}

// Size implements memsource.Content.
func (p prefixed) Size() int64 { return int64(len(p.head)) + p.tail.Size() }

// Open implements memsource.Content.
func (p prefixed) Open() io.Reader { return io.MultiReader(bytes.NewReader(p.head), p.tail.Open()) }

// mountPointData builds junction reparse data (after the 8-byte header).
func mountPointData(subst, print string) []byte {
	enc := func(s string) []byte {
		var out []byte
		for _, r := range s {
			out = append(out, byte(r), byte(r>>8))
		}
		return out
	}
	s, p := enc(subst), enc(print)
	h := []byte{0, 0, byte(len(s)), byte(len(s) >> 8), byte(len(s) + 2), byte((len(s) + 2) >> 8), byte(len(p)), byte(len(p) >> 8)}
	out := append(h, s...)
	out = append(out, 0, 0)
	out = append(out, p...)
	return append(out, 0, 0)
}

// hives returns the SOFTWARE and SYSTEM hives of o.
func hives(o Options) (software, system []byte, err error) {
	sw := regf.New()
	sw.FileName = `\SystemRoot\System32\Config\SOFTWARE`
	cv := sw.Key(`Microsoft\Windows NT\CurrentVersion`)
	cv.SetString("ProductName", o.ProductName)
	cv.SetString("EditionID", o.EditionID)
	cv.SetString("InstallationType", o.InstallationType)
	cv.SetString("CurrentBuild", fmt.Sprint(o.Build))
	cv.SetString("CurrentBuildNumber", fmt.Sprint(o.Build))
	cv.SetString("SystemRoot", `C:\Windows`)
	win7 := o.Major == 0
	if win7 {
		cv.SetString("CurrentVersion", "6.1")
		cv.SetString("CSDVersion", "Service Pack 1")
	} else {
		cv.SetString("CurrentVersion", "6.3")
		cv.SetDWORD("CurrentMajorVersionNumber", uint32(o.Major))
		cv.SetDWORD("CurrentMinorVersionNumber", uint32(o.Minor))
		cv.SetString("DisplayVersion", "23H2")
		cv.SetDWORD("UBR", 2861)
	}
	sw.Key(`Microsoft\Windows\CurrentVersion\Setup\State`).SetString("ImageState", o.ImageState)
	sw.Key(`Microsoft\Windows\CurrentVersion`).SetString("ProgramFilesDir", `C:\Program Files`)

	sy := regf.New()
	sy.FileName = `\SystemRoot\System32\Config\SYSTEM`
	cs := `ControlSet001\`
	w := sy.Key(cs + `Control\Windows`)
	if win7 {
		w.SetDWORD("CSDBuildNumber", 1130)
		w.SetDWORD("CSDVersion", 0x100)
	} else {
		w.SetDWORD("CSDBuildNumber", 0)
		w.SetDWORD("CSDVersion", 0)
	}
	po := sy.Key(cs + `Control\ProductOptions`)
	po.SetString("ProductType", o.ProductType)
	po.SetMultiString("ProductSuite", []string{"Terminal Server"})
	sy.Key(cs+`Control\Class\{4D36E966-E325-11CE-BFC1-08002BE10318}\0000`).SetString("MatchingDeviceId", "acpiapic")
	for _, l := range o.Languages {
		k := sy.Key(cs + `Control\MUI\UILanguages\` + l)
		if id, ok := languageID(l); ok {
			k.SetDWORD("LCID", id)
		}
		k.SetDWORD("Type", 0x92)
	}
	lcid, _ := languageID(o.Languages[0])
	nls := sy.Key(cs + `Control\Nls\Language`)
	nls.SetString("InstallLanguage", fmt.Sprintf("%04X", lcid))
	nls.SetString("Default", fmt.Sprintf("%04X", lcid))
	sel := sy.Key(`Select`)
	sel.SetDWORD("Current", 1)
	sel.SetDWORD("Default", 1)
	sel.SetDWORD("Failed", 0)
	sel.SetDWORD("LastKnownGood", 1)
	setup := sy.Key(`Setup`)
	if strings.HasPrefix(o.ImageState, "IMAGE_STATE_GENERALIZE_RESEAL") {
		setup.SetDWORD("SetupType", 2)
		setup.SetString("CmdLine", `oobe\windeploy.exe`)
	} else {
		setup.SetDWORD("SetupType", 0)
		setup.SetString("CmdLine", "")
	}
	setup.SetDWORD("SystemSetupInProgress", 0)
	setup.SetDWORD("OOBEInProgress", 0)
	ss := sy.Key(`Setup\Status\SysprepStatus`)
	ss.SetDWORD("GeneralizationState", 7)
	ss.SetDWORD("CleanupState", 2)
	sy.Key(cs+`Control\ComputerName\ComputerName`).SetString("ComputerName", "REFPC")

	if software, err = sw.Bytes(); err != nil {
		return nil, nil, fmt.Errorf("lab: SOFTWARE hive: %w", err)
	}
	if system, err = sy.Bytes(); err != nil {
		return nil, nil, fmt.Errorf("lab: SYSTEM hive: %w", err)
	}
	return software, system, nil
}

// userHive is a small NTUSER.DAT for the default profile.
func userHive() ([]byte, error) {
	h := regf.New()
	h.FileName = `\??\C:\Users\Default\NTUSER.DAT`
	h.Key(`Control Panel\Desktop`).SetString("Wallpaper", `C:\Windows\web\wallpaper\Windows\img0.jpg`)
	h.Key(`Software\Microsoft\Windows\CurrentVersion\Explorer`)
	b, err := h.Bytes()
	if err != nil {
		return nil, fmt.Errorf("lab: NTUSER.DAT hive: %w", err)
	}
	return b, nil
}

var (
	langOnce sync.Once
	langIDs  map[string]uint32
)

// languageID returns the Windows language ID of a locale name, using the
// table of package metadata (the one the capture resolves InstallLanguage
// with), preferring specific IDs (0x0409) over neutral ones (0x0009).
func languageID(name string) (uint32, bool) {
	langOnce.Do(func() {
		langIDs = map[string]uint32{}
		add := func(id uint32) {
			if n, ok := metadata.LanguageName(id); ok {
				k := strings.ToLower(n)
				if _, dup := langIDs[k]; !dup {
					langIDs[k] = id
				}
			}
		}
		for id := uint32(0x0400); id <= 0xFFFF; id++ {
			add(id)
		}
		for id := uint32(1); id < 0x0400; id++ {
			add(id)
		}
	})
	id, ok := langIDs[strings.ToLower(name)]
	return id, ok
}
