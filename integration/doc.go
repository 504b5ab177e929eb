// Package integration holds interop tests that drive a real SMB server
// (sofs, or the reference Samba smbd when SOFS_TEST_TARGET=samba) with real
// clients: smbclient across dialects and protection modes, impacket, and the
// two Go SMB client libraries named in go.mod.
//
// Environment: SOFS_TEST_TARGET=sofs|samba picks the server; SOFS_TEST_BIG_MB
// sizes the large transfer (default 1024); CI=true turns missing tools into
// failures instead of skips.
package integration
