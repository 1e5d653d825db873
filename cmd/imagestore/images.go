package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/store"
)

func init() {
	register(command{name: "add", order: 20, args: "FILE.wim --group G [--image N] [--name N] [--description D]",
		summary: "add an image to a group, creating the group if needed (WDSUTIL /Add-Image)", run: runAdd})
	register(command{name: "replace", order: 21, args: "GROUP IMAGE FILE.wim [--image N]",
		summary: "replace an image's content, keeping its name and file (WDSUTIL /Replace-Image)", run: runReplace})
	register(command{name: "export", order: 22, args: "GROUP IMAGE OUT.wim",
		summary: "write an image as a standalone, verified WIM (WDSUTIL /Export-Image)", run: runExport})
	register(command{name: "delete", order: 23, args: "GROUP IMAGE",
		summary: "remove an image from a group (WDSUTIL /Remove-Image)", run: runDelete})
	register(command{name: "list", order: 24, args: "[--as USER] [--group G] [--json]",
		summary: "list the images, or those a user would see", run: runList})
	register(command{name: "verify", order: 25, args: "[GROUP]",
		summary: "re-check every stored stream and image of one group or all", run: runVerify})
	register(command{name: "optimize", order: 26, args: "GROUP",
		summary: "rewrite a group's res.rwm without the data no image uses", run: runOptimize})
}

const imageArgHelp = "IMAGE is an image's file name in the group (e.g. win11.wim) or its image name."

func runAdd(c *cli, args []string) error {
	f := newFlags(c, "add", "FILE.wim --group G [--image N] [--name N] [--description D] [flags]",
		`Add image N of FILE.wim to the image group G (created with the default settings
if it does not exist). Before anything becomes visible the WIM is checked: its
integrity table (when it has one), its metadata, and the SHA-1 of every stream
the group does not hold yet, computed from the bytes copied into res.rwm. Data
the group holds already is not copied again. The image's compression type must
be the group's (a new group takes the type of its first image).
The image appears in the group in one step, or not at all.`, true)
	group := f.String("group", "", "image group (required)")
	index := f.Int("image", 0, "image index in FILE.wim (required when it holds several)")
	name := f.String("name", "", "image name in the group (default: the WIM's)")
	desc := f.String("description", "", "image description (default: the WIM's)")
	fileName := f.String("filename", "", "file name in the group (default: from the image name)")
	var filter principalFlag
	f.Var(&filter, "read-filter", "only these principals see the image (comma-separated)")
	noCreate := f.Bool("no-create", false, "fail when the group does not exist instead of creating it")
	quiet := f.Bool("quiet", false, "no progress")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("add takes one FILE.wim")
	}
	if *group == "" {
		return usagef("add needs --group")
	}
	s, err := f.openStore(c)
	if err != nil {
		return err
	}
	src, err := images.Open(pos[0])
	if err != nil {
		return sourceOpenError(pos[0], err)
	}
	defer src.Close()
	p := newProgress(c, "add "+pos[0], *quiet)
	res, err := s.Add(c.ctx, *group, src, pos[0], store.AddOptions{Index: *index, Name: *name, Description: *desc,
		FileName: *fileName, ReadFilter: filter.value(), CreateGroup: !*noCreate, Progress: p.update})
	p.done()
	if err != nil {
		return err
	}
	if res.GroupCreated {
		fmt.Fprintf(c.stdout, "image group %q created\n", res.Group)
	}
	fmt.Fprintf(c.stdout, "image %q added to group %q as %s: %d new streams (%s) copied into res.rwm, %d already there\n",
		res.Info.Name, res.Group, res.FileName, res.NewStreams, humanBytes(res.NewBytes), res.SharedStreams)
	return nil
}

// sourceOpenError marks a WIM given to the store that cannot be opened
// because it is malformed as damaged.
func sourceOpenError(path string, err error) error {
	if errors.Is(err, images.ErrFormat) {
		return &store.DamagedError{File: path, Err: err}
	}
	return err
}

