package smbcrypto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// Transform vectors from the Microsoft Open Specifications blog posts named
// in kdf_test.go: a client WRITE request (opened with ServerIn) and a server
// WRITE response (sealed with ServerOut, reproduced byte for byte).
var transformVectors = []struct {
	name      string
	cipher    uint16
	serverIn  string
	serverOut string
	// Client to server.
	request, requestPlain string
	// Server to client.
	response, responsePlain string
}{
	{
		name: "3.0 AES-128-CCM", cipher: CipherAES128CCM,
		serverIn: vec30ServerIn, serverOut: vec30ServerOut,
		request: `FD534D4281A286535415445DAE393921E44FA42E66E69A111892584FB5ED524A
			744DA3EE87000000000001001100001400E4080025C8FEE16605A437832D1CD5
			2DA9F4645333482A175FE5384563F45FCDAFAEF38BC62BA4D5C62897996625A4
			4C29BE5658DE2E6117585779E7B59FFD971278D08580D7FA899E410E910EABF5
			AA1DB43050B33B49182637759AC15D84BFCDF5B6B238993C0F4CF4D6012023F6
			C627297075D84B7803912D0A9639634453595EF3E33FFE4E7AC2AB`,
		requestPlain: `FE534D4240000100000000000900400008000000000000000400000000000000
			FFFE0000010000001100001400E4080000000000000000000000000000000000
			3100700017000000000000000000000015010000390000020100000039020000
			00000000000000007000000000000000536D623320656E6372797074696F6E20
			74657374696E67`,
		response: `FD534D42A6015530A18F6D9AFFE22AFAE8E66484860000000000000011000014
			00E4080050000000000001001100001400E40800DBF46435C5F14169293CE079
			E344479BF670227E49873F458672C3098DAC467DD5809F369D67409166515787
			1483E01F7BECD02064EAC3E235F913668BBC2F097980D4B378F1993EFF6E60D1
			77309E5B`,
		responsePlain: `FE534D4240000100000000000900210009000000000000000400000000000000
			FFFE0000010000001100001400E4080000000000000000000000000000000000
			11000000170000000000000000000000`,
	},
	{
		name: "3.1.1 AES-128-GCM", cipher: CipherAES128GCM,
		serverIn: vec311ServerIn, serverOut: vec311ServerOut,
		request: `FD534D42BD73D97D2BC9001BCAFAC0FDFF5FEEBCC7D6822D269CAF48904C664C0000000087000000
			0000010025000000001000006ECDD2A7AFC7B47763057A041B8FD4DAFFE990B70C9E09D36C084E02
			D14EF247F8BDE38ACF6256F8B1D3B56F77FBDEB312FEA5E92CBCC1ED8FB2EBBFAA75E49A4A394BB4
			4576545567C24D4C014D47C9FBDFDAFD2C4F9B72F8D256452620A299F48E29E53D6B61D1C13A19E9
			1AF013F00D17E3ABC2FC3D36C8C1B6B93973253852DBD442E46EE8`,
		requestPlain: `FE534D4240000100000000000900010008000000000000000500000000000000FFFE000001000000
			25000000001000000000000000000000000000000000000031007000170000000000000000000000
			0600000004000000010000000400000000000000000000007000000000000000536D623320656E63
			72797074696F6E2074657374696E67`,
		response: `FD534D42ACBE1CB7ED343ADF1725EF144D90D4B0E06831DD2E8EB7B4000000000000000050000000
			00000100250000000010000026BBBF949983A6C1C796559D0F2C510CB651D1F7B6AC8DED32A2A0B8
			F2D793A815C6F6B848D69767A215841A42D400AE6DDB5F0B44173A014973321FDD7950DA6179159B
			82E03C9E18A050FF0EA1C967`,
		responsePlain: `FE534D4240000100000000000900010001000000000000000500000000000000FFFE000001000000
			25000000001000000000000000000000000000000000000011000000170000000000000000000000`,
	},
}

