//go:build !amd64 || purego

package smbcrypto

const haveGHASHAVX512 = false

func ghashAVX512(table *[ghashTableSize]byte, acc *[blockSize]byte, data []byte) {
	panic("smbcrypto: ghashAVX512 without the instructions")
}
