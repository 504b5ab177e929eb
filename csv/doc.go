// Package csv is the cluster shared volume: the only way the SMB server
// reaches storage. A Volume is one share's backing directory; a Handle is
// one open of a file or directory in it.
//
// A Volume serves one node from a local (or shared POSIX) directory. The
// per-file open state (share modes, oplocks and leases, delete pending,
// byte-range locks) sits behind the ObjectTable and LockTable interfaces:
// one node uses the in-memory tables, a cluster the ones of
// csv/clusterstate, which make that state one for every node.
//
// Security model: every name a client sends is validated (see parsePath)
// and then resolved relative to a directory descriptor of the share root
// with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS|
// RESOLVE_NO_XDEV), or, where the kernel lacks openat2, one component at a
// time with O_NOFOLLOW. Symbolic links inside the backing directory are
// never followed: a path that meets one fails with ErrAccessDenied rather
// than ErrNotFound, because the name does exist (reporting "not found"
// would invite a create that then collides with the link) and refusing it
// is a policy decision the client should see as such. Mount points inside
// the backing directory are refused the same way, so that inode numbers
// (the FileID) stay unique within the volume.
//
// Names are looked up case-insensitively on case-sensitive file systems:
// a component is tried exactly first and only on a miss is the parent
// directory scanned, comparing with Unicode simple case folding (the rule
// of strings.EqualFold). Windows compares with its upcase table, which is
// simple uppercase mapping; the two differ only for a handful of runes
// whose fold orbit has more than two members (for example U+212A KELVIN
// SIGN folds to "k" here), a difference we accept so that the behaviour is
// the documented Go one.
//
// Metadata that POSIX cannot hold (creation time and DOS attributes) is
// kept in one extended attribute per file, user.sofs.meta (see meta.go).
// Where the backing file system refuses user xattrs the volume logs once
// and reports the file system's birth time (or ctime) and default
// attributes; attribute and creation-time changes are then not persisted.
//
// Known limits, by design for now:
//   - 8.3 short names are computed from the long name (shortname.go), not
//     stored; they are not guaranteed unique within a directory.
//   - ChangeTime is the inode ctime, which POSIX cannot set; a change
//     time set through SetBasicInfo is kept in the meta record and
//     reported until the file's data (its mtime) changes.
//   - SetAllocationSize does not release preallocated space beyond the end
//     of file (that would race with concurrent writers).
//   - The case-insensitive listing cache trusts a directory's mtime/ctime;
//     changes made behind the server's back within one timestamp tick can
//     be missed until the directory changes again. Changes made through
//     the Volume update the cache themselves.
//   - A file with several hard links has one Path: the name it was first
//     opened by.
//   - Lock order inside a Volume: life (read) -> nsMu -> mu.
package csv
