package witness

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/auth/ntlm"
	"sofs.io/sofs/dcerpc"
	"sofs.io/sofs/namespace"
)

// Config configures a Service.
type Config struct {
	Store   *namespace.Store
	Members *namespace.Members
	// NodeID is this node's id, recorded as the registration's Via.
	NodeID string
	Log    zerolog.Logger
	// Observer, if set, is told about notifications and waiting calls,
	// for metrics.
	Observer Observer
	// NTLM, if set, accepts clients that authenticate at the RPC level
	// (NTLMSSP or SPNEGO, up to packet privacy), as Windows clients and
	// smbtorture do; unauthenticated clients are served either way.
	NTLM *ntlm.Server
	// Kerberos, if set, accepts clients that authenticate at the RPC
	// level with Kerberos (bare or in SPNEGO, up to packet privacy).
	Kerberos dcerpc.KerberosAcceptor
}

// Observer receives the witness's events for metrics. Its methods must be
// quick and safe for concurrent use.
type Observer interface {
	// Notified counts one notification sent: "resource_change",
	// "client_move", "share_move" or "ip_change".
	Notified(kind string)
	// Waiting adds delta (+1 or -1) to the AsyncNotify calls waiting.
	Waiting(delta int)
}

type nopObserver struct{}

func (nopObserver) Notified(string) {}
func (nopObserver) Waiting(int)     {}

// Service answers the witness interface's calls.
type Service struct {
	cfg   Config
	now   func() time.Time
	probe *prober
}

// New returns a Service for cfg.
func New(cfg Config) *Service {
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	s := &Service{cfg: cfg, now: time.Now}
	s.probe = newProber(s)
	return s
}

// Interface returns the witness interface for a dcerpc transport.
func (s *Service) Interface() *dcerpc.Interface {
	return &dcerpc.Interface{Syntax: Syntax, Call: s.call}
}

// authenticated reports whether a call may use the witness: an
// authenticated user at packet integrity or privacy. Windows clients
// always bind so (Kerberos or NTLM through SPNEGO), and Samba's witness
// refuses anything less. The witness tells the nodes' addresses and
// states and keeps registrations in the cluster's etcd: nothing of the
// cluster is for an anonymous caller.
func authenticated(c *dcerpc.Call) bool {
	return c.User != "" && c.AuthLevel >= dcerpc.AuthLevelIntegrity
}

func (s *Service) call(ctx context.Context, c *dcerpc.Call) ([]byte, error) {
	if !authenticated(c) {
		return nil, dcerpc.FaultAccessDenied
	}
	switch c.Opnum {
	case OpGetInterfaceList:
		return MarshalInterfaceList(s.interfaces(), errSuccess), nil
	case OpRegister, OpRegisterEx:
		q, err := UnmarshalRegister(c.Stub, c.Opnum == OpRegisterEx)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", dcerpc.ErrBadStub, err)
		}
		h, status, err := s.register(ctx, q, c.Opnum == OpRegisterEx)
		if err != nil {
			return nil, err
		}
		return MarshalRegisterResponse(h, status), nil
	case OpUnRegister:
		h, err := UnmarshalHandle(c.Stub)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", dcerpc.ErrBadStub, err)
		}
		status, err := s.unregister(ctx, h)
		if err != nil {
			return nil, err
		}
		return MarshalStatus(status), nil
	case OpAsyncNotify:
		h, err := UnmarshalHandle(c.Stub)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", dcerpc.ErrBadStub, err)
		}
		n, status, err := s.asyncNotify(ctx, h)
		if err != nil {
			return nil, err
		}
		return MarshalNotifyResponse(n, status), nil
	}
	return nil, fmt.Errorf("witness opnum %d: %w", c.Opnum, dcerpc.ErrUnknownOpnum)
}

// nodeIPs returns the IP addresses of a node's SMB endpoints, IPv4 and
// IPv6, in the order the node recorded them. A wildcard address is left
// out: no client can connect to it.
func nodeIPs(n namespace.NodeStatus) []net.IP {
	var out []net.IP
	for _, a := range n.SMBAddresses {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		ip := net.ParseIP(host)
		if ip == nil || ip.IsUnspecified() {
			continue
		}
		if ip4 := ip.To4(); ip4 != nil {
			ip = ip4
		}
		out = append(out, ip)
	}
	return out
}

