package smbserver

import (
	"context"
	"errors"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/wire"
)

// Byte-range locks: LOCK ([MS-SMB2] 3.3.5.14) over the volume's
// cluster-wide csv.LockTable, and the READ/WRITE conflict check
// ([MS-FSA] 2.1.4.2). Locks belong to the open and go when its csv
// handle closes (CLOSE, LOGOFF, TREE_DISCONNECT, connection loss).
//
// LockSequence replay detection (3.3.5.14) applies to resilient opens
// (SMB 2.1 and 3.x), durable or persistent ones (3.x) and, when
// multichannel is offered, every 3.x open; the buckets
// live with the csv handle.

// lockFlags are the valid flag combinations of a lock (not unlock)
// element ([MS-SMB2] 3.3.5.14).
func validLockFlags(f uint32) bool {
	switch f &^ wire.LockFlagFailImmediately {
	case wire.LockFlagSharedLock, wire.LockFlagExclusiveLock:
		return true
	}
	return false
}

// handleLock implements [MS-SMB2] 3.3.5.14 with the semantics of
// [MS-FSA] 2.1.5.7.
func (c *conn) handleLock(r *request) wire.Status {
	var req wire.LockRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := c.lookupOpen(r, req.FileID)
	if st != wire.StatusSuccess {
		return st
	}
	if o.handle == nil || o.isDir {
		return wire.StatusInvalidParameter
	}
	r.detachForRecord(o) // conn.go: the locks go into the record, a store round trip
	ctx := r.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	seq := c.lockSequenced(o)
	if seq && o.handle.LockReplayed(req.LockSequenceIndex, req.LockSequenceNumber) {
		return c.lockDone(r)
	}
	done := func() wire.Status {
		if seq {
			o.handle.LockSequenceDone(req.LockSequenceIndex, req.LockSequenceNumber)
		}
		return c.lockDone(r)
	}
	if req.Locks[0].Flags&wire.LockFlagUnlock != 0 {
		// An unlock list: each element in turn; one that is not a plain
		// unlock, or names no lock, ends it (earlier ones stay done).
		var unlocked []csv.LockRange
		defer func() { c.srv.durableLocked(o, unlocked, true) }() // records.go
		for _, el := range req.Locks {
			if el.Flags != wire.LockFlagUnlock {
				return wire.StatusInvalidParameter
			}
			if err := o.handle.Unlock(ctx, csv.LockRange{Offset: el.Offset, Length: el.Length}); err != nil {
				return lockStatus(err)
			}
			unlocked = append(unlocked, csv.LockRange{Offset: el.Offset, Length: el.Length})
		}
		return done()
	}
	ranges := make([]csv.LockRange, len(req.Locks))
	blocking := false
	for i, el := range req.Locks {
		if !validLockFlags(el.Flags) {
			return wire.StatusInvalidParameter
		}
		if el.Flags&wire.LockFlagFailImmediately == 0 {
			if len(req.Locks) > 1 {
				return wire.StatusInvalidParameter
			}
			blocking = true
		}
		ranges[i] = csv.LockRange{Offset: el.Offset, Length: el.Length, Exclusive: el.Flags&wire.LockFlagExclusiveLock != 0}
		if !ranges[i].Valid() {
			return wire.StatusInvalidLockRange
		}
	}
	if o.access&(fileReadData|fileWriteData) == 0 {
		return wire.StatusAccessDenied
	}
	// [MS-FSA] 2.1.5.7, 2.1.4.12: a byte-range lock request breaks level
	// II oplocks (the requester's own too) and other read leases to none,
	// as a write does: their holders cache reads the lock may fence off
	// (smbtorture smb2.oplock.brl1, brl3, smb2.lease.lock1).
	c.breakOnWrite(r, o)
	// The sequence is marked before the record is written, so a handle
	// resumed elsewhere knows this LOCK was done ([MS-SMB2] 3.3.5.14).
	seqDone := func() {
		if seq {
			o.handle.LockSequenceDone(req.LockSequenceIndex, req.LockSequenceNumber)
		}
	}
	wait, err := o.handle.Lock(ctx, ranges)
	if err == nil {
		seqDone()
		c.srv.durableLocked(o, ranges, false) // records.go
		return done()
	}
	if !blocking || !errors.Is(err, csv.ErrLockConflict) {
		return lockStatus(err)
	}
	// A blocking lock waits, async, until a release lets it through or
	// it is cancelled.
	if err := c.goAsync(r); err != nil {
		return err.(wire.Status)
	}
	for {
		select {
		case <-wait:
		case <-r.ctx.Done():
			if c.tearingDown(r) || openClosed(o) {
				// LOGOFF or TREE_DISCONNECT closing the opens: Windows
				// answers the pending lock with RANGE_NOT_LOCKED.
				return wire.StatusRangeNotLocked
			}
			return wire.StatusCancelled
		}
		wait, err = o.handle.Lock(ctx, ranges)
		if err == nil {
			seqDone()
			c.srv.durableLocked(o, ranges, false)
			return done()
		}
		if !errors.Is(err, csv.ErrLockConflict) {
			if errors.Is(err, csv.ErrClosed) {
				return wire.StatusRangeNotLocked
			}
			return lockStatus(err)
		}
	}
}

// lockSequenced reports whether LOCKs on o are checked for replay by
// LockSequence ([MS-SMB2] 3.3.5.14).
func (c *conn) lockSequenced(o *open) bool {
	if c.dialect < Dialect210 {
		return false
	}
	if _, ok := resiliencyTimeout(o); ok { // fsctl_misc.go
		return true
	}
	// On 3.x also every open when multichannel is offered: a client
	// may resend a LOCK on another channel ([MS-SMB2] 3.3.5.14;
	// smbtorture smb2.lock.replay_smb3_specification_multi).
	return c.dialect >= Dialect300 && (c.srv.dh.get(o) != nil || c.serverCaps&wire.GlobalCapMultiChannel != 0) // durable.go
}

// openClosed reports whether o has been closed.
func openClosed(o *open) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closed
}

func (c *conn) lockDone(r *request) wire.Status {
	resp := wire.LockResponse{}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// lockStatus maps a lock table error for a LOCK request: every conflict is
// STATUS_LOCK_NOT_GRANTED in SMB2 (Windows keeps the SMB1 alternation
// with STATUS_FILE_LOCK_CONFLICT out of it; see smbtorture smb2.lock
// errorcode).
func lockStatus(err error) wire.Status {
	switch {
	case errors.Is(err, csv.ErrLockConflict):
		return wire.StatusLockNotGranted
	case errors.Is(err, csv.ErrRangeNotLocked):
		return wire.StatusRangeNotLocked
	case errors.Is(err, csv.ErrInvalidLockRange):
		return wire.StatusInvalidLockRange
	case errors.Is(err, csv.ErrClosed):
		return wire.StatusFileClosed
	}
	return mapError(err)
}

// ioLockConflict is the READ/WRITE hook: STATUS_FILE_LOCK_CONFLICT when
// length bytes at off conflict with another open's lock (or, writing,
// with a shared one). Costs an atomic load when the file has no locks.
func ioLockConflict(o *open, off, length uint64, write bool) wire.Status {
	if o.handle != nil && o.handle.CheckIO(off, length, write) != nil {
		return wire.StatusFileLockConflict
	}
	return wire.StatusSuccess
}
