package smbserver

import (
	"encoding/binary"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// Change notification ([MS-SMB2] 3.3.5.19).
//
// The first CHANGE_NOTIFY on a directory open arms a csv.Watch, which
// fixes the completion filter, WATCH_TREE and the buffer size for the life
// of the open (later requests' values are ignored, as on Windows and
// smbd) and queues changes between requests. A request is answered at
// once when changes are queued, otherwise it goes async (interim
// STATUS_PENDING) and waits for the next changes, first come first
// served among the open's requests. It ends with:
//
//   - STATUS_SUCCESS and FILE_NOTIFY_INFORMATION entries ([MS-FSCC] 2.7.1);
//   - STATUS_NOTIFY_ENUM_DIR and no data when the changes do not fit in
//     OutputBufferLength or the open's queue overflowed;
//   - STATUS_NOTIFY_CLEANUP when the open is closed (CLOSE, and the
//     LOGOFF, TREE_DISCONNECT or session reconnect that close it);
//   - STATUS_DELETE_PENDING when the directory is being deleted;
//   - STATUS_CANCELLED on CANCEL.

// handleChangeNotify implements [MS-SMB2] 3.3.5.19.
func (c *conn) handleChangeNotify(r *request) wire.Status {
	var req wire.ChangeNotifyRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	// The request keeps its turn (order.go) until it is armed and waits,
	// not just until it has its open: a change pipelined right behind the
	// first CHANGE_NOTIFY of an open must find the watch in place.
	// lookupOpen passes the turn only for the last request of a frame, so
	// it is told this is not one; the turn then passes when r goes async
	// or completes.
	last := r.last
	r.last = false
	o, st := c.lookupOpen(r, req.FileID)
	r.last = last
	if st != wire.StatusSuccess {
		return st
	}
	if req.OutputBufferLength > c.maxTransact() {
		return wire.StatusInvalidParameter
	}
	if o.pipe != nil || o.handle == nil || !o.isDir {
		return wire.StatusInvalidParameter
	}
	if o.access&fileReadData == 0 { // FILE_LIST_DIRECTORY on a directory
		// Watching needs FILE_LIST_DIRECTORY ([MS-SMB2] 3.3.5.19 leaves it
		// to the object store; Windows and smbd refuse it).
		return wire.StatusAccessDenied
	}
	w, err := o.handle.Watch(r.ctx, req.CompletionFilter, req.Flags&wire.WatchTree != 0, int(req.OutputBufferLength))
	if err != nil {
		return c.mapErr(err)
	}
	limit := req.OutputBufferLength
	wt := w.Wait()
	select {
	case <-wt.Done():
		return c.notifyResult(r, wt.Result(), limit)
	default:
	}
	if err := c.goAsync(r); err != nil {
		if res, done := wt.Cancel(); done {
			return c.notifyResult(r, res, limit)
		}
		return err.(wire.Status)
	}
	select {
	case <-wt.Done():
		return c.notifyResult(r, wt.Result(), limit)
	case <-r.ctx.Done():
		// Checked before withdrawing the wait: a LOGOFF or
		// TREE_DISCONNECT that is no longer tracked has closed the open,
		// which completed the wait.
		teardown := c.tearingDown(r)
		if res, done := wt.Cancel(); done {
			return c.notifyResult(r, res, limit)
		}
		if teardown {
			return wire.StatusNotifyCleanup
		}
		return wire.StatusCancelled
	}
}

// maxTransact is the negotiated MaxTransactSize.
func (c *conn) maxTransact() uint32 {
	if c.dialect == Dialect202 {
		return min(c.srv.cfg.MaxTransactSize, smb2MaxIO2002)
	}
	return c.srv.cfg.MaxTransactSize
}

// tearingDown reports whether r was cancelled because a LOGOFF of its
// session or a TREE_DISCONNECT of its tree connect is closing its open:
// that completes a pending notify with STATUS_NOTIFY_CLEANUP, not
// STATUS_CANCELLED. Both call cancelAsync from their handler, so the
// request that did it is still tracked when r wakes up.
func (c *conn) tearingDown(r *request) bool {
	c.pendingMu.Lock()
	defer c.pendingMu.Unlock()
	for _, p := range c.pending {
		if p.hdr.SessionID != r.hdr.SessionID {
			continue
		}
		switch p.hdr.Command {
		case wire.CmdLogoff:
			return true
		case wire.CmdTreeDisconnect:
			if r.tree != nil && p.hdr.TreeID == r.tree.id {
				return true
			}
		}
	}
	return false
}

// notifyResult completes r with what its wait produced.
func (c *conn) notifyResult(r *request, res csv.NotifyResult, limit uint32) wire.Status {
	switch {
	case res.Closed:
		return wire.StatusNotifyCleanup
	case res.DeletePending:
		return wire.StatusDeletePending
	case res.Overflow:
		return wire.StatusNotifyEnumDir
	}
	buf, ok := encodeNotify(res.Changes, int(limit))
	if !ok {
		return wire.StatusNotifyEnumDir
	}
	resp := wire.ChangeNotifyResponse{Buffer: buf}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// encodeNotify encodes changes as chained FILE_NOTIFY_INFORMATION entries
// ([MS-FSCC] 2.7.1), each but the last padded to 4 bytes. It fails when
// they take more than limit bytes.
func encodeNotify(changes []csv.Change, limit int) ([]byte, bool) {
	if len(changes) == 0 {
		return nil, false
	}
	var b []byte
	last := 0
	for i, ch := range changes {
		start := len(b)
		if i > 0 {
			for len(b)%4 != 0 {
				b = append(b, 0)
			}
			start = len(b)
			binary.LittleEndian.PutUint32(b[last:], uint32(start-last))
		}
		b = binary.LittleEndian.AppendUint32(b, 0) // NextEntryOffset
		b = binary.LittleEndian.AppendUint32(b, uint32(ch.Action))
		b = binary.LittleEndian.AppendUint32(b, 0) // FileNameLength
		b = fscc.EncodeUTF16(b, ch.Name)
		binary.LittleEndian.PutUint32(b[start+8:], uint32(len(b)-start-12))
		last = start
		if len(b) > limit {
			return nil, false
		}
	}
	return b, true
}
