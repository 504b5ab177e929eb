package smbserver

import (
	"context"
	"fmt"
	"time"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/wire"
)

// Server-side copies across nodes. A resume key (FSCTL_SRV_REQUEST_RESUME_KEY)
// or an offload token (FSCTL_OFFLOAD_READ) is random and held only by the
// server that issued it, with the open it names; a client whose
// destination open is on another node of a cluster hands that node a key
// it has never seen. The destination then asks the other nodes
// (Config.CopySourceElsewhere), the issuer checks the key against its own
// table (the source open still open, the token not expired, the ranges
// not locked against the source open) and answers with the file's share
// and path; the destination opens the file itself on the shared volume and
// copies, so the data never crosses the node-to-node channel. The keys
// stay unforgeable for the same reason as on one node: they are 24 or 504
// random bytes that only the issuer's table maps to anything.

// CopySourceQuery asks the node that issued a resume key or an offload
// token what it stands for. Exactly one of ResumeKey and Token is set.
type CopySourceQuery struct {
	ResumeKey []byte `json:"resume_key,omitempty"`
	Token     []byte `json:"token,omitempty"`
	// Ranges are the source ranges a copychunk will read, checked on the
	// issuer against byte-range locks as a read through the source open
	// (smb2.ioctl.copy_chunk_src_lock).
	Ranges []CopyRange `json:"ranges,omitempty"`
}

// MaxCopyRanges bounds CopySourceQuery.Ranges: a copychunk's chunks
// ([MS-SMB2] 3.3.5.15.6, this server's ChunksWritten limit).
const MaxCopyRanges = copyMaxChunks

// CopyRange is one source range of a copy.
type CopyRange struct {
	Off uint64 `json:"off"`
	Len uint64 `json:"len"`
}

// CopySource is the issuer's answer to a CopySourceQuery.
type CopySource struct {
	// Found is false when this server did not issue the key, or it no
	// longer stands for anything (its open closed, the token expired).
	Found  bool   `json:"found"`
	Share  string `json:"share,omitempty"`
	Path   string `json:"path,omitempty"` // relative to the share root, as csv.OpenRequest.Path
	Access uint32 `json:"access,omitempty"`
	IsDir  bool   `json:"is_dir,omitempty"`
	// Conflict is the index of the first of the query's Ranges that a
	// byte-range lock conflicts with, or -1.
	Conflict int `json:"conflict"`
	// An offload token's range, and the file's size and write time when
	// it was made: a file that changed since voids the token.
	Off       int64     `json:"off,omitempty"`
	N         int64     `json:"n,omitempty"`
	EndOfFile int64     `json:"eof,omitempty"`
	LastWrite time.Time `json:"last_write"`
}

// ResolveCopySource answers another node's CopySourceQuery from this
// server's resume keys and offload tokens.
func (s *Server) ResolveCopySource(q CopySourceQuery) CopySource {
	k := s.copyKeys()
	out := CopySource{Conflict: -1}
	var src *open
	switch {
	case len(q.ResumeKey) == wire.ResumeKeySize:
		var key [wire.ResumeKeySize]byte
		copy(key[:], q.ResumeKey)
		k.mu.Lock()
		src = k.resume[key]
		k.mu.Unlock()
	case len(q.Token) == wire.OffloadTokenSize:
		var t [wire.OffloadTokenSize]byte
		copy(t[:], q.Token)
		k.mu.Lock()
		tok := k.tokens[t]
		if tok != nil && time.Now().After(tok.expires) {
			delete(k.tokens, t)
			tok = nil
		}
		k.mu.Unlock()
		if tok != nil {
			src = tok.src
			out.Off, out.N = tok.off, tok.n
			out.EndOfFile, out.LastWrite = tok.gen.EndOfFile, tok.gen.LastWriteTime
		}
	}
	if src == nil || !s.live(src) || src.handle == nil || src.tree == nil {
		return CopySource{Conflict: -1}
	}
	out.Found = true
	out.Share, out.Path = src.tree.share.Name, src.handle.Path()
	if st := src.handle.StreamName(); st != "" {
		out.Path += ":" + st
	}
	out.Access, out.IsDir = src.access, src.isDir
	for i, rg := range q.Ranges {
		if ioLockConflict(src, rg.Off, rg.Len, false) != wire.StatusSuccess {
			out.Conflict = i
			break
		}
	}
	return out
}

// copyFrom is the source of a server-side copy: an open of this server,
// or a file opened here for a key another node issued.
type copyFrom struct {
	h      *csv.Handle
	access uint32
	isDir  bool
	// conflict reports a byte-range lock conflict of the i-th source
	// range.
	conflict func(i int, off, n uint64) wire.Status
	// remote is what the issuer answered, for a key from another node.
	remote *CopySource
}

