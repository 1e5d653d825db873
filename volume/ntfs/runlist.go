package ntfs

// run maps length clusters starting at vcn to lcn; lcn is lcnSparse for a
// hole.
type run struct {
	vcn, lcn, length int64
}

const (
	lcnSparse = -1
	// maxVCN bounds cluster numbers: 2^48 clusters is far beyond any
	// volume NTFS can address, and keeps byte offsets inside int64.
	maxVCN = 1 << 48
	// maxStreamSize bounds any stream's logical size: 8 PiB, the largest
	// file Windows can create (2 MiB clusters).
	maxStreamSize = 1 << 53
)

// decodeRunlist decodes NTFS mapping pairs for the extent starting at
// startVCN and ending at lastVCN (inclusive). Holes get lcnSparse. LCNs are
// checked against totalClusters when it is non-zero.
func decodeRunlist(b []byte, startVCN, lastVCN, totalClusters int64) ([]run, error) {
	if startVCN < 0 || startVCN > maxVCN || lastVCN < startVCN-1 || lastVCN > maxVCN {
		return nil, corruptf("VCN range %d..%d invalid", startVCN, lastVCN)
	}
	var runs []run
	vcn, lcn := startVCN, int64(0)
	for i := 0; ; {
		if i >= len(b) {
			return nil, corruptf("runlist not terminated")
		}
		h := b[i]
		if h == 0 {
			break
		}
		ls, os := int(h&0xF), int(h>>4)
		if ls == 0 || ls > 8 || os > 8 {
			return nil, corruptf("runlist header byte 0x%02X at %d invalid", h, i)
		}
		i++
		if i+ls+os > len(b) {
			return nil, corruptf("runlist entry at %d truncated", i-1)
		}
		length := int64(0)
		for k := ls - 1; k >= 0; k-- {
			length = length<<8 | int64(b[i+k])
		}
		if b[i+ls-1]&0x80 != 0 || length <= 0 || length > maxVCN {
			return nil, corruptf("run length at %d invalid", i-1)
		}
		i += ls
		r := run{vcn: vcn, length: length, lcn: lcnSparse}
		if os > 0 {
			d := int64(0)
			for k := os - 1; k >= 0; k-- {
				d = d<<8 | int64(b[i+k])
			}
			if b[i+os-1]&0x80 != 0 && os < 8 {
				d -= 1 << (8 * os) // sign-extend
			}
			i += os
			lcn += d
			if lcn < 0 || lcn > maxVCN || lcn+length > maxVCN {
				return nil, corruptf("run LCN %d out of range", lcn)
			}
			if totalClusters > 0 && lcn+length > totalClusters {
				return nil, corruptf("run at LCN %d, %d clusters, beyond volume end (%d clusters)", lcn, length, totalClusters)
			}
			r.lcn = lcn
		}
		vcn += length
		if vcn > lastVCN+1 {
			return nil, corruptf("runlist maps VCN %d beyond the extent's last VCN %d", vcn-1, lastVCN)
		}
		if n := len(runs); n > 0 && runs[n-1].lcn == lcnSparse && r.lcn == lcnSparse {
			runs[n-1].length += length
			continue
		}
		runs = append(runs, r)
	}
	return runs, nil
}
