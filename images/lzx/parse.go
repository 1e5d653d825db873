package lzx

import (
	"encoding/binary"
	"math/bits"
)

const infCost = ^uint32(0)

// matchLen returns how many bytes at buf[a:] equal those at buf[b:], up to
// limit (b < a, a+limit <= len(buf)).
func matchLen(buf []byte, a, b, limit int) int {
	return extend(buf[b:], buf[a:a+limit], 0)
}

// extend returns the length of the common prefix of a and b (at most
// len(b); len(a) >= len(b)), knowing the first l bytes are equal.
func extend(a, b []byte, l int) int {
	for l+8 <= len(b) {
		x := binary.LittleEndian.Uint64(a[l:]) ^ binary.LittleEndian.Uint64(b[l:])
		if x != 0 {
			return l + bits.TrailingZeros64(x)>>3
		}
		l += 8
	}
	for l < len(b) && a[l] == b[l] {
		l++
	}
	return l
}

// parseLazy fills c.items with a lazy-evaluation parse: at each position
// the longest match (repeat offsets first) is taken unless the next
// position has a clearly better one.
func (c *Compressor) parseLazy(buf []byte) {
	f := &c.hc
	f.reset()
	n := len(buf)
	reps := [numRepeats]int{1, 1, 1}
	c.nItem = 0
	emitLit := func(i int) {
		c.items[c.nItem] = item{1, uint16(buf[i])}
		c.nItem++
	}
	// best returns the best match at i as (length, code, score).
	best := func(i int, length, off int) (int, int, int) {
		bl, bc, bs := 0, 0, 0
		limit := min(n-i, maxMatch)
		if limit >= minMatch {
			for k, r := range reps {
				if r <= i {
					if l := matchLen(buf, i, i-r, limit); l >= minMatch {
						// Repeat matches cost no offset bits.
						if s := 4*l + 2; s > bs {
							bl, bc, bs = l, k, s
						}
					}
				}
			}
		}
		if length >= 3 {
			code := off + 2
			s := 4*length - int(slotExtra[slotOf[code]])/2
			for k, r := range reps {
				if r == off {
					code = k
					s = 4*length + 2
				}
			}
			if s > bs {
				bl, bc, bs = length, code, s
			}
		}
		return bl, bc, bs
	}
	take := func(i, l, code int) {
		c.items[c.nItem] = item{uint16(l), uint16(code)}
		c.nItem++
		if code >= numRepeats {
			reps[2], reps[1], reps[0] = reps[1], reps[0], code-2
		} else {
			reps[code], reps[0] = reps[0], reps[code]
		}
	}
	i := 0
	ml, mo := f.longest(buf, 0, c.p.nice, c.p.depth)
	for i < n {
		l, code, score := best(i, ml, mo)
		if l < minMatch {
			emitLit(i)
			i++
			if i < n {
				ml, mo = f.longest(buf, i, c.p.nice, c.p.depth)
			}
			continue
		}
		// Lazy step: look one position ahead.
		if l < c.p.nice && i+1 < n {
			nl, no := f.longest(buf, i+1, c.p.nice, c.p.depth/2+1)
			l2, code2, score2 := best(i+1, nl, no)
			if l2 >= minMatch && score2 > score+4 {
				emitLit(i)
				i++
				ml, mo = nl, no
				_ = code2
				continue
			}
			take(i, l, code)
			for j := i + 2; j < i+l; j++ {
				f.insert(buf, j)
			}
		} else {
			take(i, l, code)
			for j := i + 1; j < i+l; j++ {
				f.insert(buf, j)
			}
		}
		i += l
		if i < n {
			ml, mo = f.longest(buf, i, c.p.nice, c.p.depth)
		}
	}
}

// findMatches runs the binary-tree match finder over the chunk once and
// stores every position's matches in the cache. After a match of nice
// bytes or more, the positions it covers are only inserted.
func (c *Compressor) findMatches(buf []byte) {
	f := &c.bt
	f.reset()
	n := len(buf)
	nice, depth := c.p.nice, c.p.depth
	pos := 0
	for i := 0; i < n; {
		c.start[i] = int32(pos)
		var ms []match
		if len(c.cache)-pos >= maxMatch {
			ms = f.advance(buf, i, nice, depth, c.cache[pos:pos], true)
		} else {
			// Cache nearly full (very unusual): keep only the longest.
			ms = f.advance(buf, i, nice, depth, c.cache[pos:pos], len(c.cache)-pos >= 1)
			if len(ms) > 1 {
				ms[0] = ms[len(ms)-1]
				ms = ms[:1]
			}
		}
		pos += len(ms)
		i++
		if len(ms) > 0 && int(ms[len(ms)-1].length) >= nice {
			end := i - 1 + int(ms[len(ms)-1].length)
			for ; i < end; i++ {
				c.start[i] = int32(pos)
				f.advance(buf, i, nice, depth, nil, false)
			}
		}
	}
	c.start[n] = int32(pos)
}

// parseOptimal fills c.items with a minimum-cost parse of the chunk under
// the cost model, refined over several passes: each pass prices symbols
// with the Huffman codes the previous pass's parse would get.
func (c *Compressor) parseOptimal(buf []byte) {
	c.findMatches(buf)
	c.parseGreedy(buf)
	for pass := 0; pass < c.p.passes; pass++ {
		c.countFreqs()
		c.buildCodes()
		c.setCostsFromCodes()
		c.minCostPath(buf)
	}
}

