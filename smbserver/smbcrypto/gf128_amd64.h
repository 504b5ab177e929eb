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
