// Package ntlm is the acceptor (server) side of NTLMv2 authentication as
// carried in SMB2 SESSION_SETUP ([MS-NLMP]). It issues the CHALLENGE_MESSAGE,
// verifies the AUTHENTICATE_MESSAGE against a credential store of NT hashes,
// recovers the exported session key, and signs or verifies the SPNEGO
// mechListMIC with the NTLM session-security keys.
//
// Only NTLMv2 is accepted: NTLMv1 and LM responses are refused, as current
// Windows and Samba configurations do by default.
package ntlm

import (
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"time"
)

// ErrLogonFailure reports an authentication that did not succeed: wrong
// password, unknown user, an NTLMv1 or LM response, a bad MIC, or an
// anonymous logon when guests are not allowed. SMB maps it to
// STATUS_LOGON_FAILURE.
var ErrLogonFailure = errors.New("ntlm: logon failure")

// ErrMalformed reports a message that could not be decoded. SMB maps it to
// STATUS_INVALID_PARAMETER.
var ErrMalformed = errors.New("ntlm: malformed message")

// maxMessage caps every NTLM message this package decodes. SMB2 carries the
// token in a SESSION_SETUP SecurityBuffer whose length is a uint16, so no
// legitimate message is larger; the cap also keeps every offset+length sum
// far from overflowing an int.
const maxMessage = 64 << 10

// Credentials yields the NT hash (MD4 of the UTF-16LE password) of a user.
// Implementations match the name case-insensitively.
type Credentials interface {
	NTHash(user string) (hash [16]byte, ok bool)
}

// Config describes the server side of NTLM.
type Config struct {
	// NetBIOSDomain, NetBIOSComputer, DNSDomain and DNSComputer fill the
	// CHALLENGE_MESSAGE TargetInfo AV pairs ([MS-NLMP] 2.2.2.1).
	NetBIOSDomain, NetBIOSComputer, DNSDomain, DNSComputer string
	// Users supplies NT hashes; a nil Users rejects every named user.
	Users Credentials
	// AllowGuest accepts anonymous (null session) logons; the Result then
	// has Anonymous set.
	AllowGuest bool
	// Now is the clock for MsvAvTimestamp; nil means time.Now.
	Now func() time.Time
	// Rand is the source of server challenges; nil means crypto/rand.
	Rand io.Reader
}

// Server holds the immutable NTLM acceptor configuration. It is safe for
// concurrent use; each authentication runs in its own Exchange.
type Server struct {
	cfg Config
}

// NewServer returns a Server for cfg.
func NewServer(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &Server{cfg: cfg}
}

// Result describes a successful authentication.
type Result struct {
	// User, Domain and Workstation are the names the client sent.
	User, Domain, Workstation string
	// SessionKey is the 16-byte ExportedSessionKey ([MS-NLMP] 3.2.5.1.2),
	// after KEY_EXCH decryption; SMB derives its keys from it. It is nil
	// for an anonymous logon.
	SessionKey []byte
	// Anonymous is set for a null-session logon.
	Anonymous bool
	// MIC is set when the AUTHENTICATE_MESSAGE carried a MIC (and it
	// verified). Windows then always answers with a SPNEGO mechListMIC.
	MIC bool
}

// exchangeState tracks where an Exchange is in its single use.
type exchangeState int

const (
	stateNew exchangeState = iota
	stateChallenged
	stateDone
)

// Exchange is one authentication in progress (one SESSION_SETUP sequence):
// NEGOTIATE, then AUTHENTICATE, then optionally mechListMIC processing. Its
// methods are safe to call from several goroutines, though a well-behaved
// caller serialises them.
type Exchange struct {
	srv *Server

	mu        sync.Mutex
	state     exchangeState
	negotiate []byte  // the client's NEGOTIATE_MESSAGE, kept for the MIC
	challenge []byte  // the CHALLENGE_MESSAGE we sent, kept for the MIC
	serverCh  [8]byte // ServerChallenge
	chFlags   uint32  // flags sent in CHALLENGE
	anonOK    bool    // accept an anonymous logon even without AllowGuest

	// Set after a successful non-anonymous Authenticate.
	authed  bool
	keys    sessionKeys
	ntlmMIC bool // the AUTHENTICATE_MESSAGE carried a verified MIC
	peerMIC bool // the client's mechListMIC verified
}

// NewExchange starts a new authentication.
func (s *Server) NewExchange() *Exchange {
	return &Exchange{srv: s}
}

// AcceptAnonymous makes this Exchange accept an anonymous (null session)
// logon whatever Config.AllowGuest says. SMB uses it for the
// re-authentication of a session that is already authenticated, which
// Windows lets drop to the anonymous identity ([MS-SMB2] 3.3.5.5.3): it
// never opens a new session.
func (e *Exchange) AcceptAnonymous() {
	e.mu.Lock()
	e.anonOK = true
	e.mu.Unlock()
}