func TestTransformVectors(t *testing.T) {
	for _, v := range transformVectors {
		t.Run(v.name, func(t *testing.T) {
			dec, err := NewDecryptor(v.cipher, unhex(t, v.serverIn))
			if err != nil {
				t.Fatal(err)
			}
			req := unhex(t, v.request)
			sid, err := TransformSessionID(req)
			if err != nil || sid != binary.LittleEndian.Uint64(req[44:]) {
				t.Fatalf("TransformSessionID = %#x, %v", sid, err)
			}
			prefix := []byte("keep")
			got, err := dec.Open(prefix, req)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if want := unhex(t, v.requestPlain); !bytes.Equal(got[4:], want) || string(got[:4]) != "keep" {
				t.Fatalf("Open = %x\nwant      %x", got, want)
			}

			enc, err := NewEncryptor(v.cipher, unhex(t, v.serverOut))
			if err != nil {
				t.Fatal(err)
			}
			resp := unhex(t, v.response)
			var nonce [16]byte
			copy(nonce[:], resp[20:36])
			plain := unhex(t, v.responsePlain)
			// Split the plaintext into pieces the way the server hands
			// over header, body and data.
			sealed, err := enc.(*transformCipher).sealWithNonce(nil, binary.LittleEndian.Uint64(resp[44:]),
				&nonce, plain[:64], plain[64:70], plain[70:])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sealed, resp) {
				t.Fatalf("Seal = %x\nwant   %x", sealed, resp)
			}
		})
	}
}

var allCiphers = []uint16{CipherAES128CCM, CipherAES128GCM, CipherAES256CCM, CipherAES256GCM}

func cipherKey(c uint16) []byte {
	if c == CipherAES256CCM || c == CipherAES256GCM {
		return bytes.Repeat([]byte{0x5a}, 32)
	}
	return bytes.Repeat([]byte{0xa5}, 16)
}

// TestTransformRoundTripAndTamper seals with every cipher, opens the result,
// and then flips each byte of the transform message in turn: each flip must
// be rejected, with ErrMalformed for framing fields and ErrAuthFailed for
// everything the AEAD covers.
func TestTransformRoundTripAndTamper(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range allCiphers {
		enc, err := NewEncryptor(c, cipherKey(c))
		if err != nil {
			t.Fatal(err)
		}
		dec, err := NewDecryptor(c, cipherKey(c))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 64, 100, 4096 + 7} {
			plain := make([]byte, n)
			fill(rng, plain)
			sealed, err := enc.Seal(nil, 0x1122334455667788, plain[:n/2], nil, plain[n/2:])
			if err != nil {
				t.Fatal(err)
			}
			if len(sealed) != TransformHeaderSize+n {
				t.Fatalf("cipher %d: sealed %d bytes, want %d", c, len(sealed), TransformHeaderSize+n)
			}
			if sid, _ := TransformSessionID(sealed); sid != 0x1122334455667788 {
				t.Fatalf("cipher %d: session id %#x", c, sid)
			}
			nonce := sealed[20:36]
			ns := 11
			if c == CipherAES128GCM || c == CipherAES256GCM {
				ns = 12
			}
			if !bytes.Equal(nonce[ns:], make([]byte, 16-ns)) {
				t.Fatalf("cipher %d: nonce field %x not zero past %d bytes", c, nonce, ns)
			}
			got, err := dec.Open(nil, sealed)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("cipher %d len %d: round trip failed: %v", c, n, err)
			}
			if n > 100 {
				continue // every byte of the short messages is enough
			}
			for i := range sealed {
				bad := append([]byte(nil), sealed...)
				bad[i] ^= 0x01
				out, err := dec.Open([]byte("x"), bad)
				wantErr := ErrAuthFailed
				if i < 4 || (i >= 36 && i < 40) || i == 42 || i == 43 {
					wantErr = ErrMalformed
				}
				if !errors.Is(err, wantErr) || string(out) != "x" {
					t.Fatalf("cipher %d: flipping byte %d: err %v, out %q; want %v and dst unchanged", c, i, err, out, wantErr)
				}
			}
		}
		// A different key must not open it.
		other := cipherKey(c)
		other[0] ^= 1
		dec2, _ := NewDecryptor(c, other)
		sealed, _ := enc.Seal(nil, 1, []byte("hello, world"))
		if _, err := dec2.Open(nil, sealed); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("cipher %d: wrong key: %v", c, err)
		}
	}
}