// close releases a handle opened for another node's key.
func (f *copyFrom) close() {
	if f.remote != nil && f.h != nil {
		f.h.Close()
	}
}

func localCopyFrom(src *open) *copyFrom {
	return &copyFrom{h: src.handle, access: src.access, isDir: src.isDir,
		conflict: func(_ int, off, n uint64) wire.Status { return ioLockConflict(src, off, n, false) }}
}

// remoteCopySource asks the other nodes about a key this server did not
// issue; nil (and no error) when none knows it.
func (c *conn) remoteCopySource(ctx context.Context, q CopySourceQuery) (*copyFrom, error) {
	f := c.srv.cfg.CopySourceElsewhere
	if f == nil {
		return nil, nil
	}
	cs, err := f(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("resolve a copy key on other nodes: %w", err)
	}
	if !cs.Found {
		return nil, nil
	}
	sh, ok := c.srv.cfg.Shares.Share(cs.Share)
	if !ok {
		return nil, nil // the share went away meanwhile: the key names nothing here
	}
	vol, err := c.srv.volume(sh)
	if err != nil {
		return nil, err
	}
	from := &copyFrom{access: cs.Access, isDir: cs.IsDir, remote: &cs,
		conflict: func(i int, _, _ uint64) wire.Status {
			if i == cs.Conflict {
				return wire.StatusFileLockConflict
			}
			return wire.StatusSuccess
		}}
	if cs.IsDir {
		return from, nil // refused by the caller before any data is read
	}
	// A plain open, outside share modes and leases: the source open on
	// the issuer is the one that took part in them. It still counts as
	// an open of the object, so the file stays while the copy reads it.
	h, _, err := vol.Open(ctx, csv.OpenRequest{Path: cs.Path, Disposition: csv.Open, NonDirectory: true})
	if err != nil {
		return nil, fmt.Errorf("open the copy source %q of share %q: %w", cs.Path, cs.Share, err)
	}
	from.h = h
	return from, nil
}

// copychunkSource finds the open a copychunk's resume key names: on this
// server, or through the node that issued it. An unknown key is
// STATUS_OBJECT_NAME_NOT_FOUND ([MS-SMB2] 3.3.5.15.6).
func (c *conn) copychunkSource(r *request, in wire.SrvCopychunkCopy) (*copyFrom, wire.Status) {
	k := c.srv.copyKeys()
	k.mu.Lock()
	src := k.resume[in.SourceKey]
	k.mu.Unlock()
	if src != nil && c.srv.live(src) && src.handle != nil {
		return localCopyFrom(src), wire.StatusSuccess
	}
	q := CopySourceQuery{ResumeKey: in.SourceKey[:], Ranges: make([]CopyRange, len(in.Chunks))}
	for i, ch := range in.Chunks {
		q.Ranges[i] = CopyRange{Off: ch.SourceOffset, Len: uint64(ch.Length)}
	}
	from, err := c.remoteCopySource(r.ctx, q)
	if err != nil {
		c.log.Warn().Err(err).Msg("copychunk source on another node")
		return nil, c.mapErr(err)
	}
	if from == nil {
		return nil, wire.StatusObjectNameNotFound
	}
	return from, wire.StatusSuccess
}

// offloadSource finds what an offload token stands for: on this server,
// or through the node that issued it. An unknown, expired or orphaned
// token is STATUS_INVALID_TOKEN ([MS-FSA] 2.1.5.10.23).
func (c *conn) offloadSource(r *request, token [wire.OffloadTokenSize]byte) (offloadToken, *copyFrom, wire.Status) {
	k := c.srv.copyKeys()
	k.mu.Lock()
	tok := k.tokens[token]
	if tok != nil && (time.Now().After(tok.expires) || !c.srv.live(tok.src)) {
		delete(k.tokens, token)
		tok = nil
	}
	k.mu.Unlock()
	if tok != nil {
		return *tok, localCopyFrom(tok.src), wire.StatusSuccess
	}
	from, err := c.remoteCopySource(r.ctx, CopySourceQuery{Token: token[:]})
	if err != nil {
		c.log.Warn().Err(err).Msg("offload token source on another node")
		return offloadToken{}, nil, c.mapErr(err)
	}
	if from == nil {
		return offloadToken{}, nil, statusInvalidToken
	}
	if from.isDir || from.access&fileReadData == 0 {
		// A token is only made for a file open for reading; anything else
		// is not a token this cluster made.
		from.close()
		return offloadToken{}, nil, statusInvalidToken
	}
	cs := from.remote
	return offloadToken{off: cs.Off, n: cs.N, gen: csv.FileInfo{EndOfFile: cs.EndOfFile, LastWriteTime: cs.LastWrite}}, from, wire.StatusSuccess
}
