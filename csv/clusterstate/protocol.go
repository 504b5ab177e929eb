package clusterstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sofs.io/sofs/csv/openstate"
)

// Methods of the node-to-node protocol.
const (
	methodHello     uint8 = iota + 1 // authentication (transport.go)
	methodOp                         // apply one transition at the coordinator
	methodWait                       // wait for an object's generation to move
	methodLockWait                   // wait for a lock release after a conflict
	methodPush                       // coordinator → holder: replica and breaks
	methodRejoin                     // holder → new coordinator: its replicas
	methodInterest                   // a node starts or stops watching a volume
	methodEvents                     // change notifications for a watching node
	methodQuery                      // a question about another node's opens (remote.go)
	methodCast                       // a request to every node (cast.go)
	methodDirLeases                  // coordinator → every node: a volume may hold directory leases (dirlease.go)
	methodRecall                     // coordinator → delegate: give an object back (delegate.go)
	methodGiveBack                   // delegate → coordinator: idle delegations handed back (delegate.go)
	methodLimit
)

// methodNames label the methods in measurements.
var methodNames = [methodLimit]string{
	methodHello: "hello", methodOp: "op", methodWait: "wait", methodLockWait: "lock_wait",
	methodPush: "push", methodRejoin: "rejoin", methodInterest: "interest", methodEvents: "events",
	methodQuery: "query", methodCast: "cast", methodDirLeases: "dir_leases", methodRecall: "recall",
	methodGiveBack: "give_back",
}

// Op kinds: one per ObjectTable and LockTable method that changes or
// reads the coordinator's state.
const (
	opAcquire = iota + 1
	opRelease
	opSetDeletePending
	opState
	opForget
	opAckOplock
	opAckLease
	opBreakRead
	opBreakHandle
	opBreakHandleAll
	opExpireBreaks
	opBreakPending
	opBreakParent
	opLeaseState
	opLock
	opUnlock
	opReleaseOwner
	opTransferLocks
)

// opRequest is one transition, sent to the coordinator. IDs of opens and
// lock owners are cluster-wide (global ids: the slot in the top bits).
type opRequest struct {
	Epoch  int64                 `json:"epoch"`
	Vol    string                `json:"vol"`
	Kind   int                   `json:"kind"`
	Obj    uint64                `json:"obj"`
	OpenID uint64                `json:"open,omitempty"`
	Entry  *openstate.OpenEntry  `json:"entry,omitempty"`
	Level  uint8                 `json:"level,omitempty"`
	Key    openstate.LeaseKey    `json:"key"`
	State  uint32                `json:"state,omitempty"`
	Cutoff time.Time             `json:"cutoff"`
	On     bool                  `json:"on,omitempty"`
	By     openstate.ParentKey   `json:"by"`
	Owner  uint64                `json:"owner,omitempty"`
	Ranges []openstate.LockRange `json:"ranges,omitempty"`
	// To is the new lock owner of opTransferLocks (Owner the old one).
	To uint64 `json:"to,omitempty"`
	// CanOwn says the caller can take delegated objects (delegate.go): a
	// node of an earlier version, during a rolling upgrade, does not
	// send it and is never given one.
	CanOwn bool `json:"canOwn,omitempty"`
}

// opReply is the coordinator's answer. Breaks addressed to the caller's
// opens come back here; those of other nodes' opens went to them.
type opReply struct {
	Grant   openstate.Grant       `json:"grant"`
	Wait    *breakWait            `json:"wait,omitempty"`
	Breaks  []openstate.Break     `json:"breaks,omitempty"`
	Last    bool                  `json:"last,omitempty"`
	Pending bool                  `json:"pending,omitempty"`
	Level   uint8                 `json:"level,omitempty"`
	Waiting bool                  `json:"waiting,omitempty"`
	Gen     uint64                `json:"gen,omitempty"`
	State   openstate.ObjectState `json:"objstate"`
	Lease   openstate.LeaseGrant  `json:"lease"`
	Held    bool                  `json:"held,omitempty"`
	// LockWaiter names the release wait of a refused Lock
	// (methodLockWait).
	LockWaiter uint64 `json:"lockWaiter,omitempty"`
	// Conflict: the Lock was refused (openstate.ErrLockConflict).
	Conflict bool `json:"conflict,omitempty"`
	// Ranges are the locks opTransferLocks moved.
	Ranges []openstate.LockRange `json:"ranges,omitempty"`
	// DirVer and DirOn are the volume's directory-lease flag
	// (dirlease.go).
	DirVer uint64 `json:"dirVer,omitempty"`
	DirOn  bool   `json:"dirOn,omitempty"`
	// Replica is the object's state after the transition when the
	// caller holds opens of it (push).
	Replica *replica `json:"replica,omitempty"`
	// Deleg, when not 0, delegates the object to the caller (an
	// Acquire's answer; delegate.go): Replica is its state.
	Deleg uint64 `json:"deleg,omitempty"`

	// local marks an answer applied on this node to a delegated object;
	// localCh is then a refused Lock's wake-up channel.
	local   bool
	localCh <-chan struct{}
}

