package smbserver

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"

	"sofs.io/sofs/auth/krb5"
	"sofs.io/sofs/smbserver/secdesc"
)

// Identities. A Kerberos logon (sofs joined to an Active Directory
// domain) carries its identity in the ticket's PAC: the token is the
// domain's, as on a Windows member server (see pacToken). An NTLM logon
// is checked against sofs's own user list: every such user is a local
// account of the cluster, which behaves as one standalone Windows server.
//
//   - The cluster's machine SID is S-1-5-21-X-Y-Z, with X, Y, Z taken from
//     SHA-256 of the cluster's ServerGuid. The ServerGuid is generated
//     once and kept in the namespace (namespace.Cluster), so the machine
//     SID is the same on every node and across restarts without a record
//     of its own.
//   - A user's SID is the machine SID plus a RID derived from SHA-256 of
//     the upper-cased user name, in [1000, 1000+2^30): user names are
//     case-insensitive, so "Test" and "test" are one account; the RID
//     does not depend on any counter, so it needs no transaction and
//     survives deleting and re-creating the user (as a re-created account
//     keeps its file permissions here, unlike on Windows). Two names
//     colliding is a 2^-30 event per pair.
//   - The primary group of every user is the machine's "None" group
//     (RID 513), as on a standalone server.
//
// A session's token holds the user SID, the primary group, Everyone
// (S-1-1-0), Authenticated Users (S-1-5-11), NETWORK (S-1-5-2) and
// BUILTIN\Users (S-1-5-32-545). Guests get the Guest account (RID 501),
// the Guests group (S-1-5-32-546, RID 514 as primary group), Everyone and
// NETWORK; anonymous sessions get ANONYMOUS LOGON (S-1-5-7), Everyone and
// NETWORK. sofs has no administrator accounts, so no token holds
// BUILTIN\Administrators, and no privileges (SeSecurityPrivilege,
// SeBackupPrivilege, SeRestorePrivilege, SeTakeOwnershipPrivilege) are
// modelled.

const (
	ridNone       = 513
	ridGuest      = 501
	ridGuestGroup = 514
	firstUserRID  = 1000
)

// machineSID is the cluster's account domain SID, derived from its
// ServerGuid (see above).
func machineSID(serverGUID [16]byte) secdesc.SID {
	h := sha256.Sum256(append([]byte("sofs machine SID\x00"), serverGUID[:]...))
	return secdesc.NewSID(5, 21,
		binary.LittleEndian.Uint32(h[0:]), binary.LittleEndian.Uint32(h[4:]), binary.LittleEndian.Uint32(h[8:]))
}

// userRID is the relative identifier of the account named user.
func userRID(user string) uint32 {
	h := sha256.Sum256([]byte(strings.ToUpper(user)))
	return firstUserRID + binary.LittleEndian.Uint32(h[:])%(1<<30)
}

// UserSID returns the SID sofs gives the account named user on the cluster
// whose ServerGuid is serverGUID.
func UserSID(serverGUID [16]byte, user string) secdesc.SID {
	return machineSID(serverGUID).WithRID(userRID(user))
}

// userSID is the SID of a session's user: what a durable handle's owner
// and a previous session's user are compared by ([MS-SMB2] 3.3.5.9.7 and
// 3.3.5.5.3 compare security contexts, not names). A name compared
// without its domain lets a local account "alice" and a domain's
// "alice", logged on with Kerberos, pass for each other.
func (s *Server) userSID(sess *session) string {
	return s.tokenFor(sess).User.String()
}

// sameUser reports whether a session whose user is named name with SID
// sid is the owner recorded as ownerSID and ownerName. Records and calls
// from before SIDs were kept carry only the name.
func sameUser(sid, name, ownerSID, ownerName string) bool {
	if ownerSID != "" {
		return sid == ownerSID
	}
	return strings.EqualFold(name, ownerName)
}

// tokenFor builds the token of a session (see the comment above).
func (s *Server) tokenFor(sess *session) *secdesc.Token {
	sess.mu.Lock()
	user, anon, guest, pac := sess.user, sess.anonymous, sess.guest, sess.pac
	sess.mu.Unlock()
	return s.identityToken(user, anon, guest, pac)
}

// identityToken builds the token of a user (anonymous, guest, named, or
// described by a Kerberos PAC).
func (s *Server) identityToken(user string, anon, guest bool, pac *krb5.Identity) *secdesc.Token {
	dom := machineSID(s.cfg.ServerGUID)
	switch {
	case pac != nil && !anon:
		return pacToken(pac)
	case anon:
		return &secdesc.Token{User: secdesc.Anonymous, PrimaryGroup: secdesc.Anonymous,
			Groups: []secdesc.SID{secdesc.Everyone, secdesc.NetworkLogon}}
	case guest:
		return &secdesc.Token{User: dom.WithRID(ridGuest), PrimaryGroup: dom.WithRID(ridGuestGroup),
			Groups: []secdesc.SID{secdesc.Everyone, secdesc.Guests, secdesc.NetworkLogon}}
	}
	return &secdesc.Token{User: dom.WithRID(userRID(user)), PrimaryGroup: dom.WithRID(ridNone),
		Groups: []secdesc.SID{secdesc.Everyone, secdesc.AuthenticatedUsers, secdesc.NetworkLogon, secdesc.Users}}
}

// thisOrganization is S-1-5-15, which Windows adds to the token of every
// logon by an account of the server's forest.
var thisOrganization = secdesc.NewSID(5, 15)

// pacToken builds the token of a Kerberos logon the way a Windows member
// server does ([MS-PAC] 2.5, [MS-KILE] 3.4.5.3): the user and primary
// group SIDs of the PAC, every group SID it lists (global, universal,
// domain-local resource groups, ExtraSids with SID history), then the
// well-known SIDs of a network logon (Everyone, NETWORK, Authenticated
// Users, This Organization) and BUILTIN\Users, of which Domain Users is a
// member on a member server.
func pacToken(id *krb5.Identity) *secdesc.Token {
	groups := make([]secdesc.SID, 0, len(id.Groups)+6)
	groups = append(groups, id.PrimaryGroup)
	groups = append(groups, id.Groups...)
	groups = append(groups, secdesc.Everyone, secdesc.NetworkLogon, secdesc.AuthenticatedUsers, thisOrganization, secdesc.Users)
	return &secdesc.Token{User: id.User, PrimaryGroup: id.PrimaryGroup, Groups: groups}
}
