package smbserver

import (
	"sync"
	"sync/atomic"
	"time"

	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/smbserver/smbcrypto"
	"sofs.io/sofs/smbserver/wire"
)

type sessionState int

const (
	sessionInProgress sessionState = iota
	sessionValid
	sessionExpired
)

// session is an authenticated security context ([MS-SMB2] 3.3.1.8). It
// lives at server scope because a durable or persistent handle (and SMB3
// multichannel) outlives the connection that created it.
type session struct {
	id      uint64
	srv     *Server
	created time.Time

	mu              sync.Mutex
	state           sessionState
	conn            *conn
	dialect         uint16
	user            string
	domain          string
	anonymous       bool
	guest           bool
	exchange        *ntlm.Exchange
	mechTypesDER    []byte // SPNEGO mechTypes of the first leg, for mechListMIC
	preauth         smbcrypto.PreauthHash
	sessionKey      []byte
	signer          smbcrypto.Signer
	enc             smbcrypto.Encryptor
	dec             smbcrypto.Decryptor
	signingRequired bool
	encryptData     bool
	// signingAlg and cipher are those of the connection that set the
	// session up; a binding must match them (multichannel.go).
	signingAlg uint16
	cipher     uint16
	// channels are the connections bound to the session
	// (Session.ChannelList, [MS-SMB2] 3.3.1.8), the first one the
	// connection that set it up; conn is one of them (the oldest live).
	channels   []*channel
	trees      map[uint32]*tree
	nextTreeID uint32
	opens      map[uint64]*open // by volatile id
}

func (s *session) encryptor() smbcrypto.Encryptor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enc
}

// encryptResponses reports whether r's response must be encrypted: the
// request was, or the session or share demands it ([MS-SMB2] 3.3.4.1.4).
func (s *session) encryptResponses(r *request) bool {
	if r.encrypted {
		return true
	}
	if r.hdr.Command == wire.CmdSessionSetup {
		// The response completing authentication is signed, never
		// encrypted: the client derives its keys only after reading it
		// ([MS-SMB2] 3.3.5.5.3). Re-authentication of an encrypting
		// session arrives encrypted and is answered encrypted above.
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enc == nil || s.state != sessionValid {
		return false
	}
	if s.encryptData {
		return true
	}
	return r.tree != nil && r.tree.encrypt
}

// sessionTable maps SessionId to session for the whole server.
type sessionTable struct {
	mu   sync.RWMutex
	m    map[uint64]*session
	next atomic.Uint64
}

func newSessionTable() *sessionTable {
	t := &sessionTable{m: make(map[uint64]*session)}
	return t
}

func (t *sessionTable) get(id uint64) *session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.m[id]
}

// create registers a new in-progress session with a fresh id. Ids are
// never 0 or all-ones (those mean "none" and "related").
func (t *sessionTable) create(srv *Server, c *conn) *session {
	s := &session{srv: srv, conn: c, created: time.Now(), dialect: c.dialect, trees: make(map[uint32]*tree), opens: make(map[uint64]*open), nextTreeID: 1}
	s.channels = []*channel{{conn: c}}
	s.preauth = c.preauth
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		id := t.next.Add(1) | srv.sessionIDPrefix
		if id == 0 || id == anyID || t.m[id] != nil {
			continue
		}
		s.id = id
		t.m[id] = s
		return s
	}
}

func (t *sessionTable) remove(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, id)
}

// all returns a snapshot of the sessions.
func (t *sessionTable) all() []*session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*session, 0, len(t.m))
	for _, s := range t.m {
		out = append(out, s)
	}
	return out
}

// lookupSession binds r to its session ([MS-SMB2] 3.3.5.2.9) and enforces
// signing (3.3.5.2.4) and encryption requirements. r.sess is set as soon as
// the session is found, before its state is checked, so that an error
// response (NETWORK_SESSION_EXPIRED, a bad signature) is still signed with
// the session's key: a client that requires signing rejects it otherwise.
func (c *conn) lookupSession(r *request, mustBeValid bool) wire.Status {
	s := c.srv.sessions.get(r.hdr.SessionID)
	if s == nil {
		return wire.StatusUserSessionDeleted
	}
	s.mu.Lock()
	state := s.state
	required, encrypt := s.signingRequired, s.encryptData
	ch := s.channelOf(c)
	var signer smbcrypto.Signer
	bound := false
	if ch != nil {
		signer, bound = ch.signer, ch.bound
	}
	s.mu.Unlock()
	if ch == nil {
		// [MS-SMB2] 3.3.5.2.9: the session is looked up in this
		// connection's table; a session bound only to other connections
		// does not exist here (binding goes through lookupBinding).
		return wire.StatusUserSessionDeleted
	}
	r.sess = s
	if !r.encrypted {
		if encrypt && state == sessionValid && !c.srv.cfg.AllowUnencrypted {
			return wire.StatusAccessDenied
		}
		if signer != nil {
			if r.hdr.Flags&wire.FlagSigned != 0 {
				if !c.srv.verify(signer, r.msg) {
					c.log.Warn().Uint64("session", s.id).Stringer("command", r.hdr.Command).Msg("bad signature")
					// Not signed in return: the server signs nothing
					// for a sender that does not hold the key.
					r.sess = nil
					return wire.StatusAccessDenied
				}
			} else if required && state == sessionValid && (r.hdr.Command != wire.CmdSessionSetup || bound) {
				// An unsigned SESSION_SETUP is tolerated on the
				// session's first connection only (re-authentication
				// by old clients); a bound channel has never been
				// unsigned (smbtorture session.bind_negative_*).
				return wire.StatusAccessDenied
			}
		}
	}
	if mustBeValid && state != sessionValid {
		if state == sessionExpired {
			return wire.StatusNetworkSessionExpired
		}
		return wire.StatusUserSessionDeleted
	}
	return wire.StatusSuccess
}

// unsignedTreeConnect reports whether r, a TREE_CONNECT on its (looked up)
// session, breaks [MS-SMB2] 3.3.5.7's rule for 3.1.1: neither signed nor
// encrypted while the session is neither anonymous nor guest.
func (c *conn) unsignedTreeConnect(r *request) bool {
	if c.dialect != Dialect311 || r.encrypted || r.hdr.Flags&wire.FlagSigned != 0 || r.sess == nil {
		return false
	}
	r.sess.mu.Lock()
	defer r.sess.mu.Unlock()
	return !r.sess.anonymous && !r.sess.guest
}

// lookupTree binds r to its tree connect.
func (c *conn) lookupTree(r *request) wire.Status {
	s := r.sess
	s.mu.Lock()
	t := s.trees[r.hdr.TreeID]
	s.mu.Unlock()
	if t == nil {
		return wire.StatusNetworkNameDeleted
	}
	if t.encrypt && !r.encrypted && !c.srv.cfg.AllowUnencrypted {
		return wire.StatusAccessDenied
	}
	r.tree = t
	return wire.StatusSuccess
}
