package csv

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Change notification: the storage half of SMB2 CHANGE_NOTIFY ([MS-SMB2]
// 3.3.5.19, [MS-FSCC] 2.7.1, [MS-FSA] 2.1.5.11).
//
// Events are produced where the volume itself changes the namespace or an
// object (create, delete, rename, write and size changes, basic
// information), as Events published to the volume (Publish). A directory
// handle that is watched has one Watch, created by the first CHANGE_NOTIFY
// on it, which fixes its completion filter, WATCH_TREE and buffer size for
// the life of the handle, as Windows does; changes are queued on the Watch
// between requests (bounded: overflow turns into one catch-all
// STATUS_NOTIFY_ENUM_DIR answer) and handed to waiting requests in arrival
// order. Closing the handle completes every waiter with Closed
// (STATUS_NOTIFY_CLEANUP); delete pending on the watched directory
// completes them with DeletePending.
//
// Paths in events are on-disk paths relative to the volume root, "/"
// separated, the same on every node mounting the shared file system, so
// that events made through other nodes (relayed by csv/clusterstate,
// NotifyRelay) are published into the same watches: Publish does not care
// where an event came from. Changes made to the backing directory behind
// sofs's back are not reported (no inotify): on the shared file systems
// sofs targets (NFS, CephFS, GlusterFS) inotify does not see other
// clients' changes anyway, a recursive inotify watch costs a kernel watch
// per directory, and every change sofs makes itself would be reported
// twice.
//
// Lock order: nsMu -> Volume.watches.mu -> Volume.mu -> Watch.mu.

// CompletionFilter bits ([MS-SMB2] 2.2.35, [MS-FSCC] 2.7.1).
const (
	NotifyFileName    uint32 = 0x00000001
	NotifyDirName     uint32 = 0x00000002
	NotifyAttributes  uint32 = 0x00000004
	NotifySize        uint32 = 0x00000008
	NotifyLastWrite   uint32 = 0x00000010
	NotifyLastAccess  uint32 = 0x00000020
	NotifyCreation    uint32 = 0x00000040
	NotifyEA          uint32 = 0x00000080
	NotifySecurity    uint32 = 0x00000100
	NotifyStreamName  uint32 = 0x00000200
	NotifyStreamSize  uint32 = 0x00000400
	NotifyStreamWrite uint32 = 0x00000800
)

// NotifyAction is the Action of a FILE_NOTIFY_INFORMATION entry
// ([MS-FSCC] 2.7.1).
type NotifyAction uint32

// FILE_ACTION_* values.
const (
	ActionAdded          NotifyAction = 1
	ActionRemoved        NotifyAction = 2
	ActionModified       NotifyAction = 3
	ActionRenamedOldName NotifyAction = 4
	ActionRenamedNewName NotifyAction = 5
	// The stream actions name "file:stream" (stream.go).
	ActionAddedStream    NotifyAction = 6
	ActionRemovedStream  NotifyAction = 7
	ActionModifiedStream NotifyAction = 8
)

// Delete pending of a watched directory concerns its watches whatever
// their filters, and may be set through another node than theirs: every
// watch is announced to the other nodes with notifyWatched, a bit no
// client's change falls under, and a node that sets or clears delete
// pending on a directory forwards an event with one of these actions and
// that filter, naming the directory by Object, to the nodes that watch.
// The actions are never reported as FILE_NOTIFY_INFORMATION.
const (
	notifyWatched uint32 = 1 << 31

	actionDeletePending NotifyAction = 0x80000001
	actionDeleteCleared NotifyAction = 0x80000002
)

// Event is one change to the volume.
type Event struct {
	// Dir is the directory holding the changed object: its on-disk path
	// relative to the volume root, "/" separated, "" for the root.
	Dir string
	// Name is the object's final component as stored on disk.
	Name   string
	Action NotifyAction
	// Filter holds the completion filter bits the change falls under; a
	// watch reports it when its filter has any of them.
	Filter uint32
	// Object is the directory whose delete pending changed, for
	// actionDeletePending and actionDeleteCleared.
	Object uint64 `json:",omitempty"`
}

// deletePending reports whether e is a change of a directory's delete
// pending state rather than a change to report.
func (e *Event) deletePending() bool {
	return e.Action == actionDeletePending || e.Action == actionDeleteCleared
}

// Change is one reported change: Name is relative to the watched
// directory, "\" separated.
type Change struct {
	Action NotifyAction
	Name   string
}

// NotifyResult is what a waiting change-notify request completes with:
// exactly one of the fields is set.
type NotifyResult struct {
	Changes []Change
	// Overflow means changes were lost (the queue overflowed): the client
	// must enumerate the directory (STATUS_NOTIFY_ENUM_DIR).
	Overflow bool
	// DeletePending means the watched directory is being deleted.
	DeletePending bool
	// Closed means the watched handle was closed (STATUS_NOTIFY_CLEANUP).
	Closed bool
}

// relayTimeout bounds telling the other nodes that this one stopped
// watching (Close has no caller's context to use).
const relayTimeout = 5 * time.Second

// Queue bounds of a Watch: the budget asked for at arming is capped (a
// client cannot make the server hold megabytes per watched handle), and so
// is the number of queued changes.
const (
	maxWatchBudget  = 256 << 10
	maxWatchChanges = 4096
)

// notifyHub is a volume's set of watches. The zero value is ready.
type notifyHub struct {
	n       atomic.Int32  // len(watches): the publishers' fast path
	filters atomic.Uint32 // union of the watches' filters
	// remote is the union of the filters the volume's watches on other
	// nodes have (NotifyRelay): a change made through this node under
	// one of them is reported, for them, even when nothing here watches.
	remote  atomic.Uint32
	mu      sync.Mutex
	watches map[*Watch]struct{}
}

// updateLocked recomputes the fast-path summaries; hub.mu is held.
func (hub *notifyHub) updateLocked() {
	var f uint32
	for w := range hub.watches {
		f |= w.filter
	}
	hub.filters.Store(f)
	hub.n.Store(int32(len(hub.watches)))
}

// Watch is the change-notify state of one directory handle.
type Watch struct {
	h         *Handle
	filter    uint32
	recursive bool
	budget    int // bytes of FILE_NOTIFY_INFORMATION the queue may hold

	mu            sync.Mutex
	queue         []Change
	bytes         int
	overflow      bool
	deletePending bool
	closed        bool
	waiters       []*NotifyWait
}

// NotifyWait is one change-notify request waiting on a Watch.
type NotifyWait struct {
	w    *Watch
	done chan struct{}
	res  NotifyResult // set before done is closed, under w.mu
}

// Watch returns the handle's Watch, creating it on the first call with
// the given completion filter, WATCH_TREE flag and buffer size; later
// calls return the existing Watch unchanged (Windows fixes them with the
// first request). Only directories can be watched (ErrNotDirectory).
func (h *Handle) Watch(ctx context.Context, filter uint32, recursive bool, budget int) (*Watch, error) {
	if err := h.check("watch"); err != nil {
		return nil, err
	}
	defer h.release()
	if !h.isDir {
		return nil, newErr("watch", h.Path(), ErrNotDirectory)
	}
	hub := &h.v.watches
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if h.closed.Load() {
		// Close ran since the check; its unwatch must not miss us.
		return nil, newErr("watch", h.Path(), ErrClosed)
	}
	if h.watch != nil {
		return h.watch, nil
	}
	if h.v.relay != nil {
		// The other nodes must send this node their changes under the
		// watch's filter before the watch counts as armed, or a change
		// made through them right after could be missed. They are told
		// only when the node's filters gain a bit (the relay counts).
		if err := h.v.relay.Watching(ctx, filter|notifyWatched, true); err != nil {
			h.v.relayUnwatched(filter | notifyWatched)
			return nil, fmt.Errorf("csv: watch %q: %w", h.Path(), err)
		}
	}
	budget = max(0, min(budget, maxWatchBudget))
	w := &Watch{h: h, filter: filter, recursive: recursive, budget: budget}
	if hub.watches == nil {
		hub.watches = make(map[*Watch]struct{})
	}
	hub.watches[w] = struct{}{}
	hub.updateLocked()
	h.watch = w
	return w, nil
}

// Filter returns the watch's completion filter.
func (w *Watch) Filter() uint32 { return w.filter }

// Recursive reports whether the watch covers the whole subtree.
func (w *Watch) Recursive() bool { return w.recursive }

// Wait registers a request for the next changes. If something is already
// queued (and no earlier request waits), the returned NotifyWait is
// complete at once. Requests are served in the order they called Wait.
func (w *Watch) Wait() *NotifyWait {
	wt := &NotifyWait{w: w, done: make(chan struct{})}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiters = append(w.waiters, wt)
	w.deliverLocked()
	return wt
}

// Done is closed when the wait has a result.
func (wt *NotifyWait) Done() <-chan struct{} { return wt.done }

// Result returns the result; valid once Done is closed.
func (wt *NotifyWait) Result() NotifyResult {
	wt.w.mu.Lock()
	defer wt.w.mu.Unlock()
	return wt.res
}

// Cancel withdraws the wait. If it completed meanwhile, its result is
// returned with true, so that no change is lost.
func (wt *NotifyWait) Cancel() (NotifyResult, bool) {
	w := wt.w
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, x := range w.waiters {
		if x == wt {
			w.waiters = append(w.waiters[:i], w.waiters[i+1:]...)
			return NotifyResult{}, false
		}
	}
	return wt.res, true
}

// takeLocked removes what the next waiter gets, if anything.
func (w *Watch) takeLocked() (NotifyResult, bool) {
	switch {
	case w.closed:
		return NotifyResult{Closed: true}, true
	case w.deletePending:
		return NotifyResult{DeletePending: true}, true
	case w.overflow:
		w.overflow = false
		return NotifyResult{Overflow: true}, true
	case len(w.queue) > 0:
		cs := w.queue
		w.queue, w.bytes = nil, 0
		return NotifyResult{Changes: cs}, true
	}
	return NotifyResult{}, false
}

// deliverLocked completes waiters, first come first served, while there
// is something to give them.
func (w *Watch) deliverLocked() {
	for len(w.waiters) > 0 {
		res, ok := w.takeLocked()
		if !ok {
			return
		}
		wt := w.waiters[0]
		w.waiters[0] = nil
		w.waiters = w.waiters[1:]
		wt.res = res
		close(wt.done)
	}
}

// NotifyEntrySize is the size of a FILE_NOTIFY_INFORMATION entry for name
// ([MS-FSCC] 2.7.1): 12 bytes and the UTF-16 name, padded to 4 bytes.
func NotifyEntrySize(name string) int {
	n := 0
	for _, r := range name {
		if r >= 0x10000 {
			n += 4
		} else {
			n += 2
		}
	}
	return (12 + n + 3) &^ 3
}

// add queues changes and hands them to a waiting request. Identical
// consecutive changes are coalesced (two writes are one modification).
// When the queue would exceed its budget it is dropped and the watch
// reports an overflow instead; later changes are dropped until that is
// reported.
func (w *Watch) add(cs []Change) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.overflow {
		return
	}
	for _, c := range cs {
		if n := len(w.queue); n > 0 && w.queue[n-1] == c {
			continue
		}
		sz := NotifyEntrySize(c.Name)
		if len(w.queue) >= maxWatchChanges || w.bytes+sz > w.budget {
			w.queue, w.bytes, w.overflow = nil, 0, true
			break
		}
		w.queue = append(w.queue, c)
		w.bytes += sz
	}
	w.deliverLocked()
}

