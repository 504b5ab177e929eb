//go:build !purego

#include "textflag.h"

// GHASH over whole blocks with 512-bit carry-less multiplies.
//
// Blocks are byte-reversed on load, so that a 128-bit register holds the
// GCM element as one little-endian integer (bit 127 is the coefficient of
// x^0), and the key table holds H^k in the matching "shifted" form that
// ghashKeyTable builds. Sixteen blocks are multiplied by H^16 ... H^1 at
// once (four per register), their 256-bit products summed, and the sum
// reduced once: Y' = (Y ^ B0)*H^16 ^ B1*H^15 ^ ... ^ B15*H.

#include "gf128_amd64.h"

// ghashBswap reverses the bytes of a 128-bit lane; the other loops of
// the package use it too.
DATA ·ghashBswap+0(SB)/8, $0x08090a0b0c0d0e0f
DATA ·ghashBswap+8(SB)/8, $0x0001020304050607
GLOBL ·ghashBswap(SB), RODATA|NOPTR, $16

// GCM's reduction constant in the reversed, shifted form the multiply
// works in: bits 127, 126, 121 and 0.
DATA ·ghashPoly+0(SB)/8, $0x0000000000000001
DATA ·ghashPoly+8(SB)/8, $0xc200000000000000
GLOBL ·ghashPoly(SB), RODATA|NOPTR, $16

// MULGROUP adds the products of the four blocks in data by the four keys
// in key to lo (Z4), hi (Z5) and mid (Z6), with Z9-Z12 as scratch.
#define MULGROUP(key, data) \
	VPCLMULQDQ $0x00, key, data, Z9  \
	VPCLMULQDQ $0x11, key, data, Z10 \
	VPCLMULQDQ $0x01, key, data, Z11 \
	VPCLMULQDQ $0x10, key, data, Z12 \
	VPXORQ     Z9, Z4, Z4            \
	VPXORQ     Z10, Z5, Z5           \
	VPTERNLOGD $0x96, Z11, Z12, Z6

// func ghashAVX512(table *[ghashTableSize]byte, acc *[16]byte, data []byte)
// len(data) must be a multiple of 16. acc is the GHASH state in GCM's
// byte order, updated in place.
TEXT ·ghashAVX512(SB), NOSPLIT, $0-40
	MOVQ table+0(FP), DI
	MOVQ acc+8(FP), AX
	MOVQ data_base+16(FP), SI
	MOVQ data_len+24(FP), DX

	VMOVDQU         ·ghashBswap(SB), X13
	VBROADCASTI32X4 ·ghashBswap(SB), Z31
	VMOVDQU         ·ghashPoly(SB), X15
	VMOVDQU         (AX), X8
	VPSHUFB         X13, X8, X8

	CMPQ DX, $256
	JB   singles
	VMOVDQU64 0(DI), Z16
	VMOVDQU64 64(DI), Z17
	VMOVDQU64 128(DI), Z18
	VMOVDQU64 192(DI), Z19

loop16:
	VMOVDQU64 0(SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VPSHUFB   Z31, Z0, Z0
	VPSHUFB   Z31, Z1, Z1
	VPSHUFB   Z31, Z2, Z2
	VPSHUFB   Z31, Z3, Z3

	// The state joins the first block; Z8's upper lanes are zero (it
	// was last written by a 128-bit instruction).
	VPXORQ     Z8, Z0, Z0
	VPCLMULQDQ $0x00, Z16, Z0, Z4
	VPCLMULQDQ $0x11, Z16, Z0, Z5
	VPCLMULQDQ $0x01, Z16, Z0, Z6
	VPCLMULQDQ $0x10, Z16, Z0, Z7
	VPXORQ     Z7, Z6, Z6
	MULGROUP(Z17, Z1)
	MULGROUP(Z18, Z2)
	MULGROUP(Z19, Z3)

	// mid joins lo and hi, then the four lanes are summed.
	VPSLLDQ       $8, Z6, Z7
	VPSRLDQ       $8, Z6, Z6
	VPXORQ        Z7, Z4, Z4
	VPXORQ        Z6, Z5, Z5
	VEXTRACTI64X4 $1, Z4, Y7
	VPXOR         Y7, Y4, Y4
	VEXTRACTI128  $1, Y4, X7
	VPXOR         X7, X4, X4
	VEXTRACTI64X4 $1, Z5, Y7
	VPXOR         Y7, Y5, Y5
	VEXTRACTI128  $1, Y5, X7
	VPXOR         X7, X5, X5
	REDUCE

	ADDQ $256, SI
	SUBQ $256, DX
	CMPQ DX, $256
	JAE  loop16

singles:
	VMOVDQU 240(DI), X14

loop1:
	CMPQ DX, $16
	JB   done
	GHASH1(X13, X14)
	ADDQ       $16, SI
	SUBQ       $16, DX
	JMP        loop1

done:
	VPSHUFB X13, X8, X8
	VMOVDQU X8, (AX)
	VZEROUPPER
	RET