type breakWait struct {
	Object uint64            `json:"object"`
	Gen    uint64            `json:"gen"`
	Breaks []openstate.Break `json:"breaks,omitempty"`
}

type waitRequest struct {
	Epoch int64  `json:"epoch"`
	Vol   string `json:"vol"`
	Obj   uint64 `json:"obj"`
	Gen   uint64 `json:"gen"`
}

type lockWaitRequest struct {
	Epoch  int64  `json:"epoch"`
	Waiter uint64 `json:"waiter"`
}

// replica is a copy of one object's coordinator state, held by every node
// with opens of it (see the package documentation).
type replica struct {
	Vol     string               `json:"vol"`
	Obj     uint64               `json:"obj"`
	Epoch   int64                `json:"epoch"`
	Version uint64               `json:"version"`
	State   *openstate.FileState `json:"state,omitempty"`
	Locks   []openstate.HeldLock `json:"locks,omitempty"`
	Holders map[uint16]int       `json:"holders,omitempty"`
	// Standby names the node that keeps this replica although it holds
	// no opens of the object: the object has a persistent handle's entry
	// that no live node but the coordinator holds a copy of, and it must
	// outlive the coordinator too (coordinator.go, standbyFor). 0: none.
	Standby uint16 `json:"standby,omitempty"`
}

// pushRequest carries replicas and breaks from the coordinator to a
// holder. The coordinator answers its caller only after every push of
// the transition has been acknowledged.
type pushRequest struct {
	Epoch    int64             `json:"epoch"`
	Replicas []replica         `json:"replicas,omitempty"`
	Breaks   []openstate.Break `json:"breaks,omitempty"`
}

type rejoinRequest struct {
	Epoch    int64     `json:"epoch"`
	Replicas []replica `json:"replicas,omitempty"`
	Last     bool      `json:"last"`
}

type empty struct{}

// Errors between nodes travel as codes; csv's sentinels come back as
// themselves so the SMB server maps them as it does for one node.
const (
	codeInternal = iota + 1
	codeSharingViolation
	codeDeletePending
	codeLeaseKeyInUse
	codeNotBreaking
	codeBadAck
	codeNoLease
	codeLockConflict
	codeRangeNotLocked
	codeInvalidLockRange
	codeInvalidParameter
	codeNotOpen
	codeWrongEpoch
	codeNotReady
	codeCanceled
	codeFenced
)

var codeErrors = map[int]error{
	codeSharingViolation: openstate.ErrSharingViolation,
	codeDeletePending:    openstate.ErrDeletePending,
	codeLeaseKeyInUse:    openstate.ErrLeaseKeyInUse,
	codeNotBreaking:      openstate.ErrNotBreaking,
	codeBadAck:           openstate.ErrBadAck,
	codeNoLease:          openstate.ErrNoLease,
	codeLockConflict:     openstate.ErrLockConflict,
	codeRangeNotLocked:   openstate.ErrRangeNotLocked,
	codeInvalidLockRange: openstate.ErrInvalidLockRange,
	codeInvalidParameter: openstate.ErrInvalidParameter,
	codeWrongEpoch:       errWrongEpoch,
	codeNotReady:         errNotReady,
	codeCanceled:         context.Canceled,
	codeFenced:           ErrFenced,
}

var (
	// errWrongEpoch: the call was made for another coordinator epoch
	// than the receiver's; the caller waits for its view and retries.
	errWrongEpoch = errors.New("clusterstate: coordinator epoch mismatch")
	// errNotReady: the coordinator is rebuilding the state.
	errNotReady = errors.New("clusterstate: coordinator not ready")
	// ErrFenced: the coordinator released this node's opens because the
	// node left the cluster (its lease ended); the node can no longer
	// take part with the state it has and must start again.
	ErrFenced = errors.New("clusterstate: this node's opens were released by the cluster; it must restart")
)

type wireError struct {
	Code int    `json:"code"`
	Msg  string `json:"msg,omitempty"`
}

func toWireError(err error) wireError {
	for code, e := range codeErrors {
		if errors.Is(err, e) {
			return wireError{Code: code, Msg: err.Error()}
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return wireError{Code: codeCanceled, Msg: err.Error()}
	}
	return wireError{Code: codeInternal, Msg: err.Error()}
}

func (w wireError) err() error {
	if e, ok := codeErrors[w.Code]; ok {
		return fmt.Errorf("%w (from the coordinator: %s)", e, w.Msg)
	}
	return fmt.Errorf("clusterstate: coordinator: %s", w.Msg)
}
