package srvsvc

import (
	"errors"
)

// Opnums of the srvsvc interface that sofs serves ([MS-SRVS] 3.1.4).
const (
	OpNetrShareEnum     = 15
	OpNetrShareGetInfo  = 16
	OpNetrServerGetInfo = 21
)

// Share types ([MS-SRVS] 2.2.2.4).
const (
	STypeDiskTree uint32 = 0x00000000
	STypeIPC      uint32 = 0x00000003
	STypeSpecial  uint32 = 0x80000000
)

// Win32 and NERR status codes returned in the NET_API_STATUS of a response
// ([MS-ERREF] 2.2, [MS-SRVS] 3.1.4).
const (
	StatusOK              uint32 = 0
	StatusAccessDenied    uint32 = 5    // ERROR_ACCESS_DENIED
	StatusInvalidLevel    uint32 = 124  // ERROR_INVALID_LEVEL
	StatusMoreData        uint32 = 234  // ERROR_MORE_DATA
	StatusNetNameNotFound uint32 = 2310 // NERR_NetNameNotFound, what Windows answers for an unknown share
)

// Fixed values the responses carry.
const (
	platformIDNT          uint32 = 500 // PLATFORM_ID_NT ([MS-SRVS] 2.2.2.6)
	maxPreferredLength    uint32 = 0xFFFFFFFF
	shiUsesUnlimited      uint32 = 0xFFFFFFFF // SHI_USES_UNLIMITED ([MS-SRVS] 2.2.4.24)
	defaultAutodisconnect uint32 = 15         // minutes, the Windows default sv102_disc
	defaultAnnounce       uint32 = 240        // seconds, the Windows default sv102_announce
	defaultAnnDelta       uint32 = 3000       // milliseconds, the Windows default sv102_anndelta
)

// ShareInfo describes one share as srvsvc reports it.
type ShareInfo struct {
	Name string
	// Type is STypeDiskTree or STypeIPC, optionally ORed with STypeSpecial.
	Type    uint32
	Comment string
	// Path is the local path as Windows shows it, e.g. `C:\share`; it may be
	// empty.
	Path string
}

// ServerInfo describes the server for NetrServerGetInfo.
type ServerInfo struct {
	// Name is the NetBIOS name.
	Name                       string
	Comment                    string
	VersionMajor, VersionMinor uint32
	// Type is a set of SV_TYPE_* bits ([MS-SRVS] 2.2.2.7).
	Type uint32
}

// Backend supplies the data the operations report.
type Backend interface {
	Shares() []ShareInfo
	Server() ServerInfo
}

// ErrUnknownOpnum reports an opnum this package does not implement; the RPC
// layer answers it with nca_s_op_rng_error.
var ErrUnknownOpnum = errors.New("srvsvc: unknown opnum")

// ErrBadStub reports request stub data that does not decode; the RPC layer
// answers it with nca_s_fault_ndr.
var ErrBadStub = errors.New("srvsvc: malformed stub")

// ErrInvalidTag reports a union discriminant that names no arm of the union;
// the RPC layer answers it with nca_s_fault_invalid_tag, as a MIDL stub would.
var ErrInvalidTag = errors.New("srvsvc: invalid union tag")
