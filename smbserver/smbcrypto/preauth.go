package smbcrypto

import "crypto/sha512"

// PreauthHash is the SHA-512 preauthentication integrity hash value of
// [MS-SMB2] 3.3.5.4 (Connection.PreauthIntegrityHashValue) and 3.3.5.5
// (Session.PreauthIntegrityHashValue). Its zero value is the spec's initial
// value of 64 zero bytes.
type PreauthHash [64]byte

// Update chains msg into the hash: h = SHA-512(h || msg). msg is the whole
// SMB2 message as sent or received, header included.
func (h *PreauthHash) Update(msg []byte) {
	d := sha512.New()
	d.Write(h[:])
	d.Write(msg)
	d.Sum(h[:0])
}
