package openstate

// EntryID is the object-table id of an open request's entry (0: none).
func EntryID(e *OpenEntry) uint64 {
	if e == nil {
		return 0
	}
	return e.ID
}

// GlobalIDs is implemented by object tables whose entry and lock-owner
// ids differ from the ones the volume chooses (a cluster's: they carry
// the node's slot).
type GlobalIDs interface {
	Global(local uint64) uint64
}
