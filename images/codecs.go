package images

import "fmt"

// newCompressor returns a chunk compressor for c at the given level
// (0 means the codec's default).
func newCompressor(c Compression, level int) (chunkCompressor, error) {
	return nil, fmt.Errorf("%v compression is not available in this build", c)
}

// newDecompressor returns a chunk decompressor for c.
func newDecompressor(c Compression) (chunkDecompressor, error) {
	return nil, fmt.Errorf("%v decompression is not available in this build", c)
}
