package ntfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// checkHibernation reports whether \hiberfil.sys starts with the "hibr"
// signature (any case), which Windows writes when it hibernates or shuts
// down with Fast Startup: the volume's on-disk state is then incomplete.
func (v *Volume) checkHibernation() (bool, error) {
	root, err := v.loadFile(recRoot)
	if err != nil {
		return false, err
	}
	ents, err := v.readDirIndex(root)
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if e.fn.namespace == nsDOS || !strings.EqualFold(e.fn.name, "hiberfil.sys") {
			continue
		}
		f, err := v.loadFile(e.ref & refMask)
		if err != nil {
			return false, fmt.Errorf("hiberfil.sys: %w", err)
		}
		exts := f.attrsOf(atData, "")
		if len(exts) == 0 {
			return false, nil
		}
		d, err := v.newStreamDesc("hiberfil.sys $DATA", exts)
		if err != nil {
			return false, err
		}
		sig := make([]byte, 4)
		if _, err := d.readAt(sig, 0, nil); err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		return bytes.EqualFold(sig, []byte("hibr")), nil
	}
	return false, nil
}

// Hibernated reports whether Windows left the volume hibernated (or shut
// down with Fast Startup): \hiberfil.sys starts with "HIBR".
func (v *Volume) Hibernated() bool { return v.hibernated }
