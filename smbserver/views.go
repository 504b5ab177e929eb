package smbserver

import (
	"fmt"
	"sort"
	"time"
)

// SessionView describes one session for operators (the equivalent of a
// row of Get-SmbSession). It is a snapshot: nothing in it is live.
type SessionView struct {
	SessionID     uint64
	ClientAddress string
	User          string // DOMAIN\name, or name without a domain
	Guest         bool   // guest or anonymous
	Dialect       uint16
	Signed        bool
	Encrypted     bool
	Opens         int
	TreeConnects  int
	ConnectedAt   time.Time
}

// OpenFileView describes one open (a row of Get-SmbOpenFile).
type OpenFileView struct {
	FileID        string // persistent:volatile in hex
	SessionID     uint64
	Share         string
	Path          string // relative to the share root, backslashes
	ClientAddress string
	User          string
	Access        uint32
	OpenedAt      time.Time
	// Durable and Persistent: the handle outlives its connection (and,
	// persistent, its node); Disconnected: its client is away and it
	// waits to be reclaimed (SessionID 0).
	Durable, Persistent, Disconnected bool
	Locks                             int
}

// Sessions returns a snapshot of every authenticated session, ordered by id.
func (s *Server) Sessions() []SessionView {
	var out []SessionView
	for _, sess := range s.sessions.all() {
		sess.mu.Lock()
		if sess.state != sessionValid {
			sess.mu.Unlock()
			continue
		}
		v := SessionView{
			SessionID:    sess.id,
			User:         qualifiedUser(sess.domain, sess.user),
			Guest:        sess.guest || sess.anonymous,
			Dialect:      sess.dialect,
			Signed:       sess.signer != nil && sess.signingRequired,
			Encrypted:    sess.encryptData,
			Opens:        len(sess.opens),
			TreeConnects: len(sess.trees),
			ConnectedAt:  sess.created,
		}
		if sess.conn != nil {
			v.ClientAddress = sess.conn.nc.RemoteAddr().String()
		}
		sess.mu.Unlock()
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SessionID < out[j].SessionID })
	return out
}

// OpenFiles returns a snapshot of every open on disk shares, ordered by
// session then FileId. Pipe opens (IPC$) are not files and are left out.
func (s *Server) OpenFiles() []OpenFileView {
	var out []OpenFileView
	// The durable part of each open, copied first: s.dh.mu is not taken
	// under a session's lock.
	type durableView struct {
		o                        *open
		share, user              string
		persistent, disconnected bool
		locks                    int
	}
	durable := make(map[*open]durableView)
	s.dh.mu.Lock()
	for o, d := range s.dh.byOpen {
		durable[o] = durableView{o: o, share: d.share, user: d.user, persistent: d.persistent, disconnected: d.disconnected, locks: len(d.locks)}
	}
	s.dh.mu.Unlock()
	for _, sess := range s.sessions.all() {
		sess.mu.Lock()
		user := qualifiedUser(sess.domain, sess.user)
		addr := ""
		if sess.conn != nil {
			addr = sess.conn.nc.RemoteAddr().String()
		}
		for _, o := range sess.opens {
			if o.pipe != nil || o.tree == nil {
				continue
			}
			out = append(out, OpenFileView{
				FileID:        fmt.Sprintf("%016x:%016x", o.id.Persistent, o.id.Volatile),
				SessionID:     sess.id,
				Share:         o.tree.share.Name,
				Path:          o.name,
				ClientAddress: addr,
				User:          user,
				Access:        o.access,
				OpenedAt:      o.opened,
			})
			if d, ok := durable[o]; ok {
				v := &out[len(out)-1]
				v.Durable, v.Persistent, v.Locks = true, d.persistent, d.locks
			}
		}
		sess.mu.Unlock()
	}
	// Handles waiting for their clients belong to no session; they are
	// what a drain hands over and what a lost node's survivors adopt.
	for _, d := range durable {
		if !d.disconnected {
			continue
		}
		o := d.o
		out = append(out, OpenFileView{
			FileID: fmt.Sprintf("%016x:%016x", o.id.Persistent, o.id.Volatile),
			Share:  d.share, Path: o.name, User: d.user, Access: o.access, OpenedAt: o.opened,
			Durable: true, Persistent: d.persistent, Disconnected: true, Locks: d.locks,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].SessionID != out[j].SessionID {
			return out[i].SessionID < out[j].SessionID
		}
		return out[i].FileID < out[j].FileID
	})
	return out
}

func qualifiedUser(domain, user string) string {
	if domain == "" {
		return user
	}
	return domain + `\` + user
}
