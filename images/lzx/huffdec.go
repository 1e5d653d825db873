package lzx

import (
	"errors"

	"github.com/wdscapture/wdscapture/images/internal/huffdec"
)

// errEmptyCode reports that the data uses a Huffman code with no symbols.
var errEmptyCode = errors.New("symbol read with an empty Huffman code")

// The decode table entry layout of package huffdec, under short names for
// the decoder's inner loop.
const (
	entrySymShift = huffdec.SymShift
	entryLenMask  = huffdec.LenMask
	entrySub      = huffdec.Sub
)
