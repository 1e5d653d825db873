package lzx

// item is one coded element: a literal (length 1, code = the byte) or a
// match (length >= 2, code = repeat index 0-2 or the formatted offset,
// that is the match offset + 2).
type item struct {
	length uint16
	code   uint16
}

// encPreCodeLen limits the pretree codewords we write to 7 bits, as
// wimlib's compressor (whose output Windows tools read) does; the format
// allows 15, which the decoder accepts. With 20 symbols the cost is nil.
const encPreCodeLen = 7

// costShift scales the parser's bit costs to keep fractions of a bit.
const costShift = 4

// params are the per-level tuning knobs.
type params struct {
	optimal bool
	depth   int  // match finder search depth
	nice    int  // a match this long is taken without further search
	passes  int  // optimal parsing passes
	coarse  bool // passes before the last price only each match's full length
	// sample makes the passes before the last parse only the first half
	// of the chunk: the symbol statistics they feed to the next pass
	// hardly need more.
	sample bool
	// tailInsert, if not 0, is how many of the last positions covered by
	// a long match are all inserted into the match finder; before them
	// only every other position is (the same bytes are in the finder at
	// the match source anyway).
	tailInsert int
	// skipDepth is the search depth for inserting the positions covered
	// by a long match: they are only inserted, for later positions to
	// find, so a shallower walk costs little in size (0.03% at 6 instead
	// of 12 on the bench corpus) for 2-3% of the time.
	skipDepth int
	thirds    bool // also try a split of the chunk into three blocks
}

func levelParams(level int) params {
	switch {
	case level <= LevelFast:
		return params{optimal: false, depth: 16, nice: 32}
	case level == LevelDefault:
		return params{optimal: true, depth: 11, nice: 26, passes: 2, coarse: true,
			sample: true, tailInsert: 8, skipDepth: 6}
	default:
		return params{optimal: true, depth: 48, nice: 96, passes: 3, coarse: true, thirds: true,
			skipDepth: 48}
	}
}

// codeSet holds the Huffman codes of one block.
type codeSet struct {
	size        int  // uncompressed bytes in the block
	aligned     bool // aligned offset block (else verbatim)
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
	// extra is the number of verbatim extra offset bits; nAligned the
	// number of offsets whose low 3 bits an aligned block would code.
	extra    int
	nAligned int
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
	cache    [ChunkSize * 8]match
	cacheLen int // entries of cache in use (lowered by tests)
	start    [ChunkSize + 1]int32
	scratch  [maxMatch + 1]match

	nodes [ChunkSize + 1]node
	gaps  [ChunkSize + 1]item   // the first match of a gap arrival (see minCostPath)
	reps  [ChunkSize + 1]uint64 // repeat offsets R0 | R1<<16 | R2<<32 at each reached position

	freqs freqSet
	codes codeSet // whole-chunk codes, used to price the next parser pass
	hb    huffBuilder

	// Block layout: block j holds items[bounds[j]:bounds[j+1]].
	nBlocks    int
	bounds     [maxBlocks + 1]int
	sizes      [maxBlocks]int
	splitFreqs [10]freqSet
	trialCodes [maxBlocks]codeSet // codes of the split being tried
	blockCodes [maxBlocks]codeSet // codes of the best split so far
	zeroCodes  codeSet

	// Parser costs (bits << costShift).
	mainCost    [numMainSyms]uint32
	lenCost     [numLenSyms]uint32
	alignedCost [numAlignedSyms]uint32
	// matchCost[slot][l] is the cost of the main symbol and length
	// symbol of a match of length l with offset slot slot.
	matchCost  [numOffsetSlots][maxMatch + 1]uint32
	useAligned bool // price offsets as in an aligned offset block

	// Pretree scratch.
	preItems  [numMainSyms + numLenSyms]uint16 // sym | extra<<8
	preFreq   [numPreSyms]uint32
	preLens   [numPreSyms]uint8
	preCodes  [numPreSyms]uint16
	nPreItems int

	w bitWriter
}

