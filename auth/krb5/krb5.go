// Package krb5 is sofs's Kerberos V5 acceptor for SMB2 SESSION_SETUP
// ([MS-KILE], RFC 4120, RFC 4121): it validates a client's AP-REQ with the
// service keys of a keytab, refuses replayed authenticators, builds the
// AP-REP of mutual authentication, yields the session key [MS-SMB2]
// 3.3.5.5.3 derives SMB keys from, makes and checks the RFC 4121 MIC
// tokens SPNEGO's mechListMIC needs, and reads the client's identity
// (user, groups, SID history) from the ticket's verified PAC ([MS-PAC]).
//
// github.com/jcmturner/gokrb5 supplies ASN.1 codecs, the ciphers and NDR
// decoding of the PAC; the acceptor's decisions (which key, which times,
// replay, which subkey, the AP-REP) are made here.
package krb5

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Errors of Accept. Callers map ErrMalformed to STATUS_INVALID_PARAMETER
// and every other failure to STATUS_LOGON_FAILURE, as Samba's acceptor
// does (a garbled token is a protocol error, anything else a refused
// logon).
var (
	// ErrMalformed reports a token that does not decode.
	ErrMalformed = errors.New("krb5: malformed token")
	// ErrNoKey reports a ticket for a service whose key the keytab does
	// not hold (a ticket for another service, or an old kvno).
	ErrNoKey = errors.New("krb5: no key for the ticket")
	// ErrIntegrity reports a ticket or authenticator that does not
	// decrypt with the key it names.
	ErrIntegrity = errors.New("krb5: integrity check failed")
	// ErrTime reports a ticket not yet or no longer valid, or an
	// authenticator outside the clock skew.
	ErrTime = errors.New("krb5: ticket or authenticator out of its time")
	// ErrReplay reports an authenticator seen before (RFC 4120 3.2.3).
	ErrReplay = errors.New("krb5: replayed authenticator")
	// ErrPAC reports a PAC that is missing, malformed or whose server
	// signature does not verify.
	ErrPAC = errors.New("krb5: bad PAC")
	// ErrMIC reports a mechListMIC that does not verify.
	ErrMIC = errors.New("krb5: bad MIC")
)

// DefaultClockSkew is the clock skew Windows and MIT allow between a
// client and the server (RFC 4120 1.6 recommends 5 minutes).
const DefaultClockSkew = 5 * time.Minute

// Config configures an Acceptor.
type Config struct {
	// Keys supplies the service keys (a keytab).
	Keys KeySource
	// ClockSkew is the allowed skew; DefaultClockSkew when zero.
	ClockSkew time.Duration
	// Now returns the current time; time.Now when nil (tests set it).
	Now func() time.Time
}

// Acceptor validates AP-REQs. It is safe for concurrent use; its replay
// cache is its own, so two servers in one process do not share one.
// It does not log: every refusal is an error wrapping one of the Err
// values above, which the caller logs with its own context.
type Acceptor struct {
	keys   KeySource
	skew   time.Duration
	now    func() time.Time
	replay *replayCache
}

