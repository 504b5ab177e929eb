package witness

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"

	"sofs.io/sofs/dcerpc"
	"sofs.io/sofs/dcerpc/ndr"
	"sofs.io/sofs/namespace"
)

// ClusapiSyntax is the Failover Cluster Management API ([MS-CMRP] v3,
// b97db8b2-4c63-11cf-bff6-08002be23f2f v3.0). sofs serves the subset that
// takes a cluster resource offline and online, which is what smbtorture's
// rpc.witness uses to make the witness send notifications: the cluster
// name resource, which covers every registration.
var ClusapiSyntax = dcerpc.MustSyntax("b97db8b2-4c63-11cf-bff6-08002be23f2f", 3, 0)

// MS-CMRP opnums ([MS-CMRP] 3.1.4.2).
const (
	opOpenResource     = 8
	opCloseResource    = 11
	opGetResourceState = 12
	opOnlineResource   = 17
	opOfflineResource  = 18
)

// CLUSTER_RESOURCE_STATE values ([MS-CMRP] 3.1.4.2.13) and errors.
const (
	resourceOnline  = 2
	resourceOffline = 3

	errAccessDenied     = 0x00000005 // ERROR_ACCESS_DENIED
	errResourceNotFound = 0x0000138f // ERROR_RESOURCE_NOT_FOUND
	// clusterGroupName is the group the cluster name resource belongs to,
	// as Windows names it.
	clusterGroupName = "Cluster Group"
	// maxResourceHandles bounds open resource handles per node: a client
	// opens one per call sequence and closes it; a client that never
	// closes them cannot grow the table past this.
	maxResourceHandles = 4096
)

// clusapi serves the MS-CMRP subset. Resource handles live on the node
// that opened them, as MS-CMRP handles live in one server.
type clusapi struct {
	svc     *Service
	mu      sync.Mutex
	handles map[[16]byte]string
}

// ClusapiInterface returns the MS-CMRP subset as a dcerpc interface. Every
// call requires RPC-level authentication at integrity or privacy, as the
// witness does: it changes cluster state.
func (s *Service) ClusapiInterface() *dcerpc.Interface {
	c := &clusapi{svc: s, handles: map[[16]byte]string{}}
	return &dcerpc.Interface{Syntax: ClusapiSyntax, Call: c.call}
}

func (c *clusapi) call(ctx context.Context, call *dcerpc.Call) ([]byte, error) {
	if !authenticated(call) {
		return nil, dcerpc.FaultAccessDenied
	}
	r := ndr.NewReader(call.Stub)
	switch call.Opnum {
	case opOpenResource:
		name, err := r.String()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", dcerpc.ErrBadStub, err)
		}
		return c.open(ctx, name)
	case opCloseResource, opGetResourceState, opOnlineResource, opOfflineResource:
		h, err := UnmarshalHandle(call.Stub)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", dcerpc.ErrBadStub, err)
		}
		c.mu.Lock()
		name, ok := c.handles[h.UUID]
		if ok && call.Opnum == opCloseResource {
			delete(c.handles, h.UUID)
		}
		c.mu.Unlock()
		if !ok {
			return nil, dcerpc.FaultContextMismatch
		}
		w := ndr.NewWriter()
		switch call.Opnum {
		case opCloseResource:
			writeHandle(w, Handle{})
			w.Uint32(errSuccess)
		case opGetResourceState:
			offline, err := c.svc.cfg.Store.WitnessResourceOffline(ctx, name)
			if err != nil {
				return nil, err
			}
			state := uint32(resourceOnline)
			if offline {
				state = resourceOffline
			}
			w.Uint32(state)
			w.Pointer(true)
			w.String(c.svc.nodeName())
			w.Pointer(true)
			w.String(clusterGroupName)
			w.Uint32(errSuccess) // rpc_status
			w.Uint32(errSuccess)
		default:
			offline := call.Opnum == opOfflineResource
			if err := c.svc.cfg.Store.SetWitnessResourceOffline(ctx, name, offline); err != nil {
				return nil, err
			}
			c.svc.cfg.Log.Info().Str("resource", name).Bool("offline", offline).Str("user", call.User).Msg("witness: cluster resource state changed")
			w.Uint32(errSuccess) // rpc_status
			w.Uint32(errSuccess)
		}
		return w.Bytes(), nil
	}
	return nil, fmt.Errorf("clusapi opnum %d: %w", call.Opnum, dcerpc.ErrUnknownOpnum)
}

// open implements ApiOpenResource ([MS-CMRP] 3.1.4.2.9): Status, rpc_status
// and the resource handle.
func (c *clusapi) open(ctx context.Context, name string) ([]byte, error) {
	w := ndr.NewWriter()
	cl, err := c.svc.cfg.Store.Cluster(ctx)
	if err != nil && !errors.Is(err, namespace.ErrNotFound) {
		return nil, err
	}
	if cl.Name == "" || !strings.EqualFold(name, cl.Name) {
		w.Uint32(errResourceNotFound)
		w.Uint32(errSuccess)
		writeHandle(w, Handle{})
		return w.Bytes(), nil
	}
	var h Handle
	if _, err := rand.Read(h.UUID[:]); err != nil {
		return nil, fmt.Errorf("resource handle: %w", err)
	}
	c.mu.Lock()
	full := len(c.handles) >= maxResourceHandles
	if !full {
		c.handles[h.UUID] = cl.Name
	}
	c.mu.Unlock()
	if full {
		w.Uint32(errNotEnoughMemory)
		w.Uint32(errSuccess)
		writeHandle(w, Handle{})
		return w.Bytes(), nil
	}
	w.Uint32(errSuccess)
	w.Uint32(errSuccess)
	writeHandle(w, h)
	return w.Bytes(), nil
}

// nodeName returns this node's name, for GetResourceState's owner node.
func (s *Service) nodeName() string {
	if n, ok := s.cfg.Members.Node(s.cfg.NodeID); ok && n.Name != "" {
		return n.Name
	}
	return s.cfg.NodeID
}

// clusterOffline reports whether the cluster name resource is offline.
func (s *Service) clusterOffline(ctx context.Context) (bool, error) {
	cl, err := s.cfg.Store.Cluster(ctx)
	if errors.Is(err, namespace.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.cfg.Store.WitnessResourceOffline(ctx, cl.Name)
}
