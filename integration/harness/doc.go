// Package harness starts SMB servers under test and describes them as a
// Target, so that every interop test can run unchanged against sofs or against
// the reference Samba smbd.
//
// Tests use StartSofs, StartSambaRef or FromEnv (which picks one of the two by
// SOFS_TEST_TARGET). Programs that are not tests (the smbtorture comparison
// tool) use the lower-level LaunchSofs and LaunchSambaRef, which report errors
// instead of failing a test.
package harness
