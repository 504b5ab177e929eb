// Package ndr encodes and decodes the subset of NDR 2.0 transfer syntax
// ([C706] chapter 14, [MS-RPCE] 2.2.5) that sofs's DCE/RPC interfaces need:
// little-endian primitives with natural alignment, unique pointers with
// referent ids, and conformant varying UTF-16 strings.
//
// Alignment is relative to the start of the buffer, which for a stub is the
// first byte of the stub data, as [C706] 14.2.2 requires. The Reader never
// panics and never allocates from a count it has not first checked against
// the bytes that remain.
package ndr
