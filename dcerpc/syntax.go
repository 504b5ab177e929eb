package dcerpc

import (
	"encoding/hex"
	"fmt"
	"strings"

	"sofs.io/sofs/dcerpc/ndr"
)

// SyntaxID is p_syntax_id_t ([C706] 12.6.3.1): an interface or transfer
// syntax UUID in its little-endian wire form and a major.Minor version.
type SyntaxID struct {
	UUID         [16]byte
	Major, Minor uint16
}

// MustSyntax returns the SyntaxID of the interface whose UUID is written in
// its usual string form (8-4-4-4-12 hex digits). It panics on a malformed
// string, so use it only for package-level constants.
func MustSyntax(uuid string, major, minor uint16) SyntaxID {
	g, err := ParseGUID(uuid)
	if err != nil {
		panic(err)
	}
	return SyntaxID{UUID: g, Major: major, Minor: minor}
}

// ParseGUID converts a GUID's string form to its NDR wire form: the first
// three fields little-endian, the last eight bytes as written ([MS-DTYP]
// 2.3.4.2).
func ParseGUID(s string) ([16]byte, error) {
	var g [16]byte
	h := strings.ReplaceAll(s, "-", "")
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != 16 || len(s) != 36 {
		return g, fmt.Errorf("dcerpc: malformed GUID %q", s)
	}
	g[0], g[1], g[2], g[3] = raw[3], raw[2], raw[1], raw[0]
	g[4], g[5] = raw[5], raw[4]
	g[6], g[7] = raw[7], raw[6]
	copy(g[8:], raw[8:])
	return g, nil
}

// FormatGUID is the inverse of ParseGUID.
func FormatGUID(g [16]byte) string {
	return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%x-%x",
		g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8:10], g[10:])
}

const syntaxIDLen = 20

func readSyntax(r *ndr.Reader) (SyntaxID, error) {
	var s SyntaxID
	b, err := r.Bytes(16)
	if err != nil {
		return s, err
	}
	copy(s.UUID[:], b)
	if s.Major, err = r.Uint16(); err != nil {
		return s, err
	}
	s.Minor, err = r.Uint16()
	return s, err
}

func writeSyntax(w *ndr.Writer, s SyntaxID) {
	w.Raw(s.UUID[:])
	w.Uint16(s.Major)
	w.Uint16(s.Minor)
}

// The syntaxes below are written in wire order: the first three UUID
// fields little-endian, the last eight bytes as they read.
var (
	// ndrSyntax is NDR 2.0, 8a885d04-1ceb-11c9-9fe8-08002b104860 v2.0
	// ([C706] appendix I, [MS-RPCE] 2.2.4.12).
	ndrSyntax = SyntaxID{[16]byte{0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11,
		0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60}, 2, 0}
	// ndr64Syntax is 71710533-beba-4937-8319-b5dbef9ccc36 v1.0
	// ([MS-RPCE] 2.2.5.1); sofs refuses it, as NDR64 is optional.
	ndr64Syntax = SyntaxID{[16]byte{0x33, 0x05, 0x71, 0x71, 0xba, 0xbe, 0x37, 0x49,
		0x83, 0x19, 0xb5, 0xdb, 0xef, 0x9c, 0xcc, 0x36}, 1, 0}
	// srvsvcSyntax is 4b324fc8-1670-01d3-1278-5a47bf6ee188 v3.0
	// ([MS-SRVS] 1.9).
	srvsvcSyntax = SyntaxID{[16]byte{0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01,
		0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1, 0x88}, 3, 0}
)

// bindTimeFeaturePrefix is the first eight wire bytes of the transfer syntax
// UUID 6cb71c2c-9812-4540-xxxx-xxxxxxxxxxxx that a client uses to offer bind
// time feature negotiation ([MS-RPCE] 3.3.1.5.3); the next eight bytes are
// the BindTimeFeatureNegotiationBitmask (2.2.2.14).
var bindTimeFeaturePrefix = [8]byte{0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45}

// Bind time features ([MS-RPCE] 2.2.2.14). sofs acknowledges both defined
// bits, as Windows and Samba do (verified against Samba in the interop
// test): an orphaned PDU never closes a pipe here, and security context
// multiplexing is vacuous without RPC-level authentication.
const (
	featureSecurityContextMultiplexing = 0x01
	featureKeepConnectionOnOrphan      = 0x02
	featuresSupported                  = featureSecurityContextMultiplexing | featureKeepConnectionOnOrphan
)
