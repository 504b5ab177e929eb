package csv

import "sofs.io/sofs/csv/openstate"

// The open-state tables and their types live in csv/openstate, a package
// with no system calls that the cluster implementation (csv/clusterstate)
// and the conformance suites (csv/csvtest) build on. The volume's API
// speaks of them by these names.

type (
	Break              = openstate.Break
	BreakWait          = openstate.BreakWait
	DirectoryLeaseHint = openstate.DirectoryLeaseHint
	FileState          = openstate.FileState
	GlobalIDs          = openstate.GlobalIDs
	Grant              = openstate.Grant
	HandleRecord       = openstate.HandleRecord
	HandleStore        = openstate.HandleStore
	HeldLock           = openstate.HeldLock
	LeaseGrant         = openstate.LeaseGrant
	LeaseKey           = openstate.LeaseKey
	LeaseRecord        = openstate.LeaseRecord
	LeaseRequest       = openstate.LeaseRequest
	LeaseStateReader   = openstate.LeaseStateReader
	LockRange          = openstate.LockRange
	LockSequence       = openstate.LockSequence
	LockTable          = openstate.LockTable
	LockTransferrer    = openstate.LockTransferrer
	MemoryHandleStore  = openstate.MemoryHandleStore
	MemoryLockTable    = openstate.MemoryLockTable
	MemoryObjectTable  = openstate.MemoryObjectTable
	ObjectState        = openstate.ObjectState
	ObjectTable        = openstate.ObjectTable
	OpenEntry          = openstate.OpenEntry
	OpenRecord         = openstate.OpenRecord
	ParentKey          = openstate.ParentKey
)

const (
	CacheHandle         = openstate.CacheHandle
	CacheNone           = openstate.CacheNone
	CacheRead           = openstate.CacheRead
	CacheWrite          = openstate.CacheWrite
	MaxHandleRecordSize = openstate.MaxHandleRecordSize
	OplockBatch         = openstate.OplockBatch
	OplockExclusive     = openstate.OplockExclusive
	OplockLevelII       = openstate.OplockLevelII
	OplockNone          = openstate.OplockNone
	ShareDelete         = openstate.ShareDelete
	ShareRead           = openstate.ShareRead
	ShareWrite          = openstate.ShareWrite
)

var (
	ErrBadAck            = openstate.ErrBadAck
	ErrBadHandleRecord   = openstate.ErrBadHandleRecord
	ErrBreakPending      = openstate.ErrBreakPending
	ErrInvalidLockRange  = openstate.ErrInvalidLockRange
	ErrLeaseKeyInUse     = openstate.ErrLeaseKeyInUse
	ErrLockConflict      = openstate.ErrLockConflict
	ErrNoLease           = openstate.ErrNoLease
	ErrNotBreaking       = openstate.ErrNotBreaking
	ErrRangeNotLocked    = openstate.ErrRangeNotLocked
	ErrSharingViolation  = openstate.ErrSharingViolation
	CachingOplock        = openstate.CachingOplock
	DecodeHandleRecord   = openstate.DecodeHandleRecord
	EncodeHandleRecord   = openstate.EncodeHandleRecord
	IOConflict           = openstate.IOConflict
	NewMemoryHandleStore = openstate.NewMemoryHandleStore
	NewMemoryLockTable   = openstate.NewMemoryLockTable
	NewMemoryObjectTable = openstate.NewMemoryObjectTable
	OplockCaching        = openstate.OplockCaching
	ShareConflict        = openstate.ShareConflict
)
