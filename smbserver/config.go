package smbserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"sofs.io/sofs/auth/krb5"
	"sofs.io/sofs/csv"
)

// Dialects ([MS-SMB2] 2.2.3).
const (
	Dialect202 uint16 = 0x0202
	Dialect210 uint16 = 0x0210
	Dialect300 uint16 = 0x0300
	Dialect302 uint16 = 0x0302
	Dialect311 uint16 = 0x0311
)

// Share describes one disk share as the server serves it. The cluster's
// namespace owns the authoritative copy; the server reads it through
// ShareSource on every TREE_CONNECT so changes apply without a restart.
type Share struct {
	Name    string // as clients type it; matched case-insensitively
	Comment string
	Path    string // backing directory on the cluster shared volume
	// ContinuouslyAvailable grants persistent handles and makes every
	// WRITE write-through ([MS-SMB2] 2.2.10 SMB2_SHARE_CAP_CONTINUOUS_AVAILABILITY).
	ContinuouslyAvailable bool
	// EncryptData requires SMB3 encryption for every request on this share.
	EncryptData bool
	ReadOnly    bool
	// Guest allows anonymous and guest sessions to connect to this share.
	Guest bool
	// DisableOplocks grants no oplocks or leases on this share.
	DisableOplocks bool
	// Permissions is the share-level access list (sharesec.go); empty
	// grants Everyone full control.
	Permissions []SharePermission
	// AccessBasedEnumeration hides from QUERY_DIRECTORY the entries the
	// user may not read ([MS-SMB2] 2.2.10
	// SMB2_SHAREFLAG_ACCESS_BASED_DIRECTORY_ENUM).
	AccessBasedEnumeration bool
}

// ShareSource resolves share names. Implementations must be safe for
// concurrent use.
type ShareSource interface {
	// Share returns the share named name (case-insensitive).
	Share(name string) (Share, bool)
	// Shares lists every disk share, for srvsvc enumeration.
	Shares() []Share
}

// UserSource yields NT hashes for NTLM authentication. The hash is MD4 of
// the UTF-16LE password ([MS-NLMP] 3.3.1 NTOWFv1); the clear-text password
// is never stored.
type UserSource interface {
	NTHash(user string) (hash [16]byte, ok bool)
}

// RequestObserver receives one call per handled request, for metrics. It
// must be cheap and safe for concurrent use: it runs on the request path.
// command is the SMB2 command code, status the NTSTATUS returned, in and
// out the request and response message sizes in bytes.
type RequestObserver interface {
	ObserveRequest(command uint16, status uint32, elapsed time.Duration, in, out int)
}

