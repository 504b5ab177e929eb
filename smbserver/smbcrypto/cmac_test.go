package smbcrypto

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes a hex string, ignoring spaces and newlines so vectors can
// be laid out as published.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\t' {
			return -1
		}
		return r
	}, s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test vector: %v", err)
	}
	return b
}

// cmacOneShot computes AES-CMAC of msg in one write.
func cmacOneShot(k *cmacKey, msg ...[]byte) []byte {
	st := cmacState{chain: newCBCChain(k.b, k.sched)}
	for _, m := range msg {
		st.write(k, m)
	}
	var out [blockSize]byte
	st.sum(k, &out)
	return out[:]
}

// TestCMACRFC4493 checks the subkeys and the four examples of RFC 4493
// section 4.
func TestCMACRFC4493(t *testing.T) {
	k, err := newCMAC(unhex(t, "2b7e151628aed2a6abf7158809cf4f3c"))
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "fbeed618357133667c85e08f7236a8de"); !bytes.Equal(k.k1[:], want) {
		t.Errorf("K1 = %x, want %x", k.k1, want)
	}
	if want := unhex(t, "f7ddac306ae266ccf90bc11ee46d513b"); !bytes.Equal(k.k2[:], want) {
		t.Errorf("K2 = %x, want %x", k.k2, want)
	}
	msg := unhex(t, `6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
		30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`)
	for _, tc := range []struct {
		n   int
		mac string
	}{
		{0, "bb1d6929e95937287fa37d129b756746"},
		{16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{40, "dfa66747de9ae63030ca32611497c827"},
		{64, "51f0bebf7e3b9d92fc49741779363cfe"},
	} {
		want := unhex(t, tc.mac)
		if got := cmacOneShot(k, msg[:tc.n]); !bytes.Equal(got, want) {
			t.Errorf("CMAC(len %d) = %x, want %x", tc.n, got, want)
		}
		// Every split into three writes must give the same MAC: the
		// signer feeds header, zero signature and body separately.
		for i := 0; i <= tc.n; i++ {
			for j := i; j <= tc.n; j += 7 {
				if got := cmacOneShot(k, msg[:i], msg[i:j], msg[j:tc.n]); !bytes.Equal(got, want) {
					t.Fatalf("CMAC(len %d split %d,%d) = %x, want %x", tc.n, i, j, got, want)
				}
			}
		}
	}
}

// TestCBCChainPaths checks that the CBC-encrypter fast path and the
// per-block loop compute the same chain, across the chunk boundary.
func TestCBCChainPaths(t *testing.T) {
	k, _ := newCMAC(unhex(t, "2b7e151628aed2a6abf7158809cf4f3c"))
	fast := newCBCChain(k.b, nil)
	if fast.setIV == nil {
		t.Fatal("standard library CBC encrypter has no SetIV; fast path never runs")
	}
	slow := &cbcChain{b: k.b}
	data := make([]byte, 3*cbcChunk+5*blockSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, n := range []int{0, blockSize, cbcMinLen, cbcChunk, cbcChunk + blockSize, len(data)} {
		var a, b [blockSize]byte
		a[3], b[3] = 9, 9 // a non-zero starting chain value
		fast.blocks(&a, data[:n])
		slow.blocks(&b, data[:n])
		if a != b {
			t.Fatalf("len %d: fast %x, loop %x", n, a, b)
		}
		if k.sched != nil {
			c := [blockSize]byte{3: 9}
			newCBCChain(k.b, k.sched).blocks(&c, data[:n])
			if c != b {
				t.Fatalf("len %d: cbcMACAESNI %x, loop %x", n, c, b)
			}
		}
	}
	// A long CMAC through the fast path equals the per-block CMAC.
	long := data[:cbcChunk+40]
	st := cmacState{chain: slow}
	st.write(k, long)
	var want [blockSize]byte
	st.sum(k, &want)
	if got := cmacOneShot(k, long); !bytes.Equal(got, want[:]) {
		t.Fatalf("long CMAC fast %x, loop %x", got, want)
	}
}
