// Package namespace stores the cluster's shape in etcd: the cluster record,
// shares and users. Store is the read-write API used by the daemon and the
// admin API; View is a live, in-memory snapshot kept current by an etcd watch
// so the SMB request path never waits on etcd.
//
// Keys live under Prefix:
//
//	/sofs/v1/cluster          -> Cluster (JSON)
//	/sofs/v1/shares/<lower>   -> Share (JSON)
//	/sofs/v1/users/<lower>    -> user record with the NT hash (JSON)
//
// Names are stored lower-cased in keys because SMB share and user names are
// case-insensitive; the record keeps the name as it was given.
package namespace
