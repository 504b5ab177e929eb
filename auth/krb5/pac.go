package krb5

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/pac"
	"github.com/jcmturner/gokrb5/v8/types"
	"github.com/jcmturner/rpc/v2/mstypes"

	"sofs.io/sofs/smbserver/secdesc"
)

// Identity is the client's identity as its PAC states it ([MS-PAC] 2.5,
// KERB_VALIDATION_INFO): what a Windows server puts in the access token
// of a Kerberos logon.
type Identity struct {
	// User is the account's SID (LogonDomainId + UserId).
	User secdesc.SID
	// PrimaryGroup is the account's primary group (Domain Users, or
	// Domain Computers for a machine).
	PrimaryGroup secdesc.SID
	// Groups are every group SID the PAC lists: the account domain's
	// global and universal groups (GroupIds), the ExtraSids (universal
	// groups of other domains, SID history, well-known SIDs such as
	// "Authentication authority asserted identity") and the resource
	// domain's domain-local groups (ResourceGroupIds).
	Groups []secdesc.SID
	// Name and Domain are the account name (EffectiveName) and NetBIOS
	// domain name (LogonDomainName).
	Name, Domain string
	// ClientName is the name in PAC_CLIENT_INFO, which must be the
	// ticket's client name ([MS-PAC] 2.7).
	ClientName string
	// Machine is set for a computer account's logon.
	Machine bool
}

// PAC constants ([MS-PAC] 2.3, 2.4; RFC 4120 7.5.4).
const (
	adIfRelevant = 1
	adWin2KPAC   = 128
	// pacHeader is cBuffers and Version; each PAC_INFO_BUFFER is 16 bytes.
	pacHeader     = 8
	pacInfoBuffer = 16
	// userFlagMachine would say "machine account" in UserFlags; the
	// reliable sign is UserAccountControl's workstation/server trust bits.
	uacWorkstationTrust = 0x00000080
	uacServerTrust      = 0x00000100
)

// identityFromTicket finds the ticket's PAC, checks its structure and
// server signature (made with the service key, so only the KDC could
// have made it) and returns the identity it states, or nil when the
// ticket has no PAC.
func identityFromTicket(tp *messages.EncTicketPart, key types.EncryptionKey) (*Identity, error) {
	var raw []byte
	for _, ad := range tp.AuthorizationData {
		if ad.ADType != adIfRelevant {
			continue
		}
		var inner types.AuthorizationData
		if err := inner.Unmarshal(ad.ADData); err != nil {
			return nil, fmt.Errorf("%w: AD-IF-RELEVANT: %v", ErrPAC, err)
		}
		for _, e := range inner {
			if e.ADType != adWin2KPAC {
				continue
			}
			if raw != nil {
				// [MS-KILE] 3.4.5.3: a ticket with more than one
				// PAC is refused.
				return nil, fmt.Errorf("%w: two PACs", ErrPAC)
			}
			raw = e.ADData
		}
	}
	if raw == nil {
		return nil, nil
	}
	if err := checkPACLayout(raw); err != nil {
		return nil, err
	}
	var p pac.PACType
	if err := p.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPAC, err)
	}
	if err := p.ProcessPACInfoBuffers(key, log.New(io.Discard, "", 0)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPAC, err)
	}
	return identityFromPAC(&p)
}

// checkPACLayout validates PACTYPE's header and buffer table ([MS-PAC]
// 2.3, 2.4) before gokrb5 reads it: gokrb5 allocates the table from
// cBuffers and slices buffers by Offset and cbBufferSize unchecked.
func checkPACLayout(b []byte) error {
	if len(b) < pacHeader {
		return fmt.Errorf("%w: %d-byte PAC", ErrPAC, len(b))
	}
	n := uint64(binary.LittleEndian.Uint32(b))
	if n == 0 || n > uint64(len(b)-pacHeader)/pacInfoBuffer {
		return fmt.Errorf("%w: %d buffers in %d bytes", ErrPAC, n, len(b))
	}
	for i := range n {
		e := b[pacHeader+i*pacInfoBuffer:]
		size := uint64(binary.LittleEndian.Uint32(e[4:]))
		off := binary.LittleEndian.Uint64(e[8:])
		if off > uint64(len(b)) || size > uint64(len(b))-off {
			return fmt.Errorf("%w: buffer %d at %d+%d beyond %d bytes", ErrPAC, i, off, size, len(b))
		}
	}
	return nil
}

// identityFromPAC turns the decoded PAC into an Identity.
func identityFromPAC(p *pac.PACType) (*Identity, error) {
	v := p.KerbValidationInfo
	if v == nil || p.ClientInfo == nil {
		return nil, fmt.Errorf("%w: no logon or client info", ErrPAC)
	}
	dom, err := sidOf(&v.LogonDomainID)
	if err != nil {
		return nil, err
	}
	id := &Identity{
		User:         dom.WithRID(v.UserID),
		PrimaryGroup: dom.WithRID(v.PrimaryGroupID),
		Name:         v.EffectiveName.Value,
		Domain:       v.LogonDomainName.Value,
		ClientName:   p.ClientInfo.Name,
		Machine:      v.UserAccountControl&(uacWorkstationTrust|uacServerTrust) != 0,
	}
	for _, g := range v.GroupIDs {
		id.Groups = append(id.Groups, dom.WithRID(g.RelativeID))
	}
	for i := range v.ExtraSIDs {
		s, err := sidOf(&v.ExtraSIDs[i].SID)
		if err != nil {
			return nil, err
		}
		id.Groups = append(id.Groups, s)
	}
	if len(v.ResourceGroupIDs) > 0 {
		rd, err := sidOf(&v.ResourceGroupDomainSID)
		if err != nil {
			return nil, err
		}
		for _, g := range v.ResourceGroupIDs {
			id.Groups = append(id.Groups, rd.WithRID(g.RelativeID))
		}
	}
	return id, nil
}

// sidOf converts an NDR RPC_SID.
func sidOf(s *mstypes.RPCSID) (secdesc.SID, error) {
	if s.SubAuthorityCount == 0 || len(s.SubAuthority) != int(s.SubAuthorityCount) {
		return secdesc.SID{}, fmt.Errorf("%w: SID with %d/%d sub-authorities", ErrPAC, s.SubAuthorityCount, len(s.SubAuthority))
	}
	sid, err := secdesc.ParseSID(s.String())
	if err != nil {
		return secdesc.SID{}, fmt.Errorf("%w: SID: %v", ErrPAC, err)
	}
	return sid, nil
}

// matches reports whether the PAC's client info names the ticket's
// client ([MS-PAC] 2.7: the Name is the client's account name). Windows
// compares names without case.
func (id *Identity) matches(cname types.PrincipalName) bool {
	if len(cname.NameString) == 0 {
		return false
	}
	name := strings.Join(cname.NameString, "/")
	// A UPN logon puts user@dnsdomain in the client info.
	return strings.EqualFold(id.ClientName, name) || strings.EqualFold(strings.SplitN(id.ClientName, "@", 2)[0], name)
}
