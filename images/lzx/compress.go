package lzx

import "math"

// item is one coded element: a literal (length 1, code = the byte) or a
// match (length >= 2, code = repeat index 0-2 or the formatted offset,
// that is the match offset + 2).
type item struct {
	length uint16
	code   uint16
}

// costShift scales the parser's bit costs to keep fractions of a bit.
const costShift = 4

// params are the per-level tuning knobs.
type params struct {
	optimal bool
	depth   int  // match finder search depth
	nice    int  // a match this long is taken without further search
	passes  int  // optimal parsing passes
	coarse  bool // passes before the last price only each match's full length
}

func levelParams(level int) params {
	switch {
	case level <= LevelFast:
		return params{optimal: false, depth: 16, nice: 32}
	case level == LevelDefault:
		return params{optimal: true, depth: 16, nice: 32, passes: 2, coarse: true}
	default:
		return params{optimal: true, depth: 48, nice: 96, passes: 3, coarse: true}
	}
}

// codeSet holds the Huffman codes of one block.
type codeSet struct {
	mainLens    [numMainSyms]uint8
	mainCodes   [numMainSyms]uint16
	lenLens     [numLenSyms]uint8
	lenCodes    [numLenSyms]uint16
	alignedLens [numAlignedSyms]uint8
	alignedCode [numAlignedSyms]uint16
}

// freqSet counts symbol uses in one block.
type freqSet struct {
	main    [numMainSyms]uint32
	length  [numLenSyms]uint32
	aligned [numAlignedSyms]uint32
}

// node is one position of the optimal parser's graph: the cost of the
// cheapest known way to reach it and the last item on that way.
type node struct {
	cost uint32
	item item
}

// Compressor compresses WIM chunks with LZX. It is not safe for concurrent
// use. A Compressor may be reused for any number of chunks; all its
// working memory is allocated once by NewCompressor.
type Compressor struct {
	p     params
	buf   [ChunkSize]byte // E8-translated copy of the input
	items [ChunkSize]item
	nItem int

	bt btFinder
	hc hcFinder

	// Match cache for the optimal parser: matches of position i are
	// cache[start[i]:start[i+1]].
	cache [ChunkSize * 8]match
	start [ChunkSize + 1]int32

	nodes [ChunkSize + 1]node
	reps  [ChunkSize + 1][numRepeats]uint16 // repeat offsets at each reached position

	freqs freqSet
	codes codeSet
	hb    huffBuilder

	// Parser costs (bits << costShift).
	mainCost    [numMainSyms]uint32
	lenCost     [numLenSyms]uint32
	alignedCost [numAlignedSyms]uint32
	lenTail     [maxMatch + 1]uint32 // length code cost by match length
	useAligned  bool

	// Pretree scratch.
	preItems [numMainSyms + numLenSyms]uint16 // sym | extra<<8
	preFreq  [numPreSyms]uint32
	preLens  [numPreSyms]uint8
	preCodes [numPreSyms]uint16

	w bitWriter
}

// NewCompressor returns a Compressor for the given level (LevelFast,
// LevelDefault or LevelMax; other values are clamped to that range).
func NewCompressor(level int) *Compressor {
	return &Compressor{p: levelParams(level)}
}

// Compress writes the compressed form of src (len(src) <= ChunkSize) into
// dst and returns its length, or 0 if it would not fit in len(dst) or
// would not be smaller than len(src). It never writes past len(dst) and
// does not modify src. An src longer than ChunkSize also gives 0.
func (c *Compressor) Compress(dst, src []byte) int {
	n := len(src)
	if n == 0 || n > ChunkSize {
		return 0
	}
	buf := c.buf[:n]
	copy(buf, src)
	e8Translate(buf, true)

	if c.p.optimal {
		c.parseOptimal(buf)
	} else {
		c.parseLazy(buf)
	}
	c.countFreqs()
	c.buildCodes()
	limit := min(len(dst), n-1)
	if limit <= 0 {
		return 0
	}
	c.w.init(dst[:limit])
	c.writeBlock(buf)
	size := c.w.flush()
	if c.w.overflow {
		return 0
	}
	return size
}

