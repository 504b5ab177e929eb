//go:build amd64 && !purego

package smbcrypto

import "golang.org/x/sys/cpu"

// haveGHASHAVX512 says ghashAVX512 can run here: 512-bit carry-less
// multiplies (AMD Zen 4, Intel Ice Lake and later) and an OS that saves
// the 512-bit registers (x/sys/cpu checks both). Requiring VPCLMULQDQ
// (and VAES below) also leaves out Skylake-SP and Cascade Lake, whose
// clock drops under 512-bit work would slow the rest of the server; the
// CPUs that have them pay little or nothing for it.
var haveGHASHAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL &&
	cpu.X86.HasAVX512VPCLMULQDQ && cpu.X86.HasPCLMULQDQ && cpu.X86.HasAVX

// haveGCMAVX512 says aesCTRAVX512 can run too (512-bit AES rounds).
var haveGCMAVX512 = haveGHASHAVX512 && cpu.X86.HasAVX512VAES && cpu.X86.HasAES

// haveVec256 says the 256-bit loops (ghashAVX2, aesCTRAVX2) can run: VAES
// and VPCLMULQDQ with AVX2 (AMD Zen 3, Intel Alder Lake, and every CPU
// that has the 512-bit loops). x/sys/cpu reports these two only with
// AVX-512, so CPUID is read here.
var haveVec256 = cpu.X86.HasAVX2 && cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ &&
	cpuidLeaf7ECX()&(1<<9|1<<10) == 1<<9|1<<10

// haveCBCMACAESNI says cbcMACAESNI can run: AES-NI in its VEX form.
var haveCBCMACAESNI = cpu.X86.HasAES && cpu.X86.HasAVX

// ghashAVX512 folds data, whose length is a multiple of 16, into the GHASH
// state acc (GCM byte order) under the key whose table is given.
//
//go:noescape
func ghashAVX512(table *[ghashTableSize]byte, acc *[blockSize]byte, data []byte)

// aesCTRAVX512 XORs src (a multiple of 16 bytes) with the AES encryptions
// of the counter blocks ctr, inc32(ctr), ... into dst (which may be src),
// and leaves ctr at the next counter block. rk holds rounds+1 round keys.
//
//go:noescape
func aesCTRAVX512(rk *[aesRoundKeysSize]byte, rounds int, ctr *[blockSize]byte, dst, src []byte)

// cbcMACAESNI runs the CBC-MAC chain x = AES(x ^ block) over the whole
// blocks of p under the rounds+1 round keys in rk.
//
//go:noescape
func cbcMACAESNI(rk *[aesRoundKeysSize]byte, rounds int, x *[blockSize]byte, p []byte)

// ghashAVX2 is ghashAVX512 with 256-bit registers, eight blocks per
// reduction (the table's last eight keys).
//
//go:noescape
func ghashAVX2(table *[ghashTableSize]byte, acc *[blockSize]byte, data []byte)

// aesCTRAVX2 is aesCTRAVX512 with 256-bit registers.
//
//go:noescape
func aesCTRAVX2(rk *[aesRoundKeysSize]byte, rounds int, ctr *[blockSize]byte, dst, src []byte)

// cpuidLeaf7ECX returns ECX of CPUID leaf 7, subleaf 0. Only called where
// AVX2 is reported, which implies the leaf exists.
func cpuidLeaf7ECX() uint32
