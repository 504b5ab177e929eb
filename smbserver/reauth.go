package smbserver

import (
	"strings"

	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/smbserver/wire"
)

// Re-authentication ([MS-SMB2] 3.3.5.5.3) may change who a session is.
// Windows (and smbd) accept a re-authentication as another user, and as
// the anonymous user even where anonymous logons open no session
// (smbtorture smb2.session.reauth2-5 drop an authenticated session to
// anonymous and back). The session keeps the keys of its first
// authentication; what changes is the identity that later access checks
// use:
//
//   - opens already granted keep their granted access (Open.GrantedAccess
//     is fixed at CREATE), so I/O, queries and handle-based changes go on;
//   - what needs a fresh access check (a new CREATE, the target directory
//     of a rename) is checked against the new identity. A tree connect
//     the new identity could not make (anonymous on a share that is not a
//     guest share) stays connected but refuses those with ACCESS_DENIED,
//     until a later re-authentication restores an identity it admits.
//
// A change of identity is refused with STATUS_ACCESS_DENIED, leaving the
// session as it was, when the request was neither signed nor encrypted
// with the session's keys (only the holder of the keys may change whose
// session it is), and always on a session first set up anonymously: it
// has no keys, so a named identity would run unsigned and could be taken
// over on the wire; its client must set up a new session instead.

// newExchangeLocked starts the NTLM exchange of a SESSION_SETUP on sess;
// the caller holds sess.mu. A re-authentication of a valid session may
// end as the anonymous user (see above); a new session may only when the
// server has a guest share (ntlm.Config.AllowGuest).
func (c *conn) newExchangeLocked(sess *session) *ntlm.Exchange {
	ex := c.srv.ntlm.NewExchange()
	if sess.state == sessionValid {
		ex.AcceptAnonymous()
	}
	return ex
}

// reidentifyLocked applies a successful re-authentication's identity to
// sess, whose mu the caller holds, and re-evaluates its tree connects.
func (c *conn) reidentifyLocked(r *request, sess *session, user, domain string, anonymous bool) wire.Status {
	same := anonymous == sess.anonymous && strings.EqualFold(user, sess.user)
	if same {
		return wire.StatusSuccess
	}
	if sess.signer == nil {
		// A session first set up anonymously has no keys: nothing
		// proves the request comes from its client.
		return wire.StatusAccessDenied
	}
	if !r.encrypted && r.hdr.Flags&wire.FlagSigned == 0 {
		// lookupSession verified the signature of a signed request.
		return wire.StatusAccessDenied
	}
	// An operator must be able to see whose session it became.
	c.log.Info().Uint64("session", sess.id).Str("from", qualifiedUser(sess.domain, sess.user)).Bool("from_anonymous", sess.anonymous).
		Str("to", qualifiedUser(domain, user)).Bool("to_anonymous", anonymous).Msg("re-authentication changed the session's identity")
	sess.user, sess.domain, sess.anonymous = user, domain, anonymous
	tok := c.srv.identityToken(user, anonymous, sess.guest) // not tokenFor: the caller holds sess.mu
	for _, t := range sess.trees {
		if t.ipc {
			continue
		}
		// The share's permissions are re-evaluated for the new identity
		// (as they were when t was connected): neither the old user's
		// SIDs nor its share access may outlive the change.
		max := c.diskAccess(t.share, tok)
		t.access.Store(&treeAccess{token: tok, maxAccess: max, refused: !t.admits(anonymous) || max == 0})
	}
	return wire.StatusSuccess
}

// admits reports whether a session of this anonymity may connect to t's
// share: the TREE_CONNECT rule (tree.go), applied to the share as it was
// when t was connected.
func (t *tree) admits(anonymous bool) bool {
	return t.ipc || !anonymous || t.share.Guest
}

// checkTreeAdmits fails a request that needs a fresh access check on a
// tree connect its session's current identity could not make.
func checkTreeAdmits(t *tree) wire.Status {
	if t != nil && t.access.Load().refused {
		return wire.StatusAccessDenied
	}
	return wire.StatusSuccess
}
