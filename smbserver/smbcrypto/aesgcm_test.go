package smbcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func stdGCM(t testing.TB, key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// gcmWidths lists the counter-mode loops this CPU can run: true for
// aesCTRAVX512, false for aesCTRAVX2.
func gcmWidths() []bool { return vecWidths(haveGCMAVX512) }

// The counter-mode keystream is AES of GCM's counter blocks, inc32
// wrapping within the last 32 bits (from 0xffffffff to 0, not carrying
// into the nonce), for both key sizes and every path of the assembly.
func TestAESCTRKeystream(t *testing.T) {
	if len(gcmWidths()) == 0 {
		t.Skip("this CPU has no vector AES instructions")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		keyLen int
		wide   bool
	}{{16, true}, {32, true}, {16, false}, {32, false}} {
		if !slices.Contains(gcmWidths(), c.wide) {
			continue
		}
		keyLen := c.keyLen
		key := make([]byte, keyLen)
		fill(rng, key)
		var sched aesSchedule
		sched.rounds = expandKey(key, &sched.rk)
		blk, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		for _, nblocks := range []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100} {
			for _, start := range []uint32{2, 0xfffffff0, 0xffffffff} {
				var ctr [blockSize]byte
				fill(rng, ctr[:12])
				binary.BigEndian.PutUint32(ctr[12:], start)
				first := ctr
				src := make([]byte, nblocks*blockSize)
				fill(rng, src)
				dst := make([]byte, len(src))
				aesCTR(&sched, c.wide, &ctr, dst, src)
				want := first
				for i := range nblocks {
					var ks [blockSize]byte
					blk.Encrypt(ks[:], want[:])
					for j := range ks {
						if dst[i*blockSize+j] != src[i*blockSize+j]^ks[j] {
							t.Fatalf("%s AES-%d, %d blocks from counter %#x: block %d wrong", widthName(c.wide), keyLen*8, nblocks, start, i)
						}
					}
					binary.BigEndian.PutUint32(want[12:], binary.BigEndian.Uint32(want[12:])+1)
				}
				if ctr != want {
					t.Fatalf("%s AES-%d, %d blocks: next counter %x, want %x", widthName(c.wide), keyLen*8, nblocks, ctr, want)
				}
			}
		}
	}
}

func gcmTestSizes() []int {
	var s []int
	for n := 0; n <= 300; n++ {
		s = append(s, n)
	}
	return append(s, gcmChunk-1, gcmChunk, gcmChunk+1, 2*gcmChunk+17, 1<<20+7)
}

func TestGCMVecMatchesStandardLibrary(t *testing.T) {
	if len(gcmWidths()) == 0 {
		t.Skip("this CPU has no vector AES instructions")
	}
	rng := rand.New(rand.NewPCG(5, 8))
	for _, wide := range gcmWidths() {
		for _, keyLen := range []int{16, 32} {
			testGCMVecMatches(t, rng, wide, keyLen)
		}
	}
}

func testGCMVecMatches(t *testing.T, rng *rand.Rand, wide bool, keyLen int) {
	{
		key := make([]byte, keyLen)
		fill(rng, key)
		g := newGCMVecFor(key, wide)
		std := stdGCM(t, key)
		nonce := make([]byte, 12)
		for _, n := range gcmTestSizes() {
			for _, aadLen := range []int{0, 5, 32, 33} {
				fill(rng, nonce)
				aad := make([]byte, aadLen)
				fill(rng, aad)
				plain := make([]byte, n)
				fill(rng, plain)
				want := std.Seal(nil, nonce, plain, aad)

				text := append([]byte(nil), plain...)
				var tag [blockSize]byte
				g.sealInPlace(&tag, nonce, text, aad)
				if string(text) != string(want[:n]) || string(tag[:]) != string(want[n:]) {
					t.Fatalf("%s AES-%d, %d bytes, aad %d: sealed text or tag differs from crypto/cipher", widthName(wide), keyLen*8, n, aadLen)
				}
				if !g.openInPlace(tag[:], nonce, text, aad) || string(text) != string(plain) {
					t.Fatalf("%s AES-%d, %d bytes, aad %d: does not open to the plaintext", widthName(wide), keyLen*8, n, aadLen)
				}
			}
		}
	}
}

// A changed ciphertext, tag or additional data fails, and the text is
// zeroed rather than left as unauthenticated plaintext.
func TestGCMVecRejectsTampering(t *testing.T) {
	if len(gcmWidths()) == 0 {
		t.Skip("this CPU has no vector AES instructions")
	}
	for _, wide := range gcmWidths() {
		testGCMVecRejectsTampering(t, wide)
	}
}

func testGCMVecRejectsTampering(t *testing.T, wide bool) {
	rng := rand.New(rand.NewPCG(9, 4))
	key := make([]byte, 16)
	fill(rng, key)
	g := newGCMVecFor(key, wide)
	nonce := make([]byte, 12)
	aad := make([]byte, 32)
	for _, n := range []int{1, 100, 4096, gcmChunk + 5} {
		plain := make([]byte, n)
		fill(rng, plain)
		for what := range 3 {
			text := append([]byte(nil), plain...)
			var tag [blockSize]byte
			g.sealInPlace(&tag, nonce, text, aad)
			a := append([]byte(nil), aad...)
			switch what {
			case 0:
				text[n/2] ^= 1
			case 1:
				tag[7] ^= 0x80
			case 2:
				a[31] ^= 2
			}
			if g.openInPlace(tag[:], nonce, text, a) {
				t.Fatalf("%s, %d bytes, change %d: opened", widthName(wide), n, what)
			}
			for i, b := range text {
				if b != 0 {
					t.Fatalf("%s, %d bytes, change %d: byte %d left as %#x after a failed open", widthName(wide), n, what, i, b)
				}
			}
		}
	}
}

