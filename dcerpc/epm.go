package dcerpc

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"

	"sofs.io/sofs/dcerpc/ndr"
)

// EPMSyntax is the endpoint mapper interface, EPMv4
// e1af8308-5d1f-11c9-91a4-08002b14a0fa v3.0 ([C706] appendix O,
// [MS-RPCE] 2.2.1.2.5).
var EPMSyntax = MustSyntax("e1af8308-5d1f-11c9-91a4-08002b14a0fa", 3, 0)

// EPMPort is the well-known TCP port of the endpoint mapper
// ([MS-RPCE] 2.1.1.1); Windows and Samba clients always ask there.
const EPMPort = 135

const (
	// opEptMap is ept_map's opnum ([C706] O.3.2).
	opEptMap = 3
	// eptNotRegistered is EPT_S_NOT_REGISTERED: no endpoint for the tower.
	eptNotRegistered = 0x16c9a0d6
	// maxTowerLen bounds a request's tower. A TCP/IP tower is 75 bytes;
	// a kilobyte leaves room for any transport's while refusing junk.
	maxTowerLen = 1024
	// maxFloors bounds a tower's floor count; TCP/IP towers have five.
	maxFloors = 8
)

// Tower floor protocol identifiers ([C706] appendix L, [MS-RPCE] 2.2.1.2).
const (
	protoUUID  = 0x0d
	protoNCACN = 0x0b // connection-oriented RPC
	protoTCP   = 0x07
	protoIP    = 0x09
)

// EndpointMapper answers ept_map for the interfaces registered with it, each
// on a TCP endpoint. It is safe for concurrent use.
type EndpointMapper struct {
	mu sync.Mutex
	// ports maps an interface's UUID and major version to its endpoint.
	eps map[epKey]*net.TCPAddr
}

type epKey struct {
	uuid  [16]byte
	major uint16
}

// NewEndpointMapper returns an empty mapper.
func NewEndpointMapper() *EndpointMapper {
	return &EndpointMapper{eps: make(map[epKey]*net.TCPAddr)}
}

// Register maps interface s to TCP endpoint addr. An unspecified IP in
// addr means "the address the client asked the mapper on".
func (m *EndpointMapper) Register(s SyntaxID, addr *net.TCPAddr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.eps[epKey{s.UUID, s.Major}] = addr
}

// Interface returns the EPMv4 interface over m.
func (m *EndpointMapper) Interface() *Interface {
	return &Interface{Syntax: EPMSyntax, Call: m.call}
}

func (m *EndpointMapper) call(_ context.Context, c *Call) ([]byte, error) {
	if c.Opnum != opEptMap {
		// ept_lookup and the management calls are not served: clients
		// only need ept_map to find an endpoint.
		return nil, fmt.Errorf("epm opnum %d: %w", c.Opnum, ErrUnknownOpnum)
	}
	req, err := UnmarshalEptMapRequest(c.Stub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadStub, err)
	}
	var towers [][]byte
	status := uint32(eptNotRegistered)
	if t, err := parseTower(req.Tower); err == nil && t.transport() {
		m.mu.Lock()
		ep := m.eps[epKey{t.iface.UUID, t.iface.Major}]
		m.mu.Unlock()
		if ep != nil && req.MaxTowers > 0 {
			ip := ep.IP
			if ip == nil || ip.IsUnspecified() {
				if la, ok := c.Local.(*net.TCPAddr); ok {
					ip = la.IP
				}
			}
			if ip4 := ip.To4(); ip4 != nil {
				towers = append(towers, tcpTower(t.iface, ip4, uint16(ep.Port)))
				status = 0
			}
		}
	}
	return marshalEptMapResponse(towers, req.MaxTowers, status), nil
}

// EptMapRequest is ept_map's input ([C706] O.3.2): the object UUID, the
// tower naming the interface and protocols wanted, the lookup handle and the
// most towers the client takes.
type EptMapRequest struct {
	Object    [16]byte
	Tower     []byte
	Handle    [20]byte
	MaxTowers uint32
}

// UnmarshalEptMapRequest decodes ept_map's request stub.
func UnmarshalEptMapRequest(stub []byte) (EptMapRequest, error) {
	var q EptMapRequest
	r := ndr.NewReader(stub)
	has, err := r.Pointer()
	if err != nil {
		return q, fmt.Errorf("object: %w", err)
	}
	if has {
		b, err := r.Bytes(16)
		if err != nil {
			return q, fmt.Errorf("object: %w", err)
		}
		copy(q.Object[:], b)
	}
	if has, err = r.Pointer(); err != nil {
		return q, fmt.Errorf("map_tower: %w", err)
	}
	if has {
		// twr_t is a conformant structure: the conformance (max count)
		// comes first, then tower_length and the octets ([C706] 14.3.7).
		n, err := r.Count(1)
		if err != nil {
			return q, fmt.Errorf("map_tower size: %w", err)
		}
		l, err := r.Uint32()
		if err != nil {
			return q, fmt.Errorf("map_tower length: %w", err)
		}
		if uint32(n) != l || l > maxTowerLen {
			return q, fmt.Errorf("map_tower length %d, size %d: %w", l, n, ndr.ErrInvalid)
		}
		if q.Tower, err = r.Bytes(int(l)); err != nil {
			return q, fmt.Errorf("map_tower: %w", err)
		}
	}
	if err := r.Align(4); err != nil {
		return q, err
	}
	h, err := r.Bytes(20)
	if err != nil {
		return q, fmt.Errorf("entry_handle: %w", err)
	}
	copy(q.Handle[:], h)
	if q.MaxTowers, err = r.Uint32(); err != nil {
		return q, fmt.Errorf("max_towers: %w", err)
	}
	return q, nil
}