// Config configures a Server. Zero values of the numeric limits select the
// documented defaults (see Validate).
type Config struct {
	Logger     zerolog.Logger
	ServerGUID [16]byte
	// ServerName is the NetBIOS computer name reported in NTLM and srvsvc.
	ServerName string
	// Domain is the NetBIOS domain (workgroup) reported in NTLM.
	Domain string

	Shares ShareSource
	Users  UserSource
	// Observer, when set, sees every handled request (metrics).
	Observer RequestObserver

	// RequireSigning sets SMB2_NEGOTIATE_SIGNING_REQUIRED; true by default
	// in sofsd because unsigned SMB is trivially tampered with.
	RequireSigning bool
	// EncryptData requires encryption on every share (global EncryptData).
	EncryptData bool
	// AllowUnencrypted lets pre-3.0 clients reach encrypted shares
	// (RejectUnencryptedAccess = false); off by default.
	AllowUnencrypted bool

	MinDialect uint16 // default 2.0.2
	MaxDialect uint16 // default 3.1.1

	MaxReadSize     uint32 // default 8 MiB
	MaxWriteSize    uint32 // default 8 MiB
	MaxTransactSize uint32 // default 8 MiB
	// MaxCredits bounds the credits one connection may hold, and so the
	// requests it may have in flight; default 8192.
	MaxCredits uint16

	// OplockBreakTimeout is how long an open that conflicts with an oplock
	// or lease waits for the holder's break acknowledgment before the
	// break is forced; default 35 s (DefaultOplockBreakTimeout).
	OplockBreakTimeout time.Duration
	// HandleStore keeps the records of persistent handles (durable.go);
	// nil keeps them in this process's memory only.
	HandleStore csv.HandleStore
	// HandleOwner names this server's records in HandleStore (the node
	// name in sofsd); ServerName when empty. RestoreHandles brings back
	// the records of this owner.
	HandleOwner string
	// FileIDBase is added to every FileId this server hands out, so that
	// FileIds are unique across a cluster's nodes and process runs (sofsd:
	// the node's open-state slot in the top 16 bits): a handle adopted by
	// another node keeps the FileId its client knows.
	FileIDBase uint64
	// Handles finds durable and persistent handles that another node
	// serves or served, for a reconnect (DHnC, DH2C) that reaches this
	// node (takeover.go); nil on a single server.
	Handles HandleLocator
	// DisableOplocks grants no oplocks or leases on any share and does
	// not advertise leasing.
	DisableOplocks bool
	// ConnObserver, when set, is told of every connection a hygiene
	// limit refuses or closes (metrics).
	ConnObserver ConnObserver
	// LogonTimeout is how long a new connection has to complete
	// NEGOTIATE and a successful SESSION_SETUP before it is closed;
	// default DefaultLogonTimeout (30 s). hygiene.go explains these
	// limits and their defaults.
	LogonTimeout time.Duration
	// FrameTimeout is how long a frame may take to arrive once its first
	// byte has, plus one second per 64 KiB of frame; default
	// DefaultFrameTimeout (30 s).
	FrameTimeout time.Duration
	// MaxUnauthenticated bounds the connections that have not yet
	// authenticated, server-wide; default DefaultMaxUnauthenticated (512).
	MaxUnauthenticated int
	// MaxUnauthenticatedPerClient bounds them per client IP address;
	// default DefaultMaxUnauthenticatedPerClient (64).
	MaxUnauthenticatedPerClient int
	// DisableMultiChannel stops advertising SMB2_GLOBAL_CAP_MULTI_CHANNEL
	// and refuses session binding ([MS-SMB2] 3.3.5.5,
	// IsMultiChannelCapable FALSE). Multichannel is on by default.
	DisableMultiChannel bool
	// OpenState, if set, supplies the open-state tables (share modes,
	// oplocks and leases, delete pending, byte-range locks) of the volume
	// with the given key, which names one backing directory the same way
	// on every node; a cluster hands out cluster-wide tables
	// (csv/clusterstate). Nil keeps them in this process's memory. Breaks
	// that another node's change starts for this server's opens come in
	// through Server.DeliverBreaks.
	OpenState func(volumeKey string) (csv.ObjectTable, csv.LockTable)
	// CloseAppInstanceElsewhere, if set, closes on the other nodes of a
	// cluster the durable opens that an earlier instance of an
	// application holds on share's file path (Server.CloseAppInstance on
	// each), and returns when they are closed. A CREATE with an
	// AppInstanceId calls it after closing this server's own.
	CloseAppInstanceElsewhere func(ctx context.Context, share, path string, app [16]byte) error
	// ExpireSessionElsewhere, if set, ends on the other nodes of a
	// cluster the session a SESSION_SETUP names in PreviousSessionId when
	// it is not on this one ([MS-SMB2] 3.3.5.5.3: a client reconnecting
	// through another node, whose old session's durable opens must become
	// disconnected so that they can be reclaimed). sofsd calls
	// ExpirePrevious on every other node.
	ExpireSessionElsewhere func(ctx context.Context, id uint64, user, sid string) error
	// CopySourceElsewhere, if set, asks the other nodes of a cluster
	// about a copychunk resume key or an offload token this server did
	// not issue (Server.ResolveCopySource on each) and returns the
	// issuer's answer; Found is false when no node knows the key.
	CopySourceElsewhere func(ctx context.Context, q CopySourceQuery) (CopySource, error)
	// AckLeaseElsewhere, if set, forwards a lease break acknowledgment
	// for a lease with no open on this server to the node of a cluster
	// that holds the lease's opens (Server.AckLease there) and returns
	// its status; found is false when no node holds the lease.
	AckLeaseElsewhere func(ctx context.Context, a LeaseAck) (status uint32, found bool, err error)
	// LeaseBreakElsewhere, if set, sends a lease break notification body
	// through another node of a cluster when client's oldest connection
	// is there (older than since, or any when local is false: this server
	// has no connection of the client to send it on), and reports
	// whether it did (Server.ClientSince and Server.SendLeaseBreak on the
	// others); false leaves the break to this server.
	LeaseBreakElsewhere func(ctx context.Context, client [16]byte, local bool, since time.Time, body []byte) bool

	// KerberosKeys, when set, accepts Kerberos logons ([MS-KILE]) with
	// the service keys it supplies (a keytab), and the NEGOTIATE hint
	// offers Kerberos before NTLM, as a domain member does.
	KerberosKeys krb5.KeySource
	// DisableNTLM refuses NTLM logons: a server in a domain that has
	// retired NTLM. It needs KerberosKeys.
	DisableNTLM bool

	// MayServe, if set, is this node's lease clock: nil while the node
	// can prove it still holds its cluster lease, an error once another
	// node may own its opens. It is asked when every request starts,
	// again when it ends (before its response goes out), and by the
	// volumes right before every system call on a client's behalf
	// (csv.Options.Guard); a refusal drops the connection without an
	// answer (fence.go). It must be cheap (it runs several times per
	// READ and WRITE) and safe for concurrent use. Nil: a single node
	// that always serves.
	MayServe func() error
}