// setDeletePending marks the watched directory delete pending (or no
// longer) and completes the waiters if it is.
func (w *Watch) setDeletePending(on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deletePending = on
	w.deliverLocked()
}

// close ends the watch: every waiter, now and later, gets Closed.
func (w *Watch) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	w.queue, w.bytes = nil, 0
	w.deliverLocked()
}

// watching reports whether any handle of the volume is watched, on this
// node or another: the cheap test every event source makes first.
func (v *Volume) watching() bool { return v.watches.n.Load() > 0 || v.watches.remote.Load() != 0 }

// watchingFor reports whether some watch, on this node or another, has a
// bit of filter.
func (v *Volume) watchingFor(filter uint32) bool {
	return (v.watches.filters.Load()|v.watches.remote.Load())&filter != 0
}

// watchedRemotely records the union of the filters the volume's watches
// on other nodes have (NotifyRelay.Subscribe).
func (v *Volume) watchedRemotely(filter uint32) { v.watches.remote.Store(filter) }

// emit reports changes made through this volume on this node: to the
// local watches, and through the relay to the other nodes that watch,
// which feed them to their watches with Publish.
func (v *Volume) emit(events ...Event) {
	v.Publish(events...)
	if v.relay != nil && len(events) > 0 {
		v.relay.Forward(events)
	}
}

