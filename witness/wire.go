package witness

import (
	"encoding/binary"
	"fmt"
	"net"
	"unicode/utf16"

	"sofs.io/sofs/dcerpc"
	"sofs.io/sofs/dcerpc/ndr"
)

// Syntax is the witness interface, ccd8c074-d0e5-4a40-92b4-d074faa6ba28
// v1.1 ([MS-SWN] 1.9). Both protocol versions use it; the version a client
// speaks is a parameter of WitnessrRegister and WitnessrRegisterEx.
var Syntax = dcerpc.MustSyntax("ccd8c074-d0e5-4a40-92b4-d074faa6ba28", 1, 1)

// Opnums ([MS-SWN] 3.1.4).
const (
	OpGetInterfaceList = 0
	OpRegister         = 1
	OpUnRegister       = 2
	OpAsyncNotify      = 3
	OpRegisterEx       = 4
)

// Protocol versions ([MS-SWN] 2.2.1).
const (
	VersionV1 = 0x00010001
	VersionV2 = 0x00020000
)

// Win32 error codes the operations return ([MS-ERREF] 2.2).
const (
	errSuccess          = 0
	errNotFound         = 0x00000490 // ERROR_NOT_FOUND
	errInvalidParameter = 0x00000057 // ERROR_INVALID_PARAMETER
	errRevisionMismatch = 0x0000051a // ERROR_REVISION_MISMATCH
	errInvalidState     = 0x0000139f // ERROR_INVALID_STATE
	errTimeout          = 0x000005b4 // ERROR_TIMEOUT
	errNotEnoughMemory  = 0x00000008 // ERROR_NOT_ENOUGH_MEMORY
)

// WITNESS_INTERFACE_INFO states and flags ([MS-SWN] 2.2.2.5).
const (
	stateAvailable   = 0x0001
	stateUnavailable = 0x00ff

	ifIPv4Valid = 0x00000001
	ifIPv6Valid = 0x00000002
	ifWitness   = 0x00000004
)

// Notification types ([MS-SWN] 3.1.4.4) and RESOURCE_CHANGE states
// (2.2.2.1), IPADDR_INFO flags (2.2.2.2).
const (
	NotifyResourceChange = 1
	NotifyClientMove     = 2
	NotifyShareMove      = 3
	NotifyIPChange       = 4

	ResourceUnknown     = 0x00000000
	ResourceAvailable   = 0x00000001
	ResourceUnavailable = 0x000000ff

	ipAddrV4      = 0x00000001
	ipAddrV6      = 0x00000002
	ipAddrOnline  = 0x00000008
	ipAddrOffline = 0x00000010

	// registerIPNotification is RegisterEx's WITNESS_REGISTER_IP_NOTIFICATION
	// flag (3.1.4.5): the client wants IP_CHANGE notifications.
	registerIPNotification = 0x00000001
)

// groupNameUnits is the fixed length of InterfaceGroupName in UTF-16 code
// units, terminator included ([MS-SWN] 2.2.2.5).
const groupNameUnits = 260

// Handle is a context handle on the wire ([MS-RPCE] 2.2.4.11 ndr_context_handle):
// attributes, always zero here, and a UUID that names the registration.
type Handle struct {
	Attributes uint32
	UUID       [16]byte
}

// Interface is one WITNESS_INTERFACE_INFO ([MS-SWN] 2.2.2.5).
type Interface struct {
	GroupName string
	Version   uint32
	State     uint16
	// IP goes in the IPV4 field if it is an IPv4 address, else in IPV6;
	// Flags says which is valid.
	IP    net.IP
	Flags uint32
}

// MarshalInterfaceList encodes WitnessrGetInterfaceList's response: a
// unique pointer to WITNESS_INTERFACE_LIST, whose array of interfaces is a
// deferred conformant array, then the return code.
func MarshalInterfaceList(list []Interface, status uint32) []byte {
	w := ndr.NewWriter()
	if status != errSuccess {
		w.Pointer(false)
		w.Uint32(status)
		return w.Bytes()
	}
	w.Pointer(true)
	w.Uint32(uint32(len(list)))
	w.Pointer(true)
	w.Uint32(uint32(len(list)))
	for _, i := range list {
		units := utf16.Encode([]rune(i.GroupName))
		if len(units) > groupNameUnits-1 {
			units = units[:groupNameUnits-1]
		}
		for j := range groupNameUnits {
			u := uint16(0)
			if j < len(units) {
				u = units[j]
			}
			w.Uint16(u)
		}
		w.Uint32(i.Version)
		w.Uint16(i.State)
		// IPV4 is a ULONG holding the address in network byte order,
		// as Windows and Samba send it; IPV6 is 16 bytes, also in
		// network order. The field not in use is zero.
		w.Align(4)
		v4, v6 := ipFields(i.IP)
		w.Raw(v4[:])
		w.Raw(v6[:])
		w.Uint32(i.Flags)
	}
	w.Uint32(status)
	return w.Bytes()
}

// RegisterRequest holds WitnessrRegister's and WitnessrRegisterEx's input
// ([MS-SWN] 3.1.4.2 and 3.1.4.5). Absent strings are nil pointers on the
// wire; Has* tell them from empty strings.
type RegisterRequest struct {
	Version                 uint32
	NetName, ShareName      string
	IPAddress, Client       string
	HasNetName, HasShare    bool
	HasIPAddress, HasClient bool
	// Flags and KeepAlive (seconds) are RegisterEx's only.
	Flags     uint32
	KeepAlive uint32
}

