// Package smbcrypto implements the SMB2/3 cryptography that the server's
// request pipeline needs: key derivation ([MS-SMB2] 3.1.4.2, 3.3.5.5.3),
// the SHA-512 preauthentication integrity hash ([MS-SMB2] 3.3.5.4),
// message signing with HMAC-SHA256, AES-CMAC and AES-GMAC ([MS-SMB2]
// 3.1.4.1) and message encryption with AES-CCM and AES-GCM inside the
// SMB2 TRANSFORM_HEADER ([MS-SMB2] 2.2.41, 3.1.4.3, 3.3.5.2.1.1).
//
// The package does no I/O and keeps no global mutable state. Signers,
// Encryptors and Decryptors expand their keys once when they are built and
// are safe for concurrent use, so one value can serve every channel of a
// session.
//
// Everything is built on the standard library's crypto, except the loops
// that bulk data goes through, which run in assembly on amd64: GHASH (for
// AES-GMAC signatures and AES-GCM) and AES in counter mode (AES-GCM and
// AES-CCM) where the CPU has vector AES and carry-less multiply
// instructions (512-bit, else 256-bit), and the CBC-MAC chain (AES-CMAC, AES-CCM) wherever it has
// AES-NI (ghashfast.go, aesgcm.go and cbcmac_amd64.s say why). Tests and
// fuzz targets check them against crypto/cipher and published vectors;
// elsewhere the standard library does all of it.
package smbcrypto

import (
	"errors"
	"strings"
)

// Signing algorithm identifiers from the SMB2_SIGNING_CAPABILITIES negotiate
// context ([MS-SMB2] 2.2.3.1.7).
const (
	SigningHMACSHA256 uint16 = 0
	SigningAESCMAC    uint16 = 1
	SigningAESGMAC    uint16 = 2
)

// Cipher identifiers from the SMB2_ENCRYPTION_CAPABILITIES negotiate context
// ([MS-SMB2] 2.2.3.1.2).
const (
	CipherAES128CCM uint16 = 1
	CipherAES128GCM uint16 = 2
	CipherAES256CCM uint16 = 3
	CipherAES256GCM uint16 = 4
)

// Dialect revision numbers ([MS-SMB2] 2.2.3) that change how keys are
// derived and messages are signed.
const (
	dialect202 uint16 = 0x0202
	dialect300 uint16 = 0x0300
	dialect302 uint16 = 0x0302
	dialect311 uint16 = 0x0311
)

// ErrMalformed reports a message that is too short or whose framing fields
// are inconsistent; the spec's answer is to disconnect.
var ErrMalformed = errors.New("smbcrypto: malformed message")

// ErrAuthFailed reports a message whose signature or authentication tag does
// not match ([MS-SMB2] 3.3.5.2.1.1: the server disconnects).
var ErrAuthFailed = errors.New("smbcrypto: message authentication failed")

// Accelerations says which of the package's bulk loops run in assembly on
// this machine, for logs and benchmark reports: "ghash=avx512
// aes-ctr=avx512 cbc-mac=aes-ni" where all do, "none" where crypto/cipher
// does everything.
func Accelerations() string {
	var parts []string
	switch {
	case haveGHASHAVX512:
		parts = append(parts, "ghash=avx512")
	case haveVec256:
		parts = append(parts, "ghash=avx2")
	}
	switch {
	case haveGCMAVX512:
		parts = append(parts, "aes-ctr=avx512")
	case haveVec256:
		parts = append(parts, "aes-ctr=avx2")
	}
	if haveCBCMACAESNI {
		parts = append(parts, "cbc-mac=aes-ni")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
