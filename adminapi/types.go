package adminapi

import (
	"context"
	"errors"
	"time"

	"sofs.io/sofs/namespace"
)

// SessionSource publishes the SMB sessions and opens of this node. The
// daemon adapts the SMB server's own view types to it, so smbserver never
// imports adminapi. Both methods must be cheap and safe for concurrent use;
// they are called on every GET /sessions and GET /open-files.
type SessionSource interface {
	Sessions() []SessionInfo
	OpenFiles() []OpenFileInfo
}

// ClusterOpenFileSource is implemented by a SessionSource that can list
// the open files of every node of the cluster (each entry names its
// node), as Get-SmbOpenFile does on a scale-out file server. GET
// /open-files uses it when present. Nodes that cannot be reached are left
// out; the error reports only a failure to list anything.
type ClusterOpenFileSource interface {
	ClusterOpenFiles(ctx context.Context) ([]OpenFileInfo, error)
}

// SessionInfo is one authenticated SMB session, the equivalent of a row of
// Get-SmbSession.
type SessionInfo struct {
	// SessionID is the SMB2 SessionId. It is a 64-bit value, so JSON
	// carries it as a decimal string (JavaScript numbers lose precision
	// past 2^53).
	SessionID uint64 `json:"sessionId,string"`
	// Node is the id of the node the session is connected to; the handler
	// fills it with Config.NodeID when the source leaves it empty.
	Node string `json:"node"`
	// ClientAddress is the client's transport address (host:port).
	ClientAddress string `json:"clientAddress"`
	// User is DOMAIN\name, or name when the domain is empty.
	User string `json:"user"`
	// Guest is true for guest and anonymous sessions.
	Guest bool `json:"guest"`
	// Dialect is the negotiated dialect: "2.0.2", "2.1", "3.0", "3.0.2"
	// or "3.1.1".
	Dialect   string `json:"dialect"`
	Signed    bool   `json:"signed"`
	Encrypted bool   `json:"encrypted"`
	// Opens is the number of open files held by the session.
	Opens int `json:"opens"`
	// TreeConnects is the number of shares the session has connected.
	TreeConnects int       `json:"treeConnects"`
	ConnectedAt  time.Time `json:"connectedAt"`
}

// OpenFileInfo is one open file, the equivalent of a row of
// Get-SmbOpenFile.
type OpenFileInfo struct {
	// FileID identifies the open on its node: the SMB2 FileId (persistent
	// and volatile parts) in hex.
	FileID    string `json:"fileId"`
	Node      string `json:"node"`
	SessionID uint64 `json:"sessionId,string"`
	Share     string `json:"share"`
	// Path is relative to the share root, with backslashes, as the client
	// named it; "" is the share root itself.
	Path          string `json:"path"`
	ClientAddress string `json:"clientAddress"`
	User          string `json:"user"`
	// Access is the granted access mask ([MS-SMB2] 2.2.13.1).
	Access uint32 `json:"access"`
	// Durable and Persistent tell whether the handle survives a lost
	// connection, and (persistent) the loss of the node.
	Durable    bool `json:"durable"`
	Persistent bool `json:"persistent"`
	// Disconnected: the handle's client is away and the handle waits for
	// it to reconnect (through any node); it belongs to no session.
	Disconnected bool      `json:"disconnected"`
	Locks        int       `json:"locks"`
	OpenedAt     time.Time `json:"openedAt"`
}

// Members lists the cluster's nodes. Namespace membership will implement
// it; until then Config.Members is nil and the API reports this node only.
type Members interface {
	// Nodes returns every known node, ordered by id.
	Nodes(ctx context.Context) ([]NodeInfo, error)
	// Node returns the node with id, or an error wrapping ErrNodeNotFound.
	Node(ctx context.Context, id string) (NodeInfo, error)
}

// NodeController drains and removes nodes. When Config.Members also
// implements it, POST /nodes/{id}/drain and DELETE /nodes/{id} call it;
// otherwise they answer 501 not_implemented.
type NodeController interface {
	// Drain starts draining the node: it stops taking new clients and its
	// clients are moved away. It returns once the state change is
	// recorded, not when the drain has finished.
	Drain(ctx context.Context, id string) error
	// Remove forgets a node that is down or drained. It fails with an
	// error wrapping ErrNodeBusy if the node is still serving.
	Remove(ctx context.Context, id string) error
}

// Errors a Members or NodeController implementation wraps.
var (
	ErrNodeNotFound = errors.New("node not found")
	ErrNodeBusy     = errors.New("node is still serving")
)

// Node states.
const (
	NodeJoining  = "joining"
	NodeUp       = "up"
	NodeDraining = "draining"
	NodeDown     = "down"
)