// Defaults for Config's limits.
const (
	DefaultMaxIOSize  = 8 << 20
	DefaultMaxCredits = 8192
)

// Validate fills defaults and rejects impossible settings.
func (c *Config) Validate() error {
	if c.Shares == nil {
		return errors.New("smbserver: Config.Shares is nil")
	}
	if c.Users == nil {
		return errors.New("smbserver: Config.Users is nil")
	}
	if c.DisableNTLM && c.KerberosKeys == nil {
		return errors.New("smbserver: DisableNTLM without KerberosKeys leaves no way to log on")
	}
	if c.MinDialect == 0 {
		c.MinDialect = Dialect202
	}
	if c.LogonTimeout < 0 || c.FrameTimeout < 0 || c.MaxUnauthenticated < 0 || c.MaxUnauthenticatedPerClient < 0 {
		return errors.New("smbserver: negative connection limit")
	}
	if c.LogonTimeout == 0 {
		c.LogonTimeout = DefaultLogonTimeout
	}
	if c.FrameTimeout == 0 {
		c.FrameTimeout = DefaultFrameTimeout
	}
	if c.MaxUnauthenticated == 0 {
		c.MaxUnauthenticated = DefaultMaxUnauthenticated
	}
	if c.MaxUnauthenticatedPerClient == 0 {
		c.MaxUnauthenticatedPerClient = DefaultMaxUnauthenticatedPerClient
	}
	if c.MaxDialect == 0 {
		c.MaxDialect = Dialect311
	}
	if c.MinDialect > c.MaxDialect {
		return fmt.Errorf("smbserver: MinDialect %#x above MaxDialect %#x", c.MinDialect, c.MaxDialect)
	}
	for _, p := range []*uint32{&c.MaxReadSize, &c.MaxWriteSize, &c.MaxTransactSize} {
		if *p == 0 {
			*p = DefaultMaxIOSize
		}
		if *p < 64<<10 || *p > 16<<20 {
			return fmt.Errorf("smbserver: I/O size %d outside [64 KiB, 16 MiB]", *p)
		}
	}
	if c.MaxCredits == 0 {
		c.MaxCredits = DefaultMaxCredits
	}
	if c.OplockBreakTimeout <= 0 {
		c.OplockBreakTimeout = DefaultOplockBreakTimeout
	}
	if c.ServerName == "" {
		c.ServerName = "SOFS"
	}
	if c.Domain == "" {
		c.Domain = "WORKGROUP"
	}
	return nil
}
