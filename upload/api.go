package upload

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// Groups returns the image groups the user may read, with their
// compression type and whether the user may add images.
func (c *Client) Groups(ctx context.Context) ([]protocol.Group, error) {
	var gr protocol.GroupsResponse
	err := c.retry().run(ctx, c.cfg.Logger, func() error {
		return c.getJSON(ctx, "list the image groups", protocol.PathGroups, nil, true, &gr)
	})
	return gr.Groups, err
}

// Group returns one image group; ErrUnknownGroup when it does not exist
// or the user may not read it.
func (c *Client) Group(ctx context.Context, name string) (protocol.Group, error) {
	var g protocol.Group
	op := fmt.Sprintf("read image group %q", name)
	if err := store.CheckGroupName(name); err != nil {
		return g, &Error{Kind: ErrUnknownGroup, Op: op, Server: c.cfg.Server, Err: err}
	}
	err := c.retry().run(ctx, c.cfg.Logger, func() error {
		return c.getJSON(ctx, op, groupPath(name), nil, true, &g)
	})
	return g, err
}

// Images returns the images the user may see, of one group or ("") of
// every group.
func (c *Client) Images(ctx context.Context, group string) ([]protocol.Image, error) {
	var ir protocol.ImagesResponse
	var q url.Values
	op := "list the images"
	if group != "" {
		q = url.Values{"group": {group}}
		op = fmt.Sprintf("list the images of group %q", group)
	}
	err := c.retry().run(ctx, c.cfg.Logger, func() error {
		return c.getJSON(ctx, op, protocol.PathImages, q, true, &ir)
	})
	return ir.Images, err
}

func groupPath(name string) string {
	return strings.Replace(protocol.PathGroup, "{group}", name, 1)
}

// retry is the policy of API calls: the configured retries.
func (c *Client) retry() retryPolicy {
	return retryPolicy{tries: c.cfg.Retries, min: c.cfg.RetryMin, max: c.cfg.RetryMax}
}

// Check is what the pre-flight checks, before anything is captured.
type Check struct {
	// Group is WDSImageGroup.
	Group string
	// Name is the image's name in the group; File its metadata WIM's
	// file name ("" means derived from the name, as the server does).
	Name, File string
	// Compression is the type the capture would use; "" when the
	// capture takes the group's, whatever it is.
	Compression string
}

// Preflight checks, before anything is captured, that an upload of an
// image named chk.Name into chk.Group can succeed as far as the server can
// tell now: the group exists and the user may add images to it
// (ErrUnknownGroup, ErrForbidden), no image there has the name or file
// name (ErrNameExists), and the server has room (ErrNoSpace: no space
// at all beyond its reserve; the exact need is known only once the
// capture is done and the dedup query answered). With chk.Compression
// set, a group whose type differs is ErrCompression. It returns the
// group (its compression type: "" for a group without images yet).
func (c *Client) Preflight(ctx context.Context, chk Check) (protocol.Group, error) {
	g, err := c.Group(ctx, chk.Group)
	if err != nil {
		return g, err
	}
	op := fmt.Sprintf("check image group %q", g.Name)
	if !g.MayWrite {
		return g, &Error{Kind: ErrForbidden, Op: op, Server: c.cfg.Server, Status: 403,
			Err: fmt.Errorf("%s may read the group but not add images to it", c.User())}
	}
	if chk.Compression != "" && g.Compression != "" && !strings.EqualFold(chk.Compression, g.Compression) {
		return g, &Error{Kind: ErrCompression, Op: op, Server: c.cfg.Server, GroupCompression: g.Compression,
			Err: fmt.Errorf("the group's images are %s, this image is %s (images of one group share their stored data)", g.Compression, chk.Compression)}
	}
	if err := c.NameFree(ctx, g.Name, chk.Name, chk.File); err != nil {
		return g, err
	}
	if g.FreeBytes == 0 {
		return g, &Error{Kind: ErrNoSpace, Op: op, Server: c.cfg.Server,
			Err: fmt.Errorf("the server has no free space beyond its reserve")}
	}
	return g, nil
}

// NameFree reports ErrNameExists when the group holds an image named name,
// or one whose file name is file (or, with file "", the name the server
// derives from name), among the images the user can see. (An image hidden
// from the user by its read filter shows only when the upload is
// created.)
func (c *Client) NameFree(ctx context.Context, group, name, file string) error {
	imgs, err := c.Images(ctx, group)
	if err != nil {
		return err
	}
	if file == "" {
		file = store.FileNameFor(name)
	}
	for _, im := range imgs {
		if !strings.EqualFold(im.Group, group) {
			continue
		}
		if im.Name == name || strings.EqualFold(im.FileName, file) {
			return &Error{Kind: ErrNameExists, Op: fmt.Sprintf("check image group %q", group), Server: c.cfg.Server,
				Err: fmt.Errorf("it has an image named %q already (file %s)", im.Name, im.FileName)}
		}
	}
	return nil
}