// UnmarshalRegister decodes WitnessrRegister's request stub, or
// WitnessrRegisterEx's when ex is set.
func UnmarshalRegister(stub []byte, ex bool) (RegisterRequest, error) {
	var q RegisterRequest
	r := ndr.NewReader(stub)
	var err error
	if q.Version, err = r.Uint32(); err != nil {
		return q, fmt.Errorf("version: %w", err)
	}
	str := func(name string, dst *string, has *bool) error {
		p, err := r.Pointer()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if !p {
			return nil
		}
		*has = true
		if *dst, err = r.String(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	if err := str("net name", &q.NetName, &q.HasNetName); err != nil {
		return q, err
	}
	if ex {
		if err := str("share name", &q.ShareName, &q.HasShare); err != nil {
			return q, err
		}
	}
	if err := str("ip address", &q.IPAddress, &q.HasIPAddress); err != nil {
		return q, err
	}
	if err := str("client name", &q.Client, &q.HasClient); err != nil {
		return q, err
	}
	if ex {
		if q.Flags, err = r.Uint32(); err != nil {
			return q, fmt.Errorf("flags: %w", err)
		}
		if q.KeepAlive, err = r.Uint32(); err != nil {
			return q, fmt.Errorf("timeout: %w", err)
		}
	}
	return q, nil
}

// MarshalRegisterResponse encodes the context handle and return code.
func MarshalRegisterResponse(h Handle, status uint32) []byte {
	w := ndr.NewWriter()
	writeHandle(w, h)
	w.Uint32(status)
	return w.Bytes()
}

// UnmarshalHandle decodes the request of WitnessrUnRegister and
// WitnessrAsyncNotify: one context handle.
func UnmarshalHandle(stub []byte) (Handle, error) {
	var h Handle
	r := ndr.NewReader(stub)
	var err error
	if h.Attributes, err = r.Uint32(); err != nil {
		return h, fmt.Errorf("context handle: %w", err)
	}
	b, err := r.Bytes(16)
	if err != nil {
		return h, fmt.Errorf("context handle: %w", err)
	}
	copy(h.UUID[:], b)
	return h, nil
}

func writeHandle(w *ndr.Writer, h Handle) {
	w.Uint32(h.Attributes)
	w.Raw(h.UUID[:])
}

// MarshalStatus encodes a response that is only a return code
// (WitnessrUnRegister).
func MarshalStatus(status uint32) []byte {
	w := ndr.NewWriter()
	w.Uint32(status)
	return w.Bytes()
}

// ipFields returns ip as the IPV4 and IPV6 fields of WITNESS_INTERFACE_INFO
// and IPADDR_INFO: an IPv4 address (or IPv4-mapped IPv6 one) fills the
// first, any other address the second.
func ipFields(ip net.IP) (v4 [4]byte, v6 [16]byte) {
	if ip4 := ip.To4(); ip4 != nil {
		copy(v4[:], ip4)
	} else if ip16 := ip.To16(); ip16 != nil {
		copy(v6[:], ip16)
	}
	return v4, v6
}

// Address is one IPADDR_INFO ([MS-SWN] 2.2.2.2): an address and whether
// it is online.
type Address struct {
	IP     net.IP
	Online bool
}

// Notification is one RESP_ASYNC_NOTIFY ([MS-SWN] 2.2.2.4) before encoding:
// a RESOURCE_CHANGE for a resource, or a CLIENT_MOVE, SHARE_MOVE or
// IP_CHANGE naming addresses.
type Notification struct {
	Type uint32
	// Resource and State describe a RESOURCE_CHANGE.
	Resource string
	State    uint32
	// Addresses are the IPADDR_INFO entries of the other types.
	Addresses []Address
}

// messageBuffer encodes the notification's MessageBuffer: one
// RESOURCE_CHANGE (2.2.2.1) or one IPADDR_INFO_LIST (2.2.2.3), each
// little-endian with no NDR alignment and its own length first.
func (n Notification) messageBuffer() []byte {
	le32 := binary.LittleEndian.AppendUint32
	if n.Type == NotifyResourceChange {
		units := utf16.Encode([]rune(n.Resource))
		size := 8 + 2*(len(units)+1)
		b := le32(nil, uint32(size))
		b = le32(b, n.State)
		for _, u := range units {
			b = binary.LittleEndian.AppendUint16(b, u)
		}
		return binary.LittleEndian.AppendUint16(b, 0)
	}
	var b []byte
	b = le32(b, uint32(12+24*len(n.Addresses)))
	b = le32(b, 0)
	b = le32(b, uint32(len(n.Addresses)))
	for _, a := range n.Addresses {
		flags := uint32(ipAddrV4)
		if a.IP.To4() == nil {
			flags = ipAddrV6
		}
		if a.Online {
			flags |= ipAddrOnline
		} else {
			flags |= ipAddrOffline
		}
		v4, v6 := ipFields(a.IP)
		b = le32(b, flags)
		b = append(b, v4[:]...)
		b = append(b, v6[:]...)
	}
	return b
}

// MarshalNotifyResponse encodes WitnessrAsyncNotify's response: a unique
// pointer to RESP_ASYNC_NOTIFY, whose MessageBuffer is a unique pointer to
// a conformant byte array of Length bytes, then the return code. A failed
// call returns a NULL response.
func MarshalNotifyResponse(n *Notification, status uint32) []byte {
	w := ndr.NewWriter()
	if n == nil {
		w.Pointer(false)
		w.Uint32(status)
		return w.Bytes()
	}
	buf := n.messageBuffer()
	w.Pointer(true)
	w.Uint32(n.Type)
	w.Uint32(uint32(len(buf)))
	w.Uint32(1) // NumberOfMessages
	w.Pointer(true)
	w.Uint32(uint32(len(buf)))
	w.Raw(buf)
	w.Align(4)
	w.Uint32(status)
	return w.Bytes()
}