// marshalEptMapResponse encodes ept_map's output: a null lookup handle (the
// lookup is complete in one call), the towers and the status.
func marshalEptMapResponse(towers [][]byte, maxTowers, status uint32) []byte {
	w := ndr.NewWriter()
	w.Raw(make([]byte, 20)) // entry_handle
	w.Uint32(uint32(len(towers)))
	// towers: [size_is(max_towers), length_is(*num_towers)] twr_p_t[].
	w.Uint32(max(maxTowers, uint32(len(towers))))
	w.Uint32(0)
	w.Uint32(uint32(len(towers)))
	for range towers {
		w.Pointer(true)
	}
	for _, t := range towers {
		w.Uint32(uint32(len(t)))
		w.Uint32(uint32(len(t)))
		w.Raw(t)
		w.Align(4)
	}
	w.Uint32(status)
	return w.Bytes()
}

// tower is the part of a protocol tower ([C706] appendix L) ept_map needs.
type tower struct {
	iface  SyntaxID
	floors [][2][]byte
}

// transport reports whether the tower asks for connection-oriented RPC over
// TCP/IP: floors 3 to 5 are ncacn, TCP and IP.
func (t tower) transport() bool {
	return len(t.floors) >= 5 &&
		len(t.floors[2][0]) == 1 && t.floors[2][0][0] == protoNCACN &&
		len(t.floors[3][0]) == 1 && t.floors[3][0][0] == protoTCP &&
		len(t.floors[4][0]) == 1 && t.floors[4][0][0] == protoIP
}

// parseTower decodes a tower's floors. Counts and lengths are 16-bit
// little-endian; floor 1's left side is the interface UUID and major
// version, its right side the minor version.
func parseTower(b []byte) (tower, error) {
	var t tower
	if len(b) < 2 {
		return t, fmt.Errorf("tower of %d bytes: %w", len(b), ndr.ErrShort)
	}
	n := int(binary.LittleEndian.Uint16(b))
	if n < 1 || n > maxFloors {
		return t, fmt.Errorf("%d floors: %w", n, ndr.ErrInvalid)
	}
	b = b[2:]
	for range n {
		var f [2][]byte
		for side := range 2 {
			if len(b) < 2 {
				return t, fmt.Errorf("floor side length: %w", ndr.ErrShort)
			}
			l := int(binary.LittleEndian.Uint16(b))
			if len(b)-2 < l {
				return t, fmt.Errorf("floor side of %d bytes: %w", l, ndr.ErrShort)
			}
			f[side] = b[2 : 2+l]
			b = b[2+l:]
		}
		t.floors = append(t.floors, f)
	}
	lhs, rhs := t.floors[0][0], t.floors[0][1]
	if len(lhs) != 19 || lhs[0] != protoUUID || len(rhs) != 2 {
		return t, fmt.Errorf("interface floor: %w", ndr.ErrInvalid)
	}
	copy(t.iface.UUID[:], lhs[1:17])
	t.iface.Major = binary.LittleEndian.Uint16(lhs[17:])
	t.iface.Minor = binary.LittleEndian.Uint16(rhs)
	return t, nil
}

// tcpTower builds the five-floor ncacn_ip_tcp tower for iface at ip:port:
// interface, NDR 2.0, ncacn, TCP port and IPv4 address, the last two in
// network byte order ([C706] appendix L, [MS-RPCE] 2.2.1.2).
func tcpTower(iface SyntaxID, ip net.IP, port uint16) []byte {
	var b []byte
	le16 := func(v uint16) { b = binary.LittleEndian.AppendUint16(b, v) }
	floor := func(lhs, rhs []byte) {
		le16(uint16(len(lhs)))
		b = append(b, lhs...)
		le16(uint16(len(rhs)))
		b = append(b, rhs...)
	}
	syntaxFloor := func(s SyntaxID) {
		lhs := append([]byte{protoUUID}, s.UUID[:]...)
		lhs = binary.LittleEndian.AppendUint16(lhs, s.Major)
		floor(lhs, binary.LittleEndian.AppendUint16(nil, s.Minor))
	}
	le16(5)
	syntaxFloor(iface)
	syntaxFloor(ndrSyntax)
	floor([]byte{protoNCACN}, []byte{0, 0})
	floor([]byte{protoTCP}, binary.BigEndian.AppendUint16(nil, port))
	floor([]byte{protoIP}, ip.To4())
	return b
}
