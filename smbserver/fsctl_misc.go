package smbserver

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// objectID implements FSCTL_CREATE_OR_GET_OBJECT_ID and
// FSCTL_GET_OBJECT_ID ([MS-FSCC] 2.3.1, 2.3.23; [MS-FSA] 2.1.5.9.1,
// 2.1.5.9.10): a 16-byte id stored with the file, created on first
// CREATE_OR_GET; GET of a file without one fails as NTFS does.
func (c *conn) objectID(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	if req.MaxOutputResponse < 64 {
		return wire.StatusBufferTooSmall
	}
	var id [16]byte
	var err error
	if req.CtlCode == wire.FsctlGetObjectID {
		var ok bool
		id, ok, err = o.handle.FileObjectID()
		if err == nil && !ok {
			return wire.StatusObjectIDNotFound
		}
	} else {
		id, err = o.handle.CreateFileObjectID()
	}
	if err != nil {
		return c.mapErr(err)
	}
	// BirthObjectId equals the ObjectId; BirthVolumeId and DomainId
	// stay zero, as NTFS returns for an id created by the FSCTL.
	buf := wire.FileObjectIDBuffer{ObjectID: id, BirthObjectID: id}
	ioctlOut(r, req, o, buf.Encode())
	return wire.StatusSuccess
}

// getIntegrity implements FSCTL_GET_INTEGRITY_INFORMATION ([MS-FSCC]
// 2.3.19): the backing file system keeps no checksums, so the answer is
// CHECKSUM_TYPE_NONE.
func (c *conn) getIntegrity(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	if req.MaxOutputResponse < 16 {
		return wire.StatusInvalidParameter
	}
	info := wire.IntegrityInformation{ChecksumAlgorithm: wire.ChecksumTypeNone, ClusterSize: 4096}
	ioctlOut(r, req, o, info.EncodeGet())
	return wire.StatusSuccess
}

// fsctlIntegrityEnforcementOff is FSCTL_INTEGRITY_FLAG_CHECKSUM_ENFORCEMENT_OFF.
const fsctlIntegrityEnforcementOff = 0x00000001

// setIntegrity implements FSCTL_SET_INTEGRITY_INFORMATION ([MS-FSCC]
// 2.3.73, [MS-FSA] 2.1.5.10.33): "no integrity" (or unchanged) is what
// the file has, so it succeeds; turning integrity on fails with
// STATUS_INVALID_DEVICE_REQUEST, "the volume does not support integrity"
// (2.3.74).
func (c *conn) setIntegrity(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	in, err := wire.DecodeSetIntegrityInformation(req.Input)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if in.Flags != 0 && in.Flags&fsctlIntegrityEnforcementOff == 0 {
		return wire.StatusInvalidParameter
	}
	switch in.ChecksumAlgorithm {
	case wire.ChecksumTypeNone, wire.ChecksumTypeUnchanged:
		if in.Flags&fsctlIntegrityEnforcementOff != 0 {
			return wire.StatusInvalidParameter
		}
	case 0x0001, wire.ChecksumTypeCRC64:
		return wire.StatusInvalidDeviceRequest
	default:
		return wire.StatusInvalidParameter
	}
	if o.access&(fileWriteData|fileWriteAttributes) == 0 {
		return wire.StatusAccessDenied
	}
	ioctlOut(r, req, o, nil)
	return wire.StatusSuccess
}

// maxResiliencyTimeout bounds a requested resiliency timeout: Windows
// caps it (MaxResiliencyTimeout, 5 minutes by default) and fails a larger
// request with STATUS_INVALID_PARAMETER ([MS-SMB2] 3.3.5.15.9).
const maxResiliencyTimeout = 300000

// resiliency holds the timeout granted by FSCTL_LMR_REQUEST_RESILIENCY
// per open, for the durable-handle code ([MS-SMB2] 3.3.1.10
// Open.IsResilient, Open.ResiliencyTimeout). closeOpen must call
// forgetResiliency; the table is not swept, since a disconnected
// resilient open is exactly the one whose entry must survive.
var resiliency struct {
	mu sync.Mutex
	m  map[*open]time.Duration
}

// resiliencyTimeout reports whether o was made resilient and for how long.
func resiliencyTimeout(o *open) (time.Duration, bool) {
	resiliency.mu.Lock()
	defer resiliency.mu.Unlock()
	d, ok := resiliency.m[o]
	return d, ok
}

