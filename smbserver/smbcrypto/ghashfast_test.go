package smbcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// stdGMAC is the standard library's GMAC: AES-GCM sealing no plaintext
// with aad as additional data.
func stdGMAC(t testing.TB, key, nonce, aad []byte) []byte {
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return g.Seal(nil, nonce, nil, aad)
}

// fastGMAC is gmacTag with E_K(J0) computed here.
func fastGMAC(t testing.TB, k *ghashKey, key, nonce, aad []byte) []byte {
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	var mask, tag [blockSize]byte
	copy(mask[:], nonce)
	mask[15] = 1
	b.Encrypt(mask[:], mask[:])
	k.gmacTag(&tag, aad, &mask)
	return tag[:]
}

func hashKeyOf(t testing.TB, key []byte) fieldElement {
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	var h [blockSize]byte
	b.Encrypt(h[:], h[:])
	return loadElement(h[:])
}

// ghashWidths lists the GHASH loops this CPU can run: true for
// ghashAVX512, false for ghashAVX2. Tests skip when it is empty: the
// signer then uses crypto/cipher, which other tests cover.
func ghashWidths() []bool { return vecWidths(haveGHASHAVX512) }

// vecWidths is the loop widths to test: 512-bit (true) when have512, and
// 256-bit (false) when haveVec256.
func vecWidths(have512 bool) []bool {
	var w []bool
	if have512 {
		w = append(w, true)
	}
	if haveVec256 {
		w = append(w, false)
	}
	return w
}

func widthName(wide bool) string {
	if wide {
		return "512-bit"
	}
	return "256-bit"
}

// ghashTestSizes cover every path of the GHASH loops: no whole block, single
// blocks only, exactly one 16-block group, groups plus single blocks, and
// partial last blocks of every length.
func ghashTestSizes() []int {
	var s []int
	for n := 0; n <= 600; n++ {
		s = append(s, n)
	}
	return append(s, 4095, 4096, 4097, 65536+13, 1<<20, 1<<20+255, 8<<20+80)
}

func TestGMACTagMatchesStandardLibrary(t *testing.T) {
	if len(ghashWidths()) == 0 {
		t.Skip("this CPU has no vector carry-less multiply; the signer uses crypto/cipher's GCM")
	}
	rng := rand.New(rand.NewPCG(11, 13))
	for _, wide := range ghashWidths() {
		for keyRound := range 8 {
			key := make([]byte, 16)
			fill(rng, key)
			if keyRound == 0 {
				clear(key) // H with its top bit clear and set both occur below
			}
			k := newGHASHKeyFor(hashKeyOf(t, key), wide)
			nonce := make([]byte, 12)
			for _, n := range ghashTestSizes() {
				fill(rng, nonce)
				aad := make([]byte, n)
				fill(rng, aad)
				want := stdGMAC(t, key, nonce, aad)
				got := fastGMAC(t, k, key, nonce, aad)
				if string(got) != string(want) {
					t.Fatalf("%s, key %x, %d bytes: tag %x, crypto/cipher says %x", widthName(wide), key, n, got, want)
				}
			}
		}
	}
}

// An 0xFF-filled message drives every carry of the multiply.
func TestGMACTagAllOnes(t *testing.T) {
	if len(ghashWidths()) == 0 {
		t.Skip("this CPU has no vector carry-less multiply")
	}
	key := make([]byte, 16)
	for i := range key {
		key[i] = 0xff
	}
	nonce := make([]byte, 12)
	for _, wide := range ghashWidths() {
		k := newGHASHKeyFor(hashKeyOf(t, key), wide)
		for _, n := range []int{16, 128, 144, 256, 272, 1 << 16} {
			aad := make([]byte, n)
			for i := range aad {
				aad[i] = 0xff
			}
			if got, want := fastGMAC(t, k, key, nonce, aad), stdGMAC(t, key, nonce, aad); string(got) != string(want) {
				t.Fatalf("%s, %d bytes of 0xff: tag %x, crypto/cipher says %x", widthName(wide), n, got, want)
			}
		}
	}
}

func TestGMACTagAllocatesNothing(t *testing.T) {
	for _, wide := range ghashWidths() {
		k := newGHASHKeyFor(hashKeyOf(t, make([]byte, 16)), wide)
		aad := make([]byte, 1000)
		var mask, tag [blockSize]byte
		if n := testing.AllocsPerRun(100, func() { k.gmacTag(&tag, aad, &mask) }); n != 0 {
			t.Fatalf("%s: gmacTag allocates %v times per call", widthName(wide), n)
		}
	}
}

func BenchmarkGHASH(b *testing.B) {
	key := make([]byte, 16)
	h := hashKeyOf(b, key)
	nonce := make([]byte, 12)
	for _, n := range []int{1 << 10, 64 << 10, 1 << 20, 8 << 20} {
		aad := make([]byte, n)
		b.Run(fmt.Sprintf("stdlib/%d", n), func(b *testing.B) {
			blk, _ := aes.NewCipher(key)
			g, _ := cipher.NewGCM(blk)
			var tag [blockSize]byte
			b.SetBytes(int64(n))
			for b.Loop() {
				g.Seal(tag[:0], nonce, nil, aad)
			}
		})
		for _, wide := range ghashWidths() {
			k := newGHASHKeyFor(h, wide)
			b.Run(fmt.Sprintf("%s/%d", widthName(wide), n), func(b *testing.B) {
				var mask, tag [blockSize]byte
				b.SetBytes(int64(n))
				for b.Loop() {
					k.gmacTag(&tag, aad, &mask)
				}
			})
		}
	}
}

