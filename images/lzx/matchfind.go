package lzx

const (
	hashBits  = 15
	hashSize  = 1 << hashBits
	hash2Bits = 12
	hash2Size = 1 << hash2Bits
)

// match is a match candidate: length and offset.
type match struct {
	length uint16
	offset uint16
}

func hash3(b []byte, i int) uint32 {
	v := uint32(b[i]) | uint32(b[i+1])<<8 | uint32(b[i+2])<<16
	return (v * 0x9E3779B1) >> (32 - hashBits)
}

// btFinder is a binary-tree match finder: for each 3-byte hash bucket it
// keeps a binary search tree of earlier positions ordered by the bytes
// that follow them, so that one descent visits the longest matches first
// while inserting the new position.
type btFinder struct {
	head  [hashSize]int32
	hash2 [hash2Size]int32 // last position per hashed 2-byte prefix (checked on use)
	child [2 * ChunkSize]int32
}

// reset forgets all positions, so that a chunk's matches (and so its
// compressed form) never depend on the chunks compressed before it.
func (f *btFinder) reset() {
	for i := range f.head {
		f.head[i] = -1
	}
	for i := range f.hash2 {
		f.hash2[i] = -1
	}
}

// advance inserts position pos of buf into the tree. When record is set it
// appends to ms the matches found, in strictly increasing length, with at
// most depth candidates visited; it stops early at a match of nice bytes.
func (f *btFinder) advance(buf []byte, pos, nice, depth int, ms []match, record bool) []match {
	avail := len(buf) - pos
	if avail < 3 {
		return ms
	}
	maxLen := min(avail, maxMatch)
	nice = min(nice, maxLen)
	best := 1
	k := (uint32(buf[pos]) | uint32(buf[pos+1])<<8) * 0x9E3779B1 >> (32 - hash2Bits)
	c2 := int(f.hash2[k])
	f.hash2[k] = int32(pos)
	if record && c2 >= 0 && c2 < pos && pos-c2 <= maxOffset && buf[c2] == buf[pos] && buf[c2+1] == buf[pos+1] {
		ms = append(ms, match{2, uint16(pos - c2)})
		best = 2
	}
	h := hash3(buf, pos)
	cur := int(f.head[h])
	f.head[h] = int32(pos)
	// Indexes into child are masked so that the compiler can drop bounds
	// checks; every index is already in range.
	const mask = 2*ChunkSize - 1
	child := &f.child
	lt, gt := 2*pos, 2*pos+1
	lenLT, lenGT := 0, 0
	b := buf[pos : pos+maxLen]
	for d := depth; ; d-- {
		if cur < 0 || pos-cur > maxOffset || d <= 0 {
			child[lt&mask] = -1
			child[gt&mask] = -1
			return ms
		}
		a := buf[cur : cur+maxLen]
		l := min(lenLT, lenGT)
		if a[l] == b[l] {
			l = extend(a, b, l+1)
			if l > best {
				best = l
				if record {
					ms = append(ms, match{uint16(l), uint16(pos - cur)})
				}
				if l >= nice {
					child[lt&mask] = child[(2*cur)&mask]
					child[gt&mask] = child[(2*cur+1)&mask]
					return ms
				}
			}
		}
		if a[l] < b[l] {
			child[lt&mask] = int32(cur)
			lt = 2*cur + 1
			cur = int(child[lt&mask])
			lenLT = l
		} else {
			child[gt&mask] = int32(cur)
			gt = 2 * cur
			cur = int(child[gt&mask])
			lenGT = l
		}
	}
}

// hcFinder is a hash-chain match finder for the fast level.
type hcFinder struct {
	head [hashSize]int32
	prev [ChunkSize]int32
}

func (f *hcFinder) reset() {
	for i := range f.head {
		f.head[i] = -1
	}
}

// insert adds pos to its hash chain.
func (f *hcFinder) insert(buf []byte, pos int) {
	if len(buf)-pos < 3 {
		return
	}
	h := hash3(buf, pos)
	f.prev[pos] = f.head[h]
	f.head[h] = int32(pos)
}

// longest returns the longest match at pos among the first depth chain
// entries (length 0 if none of at least 3 bytes), and inserts pos.
func (f *hcFinder) longest(buf []byte, pos, nice, depth int) (length, offset int) {
	avail := len(buf) - pos
	if avail < 3 {
		return 0, 0
	}
	maxLen := min(avail, maxMatch)
	nice = min(nice, maxLen)
	h := hash3(buf, pos)
	cur := int(f.head[h])
	f.prev[pos] = int32(cur)
	f.head[h] = int32(pos)
	b := buf[pos : pos+maxLen]
	best := 2
	for d := depth; d > 0 && cur >= 0 && pos-cur <= maxOffset; d-- {
		a := buf[cur:]
		if a[best] == b[best] && a[0] == b[0] {
			l := extend(a, b, 0)
			if l > best {
				best, length, offset = l, l, pos-cur
				if l >= nice {
					break
				}
			}
		}
		cur = int(f.prev[cur])
	}
	return length, offset
}
