// Package store is the image store: a collection of image groups, each a
// folder ROOT/Images/<Group> holding one res.rwm (a WIM with every file's
// data of the group's images, once) and one small metadata WIM per image,
// the way Windows Deployment Services keeps its image store. It adds,
// replaces, exports, verifies and enumerates images, and checks every
// access against the group's ACL and the image's read filter.
package store
