package smbserver

import (
	"context"
	"errors"
	"strings"

	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/auth/spnego"
	"sofs.io/sofs/smbserver/smbcrypto"
	"sofs.io/sofs/smbserver/wire"
)

// Multichannel ([MS-SMB2] 3.3.5.5 session binding, 3.3.1.8
// Session.ChannelList, 3.3.5.2.4 per-channel signing).
//
// A session starts with one channel, the connection that set it up. A
// SESSION_SETUP with SMB2_SESSION_FLAG_BINDING on another connection of
// the same dialect, signed with the session's key and authenticating the
// same user, adds a channel. Every channel has its own signing key (on
// 3.1.1 derived from the preauth hash of its own binding exchange); the
// encryption keys are the session's. Requests of the session are served
// on any of its channels; losing a channel leaves the session, its tree
// connects and opens alone while another channel remains; LOGOFF on any
// channel ends the session on all of them.

// maxChannelsPerSession bounds Session.ChannelList. Windows allows 32
// channels per session; more only costs memory and a longer scan on
// every request (lookupSession walks the list).
const maxChannelsPerSession = 32

// channel is one connection of a session (Channel, [MS-SMB2] 3.3.1.8).
type channel struct {
	conn *conn
	// signer is Channel.SigningKey; nil until the channel's
	// authentication (first setup or binding) completes.
	signer smbcrypto.Signer
	// bound is set for channels added by binding, as opposed to the
	// connection that created the session.
	bound bool
	// The binding exchange in progress: its NTLM state, SPNEGO mechTypes
	// (for the mechListMIC) and, on 3.1.1, its preauth integrity hash,
	// which starts from the new connection's hash ([MS-SMB2] 3.3.5.5:
	// Connection.PreauthSessionTable).
	exchange     *ntlm.Exchange
	mechTypesDER []byte
	preauth      smbcrypto.PreauthHash
}

// multiChannelCap is SMB2_GLOBAL_CAP_MULTI_CHANNEL for SMB 3.x unless
// multichannel is disabled ([MS-SMB2] 3.3.5.4).
func (c *conn) multiChannelCap(dialect uint16) uint32 {
	if dialect >= Dialect300 && !c.srv.cfg.DisableMultiChannel {
		return wire.GlobalCapMultiChannel
	}
	return 0
}

// channelOf returns c's channel of s, or nil. Call with s.mu held. The
// list is short (maxChannelsPerSession), so a scan beats a map here and
// allocates nothing.
func (s *session) channelOf(c *conn) *channel {
	for _, ch := range s.channels {
		if ch.conn == c {
			return ch
		}
	}
	return nil
}

// channelConns returns the connections of s's channels.
func (s *session) channelConns() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.channels))
	for _, ch := range s.channels {
		out = append(out, ch.conn)
	}
	return out
}

// dropChannel removes c's channel from s after c closed. It reports
// whether that was s's last channel, so the session itself is lost
// ([MS-SMB2] 3.3.7.1: the session goes with its last connection).
func (s *session) dropChannel(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := -1
	for j, ch := range s.channels {
		if ch.conn == c {
			i = j
			break
		}
	}
	if i < 0 {
		return false
	}
	s.channels = append(s.channels[:i], s.channels[i+1:]...)
	if len(s.channels) == 0 {
		return true
	}
	if s.conn == c {
		// Session.Connection moves to the oldest remaining channel.
		s.conn = s.channels[0].conn
	}
	return false
}

// removeChannel forgets ch (a binding that failed).
func (s *session) removeChannel(ch *channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for j, x := range s.channels {
		if x == ch {
			s.channels = append(s.channels[:j], s.channels[j+1:]...)
			return
		}
	}
}

// breakConn returns the connection an oplock break for s goes to: the
// session's connection while it lives, else any other live channel
// ([MS-SMB2] 3.3.4.6: the break is sent on any channel of the session).
func (s *session) breakConn() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && s.conn.ctx.Err() == nil {
		return s.conn
	}
	for _, ch := range s.channels {
		if ch.signer != nil && ch.conn.ctx.Err() == nil {
			return ch.conn
		}
	}
	return s.conn
}

// responseSigner returns the key that signs r's response on c ([MS-SMB2]
// 3.3.4.1.1): the signing key of c's channel once it has one, else
// Session.SigningKey (the responses of a binding before it completes,
// and its refusals, which the client checks with that key).
func (s *session) responseSigner(c *conn, r *request) smbcrypto.Signer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.channelOf(c); ch != nil && ch.signer != nil {
		return ch.signer
	}
	if r.hdr.Command == wire.CmdSessionSetup {
		return s.signer
	}
	return nil
}

// decryptorFor returns the decryptor for a transform of s received on c:
// only a connection bound to the session may carry its encrypted traffic.
func (s *session) decryptorFor(c *conn) smbcrypto.Decryptor {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.channelOf(c); ch == nil || ch.signer == nil {
		return nil
	}
	return s.dec
}

