package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/wdscapture/wdscapture/images"
	"github.com/wdscapture/wdscapture/store"
)

func init() {
	register(command{name: "group add", order: 10, args: "NAME [--read P,...] [--write P,...] [--compress TYPE]",
		summary: "create an empty image group (WDSUTIL /Add-ImageGroup)", run: runGroupAdd})
	register(command{name: "group set", order: 11, args: "NAME [--read P,...] [--write P,...]",
		summary: "change who may read and write a group (WDSUTIL /Set-ImageGroup)", run: runGroupSet})
	register(command{name: "group list", order: 12, args: "[--json]",
		summary: "list the image groups with their compression type, ACL and size", run: runGroupList})
}

const principalsHelp = `Principals are DOMAIN\name users or groups, comma-separated. ` + store.AuthenticatedUsers + `
(or Everyone) is every authenticated user. A group's writers may also read it.`

// principalFlag is a --read/--write list; set reports whether it was given.
type principalFlag struct {
	list []string
	set  bool
}

func (p *principalFlag) String() string { return strings.Join(p.list, ",") }

func (p *principalFlag) Set(v string) error {
	l, err := store.ParsePrincipals(v)
	if err != nil {
		return err
	}
	p.list = append(p.list, l...)
	if p.list == nil {
		p.list = []string{}
	}
	p.set = true
	return nil
}

func (p *principalFlag) value() []string {
	if !p.set {
		return nil
	}
	return p.list
}

func runGroupAdd(c *cli, args []string) error {
	f := newFlags(c, "group add", "NAME [--read P,...] [--write P,...] [--compress TYPE]",
		"Create an empty image group, ROOT/Images/NAME. Without --read every authenticated\nuser may read it ("+store.AuthenticatedUsers+"); without --write\nonly "+store.Administrators+" may add images over the network (the\nCLI acts as the store's administrator and needs no ACL).\n"+principalsHelp+"\n\nWithout --compress the group's first image gives it its compression type.", true)
	var read, write principalFlag
	f.Var(&read, "read", "principals that may read the group (repeatable; \"\" for nobody)")
	f.Var(&write, "write", "principals that may add images (repeatable; \"\" for nobody)")
	compress := f.String("compress", "", "fix the compression type now: none, xpress or lzx")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("group add takes one group NAME")
	}
	var opts store.GroupOptions
	opts.Read, opts.Write = read.value(), write.value()
	if *compress != "" {
		comp, err := images.ParseCompression(*compress)
		if err != nil {
			return usagef("--compress: %v", err)
		}
		opts.Compression = &comp
	}
	s, err := f.openStore(c)
	if err != nil {
		return err
	}
	if err := s.CreateGroup(c.ctx, pos[0], opts); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "image group %q created\n", pos[0])
	return nil
}

func runGroupSet(c *cli, args []string) error {
	f := newFlags(c, "group set", "NAME [--read P,...] [--write P,...]",
		"Replace the read and/or write list of an image group.\n"+principalsHelp, true)
	var read, write principalFlag
	f.Var(&read, "read", "principals that may read the group (repeatable; \"\" for nobody)")
	f.Var(&write, "write", "principals that may add images (repeatable; \"\" for nobody)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("group set takes one group NAME")
	}
	if !read.set && !write.set {
		return usagef("group set needs --read or --write")
	}
	s, err := f.openStore(c)
	if err != nil {
		return err
	}
	return s.SetGroupACL(c.ctx, pos[0], read.value(), write.value())
}

// groupJSON is how group list --json prints a group.
type groupJSON struct {
	Name          string   `json:"name"`
	Compression   string   `json:"compression"`
	Read          []string `json:"read"`
	Write         []string `json:"write"`
	Images        int      `json:"images"`
	ResourceBytes int64    `json:"resource_bytes"`
}

func runGroupList(c *cli, args []string) error {
	f := newFlags(c, "group list", "[--json]", "List the image groups.", true)
	asJSON := f.Bool("json", false, "print JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("group list takes no arguments")
	}
	s, err := f.openStore(c)
	if err != nil {
		return err
	}
	groups, err := s.Groups()
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]groupJSON, 0, len(groups))
		for _, g := range groups {
			out = append(out, groupJSON{g.Name, g.Compression, nonNil(g.Settings.Read), nonNil(g.Settings.Write), g.Images, g.ResourceBytes})
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(groups) == 0 {
		fmt.Fprintln(c.stdout, "no image groups")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tCOMPRESSION\tIMAGES\tres.rwm\tREAD\tWRITE")
	for _, g := range groups {
		comp := g.Compression
		if comp == "" {
			comp = "(not set)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", g.Name, comp, g.Images, humanBytes(uint64(g.ResourceBytes)),
			orNobody(g.Settings.Read), orNobody(g.Settings.Write))
	}
	return tw.Flush()
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func orNobody(l []string) string {
	if len(l) == 0 {
		return "(nobody)"
	}
	return strings.Join(l, ", ")
}

// humanBytes formats n with a binary unit.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
