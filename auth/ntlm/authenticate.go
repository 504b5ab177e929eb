package ntlm

import (
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// Layout of the AUTHENTICATE_MESSAGE, [MS-NLMP] 2.2.1.3.
const (
	authFixedLen    = 64 // through NegotiateFlags; payload may start here
	authMICOffset   = 72 // after the 8-byte Version
	authWithMICLen  = authMICOffset + 16
	ntProofLen      = 16
	clientChalFixed = 28 // NTLMv2_CLIENT_CHALLENGE up to its AvPairs, 2.2.2.7
	ntlmV1RespLen   = 24 // NTLM_RESPONSE and LM_RESPONSE, 2.2.2.3, 2.2.2.6
)

// authMessage is the decoded AUTHENTICATE_MESSAGE.
type authMessage struct {
	lm, nt, encKey            []byte
	user, domain, workstation string
	flags                     uint32
}

// parseAuthenticate decodes msg, checking every field against it.
func parseAuthenticate(msg []byte) (authMessage, error) {
	var m authMessage
	if err := header(msg, typeAuthenticate, authFixedLen); err != nil {
		return m, err
	}
	m.flags = binary.LittleEndian.Uint32(msg[60:])
	var err error
	if m.lm, err = field(msg, 12, authFixedLen, "LmChallengeResponse"); err != nil {
		return m, err
	}
	if m.nt, err = field(msg, 20, authFixedLen, "NtChallengeResponse"); err != nil {
		return m, err
	}
	if m.encKey, err = field(msg, 52, authFixedLen, "EncryptedRandomSessionKey"); err != nil {
		return m, err
	}
	unicode := m.flags&flagUnicode != 0
	names := []struct {
		pos  int
		name string
		dst  *string
	}{{28, "DomainName", &m.domain}, {36, "UserName", &m.user}, {44, "Workstation", &m.workstation}}
	for _, n := range names {
		b, err := field(msg, n.pos, authFixedLen, n.name)
		if err != nil {
			return m, err
		}
		if *n.dst, err = decodeString(b, unicode); err != nil {
			return m, fmt.Errorf("%s: %w", n.name, err)
		}
	}
	return m, nil
}

// avFlagsOf returns MsvAvFlags from the AV pairs of an NTLMv2 client
// challenge ([MS-NLMP] 2.2.2.1, 2.2.2.7). Parsing stops at MsvAvEOL; bytes
// after it are ignored because clients pad there (the 4.2.4 example has
// four zero bytes).
func avFlagsOf(av []byte) (uint32, error) {
	var flags uint32
	for len(av) > 0 {
		if len(av) < 4 {
			return 0, fmt.Errorf("%w: truncated AV pair", ErrMalformed)
		}
		id := binary.LittleEndian.Uint16(av)
		n := int(binary.LittleEndian.Uint16(av[2:]))
		if n > len(av)-4 {
			return 0, fmt.Errorf("%w: AV pair %d overruns response", ErrMalformed, id)
		}
		v := av[4 : 4+n]
		switch id {
		case avEOL:
			return flags, nil
		case avFlags:
			if n != 4 {
				return 0, fmt.Errorf("%w: MsvAvFlags of %d bytes", ErrMalformed, n)
			}
			flags = binary.LittleEndian.Uint32(v)
		}
		av = av[4+n:]
	}
	return flags, nil
}

// Authenticate verifies the client's AUTHENTICATE_MESSAGE ([MS-NLMP]
// 3.2.5.1.2) against the CHALLENGE this Exchange issued. An Exchange
// accepts one AUTHENTICATE, successful or not, so a challenge can never
// be answered twice.
func (e *Exchange) Authenticate(authenticateMsg []byte) (Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateChallenged {
		return Result{}, fmt.Errorf("%w: AUTHENTICATE without a CHALLENGE", ErrLogonFailure)
	}
	e.state = stateDone
	m, err := parseAuthenticate(authenticateMsg)
	if err != nil {
		return Result{}, fmt.Errorf("authenticate: %w", err)
	}
	res := Result{User: m.user, Domain: m.domain, Workstation: m.workstation}

	if m.user == "" && len(m.nt) == 0 && (len(m.lm) == 0 || len(m.lm) == 1 && m.lm[0] == 0) {
		// [MS-NLMP] 3.2.5.1.2: the anonymous (null session) logon.
		if !e.srv.cfg.AllowGuest && !e.anonOK {
			return Result{}, fmt.Errorf("%w: anonymous logon not allowed", ErrLogonFailure)
		}
		res.Anonymous = true
		return res, nil
	}
	if len(m.nt) <= ntlmV1RespLen {
		// An NTLMv1 (or NTLM2 session) response, or LM only.
		return Result{}, fmt.Errorf("%w: %q sent an NTLMv1/LM response", ErrLogonFailure, m.user)
	}
	if len(m.nt) < ntProofLen+clientChalFixed {
		return Result{}, fmt.Errorf("authenticate: %w: %d-byte NTLMv2 response", ErrMalformed, len(m.nt))
	}
	proof, temp := m.nt[:ntProofLen], m.nt[ntProofLen:]
	avFlags, err := avFlagsOf(temp[clientChalFixed:])
	if err != nil {
		return Result{}, fmt.Errorf("authenticate: %w", err)
	}
	micPresent := avFlags&avFlagMICPresent != 0
	if micPresent && len(authenticateMsg) < authWithMICLen {
		return Result{}, fmt.Errorf("authenticate: %w: MIC announced but message too short", ErrMalformed)
	}

	responseKey, ok := e.verifyProof(m.user, m.domain, proof, temp)
	if !ok {
		return Result{}, fmt.Errorf("%w: bad NTLMv2 response for %q\\%q", ErrLogonFailure, m.domain, m.user)
	}
	// [MS-NLMP] 3.3.2: SessionBaseKey; for NTLMv2 it is also the
	// KeyExchangeKey (3.4.5.1).
	keyExchangeKey := hmacMD5(responseKey, proof)
	negFlags := e.chFlags & m.flags
	exported, err := exportedKey(negFlags, keyExchangeKey, m.encKey)
	if err != nil {
		return Result{}, fmt.Errorf("authenticate: %w", err)
	}
	if micPresent {
		zeroed := make([]byte, len(authenticateMsg))
		copy(zeroed, authenticateMsg)
		clear(zeroed[authMICOffset:authWithMICLen])
		want := hmacMD5(exported, e.negotiate, e.challenge, zeroed)
		if !hmac.Equal(want, authenticateMsg[authMICOffset:authWithMICLen]) {
			return Result{}, fmt.Errorf("%w: bad MIC for %q", ErrLogonFailure, m.user)
		}
	}
	e.keys = deriveKeys(exported, negFlags)
	e.authed = true
	e.ntlmMIC = micPresent
	res.SessionKey = exported
	res.MIC = micPresent
	return res, nil
}

// verifyProof recomputes NTProofStr ([MS-NLMP] 3.3.2) and returns the
// ResponseKeyNT that produced it. The domain is tried as the client sent
// it, then upper-cased, then empty, as Samba does: clients differ in which
// form they hash. An unknown user costs the same HMACs as a known one.
func (e *Exchange) verifyProof(user, domain string, proof, temp []byte) ([]byte, bool) {
	hash, known := e.lookup(user)
	var found []byte
	tried := make([]string, 0, 3)
	for _, d := range []string{domain, strings.ToUpper(domain), ""} {
		if slices.Contains(tried, d) {
			continue
		}
		tried = append(tried, d)
		key := ntowfv2(hash, user, d)
		if hmac.Equal(hmacMD5(key, e.serverCh[:], temp), proof) && found == nil {
			found = key
		}
	}
	return found, known && found != nil
}

// lookup finds the NT hash of user. A user principal name (user@realm)
// with no separate domain is looked up by its user part as well.
func (e *Exchange) lookup(user string) ([16]byte, bool) {
	users := e.srv.cfg.Users
	if users == nil || user == "" {
		return [16]byte{}, false
	}
	if h, ok := users.NTHash(user); ok {
		return h, true
	}
	if i := strings.LastIndexByte(user, '@'); i > 0 {
		return users.NTHash(user[:i])
	}
	return [16]byte{}, false
}

// exportedKey recovers the ExportedSessionKey ([MS-NLMP] 3.2.5.1.2): with
// KEY_EXCH the client chose it and sent it RC4-encrypted under the
// KeyExchangeKey; otherwise it is the KeyExchangeKey itself.
func exportedKey(negFlags uint32, keyExchangeKey, encKey []byte) ([]byte, error) {
	switch {
	case len(encKey) != 0 && len(encKey) != 16:
		return nil, fmt.Errorf("%w: %d-byte EncryptedRandomSessionKey", ErrMalformed, len(encKey))
	case negFlags&flagKeyExch != 0 && len(encKey) == 16:
		return rc4Once(keyExchangeKey, encKey), nil
	case negFlags&flagKeyExch != 0 && negFlags&(flagSign|flagSeal) != 0:
		return nil, fmt.Errorf("%w: KEY_EXCH negotiated without EncryptedRandomSessionKey", ErrMalformed)
	default:
		return keyExchangeKey, nil
	}
}