// The signer's two ways of computing a tag (the vector GHASH loop, and
// crypto/cipher where the CPU lacks it) must give the same signatures,
// whole and split.
func TestGMACSignerPathsAgree(t *testing.T) {
	if len(ghashWidths()) == 0 {
		t.Skip("this CPU has no vector carry-less multiply")
	}
	fast, err := newGMACSigner(signKey)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := newGMACSigner(signKey)
	if err != nil {
		t.Fatal(err)
	}
	if fast.fast == nil {
		t.Fatal("no GHASH table on a CPU that has the instructions")
	}
	slow.fast = nil
	rng := rand.New(rand.NewPCG(3, 5))
	for _, n := range []int{headerSize, headerSize + 1, 100, 4096 + 80, SplitSignMin + 17, 8<<20 + 80} {
		msg := testMessage(rng, n)
		a := append([]byte(nil), msg...)
		b := append([]byte(nil), msg...)
		fast.SignSplit(a, goSplitter{})
		slow.SignSplit(b, &inlineSplitter{})
		if string(a) != string(b) {
			t.Fatalf("%d bytes: signatures differ: %x vs %x", n, a[offSignature:offSignature+signatureSize], b[offSignature:offSignature+signatureSize])
		}
		if !fast.VerifySplit(b, nil) || !slow.VerifySplit(a, goSplitter{}) || !fast.Verify(b) || !slow.Verify(a) {
			t.Fatalf("%d bytes: a signature of one path does not verify on the other", n)
		}
		b[offSignature+3] ^= 4
		if fast.Verify(b) || fast.VerifySplit(b, goSplitter{}) {
			t.Fatalf("%d bytes: a changed signature verifies", n)
		}
		a[len(a)-1] ^= 1
		if fast.Verify(a) || fast.VerifySplit(a, goSplitter{}) {
			t.Fatalf("%d bytes: a changed message verifies", n)
		}
	}
}

// FuzzGMACTag checks the GHASH loops against crypto/cipher for any key, nonce
// and message.
func FuzzGMACTag(f *testing.F) {
	f.Add(make([]byte, 16), make([]byte, 12), []byte("abc"))
	f.Add(make([]byte, 16), make([]byte, 12), make([]byte, 300))
	f.Fuzz(func(t *testing.T, key, nonce, aad []byte) {
		if len(key) != 16 || len(nonce) != 12 {
			return
		}
		for _, wide := range ghashWidths() {
			k := newGHASHKeyFor(hashKeyOf(t, key), wide)
			if got, want := fastGMAC(t, k, key, nonce, aad), stdGMAC(t, key, nonce, aad); string(got) != string(want) {
				t.Fatalf("%s, %d bytes: tag %x, crypto/cipher says %x", widthName(wide), len(aad), got, want)
			}
		}
	})
}

// Without a vector GHASH loop, Verify caches the Signature block's weight by
// message length; lengths that share a cache slot, alternating, must
// still verify, and a wrong signature must still fail.
func TestGMACVerifyPowerCache(t *testing.T) {
	s, err := newGMACSigner(signKey)
	if err != nil {
		t.Fatal(err)
	}
	s.fast = nil
	rng := rand.New(rand.NewPCG(8, 1))
	// 4, 8 and 12 more blocks: the same slot of the 4-entry cache.
	sizes := []int{100, 100 + 4*blockSize, 100 + 8*blockSize, 100, 4096 + 64, 100 + 4*blockSize}
	for round := range 3 {
		for _, n := range sizes {
			msg := testMessage(rng, n)
			s.Sign(msg)
			if !s.Verify(msg) {
				t.Fatalf("round %d, %d bytes: a signed message does not verify", round, n)
			}
			msg[offSignature] ^= 1
			if s.Verify(msg) {
				t.Fatalf("round %d, %d bytes: a wrong signature verifies", round, n)
			}
		}
	}
}

func BenchmarkGMACVerifyFallback(b *testing.B) {
	s, err := newGMACSigner(signKey)
	if err != nil {
		b.Fatal(err)
	}
	s.fast = nil
	for _, n := range []int{120, 4096 + 112} {
		msg := make([]byte, n)
		copy(msg, []byte{0xFE, 'S', 'M', 'B'})
		s.Sign(msg)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !s.Verify(msg) {
					b.Fatal("does not verify")
				}
			}
		})
	}
}

func TestAccelerationsMatchesTheGates(t *testing.T) {
	got := Accelerations()
	for _, c := range []struct {
		on   bool
		name string
	}{
		{haveGHASHAVX512, "ghash=avx512"}, {haveGCMAVX512, "aes-ctr=avx512"},
		{haveVec256 && !haveGHASHAVX512, "ghash=avx2"}, {haveVec256 && !haveGCMAVX512, "aes-ctr=avx2"},
		{haveCBCMACAESNI, "cbc-mac=aes-ni"},
	} {
		if strings.Contains(got, c.name) != c.on {
			t.Errorf("Accelerations() = %q; %s is %v here", got, c.name, c.on)
		}
	}
	if (got == "none") != (!haveGHASHAVX512 && !haveGCMAVX512 && !haveVec256 && !haveCBCMACAESNI) {
		t.Errorf("Accelerations() = %q", got)
	}
}
