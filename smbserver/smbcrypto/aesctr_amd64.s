//go:build !purego

#include "textflag.h"

// AES in counter mode with 512-bit AES instructions (VAES): sixteen
// counter blocks per iteration, four per Z register. The counter is GCM's:
// the last 32 bits of the block, big-endian, incremented modulo 2^32
// (inc32). Blocks are kept byte-reversed so that the counter is the low
// doubleword of each lane and VPADDD does inc32 exactly.

// Lane i of the first counters is the starting counter plus i (the
// 256-bit loop loads the first two lanes).
DATA ·ctrLanes+0(SB)/8, $0
DATA ·ctrLanes+8(SB)/8, $0
DATA ·ctrLanes+16(SB)/8, $1
DATA ·ctrLanes+24(SB)/8, $0
DATA ·ctrLanes+32(SB)/8, $2
DATA ·ctrLanes+40(SB)/8, $0
DATA ·ctrLanes+48(SB)/8, $3
DATA ·ctrLanes+56(SB)/8, $0
GLOBL ·ctrLanes(SB), RODATA|NOPTR, $64

DATA ctrFour<>+0(SB)/8, $4
DATA ctrFour<>+8(SB)/8, $0
GLOBL ctrFour<>(SB), RODATA|NOPTR, $16

DATA ·ctrOne+0(SB)/8, $1
DATA ·ctrOne+8(SB)/8, $0
GLOBL ·ctrOne(SB), RODATA|NOPTR, $16

#define ROUND4(k) \
	VAESENC k, Z0, Z0 \
	VAESENC k, Z1, Z1 \
	VAESENC k, Z2, Z2 \
	VAESENC k, Z3, Z3

#define LAST4(k) \
	VAESENCLAST k, Z0, Z0 \
	VAESENCLAST k, Z1, Z1 \
	VAESENCLAST k, Z2, Z2 \
	VAESENCLAST k, Z3, Z3

// func aesCTRAVX512(rk *[aesRoundKeysSize]byte, rounds int, ctr *[16]byte, dst, src []byte)
// len(src) must be a multiple of 16 and len(dst) at least as long; dst
// may be src. ctr is the first counter block and is left at the next one.
TEXT ·aesCTRAVX512(SB), NOSPLIT, $0-72
	MOVQ rk+0(FP), AX
	MOVQ rounds+8(FP), BX
	MOVQ ctr+16(FP), CX
	MOVQ dst_base+24(FP), DI
	MOVQ src_base+48(FP), SI
	MOVQ src_len+56(FP), DX

	VBROADCASTI32X4 0(AX), Z8
	VBROADCASTI32X4 16(AX), Z9
	VBROADCASTI32X4 32(AX), Z10
	VBROADCASTI32X4 48(AX), Z11
	VBROADCASTI32X4 64(AX), Z12
	VBROADCASTI32X4 80(AX), Z13
	VBROADCASTI32X4 96(AX), Z14
	VBROADCASTI32X4 112(AX), Z15
	VBROADCASTI32X4 128(AX), Z16
	VBROADCASTI32X4 144(AX), Z17
	VBROADCASTI32X4 160(AX), Z18
	VBROADCASTI32X4 176(AX), Z19
	VBROADCASTI32X4 192(AX), Z20
	VBROADCASTI32X4 208(AX), Z21
	VBROADCASTI32X4 224(AX), Z22

	VBROADCASTI32X4 ·ghashBswap(SB), Z25
	VBROADCASTI32X4 (CX), Z23
	VPSHUFB         Z25, Z23, Z23
	VPADDD          ·ctrLanes(SB), Z23, Z23
	VBROADCASTI32X4 ctrFour<>(SB), Z24

	CMPQ DX, $256
	JB   singles

loop16:
	VPSHUFB Z25, Z23, Z0
	VPADDD  Z24, Z23, Z23
	VPSHUFB Z25, Z23, Z1
	VPADDD  Z24, Z23, Z23
	VPSHUFB Z25, Z23, Z2
	VPADDD  Z24, Z23, Z23
	VPSHUFB Z25, Z23, Z3
	VPADDD  Z24, Z23, Z23
	VPXORQ  Z8, Z0, Z0
	VPXORQ  Z8, Z1, Z1
	VPXORQ  Z8, Z2, Z2
	VPXORQ  Z8, Z3, Z3
	ROUND4(Z9)
	ROUND4(Z10)
	ROUND4(Z11)
	ROUND4(Z12)
	ROUND4(Z13)
	ROUND4(Z14)
	ROUND4(Z15)
	ROUND4(Z16)
	ROUND4(Z17)
	CMPQ BX, $10
	JE   last16of10
	ROUND4(Z18)
	ROUND4(Z19)
	ROUND4(Z20)
	ROUND4(Z21)
	LAST4(Z22)
	JMP  xor16

last16of10:
	LAST4(Z18)

xor16:
	VPXORQ    0(SI), Z0, Z0
	VPXORQ    64(SI), Z1, Z1
	VPXORQ    128(SI), Z2, Z2
	VPXORQ    192(SI), Z3, Z3
	VMOVDQU64 Z0, 0(DI)
	VMOVDQU64 Z1, 64(DI)
	VMOVDQU64 Z2, 128(DI)
	VMOVDQU64 Z3, 192(DI)
	ADDQ      $256, SI
	ADDQ      $256, DI
	SUBQ      $256, DX
	CMPQ      DX, $256
	JAE       loop16

singles:
	// Lane 0 of Z23 is the next counter; one block at a time from here.
	VBROADCASTI32X4 ·ctrOne(SB), Z24

loop1:
	CMPQ        DX, $16
	JB          done
	VPSHUFB     Z25, Z23, Z0
	VPADDD      Z24, Z23, Z23
	VPXORQ      Z8, Z0, Z0
	VAESENC     Z9, Z0, Z0
	VAESENC     Z10, Z0, Z0
	VAESENC     Z11, Z0, Z0
	VAESENC     Z12, Z0, Z0
	VAESENC     Z13, Z0, Z0
	VAESENC     Z14, Z0, Z0
	VAESENC     Z15, Z0, Z0
	VAESENC     Z16, Z0, Z0
	VAESENC     Z17, Z0, Z0
	CMPQ        BX, $10
	JE          last1of10
	VAESENC     Z18, Z0, Z0
	VAESENC     Z19, Z0, Z0
	VAESENC     Z20, Z0, Z0
	VAESENC     Z21, Z0, Z0
	VAESENCLAST Z22, Z0, Z0
	JMP         xor1

last1of10:
	VAESENCLAST Z18, Z0, Z0

xor1:
	VMOVDQU (SI), X1
	VPXOR   X1, X0, X0
	VMOVDQU X0, (DI)
	ADDQ    $16, SI
	ADDQ    $16, DI
	SUBQ    $16, DX
	JMP     loop1

done:
	VPSHUFB Z25, Z23, Z0
	VMOVDQU X0, (CX)
	VZEROUPPER
	RET
