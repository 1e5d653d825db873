package images

import (
	"fmt"

	"github.com/wdscapture/wdscapture/images/lzx"
	"github.com/wdscapture/wdscapture/images/xpress"
)

// newCompressor returns a chunk compressor for c at the given level
// (0 means the codec's default).
func newCompressor(c Compression, level int) (chunkCompressor, error) {
	switch c {
	case CompressXPRESS:
		if level == 0 {
			level = xpress.LevelDefault
		}
		return xpress.NewCompressor(level), nil
	case CompressLZX:
		if level == 0 {
			level = lzx.LevelDefault
		}
		return lzx.NewCompressor(level), nil
	}
	return nil, fmt.Errorf("no compressor for %v", c)
}

// newDecompressor returns a chunk decompressor for c.
func newDecompressor(c Compression) (chunkDecompressor, error) {
	switch c {
	case CompressXPRESS:
		return xpress.NewDecompressor(), nil
	case CompressLZX:
		return lzx.NewDecompressor(), nil
	}
	return nil, fmt.Errorf("no decompressor for %v", c)
}
