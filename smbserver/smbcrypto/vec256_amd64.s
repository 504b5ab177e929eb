//go:build !purego

#include "textflag.h"
#include "gf128_amd64.h"

// The 256-bit versions of ghash_amd64.s and aesctr_amd64.s, for CPUs with
// VAES and VPCLMULQDQ but no AVX-512 (AMD Zen 3, Intel Alder Lake): two
// blocks per register, eight per iteration, sixteen registers in all.
// The arithmetic is the same; see those files.

DATA vecTwo<>+0(SB)/8, $2
DATA vecTwo<>+8(SB)/8, $0
GLOBL vecTwo<>(SB), RODATA|NOPTR, $16

// VMULGROUP adds the products of the two blocks in data by the two keys
// in key to lo (Y4), hi (Y5) and mid (Y6), through Y7.
#define VMULGROUP(key, data) \
	VPCLMULQDQ $0x00, key, data, Y7 \
	VPXOR      Y7, Y4, Y4           \
	VPCLMULQDQ $0x11, key, data, Y7 \
	VPXOR      Y7, Y5, Y5           \
	VPCLMULQDQ $0x01, key, data, Y7 \
	VPXOR      Y7, Y6, Y6           \
	VPCLMULQDQ $0x10, key, data, Y7 \
	VPXOR      Y7, Y6, Y6

// func ghashAVX2(table *[ghashTableSize]byte, acc *[16]byte, data []byte)
// As ghashAVX512, eight blocks per reduction, with the table's H^8..H^1.
TEXT ·ghashAVX2(SB), NOSPLIT, $0-40
	MOVQ table+0(FP), DI
	MOVQ acc+8(FP), AX
	MOVQ data_base+16(FP), SI
	MOVQ data_len+24(FP), DX

	VBROADCASTI128 ·ghashBswap(SB), Y14
	VMOVDQU ·ghashPoly(SB), X15
	VMOVDQU (AX), X8
	VPSHUFB X14, X8, X8

	CMPQ    DX, $128
	JB      singles
	VMOVDQU 128(DI), Y9
	VMOVDQU 160(DI), Y10
	VMOVDQU 192(DI), Y11
	VMOVDQU 224(DI), Y12

loop8:
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VPSHUFB Y14, Y0, Y0
	VPSHUFB Y14, Y1, Y1
	VPSHUFB Y14, Y2, Y2
	VPSHUFB Y14, Y3, Y3

	// Y8's upper lane is zero (X8 was last written by a 128-bit op).
	VPXOR      Y8, Y0, Y0
	VPCLMULQDQ $0x00, Y9, Y0, Y4
	VPCLMULQDQ $0x11, Y9, Y0, Y5
	VPCLMULQDQ $0x01, Y9, Y0, Y6
	VPCLMULQDQ $0x10, Y9, Y0, Y7
	VPXOR      Y7, Y6, Y6
	VMULGROUP(Y10, Y1)
	VMULGROUP(Y11, Y2)
	VMULGROUP(Y12, Y3)

	VPSLLDQ      $8, Y6, Y7
	VPSRLDQ      $8, Y6, Y6
	VPXOR        Y7, Y4, Y4
	VPXOR        Y6, Y5, Y5
	VEXTRACTI128 $1, Y4, X7
	VPXOR        X7, X4, X4
	VEXTRACTI128 $1, Y5, X7
	VPXOR        X7, X5, X5
	REDUCE

	ADDQ $128, SI
	SUBQ $128, DX
	CMPQ DX, $128
	JAE  loop8

singles:
	VMOVDQU 240(DI), X9

loop1:
	CMPQ       DX, $16
	JB         done
	GHASH1(X14, X9)
	ADDQ       $16, SI
	SUBQ       $16, DX
	JMP        loop1

done:
	VPSHUFB    X14, X8, X8
	VMOVDQU    X8, (AX)
	VZEROUPPER
	RET

#define VROUND(off) \
	VBROADCASTI128 off(AX), Y7 \
	VAESENC        Y7, Y0, Y0  \
	VAESENC        Y7, Y1, Y1  \
	VAESENC        Y7, Y2, Y2  \
	VAESENC        Y7, Y3, Y3

#define VLAST(off) \
	VBROADCASTI128 off(AX), Y7  \
	VAESENCLAST    Y7, Y0, Y0   \
	VAESENCLAST    Y7, Y1, Y1   \
	VAESENCLAST    Y7, Y2, Y2   \
	VAESENCLAST    Y7, Y3, Y3