// NodeInfo describes one node.
type NodeInfo struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// State is one of joining, up, draining, down.
	State string `json:"state"`
	// Ready is the node's own readiness (GET /readyz) as last reported.
	Ready        bool     `json:"ready"`
	SMBAddresses []string `json:"smbAddresses"`
	APIAddress   string   `json:"apiAddress,omitempty"`
	Version      string   `json:"version,omitempty"`
	// Self is true for the node that answered the request.
	Self      bool       `json:"self"`
	StartedAt *time.Time `json:"startedAt,omitempty"`
}

// ClusterInfo is the body of GET /api/v1/cluster.
type ClusterInfo struct {
	Name       string `json:"name"`
	ServerGUID string `json:"serverGuid"`
	// Node is the id of the node that answered.
	Node   string `json:"node"`
	Nodes  int    `json:"nodes"`
	Shares int    `json:"shares"`
	// RefusedShares counts stored share records not served (see
	// ShareList.Refused).
	RefusedShares int `json:"refusedShares,omitempty"`
	Users         int `json:"users"`
	// NamespaceRevision is the etcd revision this node's live namespace
	// view reflects; 0 when the node has no view.
	NamespaceRevision int64 `json:"namespaceRevision"`
}

// Share is a share as the API shows it.
type Share struct {
	Name                  string `json:"name"`
	Path                  string `json:"path"`
	Comment               string `json:"comment"`
	ContinuouslyAvailable bool   `json:"continuouslyAvailable"`
	EncryptData           bool   `json:"encryptData"`
	ReadOnly              bool   `json:"readOnly"`
	Guest                 bool   `json:"guest"`
	// Permissions is the share-level access list; empty grants Everyone
	// full control.
	Permissions []SharePermission `json:"permissions,omitempty"`
	// AccessBasedEnumeration hides from listings what a user may not read.
	AccessBasedEnumeration bool `json:"accessBasedEnumeration"`
}

func shareOut(s namespace.Share) Share {
	return Share{
		Name:                   s.Name,
		Path:                   s.Path,
		Comment:                s.Comment,
		ContinuouslyAvailable:  s.ContinuouslyAvailable,
		EncryptData:            s.EncryptData,
		ReadOnly:               s.ReadOnly,
		Guest:                  s.Guest,
		Permissions:            permissionsOut(s.Permissions),
		AccessBasedEnumeration: s.AccessBasedEnumeration,
	}
}

// SharePermission is one entry of a share's access list: Account is
// "Everyone", "Authenticated Users", "Users", "Guests", "Administrators",
// a SID (S-1-...), a user name or a domain account (DOMAIN\name or
// name@domain); SID is the domain account's SID, looked up in the
// directory when the share is saved unless given; Access is read, change
// or full; Deny refuses instead of granting.
type SharePermission struct {
	Account string `json:"account"`
	SID     string `json:"sid,omitempty"`
	Access  string `json:"access"`
	Deny    bool   `json:"deny,omitempty"`
}

func permissionsOut(ps []namespace.SharePermission) []SharePermission {
	if len(ps) == 0 {
		return nil
	}
	out := make([]SharePermission, len(ps))
	for i, p := range ps {
		out[i] = SharePermission{Account: p.Account, SID: p.SID, Access: p.Access, Deny: p.Deny}
	}
	return out
}

func permissionsIn(ps []SharePermission) []namespace.SharePermission {
	if len(ps) == 0 {
		return nil
	}
	out := make([]namespace.SharePermission, len(ps))
	for i, p := range ps {
		out[i] = namespace.SharePermission{Account: p.Account, SID: p.SID, Access: p.Access, Deny: p.Deny}
	}
	return out
}

// ShareCreate is the body of POST /api/v1/shares.
type ShareCreate struct {
	Name                  string `json:"name"`
	Path                  string `json:"path"`
	Comment               string `json:"comment"`
	ContinuouslyAvailable bool   `json:"continuouslyAvailable"`
	EncryptData           bool   `json:"encryptData"`
	ReadOnly              bool   `json:"readOnly"`
	Guest                 bool   `json:"guest"`
	// Permissions is the share-level access list; empty grants Everyone
	// full control.
	Permissions []SharePermission `json:"permissions,omitempty"`
	// AccessBasedEnumeration hides from listings what a user may not read.
	AccessBasedEnumeration bool `json:"accessBasedEnumeration"`
}

