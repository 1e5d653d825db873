package xpress

// huffman builds length-limited canonical Huffman codes without allocating.
type huffman struct {
	freqs [numSymbols]uint32
	lens  [numSymbols]uint8
	codes [numSymbols]uint16
	work  [numSymbols]uint32
	tmp   [numSymbols]uint32
}

// sortUsed returns the used symbols as freq<<9|symbol in ascending order of
// frequency, ties by symbol, in h.work. It is a stable radix sort on 9-bit
// digits: chunk frequencies are below 1<<18, so two passes at most, and one
// when every frequency is below 512. A comparison sort spent most of
// build's time mispredicting branches.
func (h *huffman) sortUsed() []uint32 {
	var count [numSymbols]uint16
	var maxFreq uint32
	unused := 0
	for _, f := range h.freqs {
		count[f&(numSymbols-1)]++
		maxFreq = max(maxFreq, f)
		if f == 0 {
			unused++
		}
	}
	count[0] -= uint16(unused) // the unused symbols are left out
	pos := 0
	var start [numSymbols]uint16
	for d := range count {
		start[d] = uint16(pos)
		pos += int(count[d])
	}
	n := pos
	if maxFreq < numSymbols {
		a := h.work[:n]
		for s, f := range h.freqs {
			if f != 0 {
				a[start[f]&(numSymbols-1)] = f<<9 | uint32(s)
				start[f]++
			}
		}
		return a
	}
	t := h.tmp[:n]
	for s, f := range h.freqs {
		if f != 0 {
			d := f & (numSymbols - 1)
			t[start[d]&(numSymbols-1)] = f<<9 | uint32(s)
			start[d]++
		}
	}
	count = [numSymbols]uint16{}
	for _, v := range t {
		count[(v>>18)&(numSymbols-1)]++
	}
	pos = 0
	for d := range count {
		start[d] = uint16(pos)
		pos += int(count[d])
	}
	a := h.work[:n]
	for _, v := range t {
		d := (v >> 18) & (numSymbols - 1)
		a[start[d]&(numSymbols-1)] = v
		start[d]++
	}
	return a
}

// build computes lens and codes from freqs. At least two symbols must have a
// non-zero frequency (the compressor always counts the end-of-data symbol and
// at least one more), which makes the code complete, as [MS-XCA] requires.
func (h *huffman) build() {
	h.lens = [numSymbols]uint8{}
	a := h.sortUsed()
	n := len(a)
	if n < 2 {
		// Cannot happen through the compressor; keep the code complete anyway.
		s := 0
		if n == 1 {
			s = int(a[0] & 0x1ff)
		}
		h.lens[s] = 1
		h.lens[s^1] = 1
		h.assignCodes()
		return
	}
	// Keep the symbols (in frequency order) aside: a is overwritten below.
	var syms [numSymbols]uint16
	for i, v := range a {
		syms[i] = uint16(v & 0x1ff)
		a[i] = v >> 9
	}
	computeDepths(a)
	// a[i] is now the code length of syms[i]; lengths do not increase with i.
	var count [32]int
	for _, d := range a {
		count[min(d, uint32(len(count)-1))]++
	}
	limitLengths(&count)
	// Hand out the lengths again, shortest to the most frequent.
	i := n - 1
	for l := 1; l <= maxCodeLen; l++ {
		for range count[l] {
			h.lens[syms[i]] = uint8(l)
			i--
		}
	}
	h.assignCodes()
}

// computeDepths turns a, a list of frequencies in ascending order, into the
// code lengths of an optimal (unlimited) prefix code, in place (Moffat and
// Katajainen's in-place algorithm). len(a) >= 2.
func computeDepths(a []uint32) {
	n := len(a)
	// Phase 1: build the tree; internal nodes replace leaves from the left and
	// hold parent pointers afterwards.
	a[0] += a[1]
	root, leaf := 0, 2
	for next := 1; next < n-1; next++ {
		if leaf >= n || a[root] < a[leaf] {
			a[next] = a[root]
			a[root] = uint32(next)
			root++
		} else {
			a[next] = a[leaf]
			leaf++
		}
		if leaf >= n || (root < next && a[root] < a[leaf]) {
			a[next] += a[root]
			a[root] = uint32(next)
			root++
		} else {
			a[next] += a[leaf]
			leaf++
		}
	}
	// Phase 2: parent pointers to internal node depths.
	a[n-2] = 0
	for next := n - 3; next >= 0; next-- {
		a[next] = a[a[next]] + 1
	}
	// Phase 3: internal node depths to leaf depths.
	avail, used, depth := 1, 0, uint32(0)
	root, next := n-2, n-1
	for avail > 0 {
		for root >= 0 && a[root] == depth {
			used++
			root--
		}
		for avail > used {
			a[next] = depth
			next--
			avail--
		}
		avail = 2 * used
		depth++
		used = 0
	}
}

// limitLengths rewrites the histogram count[length] of a complete prefix code
// so that no length exceeds maxCodeLen and the code stays complete.
func limitLengths(count *[32]int) {
	over := 0
	for l := maxCodeLen + 1; l < len(count); l++ {
		over += count[l]
		count[l] = 0
	}
	if over == 0 {
		return
	}
	count[maxCodeLen] += over
	const full = 1 << maxCodeLen
	kraft := 0
	for l := 1; l <= maxCodeLen; l++ {
		kraft += count[l] << (maxCodeLen - l)
	}
	// Too long in sum: push the longest short codes one level down.
	for kraft > full {
		l := maxCodeLen - 1
		for count[l] == 0 {
			l--
		}
		count[l]--
		count[l+1]++
		kraft -= 1 << (maxCodeLen - l - 1)
	}
	// Now possibly incomplete: pull codes up while that still fits.
	for kraft < full {
		deficit := full - kraft
		l := maxCodeLen
		for count[l] == 0 || 1<<(maxCodeLen-l) > deficit {
			l--
		}
		count[l]--
		count[l-1]++
		kraft += 1 << (maxCodeLen - l)
	}
}

// assignCodes gives each symbol its canonical code: codes are handed out in
// order of (length, symbol value), as the [MS-XCA] decoding table expects.
func (h *huffman) assignCodes() {
	var count [maxCodeLen + 1]int
	for _, l := range h.lens {
		count[l]++
	}
	count[0] = 0
	var next [maxCodeLen + 1]int
	code := 0
	for l := 1; l <= maxCodeLen; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	for s, l := range h.lens {
		if l != 0 {
			h.codes[s] = uint16(next[l])
			next[l]++
		}
	}
}
