// Shared by the GHASH loops (ghash_amd64.s, vec256_amd64.s).

// REDUCE folds the 256-bit carry-less product hi:lo (X5:X4) into X8, by
// GCM's constant in X15 (·ghashPoly), using X7.
#define REDUCE \
	VPCLMULQDQ $0x01, X4, X15, X7 \
	VPSHUFD    $0x4e, X4, X4      \
	VPXOR      X7, X4, X4         \
	VPCLMULQDQ $0x01, X4, X15, X7 \
	VPSHUFD    $0x4e, X4, X4      \
	VPXOR      X7, X4, X4         \
	VPXOR      X5, X4, X8

// GHASH1 folds the block at (SI) into X8 with the key in key (H^1), the
// byte-swap mask in mask, and X4-X7 as scratch.
#define GHASH1(mask, key) \
	VMOVDQU    (SI), X0         \
	VPSHUFB    mask, X0, X0     \
	VPXOR      X8, X0, X0       \
	VPCLMULQDQ $0x00, key, X0, X4 \
	VPCLMULQDQ $0x11, key, X0, X5 \
	VPCLMULQDQ $0x01, key, X0, X6 \
	VPCLMULQDQ $0x10, key, X0, X7 \
	VPXOR      X7, X6, X6       \
	VPSLLDQ    $8, X6, X7       \
	VPSRLDQ    $8, X6, X6       \
	VPXOR      X7, X4, X4       \
	VPXOR      X6, X5, X5       \
	REDUCE
