package smbserver

import (
	"errors"

	"sofs.io/sofs/auth/krb5"
	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/auth/spnego"
	"sofs.io/sofs/smbserver/smbcrypto"
	"sofs.io/sofs/smbserver/wire"
)

// isKerberosToken reports whether a SPNEGO mechanism token is Kerberos: a
// GSS-API InitialContextToken ([APPLICATION 0]) or a bare AP-REQ
// ([APPLICATION 14]). NTLMSSP messages start with their signature.
func isKerberosToken(b []byte) bool {
	return len(b) > 0 && (b[0] == 0x60 || b[0] == 0x6e)
}

// kerberosSetup completes a SESSION_SETUP whose SPNEGO token carries a
// Kerberos AP-REQ ([MS-KILE] 3.4.5, [MS-SMB2] 3.3.5.5.3) in one leg: the
// ticket is checked with the keytab, the answer carries the AP-REP
// (mutual authentication) and the acceptor's mechListMIC, and the
// session key is the context's key (the client's subkey).
func (c *conn) kerberosSetup(r *request, sess *session, req *wire.SessionSetupRequest, tok spnego.Token) wire.Status {
	if c.srv.krb5 == nil {
		c.log.Info().Uint64("session", sess.id).Msg("Kerberos logon refused: no keytab is configured")
		c.failSetup(sess)
		return wire.StatusLogonFailure
	}
	res, err := c.srv.krb5.Accept(tok.MechToken)
	if err != nil {
		c.log.Info().Err(err).Uint64("session", sess.id).Msg("Kerberos authentication failed")
		c.failSetup(sess)
		if errors.Is(err, krb5.ErrMalformed) {
			return wire.StatusInvalidParameter
		}
		return wire.StatusLogonFailure
	}
	if res.Identity == nil {
		// Without a PAC nothing says which SIDs the client holds; a
		// local account of the same name is not the same person. MIT
		// and Heimdal KDCs without PACs are not supported.
		c.log.Info().Uint64("session", sess.id).Str("client", res.Client+"@"+res.Realm).Msg("Kerberos logon refused: the ticket has no PAC")
		c.failSetup(sess)
		return wire.StatusLogonFailure
	}
	sess.mu.Lock()
	mechTypes := sess.mechTypesDER
	sess.mu.Unlock()
	if len(tok.MechListMIC) > 0 {
		if err := res.VerifyMIC(mechTypes, tok.MechListMIC); err != nil {
			c.log.Info().Err(err).Uint64("session", sess.id).Msg("Kerberos logon refused: mechListMIC")
			c.failSetup(sess)
			return wire.StatusLogonFailure
		}
	}
	var mic []byte
	if needMIC(tok) && len(mechTypes) > 0 && res.HasMIC() {
		if mic, err = res.MakeMIC(mechTypes); err != nil {
			c.failSetup(sess)
			return wire.StatusInternalError
		}
	}
	// supportedMech goes only in the acceptor's first reply (RFC 4178
	// 4.2.2): when the client had to be steered to Kerberos, it was sent
	// then.
	var supported = res.Mech
	if !tok.Init {
		supported = nil
	}
	blob := spnego.EncodeResp(spnego.AcceptCompleted, supported, res.ResponseToken, mic)
	user, domain := res.Client, res.Realm
	if res.Identity.Name != "" {
		user, domain = res.Identity.Name, res.Identity.Domain
	}
	return c.completeSetup(r, sess, req, ntlm.Result{User: user, Domain: domain, SessionKey: res.SessionKey},
		logon{pac: res.Identity, expires: res.EndTime}, blob)
}

// kerberosBindingLeg binds channel ch of session s with a Kerberos logon
// ([MS-SMB2] 3.3.5.5.2): the ticket must be the session's user's, and
// the channel's signing key comes from this context's key and, on 3.1.1,
// the channel's own preauth hash.
func (c *conn) kerberosBindingLeg(r *request, s *session, ch *channel, tok spnego.Token) wire.Status {
	if c.srv.krb5 == nil {
		return wire.StatusLogonFailure
	}
	res, err := c.srv.krb5.Accept(tok.MechToken)
	if err != nil {
		c.log.Info().Err(err).Uint64("session", s.id).Msg("session binding: Kerberos authentication failed")
		if errors.Is(err, krb5.ErrMalformed) {
			return wire.StatusInvalidParameter
		}
		return wire.StatusLogonFailure
	}
	s.mu.Lock()
	mechTypes := ch.mechTypesDER
	pac := s.pac
	preauth := ch.preauth
	ch.exchange = nil
	s.mu.Unlock()
	if len(tok.MechListMIC) > 0 {
		if err := res.VerifyMIC(mechTypes, tok.MechListMIC); err != nil {
			return wire.StatusLogonFailure
		}
	}
	if pac == nil || res.Identity == nil || res.Identity.User != pac.User {
		// The binding must authenticate the session's user; an NTLM
		// session has no domain SID to compare and is not bound by
		// Kerberos.
		return wire.StatusAccessDenied
	}
	keys := smbcrypto.DeriveKeys(c.dialect, res.SessionKey, preauth[:], c.cipher)
	sg, err := smbcrypto.NewSigner(c.dialect, c.signingAlg, keys.Signing)
	if err != nil {
		return wire.StatusInternalError
	}
	var mic []byte
	if needMIC(tok) && len(mechTypes) > 0 && res.HasMIC() {
		if mic, err = res.MakeMIC(mechTypes); err != nil {
			return wire.StatusInternalError
		}
	}
	s.mu.Lock()
	ch.signer = sg
	s.mu.Unlock()
	var supported = res.Mech
	if !tok.Init {
		supported = nil
	}
	resp := wire.SessionSetupResponse{SecurityBuffer: spnego.EncodeResp(spnego.AcceptCompleted, supported, res.ResponseToken, mic)}
	r.out = resp.AppendTo(r.out)
	r.sign = true
	c.log.Debug().Uint64("session", s.id).Msg("channel bound (Kerberos)")
	return wire.StatusSuccess
}

// needMIC reports whether the acceptor answers a Kerberos token with a
// mechListMIC (RFC 4178 5): when the client sent one, or when the
// mechanism was not the client's first choice (the token came in a
// NegTokenResp after the server steered the client to Kerberos), which is
// when the list needs protecting from a downgrade. A client whose first
// choice was Kerberos, with its token, gets none, as from Windows, whose
// final response then carries only the AP-REP.
func needMIC(tok spnego.Token) bool {
	return len(tok.MechListMIC) > 0 || !tok.Init
}