#define XROUND(off) \
	VMOVDQU off(AX), X7 \
	VAESENC X7, X0, X0

// func aesCTRAVX2(rk *[aesRoundKeysSize]byte, rounds int, ctr *[16]byte, dst, src []byte)
// As aesCTRAVX512, eight counter blocks per iteration.
TEXT ·aesCTRAVX2(SB), NOSPLIT, $0-72
	MOVQ rk+0(FP), AX
	MOVQ rounds+8(FP), BX
	MOVQ ctr+16(FP), CX
	MOVQ dst_base+24(FP), DI
	MOVQ src_base+48(FP), SI
	MOVQ src_len+56(FP), DX

	VBROADCASTI128 ·ghashBswap(SB), Y6
	VBROADCASTI128 (CX), Y4
	VPSHUFB        Y6, Y4, Y4
	VPADDD         ·ctrLanes(SB), Y4, Y4
	VBROADCASTI128 vecTwo<>(SB), Y5

	CMPQ DX, $128
	JB   csingles

cloop8:
	VPSHUFB        Y6, Y4, Y0
	VPADDD         Y5, Y4, Y4
	VPSHUFB        Y6, Y4, Y1
	VPADDD         Y5, Y4, Y4
	VPSHUFB        Y6, Y4, Y2
	VPADDD         Y5, Y4, Y4
	VPSHUFB        Y6, Y4, Y3
	VPADDD         Y5, Y4, Y4
	VBROADCASTI128 0(AX), Y7
	VPXOR          Y7, Y0, Y0
	VPXOR          Y7, Y1, Y1
	VPXOR          Y7, Y2, Y2
	VPXOR          Y7, Y3, Y3
	VROUND(16)
	VROUND(32)
	VROUND(48)
	VROUND(64)
	VROUND(80)
	VROUND(96)
	VROUND(112)
	VROUND(128)
	VROUND(144)
	CMPQ           BX, $10
	JE             clast8of10
	VROUND(160)
	VROUND(176)
	VROUND(192)
	VROUND(208)
	VLAST(224)
	JMP            cxor8

clast8of10:
	VLAST(160)

cxor8:
	VPXOR   0(SI), Y0, Y0
	VPXOR   32(SI), Y1, Y1
	VPXOR   64(SI), Y2, Y2
	VPXOR   96(SI), Y3, Y3
	VMOVDQU Y0, 0(DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $128, DX
	CMPQ    DX, $128
	JAE     cloop8

csingles:
	// Lane 0 of Y4 is the next counter; one block at a time from here.
	VMOVDQU ·ctrOne(SB), X5

cloop1:
	CMPQ    DX, $16
	JB      cdone
	VPSHUFB X6, X4, X0
	VPADDD  X5, X4, X4
	VMOVDQU 0(AX), X7
	VPXOR   X7, X0, X0
	XROUND(16)
	XROUND(32)
	XROUND(48)
	XROUND(64)
	XROUND(80)
	XROUND(96)
	XROUND(112)
	XROUND(128)
	XROUND(144)
	CMPQ    BX, $10
	JE      clast1of10
	XROUND(160)
	XROUND(176)
	XROUND(192)
	XROUND(208)
	VMOVDQU 224(AX), X7
	VAESENCLAST X7, X0, X0
	JMP     cxor1

clast1of10:
	VMOVDQU     160(AX), X7
	VAESENCLAST X7, X0, X0

cxor1:
	VMOVDQU (SI), X1
	VPXOR   X1, X0, X0
	VMOVDQU X0, (DI)
	ADDQ    $16, SI
	ADDQ    $16, DI
	SUBQ    $16, DX
	JMP     cloop1

cdone:
	VPSHUFB    X6, X4, X0
	VMOVDQU    X0, (CX)
	VZEROUPPER
	RET

// func cpuidLeaf7ECX() uint32
// CPUID.(EAX=7, ECX=0):ECX, where VAES (bit 9) and VPCLMULQDQ (bit 10) are
// reported whether or not the CPU has AVX-512.
TEXT ·cpuidLeaf7ECX(SB), NOSPLIT, $0-4
	MOVL $7, AX
	XORL CX, CX
	CPUID
	MOVL CX, ret+0(FP)
	RET
