// Package wire encodes and decodes SMB2/SMB3 messages as specified in
// [MS-SMB2] section 2. It performs no I/O and keeps no state: every decoder
// takes the bytes of one message (starting at its 64-byte SMB2 header, because
// all SMB2 offsets are relative to the header) and either returns a fully
// bounds-checked value or an error that maps to an NTSTATUS.
//
// Conventions used by every command file:
//   - (r *XxxRequest) Decode(msg []byte) error decodes a request from msg,
//     where msg[0:64] is the SMB2 header and msg[64:] the command body.
//     Slices in the result alias msg; callers copy what they keep.
//   - (r *XxxResponse) AppendTo(b []byte) []byte appends the response body
//     to b, which holds exactly the 64-byte header of the same message, so
//     offsets are computed from b[0].
//   - Offset/length arithmetic is done in int (64-bit) after widening, so a
//     hostile 32-bit value can never wrap.
package wire
