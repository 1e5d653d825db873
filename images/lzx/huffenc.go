package lzx

import "slices"

// huffBuilder computes length-limited Huffman code lengths and canonical
// codewords. Its scratch space is reused so that building a code does not
// allocate.
type huffBuilder struct {
	keys   [numMainSyms]uint64 // freq<<16 | symbol, sorted
	tmp    [numMainSyms]uint64
	weight [2 * numMainSyms]uint32
	parent [2 * numMainSyms]int32
	depth  [2 * numMainSyms]uint8
}

// lengths sets lens[s] to the codeword length of every symbol s of freqs,
// no longer than limit. The code is complete whenever at least one symbol
// is used (a lone symbol is given a partner of length 1), and empty (all
// lengths 0) when none is.
func (hb *huffBuilder) lengths(freqs []uint32, lens []uint8, limit int) {
	clear(lens)
	keys := hb.keys[:0]
	for s, f := range freqs {
		if f != 0 {
			keys = append(keys, uint64(f)<<16|uint64(s))
		}
	}
	n := len(keys)
	switch n {
	case 0:
		return
	case 1:
		s := int(keys[0] & 0xFFFF)
		lens[s] = 1
		if s == 0 {
			lens[1] = 1
		} else {
			lens[0] = 1
		}
		return
	}
	hb.sort(keys)
	// Two-queue Huffman construction: leaves 0..n-1 in increasing weight,
	// internal nodes n..2n-2 are created in non-decreasing weight order.
	for i, k := range keys {
		hb.weight[i] = uint32(k >> 16)
	}
	leaf, inner, next := 0, n, n
	pick := func() int {
		if leaf < n && (inner >= next || hb.weight[leaf] <= hb.weight[inner]) {
			leaf++
			return leaf - 1
		}
		inner++
		return inner - 1
	}
	for next < 2*n-1 {
		a := pick()
		b := pick()
		hb.weight[next] = hb.weight[a] + hb.weight[b]
		hb.parent[a] = int32(next)
		hb.parent[b] = int32(next)
		next++
	}
	root := 2*n - 2
	hb.depth[root] = 0
	var count [64]int
	for i := root - 1; i >= 0; i-- {
		d := hb.depth[hb.parent[i]] + 1
		hb.depth[i] = d
		if i < n {
			count[min(int(d), 63)]++
		}
	}
	// Limit the lengths: clamp, then repay the Kraft excess one unit
	// (2^-limit) at a time by splitting the deepest leaf above the limit.
	for l := limit + 1; l < 64; l++ {
		count[limit] += count[l]
		count[l] = 0
	}
	excess := -(1 << limit)
	for l := 1; l <= limit; l++ {
		excess += count[l] << (limit - l)
	}
	for excess > 0 {
		l := limit - 1
		for count[l] == 0 {
			l--
		}
		count[l]--
		count[l+1] += 2
		count[limit]--
		excess--
	}
	// Hand out lengths: the rarest symbols get the longest codes.
	i := 0
	for l := limit; l >= 1; l-- {
		for c := count[l]; c > 0; c-- {
			lens[keys[i]&0xFFFF] = uint8(l)
			i++
		}
	}
}

// sort sorts keys (freq<<16 | symbol, freq < 1<<16) in increasing order.
// Large sets are radix sorted on the frequency bytes, which keeps equal
// frequencies in their (increasing) symbol order.
func (hb *huffBuilder) sort(keys []uint64) {
	if len(keys) < 48 {
		slices.Sort(keys)
		return
	}
	var maxKey uint64
	for _, k := range keys {
		maxKey = max(maxKey, k)
	}
	src, dst := keys, hb.tmp[:len(keys)]
	for shift := uint(16); shift < 32 && maxKey>>shift != 0; shift += 8 {
		var count [256]int
		for _, k := range src {
			count[byte(k>>shift)]++
		}
		pos := 0
		for i, n := range count {
			count[i] = pos
			pos += n
		}
		for _, k := range src {
			b := byte(k >> shift)
			dst[count[b]] = k
			count[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}

// canonicalCodes assigns canonical codewords (shortest first, then by
// symbol value) for lens into codes.
func canonicalCodes(lens []uint8, codes []uint16) {
	var count [maxMainCodeLen + 2]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [maxMainCodeLen + 2]uint16
	code := uint16(0)
	for l := 1; l <= maxMainCodeLen; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	for s, l := range lens {
		if l != 0 {
			codes[s] = next[l]
			next[l]++
		} else {
			codes[s] = 0
		}
	}
}