// isBindingRequest reports whether a SESSION_SETUP request asks to bind
// an existing session to this connection (SMB2_SESSION_FLAG_BINDING).
func isBindingRequest(msg []byte) bool {
	const offFlags = wire.HeaderSize + 2
	return len(msg) > offFlags && msg[offFlags]&wire.SessionFlagBinding != 0
}

// lookupBinding finds the session a binding request names in the global
// table and verifies its signature ([MS-SMB2] 3.3.5.2.4: with
// Session.SigningKey). A channel this connection already has signs with
// its own key, as Samba checks, so a second binding of the same
// connection fails the signature. r.sess is set only when the signature
// verified, so nothing is signed for a sender that does not hold the
// key; handleBinding then applies the checks of 3.3.5.5.
func (c *conn) lookupBinding(r *request) wire.Status {
	s := c.srv.sessions.get(r.hdr.SessionID)
	if s == nil {
		return wire.StatusUserSessionDeleted
	}
	r.bindSess = s
	if r.hdr.Flags&wire.FlagSigned == 0 || r.encrypted {
		return wire.StatusSuccess
	}
	s.mu.Lock()
	sg := s.signer
	if ch := s.channelOf(c); ch != nil && ch.signer != nil {
		sg = ch.signer
	}
	s.mu.Unlock()
	if sg == nil || !sg.Verify(r.msg) {
		c.log.Warn().Uint64("session", s.id).Msg("bad signature on session binding")
		return wire.StatusAccessDenied
	}
	r.sess, r.bindVerified = s, true
	return wire.StatusSuccess
}

// handleBinding implements the binding branch of [MS-SMB2] 3.3.5.5. The
// checks run in the order Windows applies them (the statuses smbtorture's
// session.bind_negative_* tests expect): signing algorithms first, then
// the dialect family, the signature, dialect and cipher equality.
func (c *conn) handleBinding(r *request, req *wire.SessionSetupRequest) wire.Status {
	s := r.bindSess
	if s == nil {
		return wire.StatusUserSessionDeleted
	}
	s.mu.Lock()
	state, dialect, salg, cipher := s.state, s.dialect, s.signingAlg, s.cipher
	anon := s.anonymous || s.guest
	existing := s.channelOf(c)
	nchan := len(s.channels)
	s.mu.Unlock()
	switch {
	case salg >= smbcrypto.SigningAESGMAC && c.signingAlg != salg:
		return wire.StatusRequestOutOfSequence
	case c.signingAlg >= smbcrypto.SigningAESGMAC && salg != c.signingAlg:
		return wire.StatusNotSupported
	case c.dialect < Dialect300, c.srv.cfg.DisableMultiChannel:
		return wire.StatusRequestNotAccepted
	}
	if !r.bindVerified || dialect != c.dialect || cipher != c.cipher {
		// Unsigned, or a connection unlike the session's. The error
		// keeps the request's signature (fillHeader) rather than being
		// signed: the client's key may not fit this connection's
		// algorithm, and it accepts an echoed signature on
		// INVALID_PARAMETER.
		r.sess = nil
		return wire.StatusInvalidParameter
	}
	if state != sessionValid {
		return wire.StatusUserSessionDeleted
	}
	if existing != nil && existing.signer != nil {
		return wire.StatusRequestNotAccepted
	}
	if anon {
		// Anonymous and guest sessions have no key to bind with
		// ([MS-SMB2] 3.3.5.5).
		return wire.StatusNotSupported
	}
	ch := existing
	if ch == nil {
		if nchan >= maxChannelsPerSession {
			return wire.StatusInsufficientResources
		}
		ch = &channel{conn: c, bound: true, preauth: c.preauth}
		s.mu.Lock()
		if s.channelOf(c) != nil {
			// A concurrent binding of the same connection won.
			s.mu.Unlock()
			return wire.StatusRequestNotAccepted
		}
		s.channels = append(s.channels, ch)
		s.mu.Unlock()
	}
	r.setupSess, r.setupChan = s, ch
	st := c.bindingLeg(r, s, ch, req)
	if st != wire.StatusSuccess && st != wire.StatusMoreProcessingRequired {
		// A failed binding leaves the session as it was; only the new
		// channel goes.
		s.removeChannel(ch)
	}
	return st
}