// New returns an Acceptor for cfg.
func New(cfg Config) *Acceptor {
	a := &Acceptor{keys: cfg.Keys, skew: cfg.ClockSkew, now: cfg.Now}
	if a.skew <= 0 {
		a.skew = DefaultClockSkew
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.replay = newReplayCache(a.skew)
	return a
}

// Result is an established Kerberos context.
type Result struct {
	// Mech is the mechanism OID the client used; the SPNEGO answer names
	// it ([MS-KILE] 3.1.5.13).
	Mech asn1.ObjectIdentifier
	// ResponseToken is the GSS-API AP-REP token, nil when the client did
	// not ask for mutual authentication.
	ResponseToken []byte
	// SessionKey is the context's key (RFC 4121 2): the acceptor subkey
	// the AP-REP carries when the client asked for mutual
	// authentication, otherwise the authenticator's subkey, or the
	// ticket's session key when the client sent none. It is what GSS-API
	// reports as the session key on Windows and with MIT Kerberos, and
	// SMB uses its first 16 bytes ([MS-SMB2] 3.3.5.5.3).
	SessionKey []byte
	// Client and Realm name the client principal (user, or NAME$ for a
	// computer account).
	Client, Realm string
	// EndTime is when the ticket expires ([MS-SMB2] 3.3.5.5.3:
	// Session.ExpirationTime).
	EndTime time.Time
	// Identity is what the PAC says of the client; nil when the ticket
	// carries no PAC (an MIT or Heimdal KDC without one).
	Identity *Identity

	// DCEStyle is set when the client asked for DCE-style context
	// establishment (GSS_C_DCE_STYLE, as DCE/RPC clients do): the AP-REP
	// goes back without GSS-API framing and the client answers with an
	// AP-REP of its own, checked by AcceptDCEReply, before the context
	// is ready.
	DCEStyle bool

	key            types.EncryptionKey
	ticketKey      types.EncryptionKey // the ticket's session key (DCE-style third leg)
	acceptorSubkey bool                // key is the AP-REP's subkey
	serverSeq      uint64              // the acceptor's MIC sequence number (AP-REP seq-number)
	dceDone        bool

	// seqMu guards nextSeq, the acceptor's next sequence number for the
	// per-message tokens of Sign.
	seqMu   sync.Mutex
	nextSeq uint64
}

// maxSeq bounds the acceptor's initial sequence number: 2^30 keeps it
// positive and far from wrapping in the 32-bit fields older peers use.
const maxSeq = 1 << 30

// Accept validates the Kerberos token of a SESSION_SETUP (the GSS-API
// InitialContextToken holding an AP-REQ) and establishes a context.
func (a *Acceptor) Accept(token []byte) (res *Result, err error) {
	raw, mech, err := unwrapAPReq(token)
	if err != nil {
		return nil, err
	}
	// gokrb5's ASN.1 and NDR decoders index slices from the message;
	// anything they miss must be a refused token, not a dead server.
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%w: decoder panic: %v", ErrMalformed, r)
		}
	}()
	var req messages.APReq
	if err := req.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("%w: AP-REQ: %v", ErrMalformed, err)
	}
	if types.IsFlagSet(&req.APOptions, flags.APOptionUseSessionKey) {
		// User-to-user needs a TGT of ours, which a file server has not.
		return nil, fmt.Errorf("%w: user-to-user AP-REQ", ErrNoKey)
	}
	key, err := a.keys.Key(req.Ticket.SName, req.Ticket.Realm, req.Ticket.EncPart.KVNO, req.Ticket.EncPart.EType)
	if err != nil {
		return nil, err
	}
	if err := req.Ticket.Decrypt(key); err != nil {
		return nil, fmt.Errorf("%w: ticket for %s: %v", ErrIntegrity, req.Ticket.SName.PrincipalNameString(), err)
	}
	tp := &req.Ticket.DecryptedEncPart
	now := a.now().UTC()
	start := tp.StartTime
	if start.IsZero() {
		start = tp.AuthTime
	}
	if now.Add(a.skew).Before(start) || now.Add(-a.skew).After(tp.EndTime) {
		return nil, fmt.Errorf("%w: ticket valid %v to %v, now %v", ErrTime, start, tp.EndTime, now)
	}
	if types.IsFlagSet(&tp.Flags, flags.Invalid) {
		return nil, fmt.Errorf("%w: ticket flagged invalid", ErrTime)
	}
	if err := req.DecryptAuthenticator(tp.Key); err != nil {
		return nil, fmt.Errorf("%w: authenticator: %v", ErrIntegrity, err)
	}
	auth := &req.Authenticator
	if !auth.CName.Equal(tp.CName) || auth.CRealm != tp.CRealm {
		return nil, fmt.Errorf("%w: authenticator names %s, ticket %s", ErrIntegrity, auth.CName.PrincipalNameString(), tp.CName.PrincipalNameString())
	}
	ctime := auth.CTime.Add(time.Duration(auth.Cusec) * time.Microsecond)
	if d := now.Sub(ctime); d > a.skew || d < -a.skew {
		return nil, fmt.Errorf("%w: authenticator time %v is %v from now", ErrTime, ctime, d)
	}
	gssFlags, err := checksumFlags(auth)
	if err != nil {
		return nil, err
	}
	if err := a.replay.check(replayKey(auth, req.Ticket.SName), now); err != nil {
		return nil, err
	}
	res = &Result{
		Mech: mech, Client: tp.CName.PrincipalNameString(), Realm: tp.CRealm,
		EndTime: tp.EndTime, key: tp.Key, ticketKey: tp.Key,
		DCEStyle: gssFlags&gssDCEStyle != 0,
	}
	if auth.SubKey.KeyType != 0 && len(auth.SubKey.KeyValue) > 0 {
		res.key = auth.SubKey
	}
	res.SessionKey = append([]byte(nil), res.key.KeyValue...)
	id, err := identityFromTicket(tp, key)
	if err != nil {
		return nil, err
	}
	if id != nil && !id.matches(tp.CName) {
		return nil, fmt.Errorf("%w: PAC client info names %q, ticket %s", ErrPAC, id.ClientName, res.Client)
	}
	res.Identity = id
	if types.IsFlagSet(&req.APOptions, flags.APOptionMutualRequired) || gssFlags&gssMutual != 0 {
		seq, err := randomSeq()
		if err != nil {
			return nil, err
		}
		res.serverSeq, res.nextSeq = seq, seq
		// Windows and MIT acceptors answer with a subkey of their own,
		// of the context key's type, which then keys the context; some
		// initiators (go-smb2) take the SMB session key from it alone.
		et, err := crypto.GetEtype(res.key.KeyType)
		if err != nil {
			return nil, fmt.Errorf("%w: key type %d: %v", ErrMalformed, res.key.KeyType, err)
		}
		sub, err := types.GenerateEncryptionKey(et)
		if err != nil {
			return nil, fmt.Errorf("krb5: acceptor subkey: %w", err)
		}
		rep, err := buildAPRep(auth, tp.Key, sub, seq)
		if err != nil {
			return nil, err
		}
		res.ResponseToken = wrapAPRep(rep, mech)
		if res.DCEStyle {
			// DCE style answers with the bare AP-REP ([MS-KILE]
			// 3.4.5.1; Heimdal and Windows acceptors alike).
			res.ResponseToken = rep
		}
		res.key, res.acceptorSubkey = sub, true
		res.SessionKey = append([]byte(nil), sub.KeyValue...)
	}
	return res, nil
}

