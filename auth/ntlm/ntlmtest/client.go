// Package ntlmtest is a small NTLMv2 initiator (client) for tests of the
// SMB server: it builds NEGOTIATE and AUTHENTICATE messages as Windows
// does ([MS-NLMP] 3.1.5), with a MIC and KEY_EXCH, and signs the SPNEGO
// mechListMIC. It shares no code with package ntlm on purpose, so a
// mistake in one side's cryptography is not mirrored in the other and a
// round trip proves something.
//
// It is test support: it makes no attempt to resist timing attacks and
// should not be used to authenticate to real servers.
package ntlmtest

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/rc4"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/md4"
)

// NegotiateFlags bits used by the client, [MS-NLMP] 2.2.2.5.
const (
	negUnicode       = 0x00000001
	negOEM           = 0x00000002
	negRequestTarget = 0x00000004
	negSign          = 0x00000010
	negSeal          = 0x00000020
	negNTLM          = 0x00000200
	negAnonymous     = 0x00000800
	negAlwaysSign    = 0x00008000
	negExtendedSec   = 0x00080000
	negVersion       = 0x02000000
	neg128           = 0x20000000
	negKeyExch       = 0x40000000
	neg56            = 0x80000000
)

// clientVersion is a VERSION structure (Windows 10.0.19041, revision 15).
const clientVersion = "\x0a\x00\x61\x4a\x00\x00\x00\x0f"

// Client is one NTLMv2 authentication from the client side. The exported
// fields may be changed between NewClient and Negotiate to vary what the
// client sends.
type Client struct {
	User, Domain, Password string
	// Workstation is sent in the AUTHENTICATE_MESSAGE.
	Workstation string
	// NoMIC leaves the MIC and MsvAvFlags out of the AUTHENTICATE_MESSAGE.
	NoMIC bool
	// NoKeyExch clears NTLMSSP_NEGOTIATE_KEY_EXCH, so the session key is
	// the KeyExchangeKey itself.
	NoKeyExch bool
	// OEM asks for OEM strings instead of Unicode.
	OEM bool
	// HashDomain, when not nil, is the domain hashed into NTOWFv2 in place
	// of Domain (which is still the one sent), to exercise servers'
	// domain fallbacks.
	HashDomain *string
	// Rand supplies the client challenge and session key; nil means
	// crypto/rand.
	Rand io.Reader

	negotiate []byte
	flags     uint32
	exported  []byte
}

// NewClient returns a client that will authenticate as domain\user. An
// empty user and password make an anonymous logon.
func NewClient(user, domain, password string) *Client {
	return &Client{User: user, Domain: domain, Password: password, Workstation: "TESTCLIENT"}
}

