//go:build !amd64 || purego

package smbcrypto

const (
	haveGHASHAVX512 = false
	haveGCMAVX512   = false
	haveCBCMACAESNI = false
	haveVec256      = false
)

func ghashAVX512(table *[ghashTableSize]byte, acc *[blockSize]byte, data []byte) {
	panic("smbcrypto: ghashAVX512 without the instructions")
}

func aesCTRAVX512(rk *[aesRoundKeysSize]byte, rounds int, ctr *[blockSize]byte, dst, src []byte) {
	panic("smbcrypto: aesCTRAVX512 without the instructions")
}

func cbcMACAESNI(rk *[aesRoundKeysSize]byte, rounds int, x *[blockSize]byte, p []byte) {
	panic("smbcrypto: cbcMACAESNI without the instructions")
}

func ghashAVX2(table *[ghashTableSize]byte, acc *[blockSize]byte, data []byte) {
	panic("smbcrypto: ghashAVX2 without the instructions")
}

func aesCTRAVX2(rk *[aesRoundKeysSize]byte, rounds int, ctr *[blockSize]byte, dst, src []byte) {
	panic("smbcrypto: aesCTRAVX2 without the instructions")
}
