package witness

import (
	"context"
	"errors"
	"net"
	"slices"
	"time"

	"sofs.io/sofs/dcerpc"
	"sofs.io/sofs/namespace"
)

// renewEvery is how often a waiting WitnessrAsyncNotify renews its
// registration's lease: a third of the lease, so two renewals can fail
// before the registration expires.
const renewEvery = namespace.WitnessRegistrationTTL / 3

// rewatchAfter is how long a waiting AsyncNotify waits before watching
// etcd again after a watch ended (its member lost the leader): long enough
// not to spin while etcd has no leader, short next to the lease TTL.
const rewatchAfter = time.Second

// asyncNotify implements WitnessrAsyncNotify ([MS-SWN] 3.1.4.4): it waits
// until there is something to tell the client about its registration, the
// registration's keep-alive timeout passes (ERROR_TIMEOUT, v2 only), the
// registration is removed (ERROR_NOT_FOUND), or the connection closes.
func (s *Service) asyncNotify(ctx context.Context, h Handle) (*Notification, uint32, error) {
	id := dcerpc.FormatGUID(h.UUID)
	reg, err := s.cfg.Store.GetWitnessRegistration(ctx, id)
	if errors.Is(err, namespace.ErrNotFound) {
		return nil, errInvalidParameter, nil
	} else if err != nil {
		return nil, 0, err
	}
	// [MS-SWN] 3.1.5.2: a v2 registration's call fails with ERROR_TIMEOUT
	// once LastUseTime (now) plus KeepAliveTime has passed. A keep-alive
	// of 0 therefore times out at once, after any notification already
	// owed; Windows does so and smbtorture's AsyncNotify_timeouts expects
	// it (Samba's rpcd_witness takes 0 as "no timeout" instead). v1
	// registrations carry no keep-alive and wait until there is news.
	var timeout <-chan time.Time
	if reg.Version == VersionV2 {
		t := time.NewTimer(keepAlive(reg.KeepAlive))
		defer t.Stop()
		timeout = t.C
	}
	s.cfg.Observer.Waiting(1)
	defer s.cfg.Observer.Waiting(-1)
	renew := time.NewTicker(renewEvery)
	defer renew.Stop()
	if err := s.cfg.Store.RenewWitnessRegistration(ctx, reg); err != nil {
		s.cfg.Log.Warn().Err(err).Msg("witness: renew registration")
	}
	// Watch the record and the resources before reading them, so that a
	// change between the read and the wait is not missed.
	w := s.watch(ctx, id)
	defer func() { w.stop() }()
	var rewatch <-chan time.Time
	probed := ""
	var unwatch func()
	defer func() {
		if unwatch != nil {
			unwatch()
		}
	}()
	// The loop ends with the call: a notification, the keep-alive
	// timeout, the registration's removal or the connection's end. Each
	// round is one wake-up; the record is re-read every time, so a lost
	// wake-up delays news until the next one, never loses it.
	for {
		members := s.cfg.Members.Changed()
		suspicion := s.probe.Changed()
		n, node, status, err := s.deliver(ctx, id)
		if err != nil || n != nil || status != errSuccess {
			return n, status, err
		}
		if node != probed {
			// Probe the node the registration is for now (a move
			// changes it).
			if unwatch != nil {
				unwatch()
			}
			unwatch, probed = s.probe.watch(node), node
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-timeout:
			return nil, errTimeout, nil
		case <-renew.C:
			if err := s.cfg.Store.RenewWitnessRegistration(ctx, reg); err != nil {
				s.cfg.Log.Warn().Err(err).Msg("witness: renew registration")
			}
		case <-members:
		case <-suspicion:
		case _, ok := <-w.changed:
			if !ok {
				w.changed, w.resources, rewatch = nil, nil, time.After(rewatchAfter)
			}
		case _, ok := <-w.resources:
			if !ok {
				w.changed, w.resources, rewatch = nil, nil, time.After(rewatchAfter)
			}
		case <-rewatch:
			w.stop()
			w, rewatch = s.watch(ctx, id), nil
		}
	}
}

// keepAlive converts a RegisterEx KeepAliveTimeout in seconds to a
// duration; the largest (2^32-1 s) fits a Duration with room to spare.
func keepAlive(seconds uint32) time.Duration {
	return time.Duration(seconds) * time.Second
}

// watches are the etcd watches one waiting AsyncNotify wakes up on.
type watches struct {
	changed, resources <-chan struct{}
	stop               context.CancelFunc
}

func (s *Service) watch(ctx context.Context, id string) watches {
	wctx, cancel := context.WithCancel(ctx)
	return watches{
		changed:   s.cfg.Store.WatchWitnessRegistration(wctx, id),
		resources: s.cfg.Store.WatchWitnessResources(wctx),
		stop:      cancel,
	}
}

// notificationKind names a notification type for metrics and logs.
func notificationKind(t uint32) string {
	switch t {
	case NotifyClientMove:
		return "client_move"
	case NotifyShareMove:
		return "share_move"
	case NotifyIPChange:
		return "ip_change"
	}
	return "resource_change"
}

