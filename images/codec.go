package images

// ChunkSize is the uncompressed size of every chunk of a compressed
// resource but the last.
const ChunkSize = 32768

// Compression names a WIM compression type.
type Compression int

// The compression types this package writes and reads.
const (
	CompressNone Compression = iota
	CompressXPRESS
	CompressLZX
)

// String returns the name wimlib and DISM use for c.
func (c Compression) String() string {
	switch c {
	case CompressNone:
		return "none"
	case CompressXPRESS:
		return "XPRESS"
	case CompressLZX:
		return "LZX"
	}
	return "unknown"
}

// chunkCompressor compresses one chunk independently of any other. It is not
// safe for concurrent use: the writer gives each worker its own.
type chunkCompressor interface {
	// Compress writes the compressed form of src into dst and returns its
	// length, or 0 when it would not be smaller than len(src) (the chunk is
	// then stored raw).
	Compress(dst, src []byte) int
}

// chunkDecompressor decompresses one chunk. It is not safe for concurrent use.
type chunkDecompressor interface {
	// Decompress fills dst exactly from the compressed chunk src.
	Decompress(dst, src []byte) error
}