// bindingLeg runs one SPNEGO/NTLM leg of a binding on ch.
func (c *conn) bindingLeg(r *request, s *session, ch *channel, req *wire.SessionSetupRequest) wire.Status {
	s.mu.Lock()
	fresh := ch.exchange == nil
	if fresh {
		ch.exchange = c.srv.ntlm.NewExchange()
	}
	ex := ch.exchange
	if c.dialect == Dialect311 {
		ch.preauth.Update(r.msg)
	}
	s.mu.Unlock()

	tok, err := spnego.Decode(req.SecurityBuffer)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if tok.Init {
		if !hasNTLM(tok) {
			return wire.StatusNotSupported
		}
		s.mu.Lock()
		ch.mechTypesDER = tok.MechTypesDER
		s.mu.Unlock()
		if len(tok.MechTypes) > 0 && !tok.MechTypes[0].Equal(spnego.OIDNTLMSSP) {
			resp := wire.SessionSetupResponse{SecurityBuffer: spnego.EncodeResp(spnego.AcceptIncomplete, spnego.OIDNTLMSSP, nil, nil)}
			r.out = resp.AppendTo(r.out)
			return wire.StatusMoreProcessingRequired
		}
	}
	if len(tok.MechToken) == 0 {
		return wire.StatusInvalidParameter
	}
	if isNTLMNegotiate(tok.MechToken) {
		if !fresh {
			s.mu.Lock()
			ch.exchange = c.srv.ntlm.NewExchange()
			ex = ch.exchange
			s.mu.Unlock()
		}
		chal, err := ex.Negotiate(tok.MechToken)
		if err != nil {
			return wire.StatusInvalidParameter
		}
		blob := chal
		if !tok.Raw {
			blob = spnego.EncodeResp(spnego.AcceptIncomplete, spnego.OIDNTLMSSP, chal, nil)
		}
		resp := wire.SessionSetupResponse{SecurityBuffer: blob}
		r.out = resp.AppendTo(r.out)
		return wire.StatusMoreProcessingRequired
	}
	res, err := ex.Authenticate(tok.MechToken)
	if err != nil {
		c.log.Info().Err(err).Uint64("session", s.id).Msg("session binding: authentication failed")
		if errors.Is(err, ntlm.ErrMalformed) {
			return wire.StatusInvalidParameter
		}
		return wire.StatusLogonFailure
	}
	s.mu.Lock()
	mechTypes := ch.mechTypesDER
	user := s.user
	preauth := ch.preauth
	ch.exchange = nil
	s.mu.Unlock()
	var mic []byte
	if !tok.Raw && len(mechTypes) > 0 {
		if len(tok.MechListMIC) > 0 {
			if err := ex.VerifyMIC(mechTypes, tok.MechListMIC); err != nil {
				return wire.StatusLogonFailure
			}
		}
		if !res.Anonymous {
			mic = ex.MakeMIC(mechTypes)
		}
	}
	if res.Anonymous || len(res.SessionKey) == 0 || !strings.EqualFold(res.User, user) {
		// [MS-SMB2] 3.3.5.5.2: the binding must authenticate the user
		// of the session (a guest or anonymous logon never does).
		return wire.StatusAccessDenied
	}
	// [MS-SMB2] 3.3.5.5.3: the channel's signing key comes from this
	// exchange's session key and, on 3.1.1, the channel's own preauth
	// hash; the encryption keys stay the session's.
	keys := smbcrypto.DeriveKeys(c.dialect, res.SessionKey, preauth[:], c.cipher)
	sg, err := smbcrypto.NewSigner(c.dialect, c.signingAlg, keys.Signing)
	if err != nil {
		return wire.StatusInternalError
	}
	s.mu.Lock()
	ch.signer = sg
	s.mu.Unlock()
	blob := []byte(nil)
	if !tok.Raw {
		blob = spnego.EncodeResp(spnego.AcceptCompleted, nil, nil, mic)
	}
	resp := wire.SessionSetupResponse{SecurityBuffer: blob}
	r.out = resp.AppendTo(r.out)
	r.sign = true
	c.log.Debug().Uint64("session", s.id).Msg("channel bound")
	return wire.StatusSuccess
}

// createContext returns the context of a CREATE. A CREATE waiting for an
// oplock or lease break outlives the loss of its connection while its
// session has another live channel: the client replays it there, finds
// it still pending (STATUS_FILE_NOT_AVAILABLE) and, once it completes,
// gets the open it made ([MS-SMB2] 3.3.5.9.10; smbtorture
// smb2.replay.dhv2-pending2*). Without another channel, or when the
// server stops, it ends with its connection as any request does.
func (c *conn) createContext(sid uint64) (context.Context, context.CancelFunc, func() bool) {
	if c.dialect < Dialect300 || c.srv.cfg.DisableMultiChannel || c.base == nil {
		ctx, cancel := context.WithCancel(c.ctx)
		return ctx, cancel, func() bool { return true }
	}
	ctx, cancel := context.WithCancel(c.base)
	stop := context.AfterFunc(c.ctx, func() {
		if s := c.srv.sessions.get(sid); s == nil || !s.hasOtherLiveChannel(c) {
			cancel()
		}
	})
	return ctx, cancel, stop
}

// hasOtherLiveChannel reports whether s has an authenticated channel on a
// live connection other than c.
func (s *session) hasOtherLiveChannel(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.channels {
		if ch.conn != c && ch.signer != nil && ch.conn.ctx.Err() == nil {
			return true
		}
	}
	return false
}
