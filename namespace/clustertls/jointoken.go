package clustertls

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// A join token lets one new node fetch its certificate from a member. It
// carries three things, written as
//
//	sofs1.<id>.<secret>.<ca-hash>
//
// id (12 hex digits) names the token's record in etcd, which holds only
// the SHA-256 of secret (32 hex digits, 128 random bits); ca-hash (64 hex
// digits) is the SHA-256 of the cluster CA certificate's DER bytes. The
// joining node trusts the member it talks to only if the member's chain
// ends in a CA with that hash, so it never sends the secret to anyone but
// the cluster (the role of kubeadm's discovery-token-ca-cert-hash), and
// the member releases a certificate only for a live, unused secret.

// Token layout constants.
const (
	tokenPrefix   = "sofs1"
	tokenIDLen    = 6  // bytes, 12 hex digits
	tokenSecret   = 16 // bytes, 32 hex digits: 128 bits, beyond guessing within any TTL
	tokenHashLen  = sha256.Size
	joinTokenSize = len(tokenPrefix) + 3 + 2*(tokenIDLen+tokenSecret+tokenHashLen)
)

// ErrBadToken is returned by ParseJoinToken for anything that is not a
// join token.
var ErrBadToken = errors.New("not a sofs join token (want sofs1.<12 hex>.<32 hex>.<64 hex>, as printed by 'sofsctl token create')")

// JoinToken is a parsed join token.
type JoinToken struct {
	// ID names the token's record; not secret.
	ID string
	// Secret is what proves the holder was given the token.
	Secret [tokenSecret]byte
	// CAHash is the SHA-256 of the cluster CA certificate (DER).
	CAHash [tokenHashLen]byte
}

// NewJoinToken returns a fresh token for the CA whose certificate hashes
// to caHash.
func NewJoinToken(caHash [32]byte) (JoinToken, error) {
	var id [tokenIDLen]byte
	t := JoinToken{CAHash: caHash}
	if _, err := rand.Read(id[:]); err != nil {
		return JoinToken{}, fmt.Errorf("clustertls: token id: %w", err)
	}
	if _, err := rand.Read(t.Secret[:]); err != nil {
		return JoinToken{}, fmt.Errorf("clustertls: token secret: %w", err)
	}
	t.ID = hex.EncodeToString(id[:])
	return t, nil
}

// String is the token as an operator passes it to the joining node.
func (t JoinToken) String() string {
	return tokenPrefix + "." + t.ID + "." + hex.EncodeToString(t.Secret[:]) + "." + hex.EncodeToString(t.CAHash[:])
}

// SecretHash is what the cluster stores for the token: the SHA-256 of its
// secret, in hex. The secret has 128 random bits, so a fast hash is
// enough: there is no dictionary to try.
func (t JoinToken) SecretHash() string { return HashSecret(t.Secret[:]) }

// HashSecret hashes a token secret as SecretHash does.
func HashSecret(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:])
}

// SecretMatches compares a secret against a stored SecretHash in
// constant time.
func SecretMatches(secret []byte, storedHash string) bool {
	h := HashSecret(secret)
	return len(storedHash) == len(h) && subtle.ConstantTimeCompare([]byte(h), []byte(storedHash)) == 1
}

// ValidTokenID reports whether id has the form of a token id, so a
// malformed one is refused before it becomes part of an etcd key.
func ValidTokenID(id string) bool {
	return len(id) == 2*tokenIDLen && isLowerHex(id)
}

// ParseJoinToken parses a token written by JoinToken.String. Surrounding
// white space is ignored (tokens are pasted and read from files); anything
// else that is not exactly the layout is ErrBadToken.
func ParseJoinToken(s string) (JoinToken, error) {
	s = strings.TrimSpace(s)
	// The length first: nothing below then works on a long input.
	if len(s) != joinTokenSize {
		return JoinToken{}, ErrBadToken
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 || parts[0] != tokenPrefix {
		return JoinToken{}, ErrBadToken
	}
	var t JoinToken
	if !ValidTokenID(parts[1]) {
		return JoinToken{}, ErrBadToken
	}
	t.ID = parts[1]
	if !decodeHexInto(t.Secret[:], parts[2]) || !decodeHexInto(t.CAHash[:], parts[3]) {
		return JoinToken{}, ErrBadToken
	}
	return t, nil
}

// decodeHexInto fills dst from exactly 2*len(dst) lower-case hex digits.
// Upper case is refused so that a token has one spelling.
func decodeHexInto(dst []byte, s string) bool {
	if len(s) != 2*len(dst) || !isLowerHex(s) {
		return false
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Hash is the SHA-256 of the CA certificate's DER bytes, which a join
// token pins.
func (ca *CA) Hash() [32]byte { return sha256.Sum256(ca.Cert.Raw) }

// HashDER is the SHA-256 of a certificate's DER bytes.
func HashDER(der []byte) [32]byte { return sha256.Sum256(der) }
