//go:build !purego

#include "textflag.h"

// CBC-MAC is one AES encryption per block, each waiting for the last, so
// its speed is the latency of the rounds; the loop keeps the state and
// every round key in registers and makes no call per block.

// func cbcMACAESNI(rk *[aesRoundKeysSize]byte, rounds int, x *[16]byte, p []byte)
// Runs x = AES(x ^ block) over the whole blocks of p (len(p) a multiple
// of 16). rounds is 10 or 14.
TEXT ·cbcMACAESNI(SB), NOSPLIT, $0-48
	MOVQ rk+0(FP), AX
	MOVQ rounds+8(FP), BX
	MOVQ x+16(FP), CX
	MOVQ p_base+24(FP), SI
	MOVQ p_len+32(FP), DX

	VMOVDQU (CX), X0
	VMOVDQU 0(AX), X1
	VMOVDQU 16(AX), X2
	VMOVDQU 32(AX), X3
	VMOVDQU 48(AX), X4
	VMOVDQU 64(AX), X5
	VMOVDQU 80(AX), X6
	VMOVDQU 96(AX), X7
	VMOVDQU 112(AX), X8
	VMOVDQU 128(AX), X9
	VMOVDQU 144(AX), X10
	VMOVDQU 160(AX), X11
	CMPQ    BX, $10
	JE      loop
	VMOVDQU 176(AX), X12
	VMOVDQU 192(AX), X13
	VMOVDQU 208(AX), X14
	VMOVDQU 224(AX), X15

loop:
	CMPQ        DX, $16
	JB          done
	VPXOR       (SI), X0, X0
	VPXOR       X1, X0, X0
	VAESENC     X2, X0, X0
	VAESENC     X3, X0, X0
	VAESENC     X4, X0, X0
	VAESENC     X5, X0, X0
	VAESENC     X6, X0, X0
	VAESENC     X7, X0, X0
	VAESENC     X8, X0, X0
	VAESENC     X9, X0, X0
	VAESENC     X10, X0, X0
	CMPQ        BX, $10
	JE          last10
	VAESENC     X11, X0, X0
	VAESENC     X12, X0, X0
	VAESENC     X13, X0, X0
	VAESENC     X14, X0, X0
	VAESENCLAST X15, X0, X0
	JMP         next

last10:
	VAESENCLAST X11, X0, X0

next:
	ADDQ $16, SI
	SUBQ $16, DX
	JMP  loop

done:
	VMOVDQU    X0, (CX)
	VZEROUPPER
	RET