// NotifyRelay carries change notifications between the nodes that serve
// one volume (csv/clusterstate implements it). Changes made through a
// node are published to its own watches and forwarded to the other
// nodes whose watches' filters they fall under, which publish them to
// theirs. A node that makes a change must know what the others watch for
// even when it watches nothing itself: its event sources test the union
// of every node's filters before they compute an event at all.
type NotifyRelay interface {
	// Subscribe registers the function that publishes changes made
	// through other nodes to this volume's watches (Volume.Publish), and
	// the one told the union of the completion filters the other nodes'
	// watches of the volume have, at once and whenever it changes.
	Subscribe(publish func(...Event), watched func(filter uint32))
	// Watching says that a watch with completion filter filter was armed
	// on this node (on) or ended. With on it returns once every other
	// node will forward its changes under filter here.
	Watching(ctx context.Context, filter uint32, on bool) error
	// Forward sends changes made through this node to the nodes that
	// watch the volume for them. It must not wait for them.
	Forward(events []Event)
}

// Publish reports events to the watches they concern, whatever their
// origin. Events of one call reach each watch together (a rename's old and
// new name arrive in one answer), and calls reach every watch in the
// order they were made. Callers may hold nsMu, not mu.
func (v *Volume) Publish(events ...Event) {
	if v.watches.n.Load() == 0 || len(events) == 0 {
		return
	}
	for i := range events {
		if e := &events[i]; e.deletePending() {
			v.deletePendingChanged(e.Object, e.Action == actionDeletePending)
		}
	}
	type hit struct {
		w  *Watch
		cs []Change
	}
	var hits []hit
	hub := &v.watches
	hub.mu.Lock()
	defer hub.mu.Unlock()
	v.mu.Lock()
	for w := range hub.watches {
		dir := w.h.f.disk
		var cs []Change
		for _, e := range events {
			if e.Filter&w.filter == 0 || e.deletePending() {
				continue
			}
			if name, ok := relName(dir, e.Dir, e.Name, w.recursive); ok {
				cs = append(cs, Change{Action: e.Action, Name: name})
			}
		}
		if len(cs) > 0 {
			hits = append(hits, hit{w, cs})
		}
	}
	v.mu.Unlock()
	for _, x := range hits {
		x.w.add(x.cs)
	}
}

