// Package xpress implements the XPRESS chunk codec used in WIM files: the
// LZ77+Huffman format of Microsoft's [MS-XCA] sections 2.1 and 2.2.
//
// A WIM stores each chunk of a resource (32 KiB, the last one shorter) as one
// independent LZ77+Huffman stream. Because a chunk never exceeds 65536 bytes,
// the stream holds exactly one Huffman block:
//
//   - 256 bytes: the code lengths (4 bits each, low nibble first) of the 512
//     symbols. Symbols 0..255 are literals; symbol 256+s is a match whose
//     low 4 bits are min(length-3, 15) and whose high 4 bits are
//     floor(log2(offset)).
//   - a bit stream of little-endian 16-bit words read most significant bit
//     first, with the extra match-length bytes interleaved in the byte
//     stream at the point where the decoder has loaded two words ahead.
//
// Compressor and Decompressor are independent of the WIM container: the
// caller cuts the data into chunks and stores a chunk raw when Compress
// returns 0.
package xpress

import "errors"

// Compression levels accepted by NewCompressor. Measured per core on 32 KiB
// chunks of an 8 MiB sample of the bench corpus (build/corpus: Windows-like
// PE files, text, XML, fonts, incompressible blobs), of a Go toolchain binary
// and of Go source, against wimcapture --threads=1 on the same data (see
// BenchmarkCompress and BenchmarkWimlib; medians of runs on a shared 2-core
// machine, so the speeds are rough):
//
//	level         corpus   binary   source   speed (cpuMB/s)
//	LevelFast     1.006x   1.009x   1.013x   85-130
//	LevelDefault  1.001x   1.002x   1.003x   75-115  (wimlib default: 1.000x, 65-120)
//	LevelHigh     0.983x   0.978x   0.966x   11-17   (wimlib level 80: 0.982x, 0.975x, 0.966x, 13-21)
//
// Sizes are relative to wimlib's default (lazy) level. On incompressible
// data the lazy levels run at about 190-240 MB/s, on zero-filled data at
// about 4 GB/s.
const (
	// LevelFast uses lazy parsing over short hash chains.
	LevelFast = 1
	// LevelDefault uses lazy parsing over longer hash chains: wimlib's
	// default XPRESS output size.
	LevelDefault = 2
	// LevelHigh uses near-optimal parsing: minimum-cost paths over all the
	// matches found at every position, under a Huffman cost model refined
	// in a second pass. About 2-3.5% smaller than LevelDefault and 7-9
	// times slower.
	LevelHigh = 3
)

// MaxChunkSize is the largest uncompressed chunk the codec handles: one
// LZ77+Huffman block.
const MaxChunkSize = 65536

const (
	numSymbols  = 512
	numLiterals = 256
	maxCodeLen  = 15
	minMatch    = 3
	maxOffset   = 65535
	tableBytes  = numSymbols / 2 // the packed code-length table
	endOfData   = 256            // the end-of-data symbol (offset 1, length 3 form)
)

// ErrCorrupt is wrapped by every error Decompress returns for data that is
// not a valid XPRESS stream of the expected size.
var ErrCorrupt = errors.New("xpress: corrupt compressed data")
