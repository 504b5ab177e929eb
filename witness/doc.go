// Package witness implements the SMB Witness service ([MS-SWN] v1 and v2)
// over DCE/RPC on TCP, with the endpoint mapper that lets clients find it.
//
// Registrations are cluster state in etcd (namespace.WitnessRegistration),
// so any node's witness can answer for any registration. Notifications are
// level-triggered: a WitnessrAsyncNotify compares the registration's node
// as the cluster sees it now (namespace.Members) with what the client was
// last told, and with a pending move, and reports the difference with a
// compare-and-swap on the record, so that each change is reported once
// even when several nodes serve the same registration in turn.
//
// Events:
//   - the registration's node loses its etcd lease (down): RESOURCE_CHANGE
//     unavailable, naming the address the client registered;
//   - the node holds a lease again: RESOURCE_CHANGE available;
//   - the node drains, an operator moves the client, or the load is uneven:
//     CLIENT_MOVE with the addresses of the target node. A drain's target is
//     chosen by the placement policy: the live, non-draining node with the
//     fewest registrations, ties broken by node id; balancing moves the
//     newest clients of a node with two or more registrations than that
//     node (Rebalance).
package witness