func TestGCMVecAllocatesNothing(t *testing.T) {
	for _, wide := range gcmWidths() {
		g := newGCMVecFor(make([]byte, 32), wide)
		nonce, aad, text := make([]byte, 12), make([]byte, 32), make([]byte, 5000)
		var tag [blockSize]byte
		if n := testing.AllocsPerRun(50, func() {
			g.sealInPlace(&tag, nonce, text, aad)
			g.openInPlace(tag[:], nonce, text, aad)
		}); n != 0 {
			t.Fatalf("%s: seal+open allocate %v times", widthName(wide), n)
		}
	}
}

func FuzzGCMVec(f *testing.F) {
	f.Add(make([]byte, 16), make([]byte, 12), []byte("aad"), []byte("text"))
	f.Add(make([]byte, 32), make([]byte, 12), make([]byte, 32), make([]byte, 1000))
	f.Fuzz(func(t *testing.T, key, nonce, aad, plain []byte) {
		if (len(key) != 16 && len(key) != 32) || len(nonce) != 12 {
			return
		}
		want := stdGCM(t, key).Seal(nil, nonce, plain, aad)
		for _, wide := range gcmWidths() {
			text := append([]byte(nil), plain...)
			var tag [blockSize]byte
			g := newGCMVecFor(key, wide)
			g.sealInPlace(&tag, nonce, text, aad)
			if string(text) != string(want[:len(plain)]) || string(tag[:]) != string(want[len(plain):]) {
				t.Fatalf("%s, %d-byte key, %d bytes: differs from crypto/cipher", widthName(wide), len(key), len(plain))
			}
			if !g.openInPlace(tag[:], nonce, text, aad) || string(text) != string(plain) {
				t.Fatalf("%s, %d-byte key, %d bytes: does not open", widthName(wide), len(key), len(plain))
			}
		}
	})
}

func BenchmarkGCM(b *testing.B) {
	key := make([]byte, 16)
	nonce, aad := make([]byte, 12), make([]byte, 32)
	for _, n := range []int{4 << 10, 64 << 10, 1 << 20, 8 << 20} {
		text := make([]byte, n, n+blockSize)
		b.Run(fmt.Sprintf("stdlib/seal/%d", n), func(b *testing.B) {
			g := stdGCM(b, key)
			b.SetBytes(int64(n))
			for b.Loop() {
				g.Seal(text[:0], nonce, text, aad)
			}
		})
		for _, wide := range gcmWidths() {
			g := newGCMVecFor(key, wide)
			b.Run(fmt.Sprintf("%s/seal/%d", widthName(wide), n), func(b *testing.B) {
				var tag [blockSize]byte
				b.SetBytes(int64(n))
				for b.Loop() {
					g.sealInPlace(&tag, nonce, text, aad)
				}
			})
			b.Run(fmt.Sprintf("%s/open/%d", widthName(wide), n), func(b *testing.B) {
				var tag [blockSize]byte
				b.SetBytes(int64(n))
				for b.Loop() {
					g.openInPlace(tag[:], nonce, text, aad)
				}
			})
		}
	}
}

// The transform cipher's two GCM paths (aesgcm.go and crypto/cipher) seal
// a message to the same bytes and open each other's messages, in place
// and not.
func TestTransformGCMPathsAgree(t *testing.T) {
	if len(gcmWidths()) == 0 {
		t.Skip("this CPU has no vector AES instructions")
	}
	rng := rand.New(rand.NewPCG(6, 6))
	for _, c := range []uint16{CipherAES128GCM, CipherAES256GCM} {
		fast, err := newTransformCipher(c, cipherKey(c))
		if err != nil {
			t.Fatal(err)
		}
		slow, err := newTransformCipher(c, cipherKey(c))
		if err != nil {
			t.Fatal(err)
		}
		if fast.fast == nil {
			t.Fatal("no aesgcm.go key on a CPU that has the instructions")
		}
		slow.fast = nil
		for _, n := range []int{1, 64, 4096 + 80, 1<<20 + 3} {
			plain := make([]byte, n)
			fill(rng, plain)
			var nonce [16]byte
			fill(rng, nonce[:12])
			a, err := fast.sealWithNonce(nil, 7, &nonce, plain)
			if err != nil {
				t.Fatal(err)
			}
			b, err := slow.sealWithNonce(nil, 7, &nonce, plain)
			if err != nil {
				t.Fatal(err)
			}
			if string(a) != string(b) {
				t.Fatalf("cipher %d, %d bytes: the two paths seal differently", c, n)
			}
			for _, pair := range [][2]*transformCipher{{fast, slow}, {slow, fast}} {
				got, err := pair[0].Open(nil, a)
				if err != nil || string(got) != string(plain) {
					t.Fatalf("cipher %d, %d bytes: Open: %v", c, n, err)
				}
				msg := append(make([]byte, 0, len(a)+OpenInPlaceRoom), a...)
				got, err = pair[1].OpenInPlace(msg)
				if err != nil || string(got) != string(plain) {
					t.Fatalf("cipher %d, %d bytes: OpenInPlace: %v", c, n, err)
				}
			}
		}
	}
}
