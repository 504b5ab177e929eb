package ntlm

// NegotiateFlags bits, [MS-NLMP] 2.2.2.5.
const (
	flagUnicode       = 0x00000001 // NTLMSSP_NEGOTIATE_UNICODE
	flagOEM           = 0x00000002 // NTLM_NEGOTIATE_OEM
	flagRequestTarget = 0x00000004 // NTLMSSP_REQUEST_TARGET
	flagSign          = 0x00000010 // NTLMSSP_NEGOTIATE_SIGN
	flagSeal          = 0x00000020 // NTLMSSP_NEGOTIATE_SEAL
	flagNTLM          = 0x00000200 // NTLMSSP_NEGOTIATE_NTLM
	flagAlwaysSign    = 0x00008000 // NTLMSSP_NEGOTIATE_ALWAYS_SIGN
	flagTargetDomain  = 0x00010000 // NTLMSSP_TARGET_TYPE_DOMAIN
	flagTargetServer  = 0x00020000 // NTLMSSP_TARGET_TYPE_SERVER
	flagExtendedSec   = 0x00080000 // NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
	flagTargetInfo    = 0x00800000 // NTLMSSP_NEGOTIATE_TARGET_INFO
	flagVersion       = 0x02000000 // NTLMSSP_NEGOTIATE_VERSION
	flag128           = 0x20000000 // NTLMSSP_NEGOTIATE_128
	flagKeyExch       = 0x40000000 // NTLMSSP_NEGOTIATE_KEY_EXCH
	flag56            = 0x80000000 // NTLMSSP_NEGOTIATE_56
	echoedClientFlags = flagSign | flagSeal | flagAlwaysSign | flagExtendedSec | flagVersion | flag128 | flagKeyExch | flag56
	alwaysServerFlags = flagNTLM | flagTargetInfo
)

// AV pair identifiers, [MS-NLMP] 2.2.2.1.
const (
	avEOL             = 0
	avNbComputerName  = 1
	avNbDomainName    = 2
	avDNSComputerName = 3
	avDNSDomainName   = 4
	avFlags           = 6
	avTimestamp       = 7
)

// avFlagMICPresent is the MsvAvFlags bit saying the AUTHENTICATE_MESSAGE
// carries a MIC ([MS-NLMP] 2.2.2.1).
const avFlagMICPresent = 0x00000002

// Message types, [MS-NLMP] 2.2.1.
const (
	typeNegotiate    = 1
	typeChallenge    = 2
	typeAuthenticate = 3
)

// signature opens every NTLM message.
const signature = "NTLMSSP\x00"

// serverVersion is the VERSION structure ([MS-NLMP] 2.2.2.10) sent when the
// client negotiates NTLMSSP_NEGOTIATE_VERSION: 10.0 build 20348 (the
// Windows Server 2022 numbering clients expect) and NTLMSSP_REVISION_W2K3.
const serverVersion = "\x0a\x00\x7c\x4f\x00\x00\x00\x0f"