// ShareUpdate is the body of PUT /api/v1/shares/{name}: the share's whole
// new definition. Name may be omitted; if given it must equal the name in
// the URL (ignoring case), since a share cannot be renamed.
type ShareUpdate struct {
	Name                  string `json:"name"`
	Path                  string `json:"path"`
	Comment               string `json:"comment"`
	ContinuouslyAvailable bool   `json:"continuouslyAvailable"`
	EncryptData           bool   `json:"encryptData"`
	ReadOnly              bool   `json:"readOnly"`
	Guest                 bool   `json:"guest"`
	// Permissions is the share-level access list; empty grants Everyone
	// full control.
	Permissions []SharePermission `json:"permissions,omitempty"`
	// AccessBasedEnumeration hides from listings what a user may not read.
	AccessBasedEnumeration bool `json:"accessBasedEnumeration"`
}

// User is a user as the API shows it; there is no hash or password field.
type User struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// UserCreate is the body of POST /api/v1/users.
type UserCreate struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// PasswordChange is the body of PUT /api/v1/users/{name}/password.
type PasswordChange struct {
	Password string `json:"password"`
}

// List envelopes.
type (
	NodeList struct {
		Nodes []NodeInfo `json:"nodes"`
	}
	ShareList struct {
		Shares []Share `json:"shares"`
		// Refused lists stored share records that are not served (they
		// do not decode, or their path is now refused); omitted when
		// there are none.
		Refused []RefusedShare `json:"refused,omitempty"`
	}
	UserList struct {
		Users []User `json:"users"`
	}
	SessionList struct {
		Sessions []SessionInfo `json:"sessions"`
	}
	OpenFileList struct {
		OpenFiles []OpenFileInfo `json:"openFiles"`
	}
)

// Status is the body of GET /healthz and of GET /readyz when ready.
type Status struct {
	Status string `json:"status"`
	// RefusedShares, in GET /readyz, are the shares this node does not
	// serve while it serves the others: the node is ready, but these
	// need an operator.
	RefusedShares []RefusedShare `json:"refusedShares,omitempty"`
}

// RefusedShare is a share that is stored but not served, and why.
type RefusedShare struct {
	Name   string `json:"name"`
	Path   string `json:"path,omitempty"`
	Reason string `json:"reason"`
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes one error. Code is stable and meant for programs;
// Message is for people and may change.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field names the offending request field (a JSON field of the body,
	// or a path parameter) when there is one.
	Field string `json:"field,omitempty"`
}

// Witness lists and moves SMB Witness clients (Get-SmbWitnessClient,
// Move-SmbWitnessClient). cmd adapts it from the cluster's registrations;
// when Config.Witness is nil the witness routes answer 501.
type Witness interface {
	// Clients returns every witness registration in the cluster.
	Clients(ctx context.Context) ([]WitnessClient, error)
	// Move asks client id to move to node. It fails with an error wrapping
	// ErrWitnessClientNotFound or ErrNodeNotFound.
	Move(ctx context.Context, id, node string) (WitnessClient, error)
	// MoveShare asks the clients registered for share (only client's, if
	// client is not empty) to move it to node, and returns them. It fails
	// with an error wrapping ErrNodeNotFound.
	MoveShare(ctx context.Context, share, client, node string) ([]WitnessClient, error)
}

// ErrWitnessClientNotFound reports an unknown witness registration.
var ErrWitnessClientNotFound = errors.New("witness client not found")

// WitnessClient is one witness registration.
type WitnessClient struct {
	// ID is the registration's context handle UUID.
	ID string `json:"id"`
	// Client is the client computer name it registered with.
	Client string `json:"client"`
	// NetName and Share are what it registered for (Share is empty for a
	// v1 registration or one without a share).
	NetName string `json:"netName"`
	Share   string `json:"share"`
	// IPAddress is the node address it uses; Node is that node's id.
	IPAddress string `json:"ipAddress"`
	Node      string `json:"node"`
	// Via is the node whose witness took the registration.
	Via string `json:"via"`
	// Version is 1 or 2.
	Version int `json:"version"`
	// State is what the client was last told about its node: available or
	// unavailable.
	State string `json:"state"`
	// MoveTo is the node it was asked to move to, if any.
	MoveTo string `json:"moveTo"`
	// ShareMoveTo is the node its share was asked to move to, if any.
	ShareMoveTo string    `json:"shareMoveTo"`
	Since       time.Time `json:"since"`
}

// WitnessClientList is the body of GET /api/v1/witness/clients.
type WitnessClientList struct {
	Clients []WitnessClient `json:"clients"`
}

// WitnessMove is the body of POST /api/v1/witness/clients/{id}/move.
type WitnessMove struct {
	// Node is the id of the node the client should move to.
	Node string `json:"node"`
}

// WitnessShareMove is the body of POST /api/v1/witness/shares/{name}/move.
type WitnessShareMove struct {
	// Node is the id of the node the share's clients should move it to.
	Node string `json:"node"`
	// Client, if set, limits the move to that client computer's
	// registrations.
	Client string `json:"client,omitempty"`
}
