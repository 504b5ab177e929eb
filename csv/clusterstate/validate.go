package clusterstate

import (
	"fmt"
)

// Checks of the bodies other nodes send. decodeBody runs a request's
// validate after decoding it, so the handlers never act on what no node
// of this version sends: an unknown kind, an open entry on another op
// than Acquire, a volume key that is empty or unbounded, a negative
// epoch or holder count. A refusal is errFrame, as for a body that does
// not decode.

const (
	// maxVolKey bounds a volume key (Node.Table: a volume's name or
	// root path).
	maxVolKey = 4096
	// maxOpRanges bounds the ranges of one lock operation: an SMB2 LOCK
	// carries at most 64K.
	maxOpRanges = 1 << 16
	// maxCastName bounds a cast's name (cmd/sofsd: "smb.pull-handle").
	maxCastName = 256
)

// validator is a request body that checks itself after decoding.
type validator interface{ validate() error }

func checkVol(vol string) error {
	if vol == "" || len(vol) > maxVolKey {
		return fmt.Errorf("volume key of %d bytes", len(vol))
	}
	return nil
}

// checkEpoch refuses a negative epoch (an etcd revision; 0 is none,
// which the handlers answer as a wrong epoch, for the caller to retry).
func checkEpoch(e int64) error {
	if e < 0 {
		return fmt.Errorf("epoch %d", e)
	}
	return nil
}

// checkEpochVol checks the epoch and volume key most requests carry.
func checkEpochVol(e int64, vol string) error {
	if err := checkEpoch(e); err != nil {
		return err
	}
	return checkVol(vol)
}

// checkReplicas checks a push's or a rejoin's epoch and replicas.
func checkReplicas(e int64, rs []replica) error {
	if err := checkEpoch(e); err != nil {
		return err
	}
	for i := range rs {
		if err := rs[i].validate(); err != nil {
			return err
		}
	}
	return nil
}

func (r *opRequest) validate() error {
	if err := checkEpochVol(r.Epoch, r.Vol); err != nil {
		return err
	}
	if r.Kind < opAcquire || r.Kind > opTransferLocks {
		return fmt.Errorf("op kind %d", r.Kind)
	}
	if r.Kind != opAcquire && r.Entry != nil {
		return fmt.Errorf("op kind %d with an open entry", r.Kind)
	}
	if len(r.Ranges) > maxOpRanges {
		return fmt.Errorf("%d lock ranges", len(r.Ranges))
	}
	if r.Kind == opUnlock && len(r.Ranges) != 1 {
		return fmt.Errorf("unlock of %d ranges", len(r.Ranges))
	}
	return nil
}

func (r *waitRequest) validate() error {
	return checkEpochVol(r.Epoch, r.Vol)
}

func (r *lockWaitRequest) validate() error {
	if err := checkEpoch(r.Epoch); err != nil {
		return err
	}
	if r.Waiter == 0 {
		return fmt.Errorf("no waiter")
	}
	return nil
}

// validate checks a replica sent in a push or a rejoin (whose replicas
// may be of an earlier epoch).
func (r *replica) validate() error {
	if err := checkVol(r.Vol); err != nil {
		return err
	}
	if err := checkEpoch(r.Epoch); err != nil {
		return err
	}
	for s, k := range r.Holders {
		if s == 0 || k <= 0 {
			return fmt.Errorf("replica of object %#x: node %d holds %d opens", r.Obj, s, k)
		}
	}
	return nil
}

func (r *pushRequest) validate() error {
	return checkReplicas(r.Epoch, r.Replicas)
}

func (r *rejoinRequest) validate() error {
	return checkReplicas(r.Epoch, r.Replicas)
}

func (r *interestRequest) validate() error { return checkVol(r.Vol) }

func (r *eventsRequest) validate() error { return checkVol(r.Vol) }

func (r *queryRequest) validate() error {
	if err := checkVol(r.Vol); err != nil {
		return err
	}
	if r.Kind < queryBelow || r.Kind > queryDenyDelete {
		return fmt.Errorf("query kind %d", r.Kind)
	}
	return nil
}

func (r *dirLeasesRequest) validate() error {
	return checkEpochVol(r.Epoch, r.Vol)
}

func (r *castRequest) validate() error {
	if r.Name == "" || len(r.Name) > maxCastName {
		return fmt.Errorf("cast name of %d bytes", len(r.Name))
	}
	return nil
}

func (r *recallRequest) validate() error {
	return checkEpochVol(r.Epoch, r.Vol)
}

func (r *giveBackRequest) validate() error {
	return checkEpochVol(r.Epoch, r.Vol)
}
