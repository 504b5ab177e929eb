package clusterstate

import (
	"context"
	"sync"

	"sofs.io/sofs/csv/openstate"
)

// Directory leases are rare, and while none is held a change to a file
// need not look its directory up nor ask the coordinator to break
// anything (openstate.DirectoryLeaseHint). A node that does not coordinate
// learns whether a volume may hold directory leases from the coordinator:
// every answer carries the volume's flag with a version, and the first
// directory lease of a volume is announced to every node before the
// open that gets it is answered, so no node can skip a break it owes.
// Until a node has heard about a volume in this epoch it assumes leases.

type dirLeasesRequest struct {
	Epoch int64  `json:"epoch"`
	Vol   string `json:"vol"`
	Ver   uint64 `json:"ver"`
	On    bool   `json:"on"`
}

// dirFlag is a node's knowledge of one volume's flag.
type dirFlag struct {
	ver uint64
	on  bool
}

// dirFlags is a node's knowledge of every volume's flag in one epoch.
type dirFlags struct {
	mu    sync.Mutex
	epoch int64
	vols  map[string]dirFlag
}

func (d *dirFlags) learn(epoch int64, vol string, ver uint64, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if epoch != d.epoch {
		if epoch < d.epoch {
			return
		}
		d.epoch, d.vols = epoch, make(map[string]dirFlag)
	}
	if d.vols == nil {
		d.vols = make(map[string]dirFlag)
	}
	if cur, ok := d.vols[vol]; ok && cur.ver >= ver {
		return
	}
	d.vols[vol] = dirFlag{ver: ver, on: on}
}

func (d *dirFlags) may(epoch int64, vol string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.vols[vol]
	return d.epoch != epoch || !ok || f.on
}

// MayHoldDirectoryLeases implements openstate.DirectoryLeaseHint.
func (t *Table) MayHoldDirectoryLeases() bool {
	n := t.n
	n.mu.Lock()
	c, epoch := n.coord, n.view.Epoch
	n.mu.Unlock()
	if c != nil && c.isReady() {
		c.vmu.Lock()
		cv := c.vols[t.vol]
		c.vmu.Unlock()
		return cv != nil && cv.objects.MayHoldDirectoryLeases()
	}
	return n.dirs.may(epoch, t.vol)
}

var _ openstate.DirectoryLeaseHint = (*Table)(nil)

// noteDirLeases records in rep the volume's flag after a transition and,
// when the volume has just got its first directory lease, tells every
// other node before returning. Call with c.mu held.
func (c *coordinator) noteDirLeases(ctx context.Context, vol string, cv *coordVol, rep *opReply) {
	on := cv.objects.MayHoldDirectoryLeases()
	if on != cv.dirOn {
		cv.dirOn = on
		cv.dirVer++
		if on {
			c.announceDirLeases(ctx, vol, cv)
		}
	}
	rep.DirVer, rep.DirOn = cv.dirVer, cv.dirOn
}

// announceDirLeases tells every other live node that vol may hold
// directory leases, and waits for them.
func (c *coordinator) announceDirLeases(ctx context.Context, vol string, cv *coordVol) {
	c.n.mu.Lock()
	members := c.n.view.Members
	c.n.mu.Unlock()
	req := dirLeasesRequest{Epoch: c.epoch, Vol: vol, Ver: cv.dirVer, On: true}
	var wg sync.WaitGroup
	for s, addr := range members {
		if s == c.n.self {
			continue
		}
		wg.Add(1)
		go func(s uint16, addr string) {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
			defer cancel()
			p, err := c.n.tr.peer(pctx, s, addr)
			if err == nil {
				err = p.do(pctx, methodDirLeases, req, nil)
			}
			if err != nil {
				c.n.log.Warn().Err(err).Uint16("peer", s).Msg("could not tell a node about directory leases")
			}
		}(s, addr)
	}
	wg.Wait()
}