// NewCompressor returns a Compressor for the given level (LevelFast,
// LevelDefault or LevelMax; other values are clamped to that range).
func NewCompressor(level int) *Compressor {
	c := &Compressor{p: levelParams(level)}
	c.cacheLen = len(c.cache)
	return c
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
	limit := min(len(dst), n-1)
	if limit <= 0 {
		return 0
	}
	c.chooseBlocks(n)
	c.w.init(dst[:limit])
	c.writeBlocks()
	size := c.w.flush()
	if c.w.overflow {
		return 0
	}
	return size
}

// Block splitting: the chunk's items may be sent as several blocks, each
// with its own codes (coded as differences from the previous block's).
// Candidate splits cut the chunk into equal parts at item boundaries; the
// one with the smallest exact size wins.
const (
	maxBlocks    = 4
	minBlockSize = 4096
)

// chooseBlocks sets c.bounds/c.nBlocks/c.sizes to the cheapest
// candidate split. Symbol counts are taken once per quarter and third of
// the chunk; halves and the whole chunk are sums of quarters.
func (c *Compressor) chooseBlocks(n int) {
	c.nBlocks = 1
	c.bounds[0], c.bounds[1] = 0, c.nItem
	c.sizes[0] = n
	if !c.p.optimal || n < 2*minBlockSize {
		c.countFreqs(0, c.nItem, &c.freqs)
		c.planBlock(&c.freqs, n, &c.blockCodes[0], &c.zeroCodes)
		return
	}
	var q, t [maxBlocks + 1]int   // item index cuts
	var qs, ts [maxBlocks + 1]int // byte position of each cut
	c.cuts(n, 4, q[:], qs[:])
	fs := &c.splitFreqs
	for k := 0; k < 4; k++ {
		c.countFreqs(q[k], q[k+1], &fs[k])
	}
	addFreqs(&fs[4], &fs[0], &fs[1])
	addFreqs(&fs[5], &fs[2], &fs[3])
	addFreqs(&fs[6], &fs[4], &fs[5])
	best := c.splitBits([]*freqSet{&fs[6]}, []int{n})
	c.blockCodes[0] = c.trialCodes[0]
	try := func(parts int, cut, pos []int, f []*freqSet) {
		var sz [maxBlocks]int
		for k := 0; k < parts; k++ {
			sz[k] = pos[k+1] - pos[k]
			if sz[k] == 0 {
				return
			}
		}
		if bits := c.splitBits(f, sz[:parts]); bits < best {
			best = bits
			c.nBlocks = parts
			copy(c.bounds[:], cut[:parts+1])
			copy(c.sizes[:], sz[:parts])
			copy(c.blockCodes[:parts], c.trialCodes[:parts])
		}
	}
	half := [3]int{0, q[2], c.nItem}
	halfPos := [3]int{0, qs[2], n}
	try(2, half[:], halfPos[:], []*freqSet{&fs[4], &fs[5]})
	if c.p.thirds && n >= 3*minBlockSize {
		c.cuts(n, 3, t[:], ts[:])
		for k := 0; k < 3; k++ {
			c.countFreqs(t[k], t[k+1], &fs[7+k])
		}
		try(3, t[:], ts[:], []*freqSet{&fs[7], &fs[8], &fs[9]})
	}
	if (c.p.thirds || c.nBlocks > 1) && n >= 4*minBlockSize {
		try(4, q[:], qs[:], []*freqSet{&fs[0], &fs[1], &fs[2], &fs[3]})
	}
}

// cuts divides the items into parts runs of about n/parts bytes: cut[k]
// is the first item starting at or after byte k*n/parts, pos[k] where it
// starts; cut[0] = 0 and cut[parts] = c.nItem.
func (c *Compressor) cuts(n, parts int, cut, pos []int) {
	k, p := 1, 0
	for i, it := range c.items[:c.nItem] {
		for k < parts && p >= k*n/parts {
			cut[k], pos[k] = i, p
			k++
		}
		p += int(it.length)
	}
	for ; k < parts; k++ {
		cut[k], pos[k] = c.nItem, n
	}
	cut[0], pos[0] = 0, 0
	cut[parts], pos[parts] = c.nItem, n
}