// GSS-API context flags in the authenticator checksum (RFC 4121 4.1.1.1).
const (
	gssMutual = 2
	// gssDCEStyle is GSS_C_DCE_STYLE ([MS-KILE] 3.2.5.2, RFC 4757 7.1).
	gssDCEStyle = 0x1000
	// gssChecksumType is the authenticator checksum type of GSS-API
	// (RFC 4121 4.1.1).
	gssChecksumType = 0x8003
	// gssChecksumMin is the length up to and including Flags.
	gssChecksumMin = 24
)

// checksumFlags returns the GSS-API flags of the authenticator's 0x8003
// checksum, or 0 when the client sent a raw Kerberos AP-REQ without one.
func checksumFlags(auth *types.Authenticator) (uint32, error) {
	c := auth.Cksum
	if c.CksumType == 0 && len(c.Checksum) == 0 {
		return 0, nil
	}
	if c.CksumType != gssChecksumType {
		return 0, nil
	}
	if len(c.Checksum) < gssChecksumMin {
		return 0, fmt.Errorf("%w: %d-byte GSS checksum", ErrMalformed, len(c.Checksum))
	}
	b := c.Checksum
	if n := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24; n != 16 {
		return 0, fmt.Errorf("%w: GSS checksum Lgth %d", ErrMalformed, n)
	}
	return uint32(b[20]) | uint32(b[21])<<8 | uint32(b[22])<<16 | uint32(b[23])<<24, nil
}

// keyUsageAPRep is the key usage of EncAPRepPart (RFC 4120 7.5.1).
const keyUsageAPRep = keyusage.AP_REP_ENCPART