func runReplace(c *cli, args []string) error {
	f := newFlags(c, "replace", "GROUP IMAGE FILE.wim [--image N] [flags]",
		"Replace the content of IMAGE in GROUP with image N of FILE.wim, checked as add\nchecks it. The image keeps its file name, name, description and read filter\nunless flags say otherwise. "+imageArgHelp, true)
	index := f.Int("image", 0, "image index in FILE.wim (required when it holds several)")
	name := f.String("name", "", "new image name")
	desc := f.String("description", "", "new image description")
	var filter principalFlag
	f.Var(&filter, "read-filter", "only these principals see the image (\"\" removes the filter)")
	quiet := f.Bool("quiet", false, "no progress")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 3 {
		return usagef("replace takes GROUP IMAGE FILE.wim")
	}
	s, err := f.openStore(c)
	if err != nil {
		return err
	}
	src, err := images.Open(pos[2])
	if err != nil {
		return sourceOpenError(pos[2], err)
	}
	defer src.Close()
	p := newProgress(c, "replace "+pos[1], *quiet)
	res, err := s.Replace(c.ctx, pos[0], pos[1], src, pos[2], store.AddOptions{Index: *index, Name: *name, Description: *desc,
		ReadFilter: filter.value(), Progress: p.update})
	p.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "image %s of group %q replaced (now %q): %d new streams (%s) copied into res.rwm, %d already there\n",
		res.FileName, res.Group, res.Info.Name, res.NewStreams, humanBytes(res.NewBytes), res.SharedStreams)
	return nil
}

func runExport(c *cli, args []string) error {
	f := newFlags(c, "export", "GROUP IMAGE OUT.wim [flags]",
		"Write IMAGE of GROUP as a standalone WIM: one image, an integrity table, the\ngroup's compression type, the stored data copied as it is (no recompression).\nOUT.wim appears only once it is complete and verified. "+imageArgHelp, true)
	name := f.String("name", "", "image name in OUT.wim (default: the image's)")
	desc := f.String("description", "", "image description in OUT.wim")
	overwrite := f.Bool("overwrite", false, "replace OUT.wim if it exists")
	quiet := f.Bool("quiet", false, "no progress")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 3 {
		return usagef("export takes GROUP IMAGE OUT.wim")
	}
	s, err := f.openStore(c)
	if err != nil {
		return err
	}
	p := newProgress(c, "export "+pos[1], *quiet)
	res, err := s.Export(c.ctx, pos[0], pos[1], pos[2], store.ExportOptions{Name: *name, Description: *desc,
		Overwrite: *overwrite, Progress: p.update})
	p.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: image %q exported (%v, %s, verified)\n", res.Path, res.Info.Name, res.Compression, humanBytes(uint64(res.Size)))
	return nil
}

func runDelete(c *cli, args []string) error {
	f := newFlags(c, "delete", "GROUP IMAGE",
		"Remove IMAGE from GROUP. Its data stays in res.rwm (other images may share it)\nuntil 'imagestore optimize GROUP'. "+imageArgHelp, true)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("delete takes GROUP IMAGE")
	}
	s, err := f.openStore(c)
	if err != nil {
		return err
	}
	file, err := s.Delete(c.ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "image %s deleted from group %q\n", file, pos[0])
	return nil
}

