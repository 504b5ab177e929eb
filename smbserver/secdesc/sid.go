// Package secdesc encodes, decodes and evaluates Windows security
// descriptors: SIDs ([MS-DTYP] 2.4.2), ACEs (2.4.4), ACLs (2.4.5) and
// self-relative SECURITY_DESCRIPTORs (2.4.6), with the access check
// (2.5.3.2) and the inheritance rules of CreateSecurityDescriptor
// (2.5.3.4). It is pure: no I/O, no logging.
package secdesc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxSubAuthorities is the most sub-authorities a SID may carry
// ([MS-DTYP] 2.4.2.2: SubAuthorityCount is at most 15).
const MaxSubAuthorities = 15

// SID is a security identifier. It is a comparable value, so it can be a
// map key and compared with ==.
type SID struct {
	// Authority is the 48-bit IdentifierAuthority.
	Authority uint64
	// N is the number of sub-authorities in use.
	N   uint8
	Sub [MaxSubAuthorities]uint32
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("secdesc: malformed")

// NewSID builds a SID from its authority and sub-authorities; it panics on
// more than MaxSubAuthorities, which is a programming error.
func NewSID(authority uint64, sub ...uint32) SID {
	if len(sub) > MaxSubAuthorities {
		panic("secdesc: too many sub-authorities")
	}
	s := SID{Authority: authority & (1<<48 - 1), N: uint8(len(sub))}
	copy(s.Sub[:], sub)
	return s
}

// Well-known SIDs ([MS-DTYP] 2.4.2.4).
var (
	Everyone           = NewSID(1, 0)       // S-1-1-0
	CreatorOwner       = NewSID(3, 0)       // S-1-3-0
	CreatorGroup       = NewSID(3, 1)       // S-1-3-1
	OwnerRights        = NewSID(3, 4)       // S-1-3-4
	Anonymous          = NewSID(5, 7)       // S-1-5-7
	AuthenticatedUsers = NewSID(5, 11)      // S-1-5-11
	LocalSystem        = NewSID(5, 18)      // S-1-5-18
	Administrators     = NewSID(5, 32, 544) // S-1-5-32-544
	Users              = NewSID(5, 32, 545) // S-1-5-32-545
	Guests             = NewSID(5, 32, 546) // S-1-5-32-546
	NetworkLogon       = NewSID(5, 2)       // S-1-5-2
	MandatoryMedium    = NewSID(16, 0x2000) // S-1-16-8192
	NullSID            = NewSID(0, 0)       // S-1-0-0
)

// Size is the encoded length of s.
func (s SID) Size() int { return 8 + 4*int(s.N) }

// IsZero reports whether s is the zero value (no SID).
func (s SID) IsZero() bool { return s == SID{} }

// Append appends the binary form of s ([MS-DTYP] 2.4.2.2).
func (s SID) Append(b []byte) []byte {
	b = append(b, 1, s.N,
		byte(s.Authority>>40), byte(s.Authority>>32), byte(s.Authority>>24),
		byte(s.Authority>>16), byte(s.Authority>>8), byte(s.Authority))
	for i := range int(s.N) {
		b = binary.LittleEndian.AppendUint32(b, s.Sub[i])
	}
	return b
}

// DecodeSID parses a SID at the start of b and returns it with its size.
func DecodeSID(b []byte) (SID, int, error) {
	if len(b) < 8 {
		return SID{}, 0, fmt.Errorf("%w: SID shorter than 8 bytes", ErrMalformed)
	}
	if b[0] != 1 {
		return SID{}, 0, fmt.Errorf("%w: SID revision %d", ErrMalformed, b[0])
	}
	n := int(b[1])
	if n > MaxSubAuthorities {
		return SID{}, 0, fmt.Errorf("%w: SID with %d sub-authorities", ErrMalformed, n)
	}
	size := 8 + 4*n
	if len(b) < size {
		return SID{}, 0, fmt.Errorf("%w: SID truncated", ErrMalformed)
	}
	var s SID
	s.N = uint8(n)
	for i := 2; i < 8; i++ {
		s.Authority = s.Authority<<8 | uint64(b[i])
	}
	for i := range n {
		s.Sub[i] = binary.LittleEndian.Uint32(b[8+4*i:])
	}
	return s, size, nil
}

// String formats s as S-1-A-S1-S2... ([MS-DTYP] 2.4.2.1).
func (s SID) String() string {
	var sb strings.Builder
	sb.WriteString("S-1-")
	if s.Authority >= 1<<32 {
		fmt.Fprintf(&sb, "0x%012X", s.Authority)
	} else {
		sb.WriteString(strconv.FormatUint(s.Authority, 10))
	}
	for i := range int(s.N) {
		sb.WriteByte('-')
		sb.WriteString(strconv.FormatUint(uint64(s.Sub[i]), 10))
	}
	return sb.String()
}

// ParseSID parses the S-1-A-S1-... string form.
func ParseSID(str string) (SID, error) {
	parts := strings.Split(str, "-")
	if len(parts) < 3 || !strings.EqualFold(parts[0], "S") || parts[1] != "1" {
		return SID{}, fmt.Errorf("%w: SID %q", ErrMalformed, str)
	}
	if len(parts)-3 > MaxSubAuthorities {
		return SID{}, fmt.Errorf("%w: SID %q has too many sub-authorities", ErrMalformed, str)
	}
	auth, err := strconv.ParseUint(parts[2], 0, 48)
	if err != nil {
		return SID{}, fmt.Errorf("%w: SID %q authority: %v", ErrMalformed, str, err)
	}
	s := SID{Authority: auth, N: uint8(len(parts) - 3)}
	for i, p := range parts[3:] {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return SID{}, fmt.Errorf("%w: SID %q: %v", ErrMalformed, str, err)
		}
		s.Sub[i] = uint32(v)
	}
	return s, nil
}

// WithRID returns the SID s with rid appended (a domain SID plus a
// relative identifier names an account in that domain).
func (s SID) WithRID(rid uint32) SID {
	if s.N >= MaxSubAuthorities {
		panic("secdesc: SID has no room for a RID")
	}
	s.Sub[s.N] = rid
	s.N++
	return s
}
