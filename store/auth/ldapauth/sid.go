package ldapauth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SID is a Windows security identifier as Active Directory keeps it in
// objectSid: a revision (1), a 48-bit identifier authority and up to 15
// 32-bit sub-authorities, the last of which is the relative ID (RID) for
// accounts of a domain.
type SID struct {
	Authority uint64 // 48 bits
	Sub       []uint32
}

// maxSubAuthorities is the most sub-authorities a SID may have.
const maxSubAuthorities = 15

// errSID is wrapped by SID parse errors.
var errSID = errors.New("invalid SID")

// ParseSID decodes the binary form of a SID (objectSid's value):
// revision 1, the sub-authority count, the authority as 6 big-endian
// bytes, then each sub-authority as 4 little-endian bytes.
func ParseSID(b []byte) (SID, error) {
	if len(b) < 8 {
		return SID{}, fmt.Errorf("%w: %d bytes, want at least 8", errSID, len(b))
	}
	if b[0] != 1 {
		return SID{}, fmt.Errorf("%w: revision %d, want 1", errSID, b[0])
	}
	n := int(b[1])
	if n > maxSubAuthorities {
		return SID{}, fmt.Errorf("%w: %d sub-authorities, at most %d", errSID, n, maxSubAuthorities)
	}
	if len(b) != 8+4*n {
		return SID{}, fmt.Errorf("%w: %d bytes for %d sub-authorities, want %d", errSID, len(b), n, 8+4*n)
	}
	var s SID
	for _, c := range b[2:8] {
		s.Authority = s.Authority<<8 | uint64(c)
	}
	s.Sub = make([]uint32, n)
	for i := range n {
		s.Sub[i] = binary.LittleEndian.Uint32(b[8+4*i:])
	}
	return s, nil
}

// Bytes returns the binary form of s.
func (s SID) Bytes() []byte {
	b := make([]byte, 8+4*len(s.Sub))
	b[0] = 1
	b[1] = byte(len(s.Sub))
	for i := range 6 {
		b[2+i] = byte(s.Authority >> (8 * (5 - i)))
	}
	for i, v := range s.Sub {
		binary.LittleEndian.PutUint32(b[8+4*i:], v)
	}
	return b
}

// String returns s as S-1-AUTHORITY-SUB-..., the authority in hex (0x...)
// when it does not fit in 32 bits, as Windows writes it.
func (s SID) String() string {
	var b strings.Builder
	b.WriteString("S-1-")
	if s.Authority >= 1<<32 {
		fmt.Fprintf(&b, "0x%012X", s.Authority)
	} else {
		b.WriteString(strconv.FormatUint(s.Authority, 10))
	}
	for _, v := range s.Sub {
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	return b.String()
}

// ParseSIDString reads the S-1-... form of a SID.
func ParseSIDString(str string) (SID, error) {
	bad := func(why string) (SID, error) { return SID{}, fmt.Errorf("%w %q: %s", errSID, str, why) }
	parts := strings.Split(str, "-")
	if len(parts) < 3 || !strings.EqualFold(parts[0], "S") {
		return bad("want S-1-AUTHORITY[-SUB...]")
	}
	if parts[1] != "1" {
		return bad("revision is not 1")
	}
	var s SID
	a := parts[2]
	var err error
	if h, ok := strings.CutPrefix(strings.ToLower(a), "0x"); ok {
		if len(h) == 0 || len(h) > 12 {
			return bad("bad hex authority")
		}
		s.Authority, err = strconv.ParseUint(h, 16, 48)
	} else {
		s.Authority, err = strconv.ParseUint(a, 10, 32)
	}
	if err != nil || a == "" || a[0] == '+' {
		return bad("bad authority")
	}
	if len(parts)-3 > maxSubAuthorities {
		return bad(fmt.Sprintf("more than %d sub-authorities", maxSubAuthorities))
	}
	for _, p := range parts[3:] {
		if p == "" || p[0] == '+' {
			return bad("empty or signed sub-authority")
		}
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return bad("bad sub-authority")
		}
		s.Sub = append(s.Sub, uint32(v))
	}
	return s, nil
}

// WithRID returns the SID of the account with relative ID rid in the
// domain whose account s is: s with its last sub-authority replaced.
// Active Directory finds a user's primary group this way (objectSid with
// primaryGroupID as the RID).
func (s SID) WithRID(rid uint32) (SID, error) {
	if len(s.Sub) < 2 {
		return SID{}, fmt.Errorf("%w: %s is not a domain account's SID", errSID, s)
	}
	sub := append([]uint32(nil), s.Sub...)
	sub[len(sub)-1] = rid
	return SID{Authority: s.Authority, Sub: sub}, nil
}

// IsBuiltin reports whether s is in the BUILTIN domain (S-1-5-32-RID):
// groups such as Administrators that Active Directory keeps in
// CN=Builtin and that Windows names BUILTIN\Administrators.
func (s SID) IsBuiltin() bool {
	return s.Authority == 5 && len(s.Sub) == 2 && s.Sub[0] == 32
}