// ipStrings formats addresses as a registration records them.
func ipStrings(ips []net.IP) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

// interfaces lists every node's addresses ([MS-SWN] 3.1.4.1). A node with
// its lease is available and offers the witness service; a node without it
// is unavailable.
func (s *Service) interfaces() []Interface {
	var out []Interface
	for _, n := range s.cfg.Members.Nodes() {
		for _, ip := range nodeIPs(n) {
			i := Interface{GroupName: n.Name, Version: VersionV2, State: stateUnavailable, IP: ip, Flags: ifIPv4Valid}
			if ip.To4() == nil {
				i.Flags = ifIPv6Valid
			}
			if n.Live {
				i.State = stateAvailable
				i.Flags |= ifWitness
			}
			out = append(out, i)
		}
	}
	return out
}

// nodeForIP returns the node that serves address ip.
func (s *Service) nodeForIP(ip net.IP) (namespace.NodeStatus, bool) {
	for _, n := range s.cfg.Members.Nodes() {
		for _, a := range nodeIPs(n) {
			if a.Equal(ip) {
				return n, true
			}
		}
	}
	return namespace.NodeStatus{}, false
}

// netNameMatches reports whether name is the cluster's name or a node's,
// compared as NetBIOS and DNS names are: without case and, for a DNS name,
// by its first label.
func (s *Service) netNameMatches(ctx context.Context, name string) (bool, error) {
	first := func(n string) string {
		if i := strings.IndexByte(n, '.'); i > 0 && net.ParseIP(n) == nil {
			return n[:i]
		}
		return n
	}
	want := first(name)
	cl, err := s.cfg.Store.Cluster(ctx)
	if err != nil && !errors.Is(err, namespace.ErrNotFound) {
		return false, err
	}
	if cl.Name != "" && strings.EqualFold(first(cl.Name), want) {
		return true, nil
	}
	for _, n := range s.cfg.Members.Nodes() {
		if strings.EqualFold(first(n.Name), want) {
			return true, nil
		}
	}
	return false, nil
}

// register implements WitnessrRegister ([MS-SWN] 3.1.4.2) and
// WitnessrRegisterEx (3.1.4.5). Checks run in the order the spec lists
// them, which is the order smbtorture's rpc.witness expects errors in.
func (s *Service) register(ctx context.Context, q RegisterRequest, ex bool) (Handle, uint32, error) {
	want := uint32(VersionV1)
	if ex {
		want = VersionV2
	}
	if q.Version != want {
		return Handle{}, errRevisionMismatch, nil
	}
	if !q.HasNetName || !q.HasIPAddress || !q.HasClient || q.NetName == "" || q.IPAddress == "" {
		return Handle{}, errInvalidParameter, nil
	}
	ok, err := s.netNameMatches(ctx, q.NetName)
	if err != nil {
		return Handle{}, 0, err
	}
	if !ok {
		return Handle{}, errInvalidParameter, nil
	}
	ip := net.ParseIP(q.IPAddress)
	if ip == nil {
		return Handle{}, errInvalidState, nil
	}
	node, ok := s.nodeForIP(ip)
	if !ok {
		return Handle{}, errInvalidState, nil
	}
	if ex && q.HasShare {
		// 3.1.4.5: a share that is not a scale-out share of this server.
		if _, err := s.cfg.Store.GetShare(ctx, q.ShareName); errors.Is(err, namespace.ErrNotFound) || errors.Is(err, namespace.ErrInvalidName) {
			return Handle{}, errInvalidState, nil
		} else if err != nil {
			return Handle{}, 0, err
		}
	}
	var h Handle
	if _, err := rand.Read(h.UUID[:]); err != nil {
		return Handle{}, 0, fmt.Errorf("witness handle: %w", err)
	}
	reported := namespace.WitnessAvailable
	if !node.Live {
		reported = namespace.WitnessUnavailable
	}
	reg := namespace.WitnessRegistration{
		ID: dcerpc.FormatGUID(h.UUID), Version: q.Version, NetName: q.NetName, ShareName: q.ShareName,
		IPAddress: ip.String(), NodeID: node.ID, Client: q.Client, Flags: q.Flags, KeepAlive: q.KeepAlive,
		Via: s.cfg.NodeID, Since: s.now().UTC(), Reported: reported, Addresses: ipStrings(nodeIPs(node)),
	}
	if _, err := s.cfg.Store.CreateWitnessRegistration(ctx, reg); err != nil {
		return Handle{}, 0, err
	}
	s.cfg.Log.Info().Str("registration", reg.ID).Str("client", reg.Client).Str("ip", reg.IPAddress).
		Str("node", reg.NodeID).Str("share", reg.ShareName).Msg("witness: registered")
	return h, errSuccess, nil
}