// TestNonceNeverRepeats checks that consecutive seals use distinct nonces,
// that two Encryptors for one key do not share nonce sequences, and that an
// exhausted counter fails instead of wrapping.
func TestNonceNeverRepeats(t *testing.T) {
	for _, c := range allCiphers {
		e1, _ := NewEncryptor(c, cipherKey(c))
		e2, _ := NewEncryptor(c, cipherKey(c))
		seen := map[string]bool{}
		for i := 0; i < 100; i++ {
			for _, e := range []Encryptor{e1, e2} {
				s, err := e.Seal(nil, 1, []byte("same plaintext"))
				if err != nil {
					t.Fatal(err)
				}
				if k := string(s[20:36]); seen[k] {
					t.Fatalf("cipher %d: nonce %x repeated", c, s[20:36])
				} else {
					seen[k] = true
				}
			}
		}
		tc := e1.(*transformCipher)
		tc.nonces.ctr.Store(tc.nonces.limit - 1)
		if _, err := e1.Seal(nil, 1, []byte("last")); err != nil {
			t.Fatalf("cipher %d: last nonce refused: %v", c, err)
		}
		for i := 0; i < 3; i++ {
			if _, err := e1.Seal(nil, 1, []byte("one too many")); !errors.Is(err, errNoncesExhausted) {
				t.Fatalf("cipher %d: exhausted counter: %v", c, err)
			}
		}
	}
}

func TestTransformSessionIDMalformed(t *testing.T) {
	good, _ := func() ([]byte, error) {
		e, _ := NewEncryptor(CipherAES128GCM, cipherKey(CipherAES128GCM))
		return e.Seal(nil, 7, make([]byte, 80))
	}()
	for name, m := range map[string][]byte{
		"empty":       nil,
		"header only": good[:TransformHeaderSize],
		"short":       good[:TransformHeaderSize+79],
		"long":        append(append([]byte(nil), good...), 0),
		"smb2":        append([]byte{0xFE, 'S', 'M', 'B'}, good[4:]...),
		"flags 0":     func() []byte { b := append([]byte(nil), good...); b[42] = 0; return b }(),
		"flags 2":     func() []byte { b := append([]byte(nil), good...); b[42] = 2; return b }(),
	} {
		if _, err := TransformSessionID(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

func TestCipherConstructorErrors(t *testing.T) {
	if _, err := NewEncryptor(5, make([]byte, 16)); err == nil {
		t.Error("unknown cipher accepted")
	}
	if _, err := NewDecryptor(CipherAES256GCM, make([]byte, 16)); err == nil {
		t.Error("16-byte key accepted for AES-256")
	}
	if _, err := NewEncryptor(CipherAES128CCM, make([]byte, 32)); err == nil {
		t.Error("32-byte key accepted for AES-128")
	}
	e, _ := NewEncryptor(CipherAES128CCM, make([]byte, 16))
	if _, err := e.Seal(nil, 1); err == nil {
		t.Error("empty message sealed")
	}
}

// TestTransformAllocs holds the hot path to its allocation budget: GCM
// allocates nothing when dst has room, CCM only its CTR stream.
func TestTransformAllocs(t *testing.T) {
	plain := make([]byte, 64<<10)
	for _, c := range allCiphers {
		enc, _ := NewEncryptor(c, cipherKey(c))
		dec, _ := NewDecryptor(c, cipherKey(c))
		sealBuf := make([]byte, 0, len(plain)+SealOverhead)
		openBuf := make([]byte, 0, len(plain)+SealOverhead)
		var sealed []byte
		budget := 0.0
		if c == CipherAES128CCM || c == CipherAES256CCM {
			budget = 1
		}
		if a := testing.AllocsPerRun(20, func() { sealed, _ = enc.Seal(sealBuf[:0], 1, plain[:64], plain[64:]) }); a > budget {
			t.Errorf("cipher %d: Seal allocates %v times, budget %v", c, a, budget)
		}
		if a := testing.AllocsPerRun(20, func() {
			if _, err := dec.Open(openBuf[:0], sealed); err != nil {
				t.Fatal(err)
			}
		}); a > budget {
			t.Errorf("cipher %d: Open allocates %v times, budget %v", c, a, budget)
		}
	}
}
