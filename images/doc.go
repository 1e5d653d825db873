// Package images reads, writes and verifies Windows Imaging (.wim) files.
//
// A Writer creates a WIM (Create) or adds images to one (Append) from a
// volume.Source, storing each distinct stream once (single-instance
// storage by SHA-1), and Commit makes the result visible: a new file
// appears under its name only when complete, and an append that fails
// leaves the old file as it was. A Reader (Open) lists images and their
// XML, walks their directory trees and reads any stream; Verify checks
// the integrity table and every blob's SHA-1 and names the files whose
// data is bad.
//
// Resources are stored uncompressed or in independent 32 KiB chunks
// compressed with XPRESS or LZX (packages images/xpress and images/lzx).
//
// How a capture moves data: the capturing goroutine reads each stream,
// hashes it and either copies it straight into the output block
// (uncompressed) or into a batch of chunks that a pool of compression
// workers, one per thread, compresses; batches come back in order and the
// chunks are appended to the output, so the file layout does not depend
// on timing. Streams whose size matches another's are hashed first, so a
// duplicate is never compressed or written. The output is written in 2 MiB
// aligned blocks by a goroutine of its own, with O_DIRECT where the file
// system allows it: the page cache is of no use for data written once,
// and syncing every 64 MiB as the capture goes leaves little for the
// fsync that must precede the header.
package images
