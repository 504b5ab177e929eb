package smbcrypto

import (
	"fmt"
	"testing"
)

var benchSizes = []int{64 << 10, 1 << 20}

func benchmarkSign(b *testing.B, alg uint16) {
	s, err := NewSigner(dialect311, alg, signKey)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchSizes {
		msg := make([]byte, n)
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				s.Sign(msg)
			}
		})
		b.Run(fmt.Sprintf("Verify%dKiB", n>>10), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				s.Verify(msg)
			}
		})
	}
}

func BenchmarkSignHMACSHA256(b *testing.B) { benchmarkSign(b, SigningHMACSHA256) }
func BenchmarkSignAESCMAC(b *testing.B)    { benchmarkSign(b, SigningAESCMAC) }
func BenchmarkSignAESGMAC(b *testing.B)    { benchmarkSign(b, SigningAESGMAC) }

func benchmarkSeal(b *testing.B, c uint16) {
	enc, err := NewEncryptor(c, cipherKey(c))
	if err != nil {
		b.Fatal(err)
	}
	dec, _ := NewDecryptor(c, cipherKey(c))
	for _, n := range benchSizes {
		plain := make([]byte, n)
		buf := make([]byte, 0, n+SealOverhead)
		sealed, _ := enc.Seal(nil, 1, plain)
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := enc.Seal(buf[:0], 1, plain[:64], plain[64:]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Open%dKiB", n>>10), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := dec.Open(buf[:0], sealed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSealAES128CCM(b *testing.B) { benchmarkSeal(b, CipherAES128CCM) }
func BenchmarkSealAES128GCM(b *testing.B) { benchmarkSeal(b, CipherAES128GCM) }
func BenchmarkSealAES256CCM(b *testing.B) { benchmarkSeal(b, CipherAES256CCM) }
func BenchmarkSealAES256GCM(b *testing.B) { benchmarkSeal(b, CipherAES256GCM) }