// parseGreedy fills c.items with a quick greedy parse over the cached
// matches (repeat offset R0 preferred when as long). It only seeds the
// cost model of the first optimal pass.
func (c *Compressor) parseGreedy(buf []byte) {
	n := len(buf)
	reps := [numRepeats]uint16{1, 1, 1}
	c.nItem = 0
	for i := 0; i < n; {
		l, code := 0, 0
		if r := int(reps[0]); r <= i && n-i >= minMatch {
			l = matchLen(buf, i, i-r, min(n-i, maxMatch))
		}
		ms := c.cache[c.start[i]:c.start[i+1]]
		if len(ms) > 0 {
			m := ms[len(ms)-1]
			if int(m.length) > l && (m.length >= 3 || m.offset < 64) {
				l, code = int(m.length), int(m.offset)+2
			}
		}
		if l < minMatch {
			c.items[c.nItem] = item{1, uint16(buf[i])}
			c.nItem++
			i++
			continue
		}
		c.items[c.nItem] = item{uint16(l), uint16(code)}
		c.nItem++
		if code >= numRepeats {
			reps[2], reps[1], reps[0] = reps[1], reps[0], uint16(code-2)
		}
		i += l
	}
}

// matchCost returns the cost of a match of length l with offset slot slot
// (extra offset bits priced separately).
func (c *Compressor) matchCost(l, slot int) uint32 {
	h := l - minMatch
	if h >= numPrimaryLens {
		return c.mainCost[numChars+slot*numLenHeaders+numPrimaryLens] + c.lenCost[h-numPrimaryLens]
	}
	return c.mainCost[numChars+slot*numLenHeaders+h]
}

// offsetCost returns the cost of the extra bits of a formatted offset.
func (c *Compressor) offsetCost(code int) (slot int, cost uint32) {
	slot = int(slotOf[code])
	e := uint32(slotExtra[slot])
	if c.useAligned && slot >= minAlignedSlot {
		return slot, (e-alignedBits)<<costShift + c.alignedCost[code&7]
	}
	return slot, e << costShift
}

// minCostPath finds the cheapest way through the chunk with the current
// costs and stores it in c.items. Nodes carry the repeat offsets of their
// cheapest arrival, so repeat matches are priced along that path.
func (c *Compressor) minCostPath(buf []byte) {
	n := len(buf)
	nodes := c.nodes[:n+1]
	for i := range nodes {
		nodes[i].cost = infCost
	}
	nodes[0] = node{cost: 0, reps: [numRepeats]uint16{1, 1, 1}}
	nice := c.p.nice
	for i := 0; i < n; {
		nd := nodes[i]
		base := nd.cost
		// Literal.
		if cost := base + c.mainCost[buf[i]]; cost < nodes[i+1].cost {
			nodes[i+1] = node{cost, item{1, uint16(buf[i])}, nd.reps}
		}
		limit := min(n-i, maxMatch)
		if limit < minMatch {
			i++
			continue
		}
		longLen, longItem := 0, item{}
		var longReps [numRepeats]uint16
		// Repeat offset matches, every length.
		for k := 0; k < numRepeats; k++ {
			r := int(nd.reps[k])
			if r > i {
				continue
			}
			if buf[i] != buf[i-r] || buf[i+1] != buf[i-r+1] {
				continue
			}
			l := matchLen(buf, i, i-r, limit)
			reps := nd.reps
			reps[0], reps[k] = reps[k], reps[0]
			if l >= nice {
				if l > longLen {
					longLen, longItem, longReps = l, item{uint16(l), uint16(k)}, reps
				}
				continue
			}
			for ll := minMatch; ll <= l; ll++ {
				if cost := base + c.matchCost(ll, k); cost < nodes[i+ll].cost {
					nodes[i+ll] = node{cost, item{uint16(ll), uint16(k)}, reps}
				}
			}
		}
		// Explicit offset matches from the cache.
		ms := c.cache[c.start[i]:c.start[i+1]]
		prev := minMatch - 1
		for _, m := range ms {
			off := m.offset
			l := int(m.length)
			isRep := false
			for k := 0; k < numRepeats; k++ {
				if nd.reps[k] == off {
					isRep = true
				}
			}
			if isRep {
				prev = l // priced as a repeat match above
				continue
			}
			code := int(off) + 2
			slot, oc := c.offsetCost(code)
			reps := [numRepeats]uint16{off, nd.reps[0], nd.reps[1]}
			if l >= nice {
				if l > longLen {
					longLen, longItem, longReps = l, item{uint16(l), uint16(code)}, reps
				}
				continue
			}
			for ll := prev + 1; ll <= l; ll++ {
				if cost := base + oc + c.matchCost(ll, slot); cost < nodes[i+ll].cost {
					nodes[i+ll] = node{cost, item{uint16(ll), uint16(code)}, reps}
				}
			}
			prev = l
		}
		if longLen > 0 {
			// Take a long match outright and skip the positions it covers.
			var cost uint32
			if longItem.code < numRepeats {
				cost = base + c.matchCost(longLen, int(longItem.code))
			} else {
				slot, oc := c.offsetCost(int(longItem.code))
				cost = base + oc + c.matchCost(longLen, slot)
			}
			if cost < nodes[i+longLen].cost {
				nodes[i+longLen] = node{cost, longItem, longReps}
			}
			i += longLen
			continue
		}
		i++
	}
	// Trace the path back from the end and store it forwards.
	cnt := 0
	for j := n; j > 0; j -= int(nodes[j].item.length) {
		cnt++
	}
	c.nItem = cnt
	for j := n; j > 0; j -= int(nodes[j].item.length) {
		cnt--
		c.items[cnt] = nodes[j].item
	}
}
