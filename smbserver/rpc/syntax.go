package rpc

import (
	"sofs.io/sofs/smbserver/rpc/ndr"
	"sofs.io/sofs/smbserver/rpc/srvsvc"
)

// syntaxID is p_syntax_id_t ([C706] 12.6.3.1): an interface or transfer
// syntax UUID in its little-endian wire form and a major.minor version.
type syntaxID struct {
	uuid         [16]byte
	major, minor uint16
}

const syntaxIDLen = 20

func readSyntax(r *ndr.Reader) (syntaxID, error) {
	var s syntaxID
	b, err := r.Bytes(16)
	if err != nil {
		return s, err
	}
	copy(s.uuid[:], b)
	if s.major, err = r.Uint16(); err != nil {
		return s, err
	}
	s.minor, err = r.Uint16()
	return s, err
}

func writeSyntax(w *ndr.Writer, s syntaxID) {
	w.Raw(s.uuid[:])
	w.Uint16(s.major)
	w.Uint16(s.minor)
}

// The syntaxes below are written in wire order: the first three UUID
// fields little-endian, the last eight bytes as they read.
var (
	// ndrSyntax is NDR 2.0, 8a885d04-1ceb-11c9-9fe8-08002b104860 v2.0
	// ([C706] appendix I, [MS-RPCE] 2.2.4.12).
	ndrSyntax = syntaxID{[16]byte{0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11,
		0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60}, 2, 0}
	// ndr64Syntax is 71710533-beba-4937-8319-b5dbef9ccc36 v1.0
	// ([MS-RPCE] 2.2.5.1); sofs refuses it, as NDR64 is optional.
	ndr64Syntax = syntaxID{[16]byte{0x33, 0x05, 0x71, 0x71, 0xba, 0xbe, 0x37, 0x49,
		0x83, 0x19, 0xb5, 0xdb, 0xef, 0x9c, 0xcc, 0x36}, 1, 0}
	// srvsvcSyntax is 4b324fc8-1670-01d3-1278-5a47bf6ee188 v3.0
	// ([MS-SRVS] 1.9).
	srvsvcSyntax = syntaxID{[16]byte{0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01,
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

// iface is one RPC interface served on a pipe.
type iface struct {
	syntax syntaxID
	// secondaryAddr is the port_spec of bind_ack: for ncacn_np the pipe's
	// name as Windows sends it ([MS-RPCE] 2.1.1.2).
	secondaryAddr string
	call          func(opnum uint16, stub []byte) ([]byte, error)
}

func srvsvcInterface(b srvsvc.Backend) iface {
	return iface{
		syntax:        srvsvcSyntax,
		secondaryAddr: `\PIPE\srvsvc`,
		call: func(opnum uint16, stub []byte) ([]byte, error) {
			return srvsvc.Call(b, opnum, stub)
		},
	}
}