func addFreqs(dst, a, b *freqSet) {
	for i := range dst.main {
		dst.main[i] = a.main[i] + b.main[i]
	}
	for i := range dst.length {
		dst.length[i] = a.length[i] + b.length[i]
	}
	for i := range dst.aligned {
		dst.aligned[i] = a.aligned[i] + b.aligned[i]
	}
	dst.extra = a.extra + b.extra
	dst.nAligned = a.nAligned + b.nAligned
}

// splitBits returns the exact size in bits of the chunk sent as blocks
// with the given symbol counts and sizes, leaving their code lengths in
// c.trialCodes.
func (c *Compressor) splitBits(fs []*freqSet, sizes []int) int {
	bits := 0
	prev := &c.zeroCodes
	for j := range fs {
		cs := &c.trialCodes[j]
		bits += c.planBlock(fs[j], sizes[j], cs, prev)
		prev = cs
	}
	return bits
}

// planBlock builds the code lengths of a block of size bytes with the
// symbol counts f into cs and returns its exact size in bits, its code
// lengths being sent as differences from prev's.
func (c *Compressor) planBlock(f *freqSet, size int, cs, prev *codeSet) int {
	c.buildCodes(f, cs)
	cs.size = size
	bits := 4
	if cs.size != defaultBlockSize {
		bits += 16
	}
	if cs.aligned {
		bits += numAlignedSyms * 3
		bits += f.extra - alignedBits*f.nAligned
		for i, n := range f.aligned {
			bits += int(n) * int(cs.alignedLens[i])
		}
	} else {
		bits += f.extra
	}
	for i, n := range f.main {
		bits += int(n) * int(cs.mainLens[i])
	}
	for i, n := range f.length {
		bits += int(n) * int(cs.lenLens[i])
	}
	bits += c.planLens(cs.mainLens[:numChars], prev.mainLens[:numChars])
	bits += c.planLens(cs.mainLens[numChars:], prev.mainLens[numChars:])
	bits += c.planLens(cs.lenLens[:], prev.lenLens[:])
	return bits
}

// countFreqs counts the symbols of c.items[a:b] into f.
func (c *Compressor) countFreqs(a, b int, f *freqSet) {
	*f = freqSet{}
	for _, it := range c.items[a:b] {
		if it.length == 1 {
			f.main[it.code]++
			continue
		}
		l := int(it.length) - minMatch
		slot := int(it.code)
		if slot >= numRepeats {
			slot = int(slotOf[it.code])
			f.extra += int(slotExtra[slot])
			if slot >= minAlignedSlot {
				f.aligned[it.code&7]++
				f.nAligned++
			}
		}
		if l >= numPrimaryLens {
			f.length[l-numPrimaryLens]++
			l = numPrimaryLens
		}
		f.main[numChars+slot*numLenHeaders+l]++
	}
}

// buildCodes builds Huffman code lengths for the counts f into cs and
// decides between a verbatim and an aligned offset block. The codewords
// themselves are left to setCodewords.
func (c *Compressor) buildCodes(f *freqSet, cs *codeSet) {
	c.hb.lengths(f.main[:], cs.mainLens[:], maxMainCodeLen)
	c.hb.lengths(f.length[:], cs.lenLens[:], maxLenCodeLen)
	c.hb.lengths(f.aligned[:], cs.alignedLens[:], maxAlignedLen)
	// An aligned offset block pays 24 bits for its code; it wins when the
	// aligned symbols then cost less than 3 verbatim bits each.
	verbatim, aligned := 0, numAlignedSyms*3
	for i, n := range f.aligned {
		verbatim += alignedBits * int(n)
		aligned += int(cs.alignedLens[i]) * int(n)
	}
	cs.aligned = f.nAligned > 0 && aligned < verbatim
}

// setCodewords assigns the canonical codewords for the lengths in cs.
func setCodewords(cs *codeSet) {
	canonicalCodes(cs.mainLens[:], cs.mainCodes[:])
	canonicalCodes(cs.lenLens[:], cs.lenCodes[:])
	canonicalCodes(cs.alignedLens[:], cs.alignedCode[:])
}

