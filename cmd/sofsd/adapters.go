package main

import (
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/smbserver"
)

// shareSource serves the SMB server's share lookups from the live
// namespace view, so share changes apply without a restart.
type shareSource struct{ v *namespace.View }

func toServerShare(sh namespace.Share) smbserver.Share {
	return smbserver.Share{
		Name:                  sh.Name,
		Comment:               sh.Comment,
		Path:                  sh.Path,
		ContinuouslyAvailable: sh.ContinuouslyAvailable,
		EncryptData:           sh.EncryptData,
		ReadOnly:              sh.ReadOnly,
		Guest:                 sh.Guest,
	}
}

func (s shareSource) Share(name string) (smbserver.Share, bool) {
	sh, ok := s.v.Share(name)
	if !ok {
		return smbserver.Share{}, false
	}
	return toServerShare(sh), true
}

func (s shareSource) Shares() []smbserver.Share {
	list := s.v.Shares()
	out := make([]smbserver.Share, len(list))
	for i, sh := range list {
		out[i] = toServerShare(sh)
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