// relName is the name under which a watch on directory watch reports
// object name in directory dir, if it reports it at all.
func relName(watch, dir, name string, recursive bool) (string, bool) {
	if dir == watch {
		return name, true
	}
	if !recursive {
		return "", false
	}
	var rest string
	switch {
	case watch == "":
		rest = dir
	case len(dir) > len(watch) && dir[len(watch)] == '/' && strings.HasPrefix(dir, watch):
		rest = dir[len(watch)+1:]
	default:
		return "", false
	}
	return smbPath(rest) + `\` + name, true
}

// notifyDeletePending tells the watches on directory id, on this node
// and the others, that its delete pending state changed.
func (v *Volume) notifyDeletePending(id uint64, on bool) {
	v.deletePendingChanged(id, on)
	if v.relay != nil && v.watches.remote.Load()&notifyWatched != 0 {
		a := actionDeleteCleared
		if on {
			a = actionDeletePending
		}
		v.relay.Forward([]Event{{Action: a, Filter: notifyWatched, Object: id}})
	}
}

// deletePendingChanged tells this node's watches on directory id that its
// delete pending state changed.
func (v *Volume) deletePendingChanged(id uint64, on bool) {
	if v.watches.n.Load() == 0 {
		return
	}
	var ws []*Watch
	hub := &v.watches
	hub.mu.Lock()
	for w := range hub.watches {
		if w.h.f.id == id {
			ws = append(ws, w)
		}
	}
	hub.mu.Unlock()
	for _, w := range ws {
		w.setDeletePending(on)
	}
}

// unwatch ends the handle's watch, if it has one (at Close).
func (h *Handle) unwatch() {
	hub := &h.v.watches
	hub.mu.Lock()
	w := h.watch
	if w != nil {
		delete(hub.watches, w)
		hub.updateLocked()
		h.watch = nil
	}
	hub.mu.Unlock()
	if w != nil && h.v.relay != nil {
		h.v.relayUnwatched(w.filter | notifyWatched)
	}
	if w != nil {
		w.close()
	}
}

// relayUnwatched tells the relay that a watch with filter ended. Nothing
// waits for this: a change sent to a node that no longer watches for it
// is dropped there.
func (v *Volume) relayUnwatched(filter uint32) {
	ctx, cancel := context.WithTimeout(context.Background(), relayTimeout)
	defer cancel()
	if err := v.relay.Watching(ctx, filter, false); err != nil {
		v.log.Debug().Err(err).Msg("telling the other nodes this one no longer watches")
	}
}

// notifyObject publishes one event about the handle's own object, named
// by its current path.
func (h *Handle) notifyObject(action NotifyAction, filter uint32) {
	if !h.v.watchingFor(filter) {
		return
	}
	disk := h.diskPath()
	if disk == "" {
		return // the root has no parent to report it in
	}
	dir, name := splitDisk(disk)
	h.v.emit(Event{Dir: dir, Name: name, Action: action, Filter: filter})
}

// nameFilter is the filter bit of a name change of a file or directory.
func nameFilter(isDir bool) uint32 {
	if isDir {
		return NotifyDirName
	}
	return NotifyFileName
}

// basicInfoFilter is the filter of a SetBasicInfo change.
func basicInfoFilter(creation, access, write bool, attributes uint32) uint32 {
	var f uint32
	if creation {
		f |= NotifyCreation
	}
	if access {
		f |= NotifyLastAccess
	}
	if write {
		f |= NotifyLastWrite
	}
	if attributes != 0 {
		f |= NotifyAttributes
	}
	return f
}

// notifyRename publishes a rename of the handle's object from oldDisk to
// newName in directory newDir: the old and new names within one
// directory, a removal and an addition across directories, after the
// removal of a target it replaced. A renamed file also reports an
// attribute change when its handle closes (Windows sets ARCHIVE then).
func (h *Handle) notifyRename(oldDisk, newDir, newName, replaced string) {
	if !h.isDir {
		h.renamed.Store(true)
	}
	if !h.v.watching() {
		return
	}
	oldDir, oldName := splitDisk(oldDisk)
	f := nameFilter(h.isDir)
	evs := make([]Event, 0, 3)
	if replaced != "" {
		evs = append(evs, Event{Dir: newDir, Name: replaced, Action: ActionRemoved, Filter: NotifyFileName})
	}
	if oldDir == newDir {
		evs = append(evs,
			Event{Dir: oldDir, Name: oldName, Action: ActionRenamedOldName, Filter: f},
			Event{Dir: newDir, Name: newName, Action: ActionRenamedNewName, Filter: f})
	} else {
		evs = append(evs,
			Event{Dir: oldDir, Name: oldName, Action: ActionRemoved, Filter: f},
			Event{Dir: newDir, Name: newName, Action: ActionAdded, Filter: f})
	}
	h.v.emit(evs...)
}

// sizeIfWatched returns the file's size before a write when someone
// watches (to tell a write that extends the file), else -1.
func (h *Handle) sizeIfWatched() int64 {
	if !h.v.watchingFor(NotifySize | NotifyLastWrite) {
		return -1
	}
	var st unix.Statx_t
	if statFD(h.fd, &st) != nil {
		return -1
	}
	return int64(st.Size)
}

// notifyWrite reports a write that ended at end to a file whose size was
// before (-1: nobody watched when the write started).
func (h *Handle) notifyWrite(end, before int64) {
	if before < 0 {
		return
	}
	f := NotifyLastWrite
	if end > before {
		f |= NotifySize
	}
	h.notifyData(f)
}

// notifyData publishes a change of the handle's data (NotifySize and
// NotifyLastWrite bits): a modification of the file, or for a named stream
// FILE_ACTION_MODIFIED_STREAM under the stream filters, named
// "file:stream" as Windows reports it.
func (h *Handle) notifyData(filter uint32) {
	if h.base == nil {
		h.notifyObject(ActionModified, filter)
		return
	}
	var sf uint32
	if filter&NotifySize != 0 {
		sf |= NotifyStreamSize
	}
	if filter&NotifyLastWrite != 0 {
		sf |= NotifyStreamWrite
	}
	h.notifyStream(ActionModifiedStream, sf, h.StreamName())
}

// notifyStream publishes an event about stream name of the handle's file.
func (h *Handle) notifyStream(action NotifyAction, filter uint32, name string) {
	if !h.v.watchingFor(filter) {
		return
	}
	disk := h.diskPath()
	if disk == "" {
		return
	}
	dir, base := splitDisk(disk)
	h.v.emit(Event{Dir: dir, Name: base + ":" + name, Action: action, Filter: filter})
}
