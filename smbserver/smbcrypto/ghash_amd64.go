//go:build amd64 && !purego

package smbcrypto

import "golang.org/x/sys/cpu"

// haveGHASHAVX512 says ghashAVX512 can run here: 512-bit carry-less
// multiplies (AMD Zen 4, Intel Ice Lake and later) and an OS that saves
// the 512-bit registers (x/sys/cpu checks both).
var haveGHASHAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL &&
	cpu.X86.HasAVX512VPCLMULQDQ && cpu.X86.HasPCLMULQDQ && cpu.X86.HasAVX

// ghashAVX512 folds data, whose length is a multiple of 16, into the GHASH
// state acc (GCM byte order) under the key whose table is given.
//
//go:noescape
func ghashAVX512(table *[ghashTableSize]byte, acc *[blockSize]byte, data []byte)