// countFreqs fills c.freqs from c.items.
func (c *Compressor) countFreqs() {
	c.freqs = freqSet{}
	for _, it := range c.items[:c.nItem] {
		if it.length == 1 {
			c.freqs.main[it.code]++
			continue
		}
		l := int(it.length) - minMatch
		slot := int(it.code)
		if slot >= numRepeats {
			slot = int(slotOf[it.code])
			if slot >= minAlignedSlot {
				c.freqs.aligned[it.code&7]++
			}
		}
		if l >= numPrimaryLens {
			c.freqs.length[l-numPrimaryLens]++
			l = numPrimaryLens
		}
		c.freqs.main[numChars+slot*numLenHeaders+l]++
	}
}

// buildCodes builds the block's Huffman codes from c.freqs and decides
// between a verbatim and an aligned offset block.
func (c *Compressor) buildCodes() {
	cs := &c.codes
	c.hb.lengths(c.freqs.main[:], cs.mainLens[:], maxMainCodeLen)
	c.hb.lengths(c.freqs.length[:], cs.lenLens[:], maxLenCodeLen)
	c.hb.lengths(c.freqs.aligned[:], cs.alignedLens[:], maxAlignedLen)
	canonicalCodes(cs.mainLens[:], cs.mainCodes[:])
	canonicalCodes(cs.lenLens[:], cs.lenCodes[:])
	canonicalCodes(cs.alignedLens[:], cs.alignedCode[:])
	c.useAligned = c.alignedPays()
}

// alignedPays reports whether an aligned offset block would be smaller
// than a verbatim one with the same matches.
func (c *Compressor) alignedPays() bool {
	verbatim, aligned := 0, numAlignedSyms*3
	used := 0
	for i, f := range c.freqs.aligned {
		verbatim += alignedBits * int(f)
		aligned += int(c.codes.alignedLens[i]) * int(f)
		if f != 0 {
			used++
		}
	}
	return used > 0 && aligned < verbatim
}

// writeBlock writes the whole chunk as one verbatim or aligned block.
func (c *Compressor) writeBlock(buf []byte) {
	w := &c.w
	cs := &c.codes
	btype := uint32(blockVerbatim)
	if c.useAligned {
		btype = blockAligned
	}
	w.write(btype, 3)
	if len(buf) == defaultBlockSize {
		w.write(1, 1)
	} else {
		w.write(0, 1)
		w.write(uint32(len(buf)), 16)
	}
	if c.useAligned {
		for _, l := range cs.alignedLens {
			w.write(uint32(l), 3)
		}
	}
	c.writeLens(cs.mainLens[:numChars])
	c.writeLens(cs.mainLens[numChars:])
	c.writeLens(cs.lenLens[:])
	for _, it := range c.items[:c.nItem] {
		if w.overflow {
			return
		}
		if it.length == 1 {
			w.write(uint32(cs.mainCodes[it.code]), uint(cs.mainLens[it.code]))
			continue
		}
		l := int(it.length) - minMatch
		hdr := min(l, numPrimaryLens)
		slot := int(it.code)
		if slot >= numRepeats {
			slot = int(slotOf[it.code])
		}
		sym := numChars + slot*numLenHeaders + hdr
		w.write(uint32(cs.mainCodes[sym]), uint(cs.mainLens[sym]))
		if hdr == numPrimaryLens {
			ls := l - numPrimaryLens
			w.write(uint32(cs.lenCodes[ls]), uint(cs.lenLens[ls]))
		}
		if slot < numRepeats {
			continue
		}
		extra := uint32(it.code) - slotBase[slot]
		nb := uint(slotExtra[slot])
		if c.useAligned && slot >= minAlignedSlot {
			w.write(extra>>alignedBits, nb-alignedBits)
			a := extra & 7
			w.write(uint32(cs.alignedCode[a]), uint(cs.alignedLens[a]))
		} else {
			w.write(extra, nb)
		}
	}
}

