package xpress

import "math/bits"

// cacheSize bounds the matches remembered for one chunk; when it runs out the
// remaining positions are parsed with literals and the matches found so far.
const cacheSize = MaxChunkSize * 12

// optimal holds the state of near-optimal parsing: every match found at every
// position, and the minimum-cost path through them under a symbol cost model
// that is refined from pass to pass.
type optimal struct {
	cost    [MaxChunkSize + 1]uint32 // cost of coding src[i:] (bits)
	choice  [MaxChunkSize + 1]uint32 // first item of that cheapest coding
	nmatch  [MaxChunkSize]uint8      // matches cached for position i
	cache   [cacheSize]uint32        // offset | (length-3)<<16, lengths rising per position
	symCost [numSymbols]uint32
}

// parseOptimal parses src by repeated minimum-cost path searches and returns
// the number of items; it leaves c.huff.freqs tallied for them.
func (c *Compressor) parseOptimal(src []byte) int {
	o := c.opt
	total := c.findMatches(src)
	for s := range o.symCost {
		o.symCost[s] = 9
	}
	for pass := 1; ; pass++ {
		o.minCostPath(src, total)
		if pass == c.passes {
			break
		}
		h := &c.huff
		h.freqs = [numSymbols]uint32{}
		for i := 0; i < len(src); {
			it := o.choice[i]
			if it&itemOffMask == 0 {
				h.freqs[it>>16]++
				i++
				continue
			}
			l := int(it>>16) + minMatch
			h.freqs[matchSymbol(l, int(it&itemOffMask))]++
			i += l
		}
		h.freqs[endOfData]++
		h.build()
		for s, l := range h.lens {
			if l == 0 {
				l = maxCodeLen
			}
			o.symCost[s] = uint32(l)
		}
	}
	c.resetItems()
	k := 0
	for i := 0; i < len(src); {
		it := o.choice[i]
		if it&itemOffMask == 0 {
			k = c.recordLiteral(k, src[i])
			i++
			continue
		}
		l := int(it>>16) + minMatch
		k = c.recordMatch(k, l, int(it&itemOffMask))
		i += l
	}
	return k
}

// findMatches fills the match cache for every position of src and returns
// the number of cache entries used.
func (c *Compressor) findMatches(src []byte) int {
	o := c.opt
	n := len(src)
	last := n - 4 // last position the match finder can hash
	ptr := 0
	for i := 0; i < n; i++ {
		if i > last {
			o.nmatch[i] = 0
			continue
		}
		if ptr+c.depth+1 > cacheSize {
			c.insert(i)
			o.nmatch[i] = 0
			continue
		}
		cnt, best := c.allMatches(src, i, n-i, o.cache[ptr:ptr+c.depth+1])
		o.nmatch[i] = uint8(cnt)
		ptr += cnt
		if best >= c.nice {
			// A long match: the data is redundant here, and positions
			// inside the match are not worth searching.
			end := min(i+best, n)
			for j := i + 1; j < end; j++ {
				o.nmatch[j] = 0
				long := best >= longMatch && j >= i+longKeep && j < end-longKeep
				if j <= last && !long {
					c.insert(j)
				}
			}
			i = end - 1
		}
	}
	return ptr
}

// allMatches inserts position i (i+4 <= len(src)) and stores in out each
// match found there that is longer than all closer ones (so lengths and
// offsets both rise). It returns how many it stored and the longest length.
func (c *Compressor) allMatches(src []byte, i, maxLen int, out []uint32) (cnt, best int) {
	w := &c.win
	v := w.load32(i)
	pos := uint16(i + 1)
	h3 := hash3(v)
	c3 := c.head3[h3]
	c.head3[h3] = pos
	h := hash4(v)
	cand := c.head4[h]
	c.prev[uint16(i)] = cand
	c.head4[h] = pos
	nice := min(c.nice, maxLen)
	best = minMatch - 1
	if c3 != 0 {
		p := int(c3) - 1
		if w.load32(p)<<8 == v<<8 {
			best = minMatch + w.matchLen(p+minMatch, i+minMatch, maxLen-minMatch)
			out[0] = uint32(i-p) | uint32(best-minMatch)<<16
			cnt = 1
			if best >= nice {
				return cnt, best
			}
		}
	}
	prev := &c.prev
	b := max(best, minMatch)
	want := w.load32(i + b - 3) // the last 4 bytes a longer match must have
	for depth := len(out) - 1; depth > 0 && cand != 0; depth-- {
		p := int(cand - 1)
		cand = prev[uint16(cand-1)]
		if w.load32(p+b-3) != want || w.load32(p) != v {
			continue
		}
		l := 4 + w.matchLen(p+4, i+4, maxLen-4)
		if l > best {
			best = l
			out[cnt] = uint32(i-p) | uint32(l-minMatch)<<16
			cnt++
			if l >= nice {
				break
			}
			b = l
			want = w.load32(i + b - 3)
		}
	}
	if cnt == 0 {
		best = 0
	}
	return cnt, best
}

// minCostPath computes, from the end of src backwards, the cheapest coding of
// every suffix under o.symCost, considering for every cached match every
// length not covered by a closer match.
func (o *optimal) minCostPath(src []byte, total int) {
	n := len(src)
	cost := o.cost[:n+1]
	cost[n] = 0
	ptr := total
	for i := n - 1; i >= 0; i-- {
		b := src[i]
		best := o.symCost[b] + cost[i+1]
		choice := uint32(b) << 16
		if m := int(o.nmatch[i]); m > 0 {
			ptr -= m
			l := minMatch
			for _, e := range o.cache[ptr : ptr+m] {
				off := e & itemOffMask
				mlen := int(e>>16) + minMatch
				ob := bits.Len16(uint16(off)) - 1
				sc := o.symCost[numLiterals+ob<<4 : numLiterals+ob<<4+16]
				obits := uint32(ob)
				for ; l <= mlen && l < minMatch+0xf; l++ {
					if cst := sc[l-minMatch] + obits + cost[i+l]; cst < best {
						best = cst
						choice = off | uint32(l-minMatch)<<16
					}
				}
				if l > mlen {
					continue
				}
				long := sc[0xf] + obits + 8
				for ; l <= mlen; l++ {
					cst := long + cost[i+l]
					if l-minMatch-0xf >= 0xff {
						cst += 16
					}
					if cst < best {
						best = cst
						choice = off | uint32(l-minMatch)<<16
					}
				}
			}
		}
		cost[i] = best
		o.choice[i] = choice
	}
}
