package smbserver

import (
	"context"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"time"

	"sofs.io/sofs/auth/krb5"
	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/auth/spnego"
	"sofs.io/sofs/smbserver/smbcrypto"
	"sofs.io/sofs/smbserver/wire"
)

func randRead(b []byte) {
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on Linux; a failure means the kernel
		// cannot supply randomness and continuing would be unsafe.
		panic("crypto/rand: " + err.Error())
	}
}

// handleSessionSetup implements [MS-SMB2] 3.3.5.5: SPNEGO ([MS-SPNG])
// wrapping Kerberos (one leg, kerberos.go) or NTLMSSP (two legs), key
// derivation, signing and encryption setup.
func (c *conn) handleSessionSetup(r *request) wire.Status {
	var req wire.SessionSetupRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	if req.Flags&wire.SessionFlagBinding != 0 {
		if r.hdr.SessionID == 0 {
			return wire.StatusRequestNotAccepted
		}
		return c.handleBinding(r, &req) // multichannel.go
	}
	sess := r.sess
	if r.hdr.SessionID == 0 {
		sess = c.srv.sessions.create(c.srv, c)
		r.hdr.SessionID = sess.id
	} else if sess == nil {
		return wire.StatusUserSessionDeleted
	}
	r.sess = sess
	r.setupSess = sess
	fresh := false
	sess.mu.Lock()
	if sess.exchange == nil {
		sess.exchange = c.newExchangeLocked(sess) // reauth.go
		fresh = true
	}
	ex := sess.exchange
	if c.dialect == Dialect311 && sess.state == sessionInProgress {
		sess.preauth.Update(r.msg)
	}
	sess.mu.Unlock()

	tok, err := spnego.Decode(req.SecurityBuffer)
	if err != nil {
		c.failSetup(sess)
		return wire.StatusInvalidParameter
	}
	if tok.Init {
		mech := c.srv.chooseMech(tok.MechTypes)
		if mech == nil {
			c.failSetup(sess)
			return wire.StatusNotSupported
		}
		sess.mu.Lock()
		sess.mechTypesDER = tok.MechTypesDER
		sess.mu.Unlock()
		if !mech.Equal(tok.MechTypes[0]) || len(tok.MechToken) == 0 {
			// The client preferred a mechanism this server does not
			// offer (Kerberos without a keytab, NTLM when it is
			// disabled) and may have sent an optimistic token for it.
			// RFC 4178 4.2.2: the acceptor names the mechanism it
			// selects and the client starts over with that
			// mechanism's first token.
			resp := wire.SessionSetupResponse{SecurityBuffer: spnego.EncodeResp(spnego.AcceptIncomplete, mech, nil, nil)}
			r.out = resp.AppendTo(r.out)
			return wire.StatusMoreProcessingRequired
		}
	}
	if len(tok.MechToken) == 0 {
		c.failSetup(sess)
		return wire.StatusInvalidParameter
	}
	if isKerberosToken(tok.MechToken) {
		return c.kerberosSetup(r, sess, &req, tok) // kerberos.go
	}
	if c.srv.cfg.DisableNTLM {
		c.log.Info().Uint64("session", sess.id).Msg("NTLM logon refused: NTLM is disabled")
		c.failSetup(sess)
		return wire.StatusLogonFailure
	}
	if isNTLMNegotiate(tok.MechToken) {
		if !fresh {
			// A new NEGOTIATE on an exchange in progress restarts it.
			sess.mu.Lock()
			sess.exchange = c.newExchangeLocked(sess)
			ex = sess.exchange
			sess.mu.Unlock()
		}
		chal, err := ex.Negotiate(tok.MechToken)
		if err != nil {
			c.failSetup(sess)
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
		c.log.Info().Err(err).Uint64("session", sess.id).Msg("authentication failed")
		c.failSetup(sess)
		if errors.Is(err, ntlm.ErrMalformed) {
			return wire.StatusInvalidParameter
		}
		return wire.StatusLogonFailure
	}
	sess.mu.Lock()
	mechTypes := sess.mechTypesDER
	sess.mu.Unlock()
	var mic []byte
	if !tok.Raw {
		if len(tok.MechListMIC) > 0 && len(mechTypes) > 0 {
			if err := ex.VerifyMIC(mechTypes, tok.MechListMIC); err != nil {
				c.failSetup(sess)
				return wire.StatusLogonFailure
			}
		}
		if len(mechTypes) > 0 && !res.Anonymous {
			mic = ex.MakeMIC(mechTypes)
		}
	}
	blob := []byte(nil)
	if !tok.Raw {
		blob = spnego.EncodeResp(spnego.AcceptCompleted, nil, nil, mic)
	}
	return c.completeSetup(r, sess, &req, res, logon{}, blob)
}

// logon is what a Kerberos logon adds to the NTLM-shaped result: the
// PAC's identity and the ticket's end time. The zero value is an NTLM
// logon.
type logon struct {
	pac     *krb5.Identity
	expires time.Time
}

// completeSetup finishes a successful authentication: it derives keys
// (first authentication only; re-authentication keeps them, [MS-SMB2]
// 3.3.5.5.3) and answers with the final security token blob.
func (c *conn) completeSetup(r *request, sess *session, req *wire.SessionSetupRequest, res ntlm.Result, lg logon, blob []byte) wire.Status {
	cfg := &c.srv.cfg
	var flags uint16
	sess.mu.Lock()
	first := sess.state == sessionInProgress
	sess.exchange = nil
	if !first {
		// Re-authentication may change the session's identity (reauth.go).
		if st := c.reidentifyLocked(r, sess, res.User, res.Domain, res.Anonymous, lg.pac); st != wire.StatusSuccess {
			sess.mu.Unlock()
			return st
		}
		// A re-authentication with a new ticket extends the session
		// ([MS-SMB2] 3.3.5.5.3: Session.ExpirationTime is the new
		// ticket's end time), which is how a client revives a session
		// that expired (3.3.5.2.9).
		sess.expires = lg.expires
	}
	if first {
		sess.user, sess.domain, sess.anonymous = res.User, res.Domain, res.Anonymous
		sess.pac, sess.expires = lg.pac, lg.expires
		if res.Anonymous {
			flags |= wire.SessionFlagIsNull
		} else {
			sess.sessionKey = res.SessionKey
			keys := smbcrypto.DeriveKeys(c.dialect, res.SessionKey, sess.preauth[:], c.cipher)
			sg, err := smbcrypto.NewSigner(c.dialect, c.signingAlg, keys.Signing)
			if err != nil {
				sess.mu.Unlock()
				c.failSetup(sess)
				return wire.StatusInternalError
			}
			sess.signer = sg
			sess.signingAlg, sess.cipher = c.signingAlg, c.cipher
			if ch := sess.channelOf(c); ch != nil {
				ch.signer = sg
			}
			sess.signingRequired = cfg.RequireSigning || req.SecurityMode&wire.NegotiateSigningRequired != 0 || c.clientSecMode&wire.NegotiateSigningRequired != 0
			if c.dialect >= Dialect300 && c.cipher != 0 {
				enc, err1 := smbcrypto.NewEncryptor(c.cipher, keys.ServerOut)
				dec, err2 := smbcrypto.NewDecryptor(c.cipher, keys.ServerIn)
				if err1 != nil || err2 != nil {
					sess.mu.Unlock()
					c.failSetup(sess)
					return wire.StatusInternalError
				}
				sess.enc, sess.dec = enc, dec
			}
			if cfg.EncryptData {
				if sess.enc == nil {
					if !cfg.AllowUnencrypted {
						sess.mu.Unlock()
						c.failSetup(sess)
						return wire.StatusAccessDenied
					}
				} else {
					sess.encryptData = true
					flags |= wire.SessionFlagEncryptData
				}
			}
		}
		sess.state = sessionValid
	}
	prev := req.PreviousSessionID
	sess.mu.Unlock()

	if first && prev != 0 && prev != sess.id {
		sid := c.srv.userSID(sess)
		if !c.srv.ExpirePrevious(prev, res.User, sid) && c.srv.cfg.ExpireSessionElsewhere != nil {
			// The old session may be on another node: it must be gone
			// before this client reclaims its durable handles.
			r.detach()
			ctx, cancel := context.WithTimeout(r.ctx, storeTimeout)
			if err := c.srv.cfg.ExpireSessionElsewhere(ctx, prev, res.User, sid); err != nil {
				c.log.Debug().Err(err).Uint64("previous_session", prev).Msg("ending the previous session on the other nodes")
			}
			cancel()
		}
	}
	resp := wire.SessionSetupResponse{SessionFlags: flags, SecurityBuffer: blob}
	r.out = resp.AppendTo(r.out)
	if !res.Anonymous {
		r.sign = true
	}
	return wire.StatusSuccess
}

// failSetup forgets a session whose authentication failed ([MS-SMB2]
// 3.3.5.5.3: the session is removed), unless it was already valid (a
// failed re-authentication leaves the old context in place... except that
// the spec expires it; clients then re-establish).
func (c *conn) failSetup(sess *session) {
	sess.mu.Lock()
	valid := sess.state == sessionValid
	sess.exchange = nil
	sess.mu.Unlock()
	if valid {
		c.srv.logoff(sess)
		return
	}
	c.srv.sessions.remove(sess.id)
}

// ExpirePrevious logs off the session a reconnecting client names in
// PreviousSessionId, if the same user owns it ([MS-SMB2] 3.3.5.5.3: the
// same security context, so the user's SID decides; a caller that knows
// only the name, a node of an older version, passes an empty sid), and
// reports whether this server had it.
func (s *Server) ExpirePrevious(id uint64, user, sid string) bool {
	old := s.sessions.get(id)
	if old == nil {
		return false
	}
	oldSID := s.userSID(old)
	old.mu.Lock()
	oldUser := old.user
	old.mu.Unlock()
	same := sameUser(oldSID, oldUser, sid, user)
	if same {
		s.connLost(old) // durable.go: durable opens survive
	}
	return true
}

// chooseMech returns the first mechanism of the client's list that this
// server accepts (RFC 4178 3.2: the acceptor picks from the initiator's
// preference order), or nil.
func (s *Server) chooseMech(list []asn1.ObjectIdentifier) asn1.ObjectIdentifier {
	for _, m := range list {
		switch {
		case (m.Equal(spnego.OIDKerberos5) || m.Equal(spnego.OIDMSKerberos5)) && s.krb5 != nil:
			return m
		case m.Equal(spnego.OIDNTLMSSP) && !s.cfg.DisableNTLM:
			return m
		}
	}
	return nil
}

// negotiateHint returns the NegTokenInit2 of the NEGOTIATE response
// ([MS-SPNG] 3.2.5.2): Kerberos first when a keytab is configured (both
// OIDs, the legacy Microsoft one first, as Windows lists them), then
// NTLMSSP unless it is disabled.
func (s *Server) negotiateHint() []byte {
	var mechs []asn1.ObjectIdentifier
	if s.krb5 != nil {
		mechs = append(mechs, spnego.OIDMSKerberos5, spnego.OIDKerberos5)
	}
	if !s.cfg.DisableNTLM {
		mechs = append(mechs, spnego.OIDNTLMSSP)
	}
	return spnego.InitialToken(mechs...)
}

func isNTLMNegotiate(b []byte) bool {
	return len(b) >= 12 && string(b[:8]) == "NTLMSSP\x00" && b[8] == 1 && b[9] == 0 && b[10] == 0 && b[11] == 0
}

// handleLogoff implements [MS-SMB2] 3.3.5.6.
func (c *conn) handleLogoff(r *request) wire.Status {
	var req wire.LogoffRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	// The response is signed with the session's key before it goes away.
	r.signSess = r.sess
	for _, cc := range r.sess.channelConns() { // multichannel.go
		cc.cancelAsync(r.sess.id, 0)
	}
	c.srv.connLost(r.sess) // durable.go: Windows keeps durable opens across LOGOFF
	resp := wire.LogoffResponse{}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// handleEcho implements [MS-SMB2] 3.3.5.7.
func (c *conn) handleEcho(r *request) wire.Status {
	var req wire.EchoRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	resp := wire.EchoResponse{}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}