// writeLens writes a pretree and the code lengths lens with it, coded as
// differences from all-zero previous lengths (every chunk is one block).
func (c *Compressor) writeLens(lens []uint8) {
	items := c.preItems[:0]
	c.preFreq = [numPreSyms]uint32{}
	emit := func(sym, extra int) {
		items = append(items, uint16(sym|extra<<8))
		c.preFreq[sym]++
	}
	delta := func(prev, v uint8) int { return (int(prev) - int(v) + 17) % 17 }
	for i := 0; i < len(lens); {
		v := lens[i]
		run := 1
		for i+run < len(lens) && lens[i+run] == v {
			run++
		}
		if v == 0 {
			for run >= 20 {
				r := min(run, 51)
				emit(18, r-20)
				i += r
				run -= r
			}
			if run >= 4 {
				emit(17, run-4)
				i += run
				run = 0
			}
		} else {
			for run >= 4 {
				r := min(run, 5)
				emit(19, r-4)
				emit(delta(0, v), 0)
				i += r
				run -= r
			}
		}
		for ; run > 0; run-- {
			emit(delta(0, v), 0)
			i++
		}
	}
	c.hb.lengths(c.preFreq[:], c.preLens[:], maxPreCodeLen)
	canonicalCodes(c.preLens[:], c.preCodes[:])
	w := &c.w
	for _, l := range c.preLens {
		w.write(uint32(l), 4)
	}
	for k := 0; k < len(items); k++ {
		it := items[k]
		sym := int(it & 0xFF)
		w.write(uint32(c.preCodes[sym]), uint(c.preLens[sym]))
		switch sym {
		case 17:
			w.write(uint32(it>>8), 4)
		case 18:
			w.write(uint32(it>>8), 5)
		case 19:
			w.write(uint32(it>>8), 1)
		}
	}
}

// setCostsFromCodes derives the parser's costs from the codes of the
// previous pass. Symbols the previous pass did not use get a guess.
func (c *Compressor) setCostsFromCodes() {
	cs := &c.codes
	for i, l := range cs.mainLens {
		if l == 0 {
			l = 15
		}
		c.mainCost[i] = uint32(l) << costShift
	}
	for i, l := range cs.lenLens {
		if l == 0 {
			l = 12
		}
		c.lenCost[i] = uint32(l) << costShift
	}
	for i, l := range cs.alignedLens {
		if l == 0 {
			l = 7
		}
		c.alignedCost[i] = uint32(l) << costShift
	}
	c.setLenTail()
}

// setLenTail derives lenTail from lenCost.
func (c *Compressor) setLenTail() {
	for l := range c.lenTail {
		c.lenTail[l] = 0
		if l >= minMatch+numPrimaryLens {
			c.lenTail[l] = c.lenCost[l-minMatch-numPrimaryLens]
		}
	}
}

// setInitialCosts guesses costs for the first pass: literals from the
// chunk's byte histogram, fixed guesses for everything else.
func (c *Compressor) setInitialCosts(buf []byte) {
	var hist [256]uint32
	for _, b := range buf {
		hist[b]++
	}
	n := float64(len(buf))
	for i, h := range hist {
		bits := 12.0
		if h != 0 {
			bits = min(max(math.Log2(n/float64(h)), 1), 15)
		}
		c.mainCost[i] = uint32(bits*(1<<costShift) + 0.5)
	}
	for s := numChars; s < numMainSyms; s++ {
		slot := (s - numChars) / numLenHeaders
		hdr := (s - numChars) % numLenHeaders
		bits := 9 + slot/6 + hdr/3
		c.mainCost[s] = uint32(bits) << costShift
	}
	for i := range c.lenCost {
		c.lenCost[i] = uint32(6+i/32) << costShift
	}
	for i := range c.alignedCost {
		c.alignedCost[i] = 3 << costShift
	}
	c.useAligned = false
	c.setLenTail()
}
