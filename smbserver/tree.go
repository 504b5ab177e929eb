package smbserver

import (
	"strings"
	"sync/atomic"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/secdesc"
	"sofs.io/sofs/smbserver/wire"
)

// tree is a tree connect ([MS-SMB2] 3.3.1.10).
type tree struct {
	id      uint32
	sess    *session
	share   Share // snapshot taken at connect time
	vol     *csv.Volume
	ipc     bool
	encrypt bool
	// access is the session's identity as this tree sees it: replaced
	// as a whole when a re-authentication changes who the session is
	// (reauth.go), so a request never mixes two identities.
	access atomic.Pointer[treeAccess]
}

// treeAccess is what a tree connect grants the session's current identity.
type treeAccess struct {
	token     *secdesc.Token // the session's SIDs (identity.go); nil on IPC$
	maxAccess uint32         // the share's permissions for token
	// refused is set while the identity could not have made this tree
	// connect (reauth.go): new opens on it are refused.
	refused bool
}

// maxAccess is the access the share grants the session's current identity.
func (t *tree) maxAccess() uint32 { return t.access.Load().maxAccess }

// token is the session's current token (nil on IPC$).
func (t *tree) token() *secdesc.Token { return t.access.Load().token }

// diskAccess computes what share sh grants tok.
func (c *conn) diskAccess(sh Share, tok *secdesc.Token) uint32 {
	max := c.srv.shareAccess(sh, tok) // sharesec.go
	if sh.ReadOnly {
		max &= accessReadOnly
	}
	return max
}

// Maximal access masks reported in TREE_CONNECT and MxAc ([MS-DTYP] 2.4.3).
const (
	accessFull     uint32 = 0x001F01FF
	accessReadOnly uint32 = 0x001200A9
)

// handleTreeConnect implements [MS-SMB2] 3.3.5.7.
func (c *conn) handleTreeConnect(r *request) wire.Status {
	var req wire.TreeConnectRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	name := shareNameFromPath(req.Path)
	if name == "" {
		return wire.StatusBadNetworkName
	}
	sess := r.sess
	sess.mu.Lock()
	anon := sess.anonymous || sess.guest
	canEncrypt := sess.enc != nil
	sess.mu.Unlock()

	t := &tree{sess: sess}
	resp := wire.TreeConnectResponse{}
	if strings.EqualFold(name, "IPC$") {
		t.ipc = true
		t.access.Store(&treeAccess{maxAccess: accessFull})
		resp.ShareType = wire.ShareTypePipe
	} else {
		sh, ok := c.srv.cfg.Shares.Share(name)
		if !ok {
			return wire.StatusBadNetworkName
		}
		if anon && !sh.Guest {
			return wire.StatusAccessDenied
		}
		vol, err := c.srv.volume(sh)
		if err != nil {
			c.log.Error().Err(err).Str("share", sh.Name).Msg("share backing directory unavailable")
			return wire.StatusBadNetworkName
		}
		t.share, t.vol = sh, vol
		t.encrypt = (sh.EncryptData || c.srv.cfg.EncryptData) && c.dialect >= Dialect300
		if (sh.EncryptData || c.srv.cfg.EncryptData) && !canEncrypt && !c.srv.cfg.AllowUnencrypted {
			return wire.StatusAccessDenied
		}
		tok := c.srv.tokenFor(sess)
		max := c.diskAccess(sh, tok)
		if max == 0 {
			return wire.StatusAccessDenied
		}
		t.access.Store(&treeAccess{token: tok, maxAccess: max})
		resp.ShareType = wire.ShareTypeDisk
		resp.Capabilities |= shareCapCA(sh, c.dialect) // durable.go
		if t.encrypt {
			resp.ShareFlags |= wire.ShareFlagEncryptData
		}
		if sh.AccessBasedEnumeration {
			resp.ShareFlags |= wire.ShareFlagAccessBasedDirEnum
		}
	}
	resp.MaximalAccess = t.maxAccess()
	sess.mu.Lock()
	if sess.state != sessionValid {
		sess.mu.Unlock()
		return wire.StatusUserSessionDeleted
	}
	for sess.trees[sess.nextTreeID] != nil || sess.nextTreeID == 0 || sess.nextTreeID == ^uint32(0) {
		sess.nextTreeID++
	}
	t.id = sess.nextTreeID
	sess.nextTreeID++
	sess.trees[t.id] = t
	sess.mu.Unlock()
	r.hdr.TreeID = t.id
	r.tree = t
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// shareNameFromPath extracts SHARE from "\\server\SHARE" ([MS-SMB2]
// 2.2.9: the path is a UNC name; some clients omit the server part).
func shareNameFromPath(p string) string {
	p = strings.TrimLeft(p, `\`)
	if i := strings.IndexByte(p, '\\'); i >= 0 {
		p = p[i+1:]
	}
	if strings.ContainsAny(p, `\/`) {
		return ""
	}
	return p
}

// handleTreeDisconnect implements [MS-SMB2] 3.3.5.8: every open on the
// tree is closed.
func (c *conn) handleTreeDisconnect(r *request) wire.Status {
	var req wire.TreeDisconnectRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	sess, t := r.sess, r.tree
	c.cancelAsync(sess.id, t.id)
	sess.mu.Lock()
	delete(sess.trees, t.id)
	var victims []*open
	for id, o := range sess.opens {
		if o.tree == t {
			victims = append(victims, o)
			delete(sess.opens, id)
		}
	}
	sess.mu.Unlock()
	for _, o := range victims {
		c.srv.closeOpen(o)
	}
	resp := wire.TreeDisconnectResponse{}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}
