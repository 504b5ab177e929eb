package csv

import "context"

// RemoteOpens answers, for a volume that several nodes serve, the
// questions about opens that the share-mode state of one object cannot:
// whether a directory about to be renamed has open objects below it, and
// whether a file's named streams are open (csv/clusterstate implements
// it). Each node answers for its own opens (LocalOpens).
type RemoteOpens interface {
	// SubscribeOpens registers this node's volume as the one that
	// answers the other nodes' questions.
	SubscribeOpens(local LocalOpens)
	// StreamsOpen says that this node has open named streams on the
	// volume (on) or no longer has any; with on it returns once every
	// other node will ask this one about streams.
	StreamsOpen(ctx context.Context, on bool) error
	// OpenBelow reports whether an object below directory disk is open
	// through another node.
	OpenBelow(ctx context.Context, disk string) (bool, error)
	// OpenStreams reports whether a named stream of file baseID is open
	// through another node.
	OpenStreams(ctx context.Context, baseID uint64) (bool, error)
	// StreamsDenyDelete reports whether a named stream of baseID is open
	// through another node without FILE_SHARE_DELETE.
	StreamsDenyDelete(ctx context.Context, baseID uint64) (bool, error)
}

// LocalOpens answers for this node's opens (Volume implements it).
type LocalOpens interface {
	LocalOpenBelow(disk string) bool
	LocalOpenStreams(baseID uint64) bool
	LocalStreamsDenyDelete(ctx context.Context, baseID uint64) (bool, error)
}

var _ LocalOpens = (*Volume)(nil)

// LocalOpenBelow implements LocalOpens.
func (v *Volume) LocalOpenBelow(disk string) bool { return v.hasLocalOpenBelow(disk) }

// LocalOpenStreams implements LocalOpens.
func (v *Volume) LocalOpenStreams(baseID uint64) bool { return v.hasLocalOpenStreams(baseID) }

// LocalStreamsDenyDelete implements LocalOpens.
func (v *Volume) LocalStreamsDenyDelete(ctx context.Context, baseID uint64) (bool, error) {
	v.mu.Lock()
	var ids []uint64
	for _, f := range v.files {
		if f.stream != nil && f.stream.baseID == baseID {
			ids = append(ids, f.id)
		}
	}
	v.mu.Unlock()
	for _, id := range ids {
		st, err := v.objects.State(ctx, id)
		if err != nil {
			return false, err
		}
		if st.Denied&ShareDelete != 0 {
			return true, nil
		}
	}
	return false, nil
}

// hasOpenBelow reports whether any object below directory disk is open,
// through this node or (with a RemoteOpens) any other.
func (v *Volume) hasOpenBelow(ctx context.Context, disk string) (bool, error) {
	if v.hasLocalOpenBelow(disk) {
		return true, nil
	}
	if v.remote == nil {
		return false, nil
	}
	return v.remote.OpenBelow(ctx, disk)
}

// hasOpenStreams reports whether a named stream of baseID is open,
// through this node or any other.
func (v *Volume) hasOpenStreams(ctx context.Context, baseID uint64) (bool, error) {
	if v.hasLocalOpenStreams(baseID) {
		return true, nil
	}
	if v.remote == nil {
		return false, nil
	}
	return v.remote.OpenStreams(ctx, baseID)
}

// streamOpened and streamClosed count this node's open stream objects,
// telling the other nodes when the first opens and the last closes.
func (v *Volume) streamOpened(ctx context.Context) error {
	if v.remote == nil {
		return nil
	}
	v.streamMu.Lock()
	defer v.streamMu.Unlock()
	v.streams++
	if v.streams == 1 {
		return v.remote.StreamsOpen(ctx, true)
	}
	return nil
}

func (v *Volume) streamClosed(ctx context.Context) {
	if v.remote == nil {
		return
	}
	v.streamMu.Lock()
	defer v.streamMu.Unlock()
	v.streams--
	if v.streams == 0 {
		if err := v.remote.StreamsOpen(ctx, false); err != nil {
			v.log.Debug().Err(err).Msg("telling the other nodes this one has no open streams")
		}
	}
}