// unregister implements WitnessrUnRegister ([MS-SWN] 3.1.4.3). An unknown
// handle gets ERROR_INVALID_PARAMETER, as Windows answers (smbtorture
// checks it), where the spec's SHOULD says ERROR_NOT_FOUND.
func (s *Service) unregister(ctx context.Context, h Handle) (uint32, error) {
	id := dcerpc.FormatGUID(h.UUID)
	if err := s.cfg.Store.DeleteWitnessRegistration(ctx, id); errors.Is(err, namespace.ErrNotFound) {
		return errInvalidParameter, nil
	} else if err != nil {
		return 0, err
	}
	s.cfg.Log.Info().Str("registration", id).Msg("witness: unregistered")
	return errSuccess, nil
}

// eligible reports whether node n can take clients: live, not draining,
// with an address to send them to.
func eligible(n namespace.NodeStatus) bool {
	return n.Live && !n.Draining && n.State != namespace.NodeDraining && len(nodeIPs(n)) > 0
}

// Rebalance decides whether registration r should move to even out the
// clients per node, and where: when r's node has at least two more
// registrations than the eligible node with the fewest, the newest
// registrations of r's node move, as many as halve the difference. Each
// waiting client decides for itself from the same records, and each move
// narrows the difference, so the cluster converges without a coordinator
// (a node that joins gets its share of the clients). Pinned registrations
// (moved by an operator) stay put and are not moved for others.
func Rebalance(nodes []namespace.NodeStatus, regs []namespace.WitnessRegistration, r namespace.WitnessRegistration) (string, bool) {
	if r.Pinned {
		return "", false
	}
	count := map[string]int{}
	for _, g := range regs {
		count[g.NodeID]++
	}
	from, to := "", ""
	for _, n := range nodes {
		if !eligible(n) {
			continue
		}
		if n.ID == r.NodeID {
			from = n.ID
		}
		if to == "" || count[n.ID] < count[to] || count[n.ID] == count[to] && n.ID < to {
			to = n.ID
		}
	}
	if from == "" || to == "" || count[from]-count[to] < 2 {
		return "", false
	}
	var mine []namespace.WitnessRegistration
	for _, g := range regs {
		if g.NodeID == from && !g.Pinned {
			mine = append(mine, g)
		}
	}
	sort.Slice(mine, func(i, j int) bool {
		if !mine[i].Since.Equal(mine[j].Since) {
			return mine[i].Since.After(mine[j].Since)
		}
		return mine[i].ID > mine[j].ID
	})
	for _, g := range mine[:min(len(mine), (count[from]-count[to])/2)] {
		if g.ID == r.ID {
			return to, true
		}
	}
	return "", false
}

// Placement picks the node a client should move to: among live nodes that
// are not draining and are not exclude, the one with the fewest
// registrations, ties broken by node id. ok is false if there is none.
func Placement(nodes []namespace.NodeStatus, regs []namespace.WitnessRegistration, exclude string) (string, bool) {
	count := map[string]int{}
	for _, r := range regs {
		count[r.NodeID]++
	}
	var cands []string
	for _, n := range nodes {
		if eligible(n) && n.ID != exclude {
			cands = append(cands, n.ID)
		}
	}
	if len(cands) == 0 {
		return "", false
	}
	sort.Slice(cands, func(i, j int) bool {
		if count[cands[i]] != count[cands[j]] {
			return count[cands[i]] < count[cands[j]]
		}
		return cands[i] < cands[j]
	})
	return cands[0], true
}
