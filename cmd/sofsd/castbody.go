package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"sofs.io/sofs/adminapi"
	"sofs.io/sofs/namespace"
	"sofs.io/sofs/smbserver"
	"sofs.io/sofs/smbserver/secdesc"
	"sofs.io/sofs/smbserver/wire"
)

// Decoders of the bodies other nodes send through the node-to-node casts
// (drain.go, copykeys.go, leaseack.go, openstate.go, takeover.go), and
// of their answers. Each decodes one message and checks what the
// handler relies on, so a damaged or hostile body is refused with
// errCastBody (which the handler returns to the caller as its
// refusal) and never acted on. The channel is authenticated, so these
// are a second line of defence: a node of another version or a bug.

// errCastBody is every refusal of a malformed cast body or answer.
var errCastBody = errors.New("malformed node-to-node message")

const (
	// maxCastPath bounds a path in a cast: an SMB2 name is at most
	// 32767 UTF-16 code units, at most three UTF-8 bytes each.
	maxCastPath = 3 * 32767
	// maxCastUser bounds a user name (DOMAIN\user or a UPN).
	maxCastUser = 1024
)

// castErr wraps a refusal of message what.
func castErr(what string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", errCastBody, what, fmt.Sprintf(format, args...))
}

// unmarshalCast decodes a JSON cast body into v.
func unmarshalCast(what string, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %v", errCastBody, what, err)
	}
	return nil
}

