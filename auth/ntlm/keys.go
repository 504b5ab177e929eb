package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"strings"
)

// ntowfv2 is NTOWFv2 of [MS-NLMP] 3.3.2: HMAC_MD5 keyed with the NT hash
// over UTF-16LE(Uppercase(User) || UserDom). The domain keeps the case the
// client used.
func ntowfv2(ntHash [16]byte, user, domain string) []byte {
	h := hmac.New(md5.New, ntHash[:])
	h.Write(utf16le(strings.ToUpper(user)))
	h.Write(utf16le(domain))
	return h.Sum(nil)
}

// hmacMD5 returns HMAC_MD5(key, concatenation of parts).
func hmacMD5(key []byte, parts ...[]byte) []byte {
	h := hmac.New(md5.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// rc4Once is RC4K of [MS-NLMP] 6: a fresh RC4 stream over data.
func rc4Once(key, data []byte) []byte {
	c, err := rc4.NewCipher(key)
	if err != nil {
		// Only reachable with an empty or >256-byte key; every key here
		// is 16 bytes.
		panic("ntlm: rc4 key: " + err.Error())
	}
	out := make([]byte, len(data))
	c.XORKeyStream(out, data)
	return out
}

// Magic constants of SIGNKEY and SEALKEY, [MS-NLMP] 3.4.5.2 and 3.4.5.3;
// the trailing NUL is part of each constant.
const (
	clientSignMagic = "session key to client-to-server signing key magic constant\x00"
	serverSignMagic = "session key to server-to-client signing key magic constant\x00"
	clientSealMagic = "session key to client-to-server sealing key magic constant\x00"
	serverSealMagic = "session key to server-to-client sealing key magic constant\x00"
)

// sessionKeys are the session-security keys of an authenticated exchange
// with extended session security.
type sessionKeys struct {
	flags                  uint32 // negotiated flags the keys derive from
	clientSign, serverSign []byte
	clientSeal, serverSeal []byte
}

// deriveKeys computes SIGNKEY and SEALKEY ([MS-NLMP] 3.4.5.2, 3.4.5.3) for
// both directions. Only the extended-session-security forms are provided:
// every client that speaks NTLMv2 negotiates it.
func deriveKeys(exported []byte, flags uint32) sessionKeys {
	sealBase := exported
	switch {
	case flags&flag128 != 0:
	case flags&flag56 != 0:
		sealBase = exported[:7]
	default:
		sealBase = exported[:5]
	}
	md := func(key []byte, magic string) []byte {
		h := md5.New()
		h.Write(key)
		h.Write([]byte(magic))
		return h.Sum(nil)
	}
	return sessionKeys{
		flags:      flags,
		clientSign: md(exported, clientSignMagic),
		serverSign: md(exported, serverSignMagic),
		clientSeal: md(sealBase, clientSealMagic),
		serverSeal: md(sealBase, serverSealMagic),
	}
}

// mac computes the NTLMSSP_MESSAGE_SIGNATURE of msg with extended session
// security ([MS-NLMP] 3.4.4.2): Version 1, the first eight bytes of
// HMAC_MD5(signKey, SeqNum || msg), RC4-encrypted with the sealing handle
// when KEY_EXCH was negotiated, and SeqNum.
func mac(flags uint32, signKey []byte, handle *rc4.Cipher, seq uint32, msg []byte) []byte {
	var seqb [4]byte
	binary.LittleEndian.PutUint32(seqb[:], seq)
	sum := hmacMD5(signKey, seqb[:], msg)[:8]
	if flags&flagKeyExch != 0 {
		handle.XORKeyStream(sum, sum)
	}
	sig := make([]byte, 16)
	binary.LittleEndian.PutUint32(sig[0:], 1)
	copy(sig[4:12], sum)
	copy(sig[12:], seqb[:])
	return sig
}
