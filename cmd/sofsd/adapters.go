package main

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/smbserver"
)

// shareSource serves the SMB server's share lookups from the live
// namespace view, so share changes apply without a restart. A share whose
// path breaks this node's policy (its data directory or private files,
// which another node creating the share cannot know) is not served; the
// refusal is logged at most once a minute.
type shareSource struct {
	v      *namespace.View
	policy namespace.SharePathPolicy
	vols   *volumeChecker // nil: no volume checks
	log    zerolog.Logger
}

func newShareSource(v *namespace.View, policy namespace.SharePathPolicy, vols *volumeChecker, log zerolog.Logger) shareSource {
	return shareSource{v: v, policy: policy, vols: vols, log: log.Sample(&zerolog.BurstSampler{Burst: 1, Period: time.Minute})}
}

// allowed applies the node's share path policy to sh, and the state of
// the volume it is on.
func (s shareSource) allowed(sh namespace.Share) bool {
	if err := s.policy.Check(sh.Path); err != nil {
		s.log.Warn().Str("share", sh.Name).Err(err).Msg("share not served: its path is refused on this node")
		return false
	}
	if err := s.vols.shareProblem(sh.Path); err != nil {
		s.log.Warn().Str("share", sh.Name).Err(err).Msg("share not served: its volume is not verified on this node")
		return false
	}
	return true
}

func toServerShare(sh namespace.Share) smbserver.Share {
	return smbserver.Share{
		Name:                   sh.Name,
		Comment:                sh.Comment,
		Path:                   sh.Path,
		ContinuouslyAvailable:  sh.ContinuouslyAvailable,
		EncryptData:            sh.EncryptData,
		ReadOnly:               sh.ReadOnly,
		Guest:                  sh.Guest,
		Permissions:            toServerPermissions(sh.Permissions),
		AccessBasedEnumeration: sh.AccessBasedEnumeration,
	}
}

func toServerPermissions(ps []namespace.SharePermission) []smbserver.SharePermission {
	if len(ps) == 0 {
		return nil
	}
	out := make([]smbserver.SharePermission, len(ps))
	for i, p := range ps {
		out[i] = smbserver.SharePermission{Account: p.Account, SID: p.SID, Access: p.Access, Deny: p.Deny}
	}
	return out
}

func (s shareSource) Share(name string) (smbserver.Share, bool) {
	sh, ok := s.v.Share(name)
	if !ok || !s.allowed(sh) {
		return smbserver.Share{}, false
	}
	return toServerShare(sh), true
}

func (s shareSource) Shares() []smbserver.Share {
	list := s.v.Shares()
	out := make([]smbserver.Share, 0, len(list))
	for _, sh := range list {
		if s.allowed(sh) {
			out = append(out, toServerShare(sh))
		}
	}
	return out
}

// refused lists the shares this node does not serve, for GET /readyz:
// stored records the namespace refuses (they do not decode, or their path
// breaks the cluster-wide rule) and shares whose path this node's policy
// refuses (its data directory, its private files).
func (s shareSource) refused() []adminapi.RefusedShare {
	var out []adminapi.RefusedShare
	for _, r := range s.v.RefusedShares() {
		out = append(out, adminapi.RefusedShare{Name: r.Name, Path: r.Path, Reason: r.Reason})
	}
	for _, sh := range s.v.Shares() {
		if err := s.policy.Check(sh.Path); err != nil {
			out = append(out, adminapi.RefusedShare{Name: sh.Name, Path: sh.Path, Reason: "refused on this node: " + err.Error()})
		} else if err := s.vols.shareProblem(sh.Path); err != nil {
			out = append(out, adminapi.RefusedShare{Name: sh.Name, Path: sh.Path, Reason: "refused on this node: " + err.Error()})
		}
	}
	return out
}

// userSource serves NT hashes from the live namespace view.
type userSource struct{ v *namespace.View }

func (u userSource) NTHash(user string) ([16]byte, bool) { return u.v.NTHash(user) }

var (
	_ smbserver.ShareSource = shareSource{}
	_ smbserver.UserSource  = userSource{}
)

// sessionSource publishes the SMB server's sessions and opens to the admin
// API, converting smbserver's views to the API's types.
type sessionSource struct{ srv *smbserver.Server }

func (s sessionSource) Sessions() []adminapi.SessionInfo {
	views := s.srv.Sessions()
	out := make([]adminapi.SessionInfo, 0, len(views))
	for _, v := range views {
		out = append(out, adminapi.SessionInfo{
			SessionID:     v.SessionID,
			ClientAddress: v.ClientAddress,
			User:          v.User,
			Guest:         v.Guest,
			Dialect:       dialectName(v.Dialect),
			Signed:        v.Signed,
			Encrypted:     v.Encrypted,
			Opens:         v.Opens,
			TreeConnects:  v.TreeConnects,
			ConnectedAt:   v.ConnectedAt,
		})
	}
	return out
}

func (s sessionSource) OpenFiles() []adminapi.OpenFileInfo {
	views := s.srv.OpenFiles()
	out := make([]adminapi.OpenFileInfo, 0, len(views))
	for _, v := range views {
		out = append(out, adminapi.OpenFileInfo{
			FileID:        v.FileID,
			SessionID:     v.SessionID,
			Share:         v.Share,
			Path:          v.Path,
			ClientAddress: v.ClientAddress,
			User:          v.User,
			Access:        v.Access,
			OpenedAt:      v.OpenedAt,
			Durable:       v.Durable,
			Persistent:    v.Persistent,
			Disconnected:  v.Disconnected,
			Locks:         v.Locks,
		})
	}
	return out
}

// dialectName spells an SMB2 dialect revision as operators know it.
func dialectName(d uint16) string {
	switch d {
	case smbserver.Dialect202:
		return "2.0.2"
	case smbserver.Dialect210:
		return "2.1"
	case smbserver.Dialect300:
		return "3.0"
	case smbserver.Dialect302:
		return "3.0.2"
	case smbserver.Dialect311:
		return "3.1.1"
	}
	return fmt.Sprintf("%#04x", d)
}
