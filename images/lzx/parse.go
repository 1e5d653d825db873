package lzx

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

const infCost = ^uint32(0)

// gapCode marks a node reached by a gap match: an explicit offset match
// (kept in Compressor.gaps), one literal, then a repeat match with the
// same offset (R0), all three as one step of the given total length.
const gapCode = 0xFFFF

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
			l2, _, score2 := best(i+1, nl, no)
			if l2 >= minMatch && score2 > score+4 {
				emitLit(i)
				i++
				ml, mo = nl, no
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
	limit := c.cacheLen
	for i := 0; i < n; {
		c.start[i] = int32(pos)
		// One find records fewer than maxMatch matches (their lengths
		// strictly increase), so maxMatch free entries hold them.
		var ms []match
		if limit-pos >= maxMatch {
			ms = c.cache[pos:limit]
			ms = ms[:f.find(buf, i, nice, depth, ms)]
		} else {
			// Cache nearly full (pathological data): keep the longest only.
			k := f.find(buf, i, nice, depth, c.scratch[:])
			if k > 0 && pos < limit {
				c.cache[pos] = c.scratch[k-1]
				ms = c.cache[pos : pos+1]
			}
		}
		pos += len(ms)
		i++
		if len(ms) > 0 && int(ms[len(ms)-1].length) >= nice {
			end := i - 1 + int(ms[len(ms)-1].length)
			from, stride := i, 1
			if t := c.p.tailInsert; t > 0 {
				from, stride = max(i, end-t), 2
			}
			for ; i < end; i++ {
				c.start[i] = int32(pos)
				if i >= from || i%stride == 0 {
					f.skip(buf, i, nice, c.p.skipDepth)
				}
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
	n := len(buf)
	first := n
	if c.p.sample && c.p.passes > 1 {
		first = n / 2
	}
	c.parseGreedy(buf[:first])
	for pass := 0; pass < c.p.passes; pass++ {
		c.countFreqs(0, c.nItem, &c.freqs)
		c.buildCodes(&c.freqs, &c.codes)
		c.setCostsFromCodes()
		last := pass == c.p.passes-1
		end := first
		if last {
			end = n
		}
		c.minCostPath(buf, c.p.coarse && !last, end)
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

// offsetCost returns the cost of the extra bits of a formatted offset.
func (c *Compressor) offsetCost(code int) (slot int, cost uint32) {
	slot = int(slotOf[code])
	e := uint32(slotExtra[slot])
	if c.useAligned && slot >= minAlignedSlot {
		return slot, (e-alignedBits)<<costShift + c.alignedCost[code&7]
	}
	return slot, e << costShift
}

// relax offers the arrivals at the nodes from..to after here (to <=
// maxMatch, and here+to within the parser's nodes) of a match with the
// given code, at cost base + row[length]. It indexes through pointers,
// like btFinder.find, since it runs for every length of every match.
func relax(here *node, base uint32, row *[maxMatch + 1]uint32, from, to int, code uint16) {
	for k := from; k <= to; k++ {
		nd := (*node)(unsafe.Add(unsafe.Pointer(here), uintptr(k)*unsafe.Sizeof(node{})))
		if cost := base + *(*uint32)(unsafe.Add(unsafe.Pointer(row), uintptr(k)*4)); cost < nd.cost {
			*nd = node{cost, item{uint16(k), code}}
		}
	}
}

// minCostPath finds the cheapest way through the chunk, or through its
// first end bytes or a little more, with the current costs and stores it
// in c.items. The repeat offsets at a position are
// those left by its cheapest arrival; they are worked out when the
// position is reached, since its arrival is then final.
//
// Every match length at a position is priced once only, with the first
// offset that reaches it in the order R0, R1, R2, then the explicit
// offsets from the nearest: a shorter offset is nearly always the
// cheaper. When coarse is set, matches are priced at their full length
// only; otherwise the longest explicit match is also tried as a gap
// match (match, literal, R0 match), a common pattern that pricing one
// step at a time misses.
func (c *Compressor) minCostPath(buf []byte, coarse bool, end int) {
	n := len(buf)
	nodes := c.nodes[:n+1]
	for i := range nodes {
		nodes[i].cost = infCost
	}
	nodes[0] = node{cost: 0}
	allReps := c.reps[:n+1]
	allReps[0] = 1 | 1<<16 | 1<<32
	nice := c.p.nice
	bp := unsafe.Pointer(unsafe.SliceData(buf))
	i := 0
	for i < end {
		nd := nodes[i]
		base := nd.cost
		reps := allReps[0]
		if i > 0 {
			it := nd.item
			reps = allReps[i-int(it.length)]
			if it.length > 1 {
				switch it.code {
				case 0:
				case 1:
					reps = reps>>16&0xFFFF | reps&0xFFFF<<16 | reps&(0xFFFF<<32)
				case 2:
					reps = reps>>32 | reps&(0xFFFF<<16) | reps&0xFFFF<<32
				case gapCode:
					reps = uint64(c.gaps[i].code-2) | reps&0xFFFFFFFF<<16
				default:
					reps = uint64(it.code-2) | reps&0xFFFFFFFF<<16
				}
			}
			allReps[i] = reps
		}
		// Literal.
		if cost := base + c.mainCost[buf[i]]; cost < nodes[i+1].cost {
			nodes[i+1] = node{cost, item{1, uint16(buf[i])}}
		}
		limit := min(n-i, maxMatch)
		if limit < minMatch {
			i++
			continue
		}
		ms := c.cache[c.start[i]:c.start[i+1]]
		// Repeat offset matches. The bytes are read through pointers
		// (see btFinder.find): a repeat source i-r is checked to be in
		// the chunk and limit bytes are readable at i.
		here8 := unsafe.Add(bp, i)
		head := load16(here8)
		r0, r1, r2 := int(reps&0xFFFF), int(reps>>16&0xFFFF), int(reps>>32)
		l0, l1, l2 := 0, 0, 0
		if r0 <= i && load16(unsafe.Add(here8, -r0)) == head {
			l0 = extendPtr(unsafe.Add(here8, -r0), here8, 2, limit)
		}
		if r1 <= i && load16(unsafe.Add(here8, -r1)) == head {
			l1 = extendPtr(unsafe.Add(here8, -r1), here8, 2, limit)
		}
		if r2 <= i && load16(unsafe.Add(here8, -r2)) == head {
			l2 = extendPtr(unsafe.Add(here8, -r2), here8, 2, limit)
		}
		longLen, longItem := 0, item{}
		if l0 >= nice {
			longLen, longItem = l0, item{uint16(l0), 0}
		}
		if l1 >= nice && l1 > longLen {
			longLen, longItem = l1, item{uint16(l1), 1}
		}
		if l2 >= nice && l2 > longLen {
			longLen, longItem = l2, item{uint16(l2), 2}
		}
		if len(ms) > 0 {
			if m := ms[len(ms)-1]; int(m.length) >= nice && int(m.length) > longLen {
				longLen, longItem = int(m.length), item{m.length, m.offset + 2}
			}
		}
		if longLen > 0 {
			// Take a long match outright and skip the positions it covers.
			var cost uint32
			if longItem.code < numRepeats {
				cost = base + c.matchCost[longItem.code][longLen]
			} else {
				slot, oc := c.offsetCost(int(longItem.code))
				cost = base + oc + c.matchCost[slot][longLen]
			}
			if cost < nodes[i+longLen].cost {
				nodes[i+longLen] = node{cost, longItem}
			}
			i += longLen
			continue
		}
		here := &nodes[i]
		next := minMatch
		if l0 >= next {
			if coarse {
				next = l0
			}
			relax(here, base, &c.matchCost[0], next, l0, 0)
			next = l0 + 1
		}
		if l1 >= next {
			if coarse {
				next = l1
			}
			relax(here, base, &c.matchCost[1], next, l1, 1)
			next = l1 + 1
		}
		if l2 >= next {
			if coarse {
				next = l2
			}
			relax(here, base, &c.matchCost[2], next, l2, 2)
			next = l2 + 1
		}
		// Explicit offset matches from the cache.
		lastLen, lastCode, lastCost := 0, 0, uint32(0)
		for _, m := range ms {
			l := int(m.length)
			if l < next {
				continue
			}
			code := int(m.offset) + 2
			slot, oc := c.offsetCost(code)
			if coarse {
				next = l
			}
			relax(here, base+oc, &c.matchCost[slot], next, l, uint16(code))
			next = l + 1
			lastLen, lastCode, lastCost = l, code, base+oc+c.matchCost[slot][l]
		}
		// The longest explicit match, then a literal, then the same
		// offset again as R0.
		if s := i + lastLen + 1; !coarse && lastLen > 0 && s+minMatch <= n {
			off := lastCode - 2
			if binary.LittleEndian.Uint16(buf[s:]) == binary.LittleEndian.Uint16(buf[s-off:]) {
				rl := extend(buf[s-off:], buf[s:s+min(n-s, maxMatch)], 2)
				cost := lastCost + c.mainCost[buf[s-1]] + c.matchCost[0][rl]
				if t := s + rl; cost < nodes[t].cost {
					nodes[t] = node{cost, item{uint16(t - i), gapCode}}
					c.gaps[t] = item{uint16(lastLen), uint16(lastCode)}
				}
			}
		}
		i++
	}
	// Trace the path back from the end and store it forwards.
	// The items are stored backwards from the end of c.items (a path has
	// at most one item per byte), then moved to the front.
	cnt := len(c.items)
	for j := i; j > 0; j -= int(nodes[j].item.length) {
		it := nodes[j].item
		if it.code != gapCode {
			cnt--
			c.items[cnt] = it
			continue
		}
		first := c.gaps[j]
		lit := j - int(it.length) + int(first.length)
		cnt -= 3
		c.items[cnt] = first
		c.items[cnt+1] = item{1, uint16(buf[lit])}
		c.items[cnt+2] = item{it.length - first.length - 1, 0}
	}
	c.nItem = copy(c.items[:], c.items[cnt:])
}
