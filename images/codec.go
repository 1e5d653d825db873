package images

import (
	"fmt"
	"strconv"
	"strings"
)

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

// ParseCompression parses a compression name, case-insensitive: XPRESS,
// LZX or None, and DISM's names Fast (XPRESS), Max and Maximum (LZX). It is
// the one parser of compression names: the INF, the command line and the
// image store all use it.
func ParseCompression(s string) (Compression, error) {
	switch strings.ToLower(s) {
	case "xpress", "fast":
		return CompressXPRESS, nil
	case "lzx", "max", "maximum":
		return CompressLZX, nil
	case "none":
		return CompressNone, nil
	}
	return CompressXPRESS, fmt.Errorf("invalid compression %s: allowed values are XPRESS, LZX, None", strconv.Quote(s))
}

// Valid reports whether c is one of the compression types above.
func (c Compression) Valid() bool { return c >= CompressNone && c <= CompressLZX }

// MarshalText implements encoding.TextMarshaler.
func (c Compression) MarshalText() ([]byte, error) {
	if !c.Valid() {
		return nil, fmt.Errorf("invalid compression %d", int(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler (usable with
// flag.TextVar).
func (c *Compression) UnmarshalText(b []byte) error {
	v, err := ParseCompression(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
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
	// Decode returns the size bytes src decodes to, in a buffer of the
	// decompressor's own that stays valid until its next use.
	Decode(src []byte, size int) ([]byte, error)
}