func runList(c *cli, args []string) error {
	f := newFlags(c, "list", "[--as USER] [--group G] [--json]",
		"List the images of every group (or of --group G) with their WIM metadata.\nWith --as, list exactly what USER would see: the groups USER may read and, in\nthem, the images whose read filter lets USER see them. USER's groups come from\nthe users file (see imagestore user) and the directory, as on login (see\nimagestore token).", true)
	as := f.String("as", "", `show what this user (DOMAIN\name) would see`)
	config := authFlags(f)
	group := f.String("group", "", "only this group")
	asJSON := f.Bool("json", false, "print JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("list takes no arguments")
	}
	s, err := f.openStore(c)
	if err != nil {
		return err
	}
	var tok *store.Token
	if *as != "" {
		// The token the server would give the user on login: the users
		// file's groups and the directory's, when one is configured.
		a, err := openAuth(c, f, *config)
		if err != nil {
			return err
		}
		t, err := lookupToken(c, a, *as)
		a.Close()
		if err != nil {
			return fmt.Errorf("--as %s: %w (a user who cannot log in sees nothing)", *as, err)
		}
		tok = &t
	}
	var list []store.ImageEntry
	if *group != "" {
		list, err = s.ListGroup(*group, tok)
	} else {
		list, err = s.List(tok)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		if list == nil {
			list = []store.ImageEntry{}
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintln(c.stdout, "no images")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tFILE\tNAME\tARCH\tVERSION\tLANGUAGES\tSIZE\tREAD FILTER")
	for _, e := range list {
		if e.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\tDAMAGED: %s\t\t\t\t\t\n", e.Group, e.FileName, e.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Group, e.FileName, e.Name, e.Architecture, e.Version,
			strings.Join(e.Languages, ","), humanBytes(e.TotalBytes), strings.Join(e.ReadFilter, ", "))
	}
	return tw.Flush()
}

func runVerify(c *cli, args []string) error {
	f := newFlags(c, "verify", "[GROUP]",
		"Re-check what the store keeps, in GROUP or in every group: the SHA-1 of every\nstream in res.rwm, and every image's metadata WIM (integrity table, metadata,\nthat res.rwm holds all its data). Exit status 3 when anything is damaged.", true)
	quiet := f.Bool("quiet", false, "no progress")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("verify takes at most one GROUP")
	}
	group := ""
	if len(pos) == 1 {
		group = pos[0]
	}
	s, err := f.openStore(c)
	if err != nil {
		return err
	}
	p := newProgress(c, "verify", *quiet)
	results, err := s.Verify(c.ctx, group, p.groupUpdate)
	p.done()
	for _, r := range results {
		status := "OK"
		if len(r.Problems) > 0 {
			status = fmt.Sprintf("%d PROBLEMS", len(r.Problems))
		}
		fmt.Fprintf(c.stdout, "%s: %s (%d images, %d streams, %s checked", r.Group, status, r.Images, r.Streams, humanBytes(r.Bytes))
		if r.Unreferenced > 0 {
			fmt.Fprintf(c.stdout, "; %d streams (%s) used by no image: 'imagestore optimize' removes them", r.Unreferenced, humanBytes(r.UnreferencedBytes))
		}
		fmt.Fprintln(c.stdout, ")")
		for _, pr := range r.Problems {
			fmt.Fprintf(c.stdout, "  %v\n", pr)
		}
	}
	if len(results) == 0 && err == nil {
		fmt.Fprintln(c.stdout, "no image groups")
	}
	return err
}

func runOptimize(c *cli, args []string) error {
	f := newFlags(c, "optimize", "GROUP",
		"Rewrite GROUP's res.rwm with only the data its images use (each stream checked\nagainst its SHA-1 as it is copied). The new file replaces the old one in one\nstep; a crash leaves the old one.", true)
	quiet := f.Bool("quiet", false, "no progress")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("optimize takes one GROUP")
	}
	s, err := f.openStore(c)
	if err != nil {
		return err
	}
	p := newProgress(c, "optimize "+pos[0], *quiet)
	res, err := s.Optimize(c.ctx, pos[0], p.update)
	p.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "group %q optimized: res.rwm %s -> %s (%d unused streams, %s, removed)\n",
		res.Group, humanBytes(uint64(res.Before)), humanBytes(uint64(res.After)), res.Removed, humanBytes(res.RemovedBytes))
	return nil
}