// writeBlocks writes the chunk as the blocks chosen by chooseBlocks,
// with the code lengths it planned.
func (c *Compressor) writeBlocks() {
	prev := &c.zeroCodes
	for j := 0; j < c.nBlocks; j++ {
		a, b := c.bounds[j], c.bounds[j+1]
		cs := &c.blockCodes[j]
		setCodewords(cs)
		c.writeBlock(a, b, cs, prev)
		prev = cs
	}
}

// writeBlock writes items[a:b] as one verbatim or aligned block with the
// codes cs, whose lengths are sent as differences from prev's.
func (c *Compressor) writeBlock(a, b int, cs, prev *codeSet) {
	w := &c.w
	btype := uint32(blockVerbatim)
	if cs.aligned {
		btype = blockAligned
	}
	w.write(btype, 3)
	if cs.size == defaultBlockSize {
		w.write(1, 1)
	} else {
		w.write(0, 1)
		w.write(uint32(cs.size), 16)
	}
	if cs.aligned {
		for _, l := range cs.alignedLens {
			w.write(uint32(l), 3)
		}
	}
	c.writeLens(cs.mainLens[:numChars], prev.mainLens[:numChars])
	c.writeLens(cs.mainLens[numChars:], prev.mainLens[numChars:])
	c.writeLens(cs.lenLens[:], prev.lenLens[:])
	for _, it := range c.items[a:b] {
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
		if cs.aligned && slot >= minAlignedSlot {
			w.write(extra>>alignedBits, nb-alignedBits)
			x := extra & 7
			w.write(uint32(cs.alignedCode[x]), uint(cs.alignedLens[x]))
		} else {
			w.write(extra, nb)
		}
	}
}

// planLens works out how the code lengths lens are sent as differences
// from prev (pretree symbols with run codes, and the pretree itself) into
// c.preItems/c.preLens/c.preCodes, and returns the size in bits.
func (c *Compressor) planLens(lens, prev []uint8) int {
	items := c.preItems[:0]
	c.preFreq = [numPreSyms]uint32{}
	emit := func(sym, extra int) {
		items = append(items, uint16(sym|extra<<8))
		c.preFreq[sym]++
	}
	delta := func(p, v uint8) int { return (int(p) - int(v) + 17) % 17 }
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
				emit(delta(prev[i], v), 0)
				i += r
				run -= r
			}
		}
		for ; run > 0; run-- {
			emit(delta(prev[i], v), 0)
			i++
		}
	}
	c.nPreItems = len(items)
	c.hb.lengths(c.preFreq[:], c.preLens[:], encPreCodeLen)
	bits := numPreSyms * 4
	for s, f := range c.preFreq {
		bits += int(f) * int(c.preLens[s])
	}
	bits += int(c.preFreq[17])*4 + int(c.preFreq[18])*5 + int(c.preFreq[19])*1
	return bits
}

// writeLens writes a pretree and, with it, the code lengths lens as
// differences from prev.
func (c *Compressor) writeLens(lens, prev []uint8) {
	c.planLens(lens, prev)
	canonicalCodes(c.preLens[:], c.preCodes[:])
	w := &c.w
	for _, l := range c.preLens {
		w.write(uint32(l), 4)
	}
	for _, it := range c.preItems[:c.nPreItems] {
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
	c.useAligned = cs.aligned
	c.setMatchCosts()
}

// setMatchCosts derives matchCost from mainCost and lenCost.
func (c *Compressor) setMatchCosts() {
	for slot := range c.matchCost {
		row := &c.matchCost[slot]
		sym := c.mainCost[numChars+slot*numLenHeaders:][:numLenHeaders]
		for l := minMatch; l < minMatch+numPrimaryLens; l++ {
			row[l] = sym[l-minMatch]
		}
		long := sym[numPrimaryLens]
		for l := minMatch + numPrimaryLens; l <= maxMatch; l++ {
			row[l] = long + c.lenCost[l-minMatch-numPrimaryLens]
		}
	}
}
