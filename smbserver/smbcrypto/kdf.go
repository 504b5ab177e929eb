package smbcrypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// KDF derives lengthBits bits of key material from key with the NIST
// SP800-108 key derivation function in counter mode, using HMAC-SHA256 as
// the PRF, a 32-bit counter (r = 32) and a 32-bit big-endian output length
// L, as [MS-SMB2] 3.1.4.2 requires. Each PRF input is
// [i]_4 || label || 0x00 || context || [L]_4. SMB's labels and contexts
// already carry their own terminating NUL; the 0x00 here is SP800-108's
// separator, so both appear. lengthBits must be a positive multiple of 8.
func KDF(key, label, context []byte, lengthBits int) []byte {
	if lengthBits <= 0 || lengthBits%8 != 0 {
		return nil
	}
	n := lengthBits / 8
	out := make([]byte, 0, n+sha256.Size)
	mac := hmac.New(sha256.New, key)
	var word [4]byte
	for i := uint32(1); len(out) < n; i++ {
		mac.Reset()
		binary.BigEndian.PutUint32(word[:], i)
		mac.Write(word[:])
		mac.Write(label)
		mac.Write([]byte{0})
		mac.Write(context)
		binary.BigEndian.PutUint32(word[:], uint32(lengthBits))
		mac.Write(word[:])
		out = mac.Sum(out)
	}
	return out[:n]
}

// SessionKeys holds the per-session keys of [MS-SMB2] 3.3.5.5.3, named from
// the server's point of view.
type SessionKeys struct {
	// Signing is Session.SigningKey.
	Signing []byte
	// ServerOut is Session.EncryptionKey: it encrypts server-to-client
	// messages.
	ServerOut []byte
	// ServerIn is Session.DecryptionKey: it decrypts client-to-server
	// messages.
	ServerIn []byte
	// Application is Session.ApplicationKey, handed to applications such as
	// the RPC layer over named pipes.
	Application []byte
}

// KDF labels and contexts of [MS-SMB2] 3.3.5.5.3. Each includes the
// terminating NUL the spec counts in its length; "ServerIn " really has a
// trailing space.
var (
	label30Signing   = []byte("SMB2AESCMAC\x00")
	context30Signing = []byte("SmbSign\x00")
	label30Cipher    = []byte("SMB2AESCCM\x00")
	context30Out     = []byte("ServerOut\x00")
	context30In      = []byte("ServerIn \x00")
	label30App       = []byte("SMB2APP\x00")
	context30App     = []byte("SmbRpc\x00")

	label311Signing = []byte("SMBSigningKey\x00")
	label311App     = []byte("SMBAppKey\x00")
	label311In      = []byte("SMBC2SCipherKey\x00") // client to server: what the server decrypts
	label311Out     = []byte("SMBS2CCipherKey\x00") // server to client: what the server encrypts
)

// DeriveKeys derives the session's keys for dialect from the key that
// authentication produced ([MS-SMB2] 3.3.5.5.3).
//
// Session.SessionKey is the first 16 bytes of sessionKey, right-padded with
// zeros when shorter; it keys the signing and application keys. For 3.1.1
// with an AES-256 cipher the cipher keys come from Session.FullSessionKey,
// the whole key ([MS-SMB2] 3.3.1.8, 3.3.5.5.3): a Kerberos AES-256 context
// key is 32 bytes, and only the encryption keys use all of it (signing
// with a key derived from all 32 bytes fails against Samba and Windows,
// which derive it from the first 16). Dialects 2.0.2 and 2.1 sign with
// the session key itself and have no other keys. Dialects 3.0 and 3.0.2 use
// fixed labels and contexts and always AES-128-CCM. Dialect 3.1.1 uses the
// preauthentication integrity hash of the session setup exchange as the
// context, and 256-bit cipher keys when cipher is AES-256-CCM or
// AES-256-GCM; the signing and application keys stay 128 bits.
func DeriveKeys(dialect uint16, sessionKey []byte, preauthHash []byte, cipher uint16) SessionKeys {
	aes256 := dialect == dialect311 && (cipher == CipherAES256CCM || cipher == CipherAES256GCM)
	key := normalizeSessionKey(sessionKey, false)
	switch {
	case dialect < dialect300:
		return SessionKeys{Signing: key}
	case dialect < dialect311:
		return SessionKeys{
			Signing:     KDF(key, label30Signing, context30Signing, 128),
			ServerOut:   KDF(key, label30Cipher, context30Out, 128),
			ServerIn:    KDF(key, label30Cipher, context30In, 128),
			Application: KDF(key, label30App, context30App, 128),
		}
	default:
		cipherKey, cipherBits := key, 128
		if aes256 {
			cipherKey, cipherBits = normalizeSessionKey(sessionKey, true), 256
		}
		return SessionKeys{
			Signing:     KDF(key, label311Signing, preauthHash, 128),
			ServerOut:   KDF(cipherKey, label311Out, preauthHash, cipherBits),
			ServerIn:    KDF(cipherKey, label311In, preauthHash, cipherBits),
			Application: KDF(key, label311App, preauthHash, 128),
		}
	}
}

// normalizeSessionKey returns a fresh copy of Session.SessionKey: 16 bytes
// (truncated or zero-padded), or the whole key when full is set and the key
// is longer than 16 bytes.
func normalizeSessionKey(k []byte, full bool) []byte {
	n := 16
	if full && len(k) > n {
		n = len(k)
	}
	out := make([]byte, n)
	copy(out, k)
	return out
}