// checkGUIDs refuses a body whose 16-byte arrays (the fields named, or
// the whole body when none is) do not have exactly 16 elements: the JSON
// decoder pads a short array with zeros and drops the excess of a long
// one, which would make a truncated client GUID or lease key another
// one. Field names match as the decoder matches them, without regard to
// case.
func checkGUIDs(what string, b []byte, fields ...string) error {
	check := func(name string, raw json.RawMessage) error {
		var a []json.RawMessage
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil // not an array: the typed decoding refuses it
		}
		if len(a) != 16 {
			return castErr(what, "%s has %d bytes, not 16", name, len(a))
		}
		return nil
	}
	if len(fields) == 0 {
		return check("body", b)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) != nil {
		return nil
	}
	for k, raw := range obj {
		for _, f := range fields {
			if strings.EqualFold(k, f) && string(raw) != "null" {
				if err := check(f, raw); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkCastNode checks a node name carried in a cast (the handle owner
// names of handleLocator: the nodes' --node-name).
func checkCastNode(what, name string) error {
	if err := checkNodeName(name); err != nil {
		return castErr(what, "node name: %v", err)
	}
	return nil
}

// decodePullCall decodes a pull-handle call: a handle id and the node
// to take it from, never this node itself.
func decodePullCall(b []byte, self string) (pullCall, error) {
	var c pullCall
	if err := unmarshalCast("pull-handle call", b, &c); err != nil {
		return pullCall{}, err
	}
	if c.ID == 0 {
		return pullCall{}, castErr("pull-handle call", "no handle id")
	}
	if err := checkCastNode("pull-handle call", c.From); err != nil {
		return pullCall{}, err
	}
	if c.From == self {
		return pullCall{}, castErr("pull-handle call", "pull from this node itself")
	}
	return c, nil
}

// decodeYieldCall decodes a yield-handle call: a handle id and the node
// to hand it to, never this node itself.
func decodeYieldCall(b []byte, self string) (yieldCall, error) {
	var c yieldCall
	if err := unmarshalCast("yield-handle call", b, &c); err != nil {
		return yieldCall{}, err
	}
	if c.ID == 0 {
		return yieldCall{}, castErr("yield-handle call", "no handle id")
	}
	if err := checkCastNode("yield-handle call", c.To); err != nil {
		return yieldCall{}, err
	}
	if c.To == self {
		return yieldCall{}, castErr("yield-handle call", "hand-over to this node itself")
	}
	return c, nil
}

// decodeHasHandle decodes a has-handle question (a yieldCall with no
// To): the handle id.
func decodeHasHandle(b []byte) (uint64, error) {
	var c yieldCall
	if err := unmarshalCast("has-handle call", b, &c); err != nil {
		return 0, err
	}
	if c.ID == 0 {
		return 0, castErr("has-handle call", "no handle id")
	}
	if c.To != "" {
		return 0, castErr("has-handle call", "names a node")
	}
	return c.ID, nil
}

// decodeExpireCall decodes an expire-session call: a session id (a
// client's PreviousSessionId, never 0) and the user it must belong to.
func decodeExpireCall(b []byte) (expireCall, error) {
	var c expireCall
	if err := unmarshalCast("expire-session call", b, &c); err != nil {
		return expireCall{}, err
	}
	if c.ID == 0 {
		return expireCall{}, castErr("expire-session call", "no session id")
	}
	if len(c.User) > maxCastUser || !utf8.ValidString(c.User) {
		return expireCall{}, castErr("expire-session call", "user name of %d bytes", len(c.User))
	}
	if _, err := secdesc.ParseSID(c.SID); c.SID != "" && err != nil {
		return expireCall{}, castErr("expire-session call", "user SID %q", c.SID)
	}
	return c, nil
}

// decodeAppInstanceCast decodes a close-app-instance cast. A zero
// application instance id is none: the opens without one would all
// match it, so it is refused (the sender never casts one).
func decodeAppInstanceCast(b []byte) (appInstanceCast, error) {
	var m appInstanceCast
	if err := unmarshalCast("close-app-instance cast", b, &m); err != nil {
		return appInstanceCast{}, err
	}
	if err := checkGUIDs("close-app-instance cast", b, "app"); err != nil {
		return appInstanceCast{}, err
	}
	if m.App == ([16]byte{}) {
		return appInstanceCast{}, castErr("close-app-instance cast", "no application instance id")
	}
	if err := namespace.ValidateShareName(m.Share); err != nil {
		return appInstanceCast{}, castErr("close-app-instance cast", "%v", err)
	}
	if len(m.Path) > maxCastPath || !utf8.ValidString(m.Path) {
		return appInstanceCast{}, castErr("close-app-instance cast", "path of %d bytes", len(m.Path))
	}
	return m, nil
}

// decodeCopySourceQuery decodes a copy-source gather: exactly one of a
// resume key and an offload token, each of its protocol size, and at
// most as many ranges as a copychunk has chunks.
func decodeCopySourceQuery(b []byte) (smbserver.CopySourceQuery, error) {
	var q smbserver.CopySourceQuery
	if err := unmarshalCast("copy-source gather", b, &q); err != nil {
		return smbserver.CopySourceQuery{}, err
	}
	switch {
	case len(q.ResumeKey) == wire.ResumeKeySize && len(q.Token) == 0:
	case len(q.Token) == wire.OffloadTokenSize && len(q.ResumeKey) == 0:
	default:
		return smbserver.CopySourceQuery{}, castErr("copy-source gather", "resume key of %d bytes, token of %d bytes", len(q.ResumeKey), len(q.Token))
	}
	if len(q.Ranges) > smbserver.MaxCopyRanges {
		return smbserver.CopySourceQuery{}, castErr("copy-source gather", "%d ranges, more than %d", len(q.Ranges), smbserver.MaxCopyRanges)
	}
	return q, nil
}

// decodeCopySource decodes a node's answer to q. A found source names a
// valid share and a bounded path; its conflict index is -1 or one of
// q's ranges; an offload token's range and sizes are not negative.
func decodeCopySource(b []byte, q smbserver.CopySourceQuery) (smbserver.CopySource, error) {
	var cs smbserver.CopySource
	if err := unmarshalCast("copy source", b, &cs); err != nil {
		return smbserver.CopySource{}, err
	}
	if !cs.Found {
		return smbserver.CopySource{Conflict: -1}, nil
	}
	if err := namespace.ValidateShareName(cs.Share); err != nil {
		return smbserver.CopySource{}, castErr("copy source", "%v", err)
	}
	if len(cs.Path) > maxCastPath || !utf8.ValidString(cs.Path) {
		return smbserver.CopySource{}, castErr("copy source", "path of %d bytes", len(cs.Path))
	}
	if cs.Conflict < -1 || cs.Conflict >= len(q.Ranges) {
		return smbserver.CopySource{}, castErr("copy source", "conflict %d with %d ranges", cs.Conflict, len(q.Ranges))
	}
	if cs.Off < 0 || cs.N < 0 || cs.EndOfFile < 0 {
		return smbserver.CopySource{}, castErr("copy source", "negative range %d+%d or size %d", cs.Off, cs.N, cs.EndOfFile)
	}
	return cs, nil
}

// decodeLeaseAck decodes a lease-holders gather or a lease-ack cast.
// The state is checked where it is applied (csv: an acknowledgment of
// a state the lease is not breaking to is refused as the client's own
// would be).
func decodeLeaseAck(b []byte) (smbserver.LeaseAck, error) {
	var a smbserver.LeaseAck
	if err := unmarshalCast("lease acknowledgment", b, &a); err != nil {
		return smbserver.LeaseAck{}, err
	}
	if err := checkGUIDs("lease acknowledgment", b, "client", "key"); err != nil {
		return smbserver.LeaseAck{}, err
	}
	return a, nil
}

// decodeLeaseAckReply decodes a holder's answer to a lease-ack cast: a
// holder that did not find the lease reports no status.
func decodeLeaseAckReply(b []byte) (leaseAckReply, error) {
	var r leaseAckReply
	if err := unmarshalCast("lease acknowledgment answer", b, &r); err != nil {
		return leaseAckReply{}, err
	}
	if !r.Found && r.Status != 0 {
		return leaseAckReply{}, castErr("lease acknowledgment answer", "status %#x for a lease not found", r.Status)
	}
	return r, nil
}

// decodeClientSince decodes a client-since gather: a client GUID.
func decodeClientSince(b []byte) ([16]byte, error) {
	var client [16]byte
	if err := unmarshalCast("client-since gather", b, &client); err != nil {
		return [16]byte{}, err
	}
	if err := checkGUIDs("client-since gather", b); err != nil {
		return [16]byte{}, err
	}
	return client, nil
}

// leaseBreakSize is the one size of a lease break notification body.
var leaseBreakSize = len((&wire.LeaseBreakNotification{}).AppendTo(nil))

// decodeLeaseBreakCast decodes a send-lease-break cast: the body is a
// lease break notification ([MS-SMB2] 2.2.23.2), of its fixed size and
// with its StructureSize.
func decodeLeaseBreakCast(b []byte) (leaseBreakCast, error) {
	var m leaseBreakCast
	if err := unmarshalCast("send-lease-break cast", b, &m); err != nil {
		return leaseBreakCast{}, err
	}
	if err := checkGUIDs("send-lease-break cast", b, "client"); err != nil {
		return leaseBreakCast{}, err
	}
	if len(m.Body) != leaseBreakSize || int(binary.LittleEndian.Uint16(m.Body)) != leaseBreakSize {
		return leaseBreakCast{}, castErr("send-lease-break cast", "not a lease break notification (%d bytes)", len(m.Body))
	}
	return m, nil
}

// decodeOpenFiles decodes a node's answer to an open-files gather: each
// open names the node that answered.
func decodeOpenFiles(b []byte) ([]adminapi.OpenFileInfo, error) {
	var theirs []adminapi.OpenFileInfo
	if err := unmarshalCast("open files", b, &theirs); err != nil {
		return nil, err
	}
	for i, f := range theirs {
		if f.Node == "" {
			return nil, castErr("open files", "open %d names no node", i)
		}
	}
	return theirs, nil
}

// decodeClientSinceReply decodes a node's answer to a client-since
// gather: a connection it has has a start time.
func decodeClientSinceReply(b []byte) (clientSinceReply, error) {
	var r clientSinceReply
	if err := unmarshalCast("client-since answer", b, &r); err != nil {
		return clientSinceReply{}, err
	}
	if r.Found && r.Since.IsZero() {
		return clientSinceReply{}, castErr("client-since answer", "a connection with no start time")
	}
	return r, nil
}