// Negotiate returns the NEGOTIATE_MESSAGE ([MS-NLMP] 2.2.1.1).
func (c *Client) Negotiate() []byte {
	flags := uint32(negRequestTarget | negSign | negSeal | negNTLM | negAlwaysSign |
		negExtendedSec | negVersion | neg128 | negKeyExch | neg56)
	if c.OEM {
		flags |= negOEM
	} else {
		flags |= negUnicode | negOEM
	}
	if c.NoKeyExch {
		flags &^= negKeyExch
	}
	m := make([]byte, 40)
	copy(m, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(m[8:], 1)
	binary.LittleEndian.PutUint32(m[12:], flags)
	copy(m[32:], clientVersion)
	c.negotiate = m
	return append([]byte(nil), m...)
}

// challenge is what the client needs from a CHALLENGE_MESSAGE.
type challenge struct {
	flags      uint32
	server     [8]byte
	targetInfo []byte
}

func parseChallenge(m []byte) (challenge, error) {
	var ch challenge
	if len(m) < 48 || string(m[:8]) != "NTLMSSP\x00" || binary.LittleEndian.Uint32(m[8:]) != 2 {
		return ch, errors.New("ntlmtest: not a CHALLENGE_MESSAGE")
	}
	ch.flags = binary.LittleEndian.Uint32(m[20:])
	copy(ch.server[:], m[24:32])
	n := int(binary.LittleEndian.Uint16(m[40:]))
	off := int(binary.LittleEndian.Uint32(m[44:]))
	if off > len(m) || n > len(m)-off {
		return ch, errors.New("ntlmtest: TargetInfo outside the message")
	}
	ch.targetInfo = m[off : off+n]
	return ch, nil
}

// Authenticate answers the server's CHALLENGE_MESSAGE with an
// AUTHENTICATE_MESSAGE ([MS-NLMP] 3.1.5.1.2) and returns it together with
// the ExportedSessionKey the server should arrive at (nil for anonymous).
func (c *Client) Authenticate(challengeMsg []byte) (authMsg []byte, sessionKey []byte, err error) {
	if c.negotiate == nil {
		return nil, nil, errors.New("ntlmtest: Authenticate before Negotiate")
	}
	ch, err := parseChallenge(challengeMsg)
	if err != nil {
		return nil, nil, err
	}
	rnd := c.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	c.flags = ch.flags
	if c.NoKeyExch {
		c.flags &^= negKeyExch
	}
	if c.User == "" && c.Password == "" {
		return c.anonymous(), nil, nil
	}

	pairs, stamp, hasStamp, err := clientPairs(ch.targetInfo, !c.NoMIC)
	if err != nil {
		return nil, nil, err
	}
	if !hasStamp {
		stamp = uint64(time.Now().UnixNano()/100) + 116444736000000000
	}
	var cc [8]byte
	if _, err := io.ReadFull(rnd, cc[:]); err != nil {
		return nil, nil, fmt.Errorf("ntlmtest: client challenge: %w", err)
	}
	// NTLMv2_CLIENT_CHALLENGE, [MS-NLMP] 2.2.2.7, then 4 zero bytes as
	// Windows appends.
	temp := []byte{1, 1, 0, 0, 0, 0, 0, 0}
	temp = binary.LittleEndian.AppendUint64(temp, stamp)
	temp = append(temp, cc[:]...)
	temp = append(temp, 0, 0, 0, 0)
	temp = append(temp, pairs...)
	temp = append(temp, 0, 0, 0, 0)

	hashDomain := c.Domain
	if c.HashDomain != nil {
		hashDomain = *c.HashDomain
	}
	key := responseKey(c.User, hashDomain, c.Password)
	proof := hm(key, ch.server[:], temp)
	nt := append(append([]byte(nil), proof...), temp...)
	lm := make([]byte, 24) // Z(24) when the server sent a timestamp
	if !hasStamp {
		lm = append(hm(key, ch.server[:], cc[:]), cc[:]...)
	}
	kek := hm(key, proof)
	exported, encKey := kek, []byte(nil)
	if c.flags&negKeyExch != 0 && c.flags&(negSign|negSeal) != 0 {
		exported = make([]byte, 16)
		if _, err := io.ReadFull(rnd, exported); err != nil {
			return nil, nil, fmt.Errorf("ntlmtest: session key: %w", err)
		}
		encKey = rc4Key(kek, exported)
	}
	msg := c.buildAuth(lm, nt, encKey, !c.NoMIC)
	if !c.NoMIC {
		copy(msg[72:88], hm(exported, c.negotiate, challengeMsg, msg))
	}
	c.exported = exported
	return msg, append([]byte(nil), exported...), nil
}

// anonymous builds the null-session AUTHENTICATE_MESSAGE: empty names,
// a one-byte zero LM response and no NT response ([MS-NLMP] 3.1.5.1.2).
func (c *Client) anonymous() []byte {
	c.flags |= negAnonymous
	c.User, c.Domain = "", ""
	return c.buildAuth([]byte{0}, nil, nil, false)
}

// buildAuth lays out an AUTHENTICATE_MESSAGE ([MS-NLMP] 2.2.1.3) with a
// zero MIC field when withMIC is set.
func (c *Client) buildAuth(lm, nt, encKey []byte, withMIC bool) []byte {
	unicode := c.flags&negUnicode != 0
	fixed := 72
	if withMIC {
		fixed = 88
	}
	m := make([]byte, fixed)
	copy(m, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(m[8:], 3)
	binary.LittleEndian.PutUint32(m[60:], c.flags)
	copy(m[64:], clientVersion)
	put := func(pos int, b []byte) {
		binary.LittleEndian.PutUint16(m[pos:], uint16(len(b)))
		binary.LittleEndian.PutUint16(m[pos+2:], uint16(len(b)))
		binary.LittleEndian.PutUint32(m[pos+4:], uint32(len(m)))
		m = append(m, b...)
	}
	put(28, str(c.Domain, unicode))
	put(36, str(c.User, unicode))
	put(44, str(c.Workstation, unicode))
	put(12, lm)
	put(20, nt)
	put(52, encKey)
	return m
}

// clientPairs copies the server's AV pairs for the NTLMv2 client
// challenge, adding MsvAvFlags with the MIC bit when the server sent a
// timestamp and mic is set, and returns the server's timestamp.
func clientPairs(ti []byte, mic bool) (pairs []byte, stamp uint64, hasStamp bool, err error) {
	for len(ti) >= 4 {
		id := binary.LittleEndian.Uint16(ti)
		n := int(binary.LittleEndian.Uint16(ti[2:]))
		if n > len(ti)-4 {
			return nil, 0, false, errors.New("ntlmtest: truncated AV pair")
		}
		if id == 0 {
			break
		}
		if id == 7 && n == 8 {
			stamp, hasStamp = binary.LittleEndian.Uint64(ti[4:]), true
		}
		if id != 6 {
			pairs = append(pairs, ti[:4+n]...)
		}
		ti = ti[4+n:]
	}
	if mic && hasStamp {
		pairs = append(pairs, 6, 0, 4, 0, 2, 0, 0, 0)
	}
	return append(pairs, 0, 0, 0, 0), stamp, hasStamp, nil
}

// MakeMIC returns the client's SPNEGO mechListMIC over data (GSS_GetMIC
// of [MS-NLMP] 3.4.4.2, client-to-server keys, sequence number 0). It
// returns nil before a successful Authenticate.
func (c *Client) MakeMIC(data []byte) []byte {
	if c.exported == nil {
		return nil
	}
	return c.sign("client-to-server", data)
}

// VerifyMIC checks the server's mechListMIC over data.
func (c *Client) VerifyMIC(data, mic []byte) error {
	if c.exported == nil {
		return errors.New("ntlmtest: not authenticated")
	}
	if !hmac.Equal(c.sign("server-to-client", data), mic) {
		return errors.New("ntlmtest: server mechListMIC does not verify")
	}
	return nil
}

func (c *Client) sign(direction string, data []byte) []byte {
	sealBase := c.exported
	if c.flags&neg128 == 0 {
		if c.flags&neg56 != 0 {
			sealBase = sealBase[:7]
		} else {
			sealBase = sealBase[:5]
		}
	}
	signKey := md5.Sum([]byte(string(c.exported) + "session key to " + direction + " signing key magic constant\x00"))
	sealKey := md5.Sum([]byte(string(sealBase) + "session key to " + direction + " sealing key magic constant\x00"))
	sum := hm(signKey[:], []byte{0, 0, 0, 0}, data)[:8]
	if c.flags&negKeyExch != 0 {
		sum = rc4Key(sealKey[:], sum)
	}
	out := []byte{1, 0, 0, 0}
	out = append(out, sum...)
	return append(out, 0, 0, 0, 0)
}

// NTHash returns MD4(UTF-16LE(password)), the NT one-way function of
// [MS-NLMP] 3.3.1.
func NTHash(password string) [16]byte {
	h := md4.New()
	h.Write(str(password, true))
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Users is an in-memory credential store (user name to password) whose
// NTHash method matches names case-insensitively, as ntlm.Credentials
// requires.
type Users map[string]string

// NTHash returns the NT hash of user's password.
func (u Users) NTHash(user string) ([16]byte, bool) {
	for name, pw := range u {
		if strings.EqualFold(name, user) {
			return NTHash(pw), true
		}
	}
	return [16]byte{}, false
}

func responseKey(user, domain, password string) []byte {
	nth := NTHash(password)
	return hm(nth[:], str(strings.ToUpper(user)+domain, true))
}

func hm(key []byte, parts ...[]byte) []byte {
	h := hmac.New(md5.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func rc4Key(key, data []byte) []byte {
	ci, err := rc4.NewCipher(key)
	if err != nil {
		panic(err) // keys are 16 bytes
	}
	out := make([]byte, len(data))
	ci.XORKeyStream(out, data)
	return out
}

func str(s string, unicode bool) []byte {
	if !unicode {
		return []byte(s)
	}
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, v := range u {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}