// forgetResiliency drops o's entry when it closes.
func forgetResiliency(o *open) {
	resiliency.mu.Lock()
	delete(resiliency.m, o)
	resiliency.mu.Unlock()
}

func setResiliency(o *open, d time.Duration) {
	resiliency.mu.Lock()
	defer resiliency.mu.Unlock()
	if resiliency.m == nil {
		resiliency.m = make(map[*open]time.Duration)
	}
	resiliency.m[o] = d
}

// requestResiliency implements FSCTL_LMR_REQUEST_RESILIENCY ([MS-SMB2]
// 2.2.31.3, 3.3.5.15.9).
func (c *conn) requestResiliency(r *request, req *wire.IoctlRequest, o *open) wire.Status {
	if c.dialect < Dialect210 {
		return wire.StatusInvalidDeviceRequest
	}
	in, err := wire.DecodeNetworkResiliencyRequest(req.Input)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if in.Timeout > maxResiliencyTimeout {
		return wire.StatusInvalidParameter
	}
	d := time.Duration(in.Timeout) * time.Millisecond
	if in.Timeout == 0 {
		d = 120 * time.Second // a server-chosen default (3.3.5.15.9)
	}
	setResiliency(o, d)
	ioctlOut(r, req, o, nil)
	return wire.StatusSuccess
}

// queryNetworkInterfaces implements FSCTL_QUERY_NETWORK_INTERFACE_INFO
// ([MS-SMB2] 2.2.32.5, 3.3.5.15.11): the interface this connection
// arrived on, with the address the server accepted it on, since that is
// one it listens on. Neither RSS nor RDMA is claimed.
func (c *conn) queryNetworkInterfaces(r *request, req *wire.IoctlRequest) wire.Status {
	r.ordered()
	// It names no file: FileId must be all ones (Windows; smbtorture
	// smb2.ioctl.bug14788).
	if req.FileID.Persistent != anyID || req.FileID.Volatile != anyID {
		return wire.StatusInvalidParameter
	}
	var ip net.IP
	if ta, ok := c.nc.LocalAddr().(*net.TCPAddr); ok {
		ip = ta.IP
	}
	if ip == nil {
		return wire.StatusNotSupported
	}
	info := wire.NetworkInterfaceInfo{IfIndex: 1, LinkSpeed: 1_000_000_000, IP: ip}
	if ip4 := ip.To4(); ip4 != nil {
		info.IP = ip4
	}
	if ifi := interfaceOf(ip); ifi != nil {
		info.IfIndex = uint32(ifi.Index)
		if s := linkSpeed(ifi.Name); s > 0 {
			info.LinkSpeed = s
		} else if ifi.Flags&net.FlagLoopback != 0 {
			info.LinkSpeed = 10_000_000_000
		}
	}
	out := wire.EncodeNetworkInterfaces([]wire.NetworkInterfaceInfo{info})
	if uint32(len(out)) > req.MaxOutputResponse {
		return wire.StatusBufferTooSmall
	}
	resp := wire.IoctlResponse{CtlCode: req.CtlCode, FileID: req.FileID, Output: out}
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

// interfaceOf finds the interface holding ip.
func interfaceOf(ip net.IP) *net.Interface {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	for i := range ifs {
		addrs, err := ifs[i].Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
				return &ifs[i]
			}
		}
	}
	return nil
}

// linkSpeed reads the interface's speed (Mb/s) from sysfs, in bits per
// second; 0 when unknown.
func linkSpeed(name string) uint64 {
	b, err := os.ReadFile("/sys/class/net/" + name + "/speed")
	if err != nil {
		return 0
	}
	mb, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || mb <= 0 {
		return 0
	}
	return uint64(mb) * 1_000_000
}

// fsCapabilities are the FileFsAttributeInformation flags the FSCTLs
// served here add: sparse files and object ids always, block
// refcounting only when the volume's file system can reflink (probed
// once per volume).
func fsCapabilities(v *csv.Volume) uint32 {
	f := fscc.FileSupportsSparseFiles | fscc.FileSupportsObjectIDs
	if v.SupportsReflink() {
		f |= fscc.FileSupportsBlockRefcounting
	}
	return f
}

// ssinfoFlags are the FileFsSectorSizeInformation flags ([MS-FSCC]
// 2.5.7): SSINFO_FLAGS_TRIM_ENABLED, since FSCTL_FILE_LEVEL_TRIM is
// served (fsctl_sparse.go).
const ssinfoFlags uint32 = 0x00000008