// deliver returns the notification registration id is owed, if any, after
// recording it as delivered, and the node the registration is for. With
// nothing owed it returns (nil, node, success).
func (s *Service) deliver(ctx context.Context, id string) (*Notification, string, uint32, error) {
	var n *Notification
	reg, err := s.cfg.Store.UpdateWitnessRegistration(ctx, id, func(r *namespace.WitnessRegistration) error {
		n = s.owed(ctx, r)
		if n == nil {
			return namespace.ErrUnchanged
		}
		return nil
	})
	if errors.Is(err, namespace.ErrNotFound) {
		// Unregistered meanwhile ([MS-SWN] 3.1.4.3: an outstanding
		// AsyncNotify fails).
		return nil, "", errNotFound, nil
	}
	if err != nil {
		return nil, "", 0, err
	}
	if n != nil {
		kind := notificationKind(n.Type)
		s.cfg.Observer.Notified(kind)
		s.cfg.Log.Info().Str("registration", id).Uint32("type", n.Type).Str("resource", n.Resource).
			Uint32("state", n.State).Int("addresses", len(n.Addresses)).Msg("witness: notify")
	}
	return n, reg.NodeID, errSuccess, nil
}

// owed computes the notification r is owed and updates r as if it were
// delivered. Moves come first: a client told to move does not need to
// hear about the node it leaves. Then an operator's share move, then a
// change of the node's addresses, then the node's state.
func (s *Service) owed(ctx context.Context, r *namespace.WitnessRegistration) *Notification {
	node, known := s.cfg.Members.Node(r.NodeID)
	if known && node.Live && (r.MoveTo == "" || r.MoveTo == r.MoveSent) {
		// No move pending: a draining node's clients move to the
		// placement's pick; others may move to balance the load.
		regs, err := s.cfg.Store.ListWitnessRegistrations(ctx)
		if errors.Is(err, namespace.ErrDamagedRecord) {
			s.cfg.Log.Warn().Err(err).Msg("witness: placing clients without the damaged registrations")
			err = nil
		}
		if err == nil {
			nodes := s.cfg.Members.Nodes()
			draining := node.Draining || node.State == namespace.NodeDraining
			if to, ok := Placement(nodes, regs, r.NodeID); ok && draining {
				r.MoveTo = to
			} else if to, ok := Rebalance(nodes, regs, *r); ok && !draining {
				r.MoveTo = to
			}
		}
	}
	if r.MoveTo != "" && r.MoveTo != r.MoveSent {
		if n := s.moveTo(r, r.MoveTo, NotifyClientMove); n != nil {
			r.MoveSent = r.MoveTo
			return n
		}
	}
	// [MS-SWN] 3.1.6.3: only registrations that named the share
	// (ShareNameNotificationRequired) hear of its move.
	if r.ShareName != "" && r.ShareMoveTo != "" && r.ShareMoveTo != r.ShareMoveSent {
		if n := s.moveTo(r, r.ShareMoveTo, NotifyShareMove); n != nil {
			r.ShareMoveSent = r.ShareMoveTo
			return n
		}
	}
	if known && r.Flags&registerIPNotification != 0 && r.Version == VersionV2 {
		if n := ipChange(r, node); n != nil {
			return n
		}
	}
	state := namespace.WitnessUnavailable
	if known && node.Live && !s.probe.suspect(node.ID, node.StartedAt.String()) {
		state = namespace.WitnessAvailable
	}
	// The cluster name resource offline (MS-CMRP) takes every
	// registration's resource with it. An etcd error counts as online:
	// a notification on a guess would be worse than a late one.
	if offline, err := s.clusterOffline(ctx); err == nil && offline {
		state = namespace.WitnessUnavailable
	}
	if state == r.Reported {
		return nil
	}
	r.Reported = state
	n := &Notification{Type: NotifyResourceChange, Resource: r.IPAddress, State: ResourceAvailable}
	if state == namespace.WitnessUnavailable {
		n.State = ResourceUnavailable
	}
	return n
}

// moveTo returns a move notification of type kind (CLIENT_MOVE or
// SHARE_MOVE) sending r to node id, and points r at that node; nil, with r
// unchanged, if the node is unknown or has no address yet (the move waits
// for one).
func (s *Service) moveTo(r *namespace.WitnessRegistration, id string, kind uint32) *Notification {
	target, ok := s.cfg.Members.Node(id)
	ips := nodeIPs(target)
	if !ok || len(ips) == 0 {
		return nil
	}
	r.NodeID = target.ID
	r.IPAddress = ips[0].String()
	r.Addresses = ipStrings(ips)
	r.Reported = namespace.WitnessAvailable
	if !target.Live {
		r.Reported = namespace.WitnessUnavailable
	}
	n := &Notification{Type: kind}
	for _, ip := range ips {
		n.Addresses = append(n.Addresses, Address{IP: ip, Online: target.Live})
	}
	return n
}

// ipChange returns the IP_CHANGE ([MS-SWN] 3.1.6.4) r is owed when node's
// addresses differ from those r last heard of: every current address
// (online while the node is live) and every address gone (offline). It
// records the current ones in r.
func ipChange(r *namespace.WitnessRegistration, node namespace.NodeStatus) *Notification {
	if r.Addresses == nil {
		// A record from before addresses were kept: nothing to compare.
		return nil
	}
	ips := nodeIPs(node)
	cur := ipStrings(ips)
	if slices.Equal(cur, r.Addresses) {
		return nil
	}
	n := &Notification{Type: NotifyIPChange}
	for _, ip := range ips {
		n.Addresses = append(n.Addresses, Address{IP: ip, Online: node.Live})
	}
	for _, a := range r.Addresses {
		if ip := net.ParseIP(a); ip != nil && !slices.Contains(cur, a) {
			n.Addresses = append(n.Addresses, Address{IP: ip})
		}
	}
	r.Addresses = cur
	if len(cur) > 0 && !slices.Contains(cur, r.IPAddress) {
		// The address the client registered is gone: later
		// RESOURCE_CHANGEs name one the node has.
		r.IPAddress = cur[0]
	}
	return n
}
