package smbcrypto

import (
	"bytes"
	"testing"
)

// The vectors below are the published examples of the Microsoft Open
// Specifications blog ("Encryption in SMB 3.0: A protocol perspective",
// "SMB 3.1.1 Encryption in Windows 10", "SMB 3.1.1 Pre-authentication
// integrity in Windows 10"). Their "encryption key" is the client's, which
// is the server's ServerIn (decryption) key, and vice versa.

const (
	vec30SessionKey = "B4546771B515F766A86735532DD6C4F0"
	vec30ServerIn   = "261B72350558F2E9DCF613070383EDBF"
	vec30ServerOut  = "8FE2B57EC34D2DB5B1A9727F526BBDB5"

	vec311SessionKey = "419FDDF34C1E001909D362AE7FB6AF79"
	vec311Preauth    = `B23F3CBFD69487D9832B79B1594A367CDD950909B774C3A4C412B4FCEA9EDDDB
		A7DB256BA2EA30E977F11F9B113247578E0E915C6D2A513B8F2FCA5707DC8770`
	vec311ServerIn  = "A2F5E80E5D59103034F32E52F698E5EC"
	vec311ServerOut = "748C50868C90F302962A5C35F5F9A8BF"
)

func TestDeriveKeys30(t *testing.T) {
	for _, d := range []uint16{dialect300, dialect302} {
		k := DeriveKeys(d, unhex(t, vec30SessionKey), nil, CipherAES128GCM)
		if want := unhex(t, vec30ServerIn); !bytes.Equal(k.ServerIn, want) {
			t.Errorf("dialect %#x ServerIn = %x, want %x", d, k.ServerIn, want)
		}
		if want := unhex(t, vec30ServerOut); !bytes.Equal(k.ServerOut, want) {
			t.Errorf("dialect %#x ServerOut = %x, want %x", d, k.ServerOut, want)
		}
		// No published vector for these two; check they follow the KDF
		// with the spec's labels and differ from each other.
		sk := unhex(t, vec30SessionKey)
		if want := KDF(sk, []byte("SMB2AESCMAC\x00"), []byte("SmbSign\x00"), 128); !bytes.Equal(k.Signing, want) {
			t.Errorf("Signing = %x, want %x", k.Signing, want)
		}
		if want := KDF(sk, []byte("SMB2APP\x00"), []byte("SmbRpc\x00"), 128); !bytes.Equal(k.Application, want) {
			t.Errorf("Application = %x, want %x", k.Application, want)
		}
	}
}

func TestDeriveKeys311(t *testing.T) {
	pre := unhex(t, vec311Preauth)
	k := DeriveKeys(dialect311, unhex(t, vec311SessionKey), pre, CipherAES128GCM)
	if want := unhex(t, vec311ServerIn); !bytes.Equal(k.ServerIn, want) {
		t.Errorf("ServerIn = %x, want %x", k.ServerIn, want)
	}
	if want := unhex(t, vec311ServerOut); !bytes.Equal(k.ServerOut, want) {
		t.Errorf("ServerOut = %x, want %x", k.ServerOut, want)
	}
	if len(k.Signing) != 16 || len(k.Application) != 16 || bytes.Equal(k.Signing, k.Application) {
		t.Errorf("Signing %x / Application %x: want two distinct 16-byte keys", k.Signing, k.Application)
	}
}

// TestDeriveKeys311AES256 checks the 256-bit variant: cipher keys are 32
// bytes derived with L = 256 (so not an extension of the 128-bit key),
// signing stays 16 bytes, and a session key longer than 16 bytes is used
// whole.
func TestDeriveKeys311AES256(t *testing.T) {
	pre := unhex(t, vec311Preauth)
	sk := unhex(t, vec311SessionKey)
	k128 := DeriveKeys(dialect311, sk, pre, CipherAES128CCM)
	for _, c := range []uint16{CipherAES256CCM, CipherAES256GCM} {
		k := DeriveKeys(dialect311, sk, pre, c)
		if len(k.ServerIn) != 32 || len(k.ServerOut) != 32 || len(k.Signing) != 16 {
			t.Fatalf("cipher %d: key lengths %d/%d/%d", c, len(k.ServerIn), len(k.ServerOut), len(k.Signing))
		}
		if bytes.Equal(k.ServerIn[:16], k128.ServerIn) {
			t.Errorf("cipher %d: 256-bit key extends the 128-bit one; L must be in the KDF input", c)
		}
		if want := KDF(sk, []byte("SMBC2SCipherKey\x00"), pre, 256); !bytes.Equal(k.ServerIn, want) {
			t.Errorf("cipher %d: ServerIn = %x, want %x", c, k.ServerIn, want)
		}
		if !bytes.Equal(k.Signing, k128.Signing) {
			t.Errorf("cipher %d: signing key depends on the cipher", c)
		}
	}
	long := append(append([]byte(nil), sk...), 0xAA, 0xBB, 0xCC, 0xDD, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
	if a, b := DeriveKeys(dialect311, long, pre, CipherAES256GCM), DeriveKeys(dialect311, sk, pre, CipherAES256GCM); bytes.Equal(a.ServerIn, b.ServerIn) {
		t.Error("AES-256 derivation ignored the bytes of the session key past 16")
	}
	if a := DeriveKeys(dialect311, long, pre, CipherAES128GCM); !bytes.Equal(a.ServerIn, k128.ServerIn) {
		t.Error("AES-128 derivation used more than 16 bytes of the session key")
	}
	// Signing and application keys come from Session.SessionKey, the
	// first 16 bytes, whatever the cipher (a Kerberos AES-256 key is 32).
	if a := DeriveKeys(dialect311, long, pre, CipherAES256GCM); !bytes.Equal(a.Signing, k128.Signing) || !bytes.Equal(a.Application, k128.Application) {
		t.Error("AES-256 signing or application key used more than 16 bytes of the session key")
	}
}

func TestDeriveKeys2x(t *testing.T) {
	for _, d := range []uint16{dialect202, 0x0210} {
		long := unhex(t, "00112233445566778899AABBCCDDEEFF0102")
		if k := DeriveKeys(d, long, nil, 0); !bytes.Equal(k.Signing, long[:16]) || k.ServerIn != nil || k.ServerOut != nil {
			t.Errorf("dialect %#x: keys %+v, want signing = first 16 bytes of the session key only", d, k)
		}
		if k := DeriveKeys(d, []byte{1, 2, 3}, nil, 0); !bytes.Equal(k.Signing, append([]byte{1, 2, 3}, make([]byte, 13)...)) {
			t.Errorf("dialect %#x: short key not zero-padded: %x", d, k.Signing)
		}
	}
}

// TestKDFLength checks multi-block output and that L is part of the input.
func TestKDFLength(t *testing.T) {
	k := []byte("key")
	a, b := KDF(k, []byte("l"), []byte("c"), 512), KDF(k, []byte("l"), []byte("c"), 256)
	if len(a) != 64 || len(b) != 32 || bytes.Equal(a[:32], b) {
		t.Fatalf("KDF lengths %d/%d or L missing from input", len(a), len(b))
	}
	if KDF(k, nil, nil, 0) != nil || KDF(k, nil, nil, 12) != nil {
		t.Fatal("KDF accepted a length that is not a positive multiple of 8")
	}
}

// TestPreauthHashVector replays the message exchange of the "SMB 3.1.1
// Pre-authentication integrity in Windows 10" example and checks every
// intermediate hash and the resulting signing key.
func TestPreauthHashVector(t *testing.T) {
	steps := []struct{ msg, hash string }{
		{`FE534D4240000100000000000000800000000000000000000100000000000000FFFE000000000000
		00000000000000000000000000000000000000000000000024000500000000003F000000ECD86F32
		6276024F9F7752B89BB33F3A70000000020000000202100200030203110300000100260000000000
		010020000100FA49E6578F1F3A9F4CD3E9CC14A67AA884B3D05844E0E5A118225C15887F32FF0000
		0200060000000000020002000100`,
			`DD94EFC5321BB618A2E208BA8920D2F422992526947A409B5037DE1E0FE8C7362B8C47122594CDE0
		CE26AA9DFC8BCDBDE0621957672623351A7540F1E54A0426`},
		{`FE534D4240000100000000000000010001000000000000000100000000000000FFFE000000000000
		000000000000000000000000000000000000000000000000410001001103020039CBCAF329714942
		BDCE5D60F09AB3FB2F000000000080000000800000008000D8DAE5ADCBAED00109094AB095AED001
		80004001C00100006082013C06062B0601050502A08201303082012CA01A3018060A2B0601040182
		3702021E060A2B06010401823702020AA282010C048201084E45474F455854530100000000000000
		60000000700000007C7CC0FD06D6362D02DDE1CF343BFE292900F49750B4AA97934D9C4296B26E51
		FD370471B235E15A50DAE15BD5489C87000000000000000060000000010000000000000000000000
		5C33530DEAF90D4DB2EC4AE3786EC3084E45474F4558545303000000010000004000000098000000
		7C7CC0FD06D6362D02DDE1CF343BFE295C33530DEAF90D4DB2EC4AE3786EC3084000000058000000
		3056A05430523027802530233121301F06035504031318546F6B656E205369676E696E6720507562
		6C6963204B65793027802530233121301F06035504031318546F6B656E205369676E696E67205075
		626C6963204B6579010026000000000001002000010060A3C3B95C3C7CCD51EC536648D9B3AC74C4
		83CA5B65385A251117BEB30712E50000020004000000000001000200`,
			`324BFA92A4F3A190E466EBEA08D9C110DC88BFED758D9846ECC6F541CC1D02AE3C94A79F36011E99
		7E13F841B91B50957AD07B19C8E2539C0B23FDAE09D2C513`},
		{`FE534D4240000100000000000100800000000000000000000200000000000000FFFE000000000000
		00000000000000000000000000000000000000000000000019000001010000000000000058004A00
		0000000000000000604806062B0601050502A03E303CA00E300C060A2B06010401823702020AA22A
		04284E544C4D5353500001000000978208E200000000000000000000000000000000060380250000
		000F`,
			`AC0B0F2B9986257700365E416D142A6EDC96DF03594A19E52A15F6BD0D041CD5D432F8ED42C55E33
		197A50C9EC00F1462B50C592211B1471A04B56088FDFD5F9`},
		{`FE534D4240000100160000C00100010001000000000000000200000000000000FFFE000000000000
		190000000010000000000000000000000000000000000000090000004800B300A181B03081ADA003
		0A0101A10C060A2B06010401823702020AA281970481944E544C4D53535000020000000C000C0038
		00000015828AE20D1D8BA31179D008000000000000000050005000440000000A0092270000000F53
		005500540033003100310002000C0053005500540033003100310001000C00530055005400330031
		00310004000C0053005500540033003100310003000C0053005500540033003100310007000800A1
		A1F5ADCBAED00100000000`,
			`2729E3440DFDDD839E37193F6E8F20C20CEFB3469E453A70CD980EEC06B8835740A7376008563336
		4C8989895ECE81BF102DEEB14D4B7D48AFA76901A7A38387`},
		{`FE534D4240000100000000000100800000000000000000000300000000000000FFFE000000000000
		1900000000100000000000000000000000000000000000001900000101000000000000005800CF01
		0000000000000000A18201CB308201C7A0030A0101A28201AA048201A64E544C4D53535000030000
		001800180090000000EE00EE00A80000000C000C00580000001A001A0064000000120012007E0000
		001000100096010000158288E2060380250000000FECAC77A5F385A8BF9C38C706EEEDDCD3530055
		005400330031003100610064006D0069006E006900730074007200610074006F0072004400520049
		0056004500520033003100310000000000000000000000000000000000000000000000000063078E
		B639FE03E20A231C3AE3BF23080101000000000000A1A1F5ADCBAED001BC4AD05F223CC90F000000
		0002000C0053005500540033003100310001000C0053005500540033003100310004000C00530055
		00540033003100310003000C0053005500540033003100310007000800A1A1F5ADCBAED001060004
		00020000000800300030000000000000000000000000300000B61FEFCAA857EA57BF1EDCEBF8974B
		8E0EBA5A6DFD9D07A31D11B548F8C9D0CC0A00100000000000000000000000000000000000090016
		0063006900660073002F005300550054003300310031000000000000000000000000003B9BDFF38F
		5EE8F9663F11A0F4C03A78A31204100100000063775A9A5FD97F0600000000`,
			`0DD13628CC3ED218EF9DF9772D436D0887AB9814BFAE63A80AA845F36909DB7928622DDDAD522D97
		51640A459762C5A9D6BB084CBB3CE6BDADEF5D5BCE3C6C01`},
	}
	var h PreauthHash
	for i, s := range steps {
		h.Update(unhex(t, s.msg))
		if want := unhex(t, s.hash); !bytes.Equal(h[:], want) {
			t.Fatalf("step %d: hash %x, want %x", i+1, h[:], want)
		}
	}
	k := DeriveKeys(dialect311, unhex(t, "270E1BA896585EEB7AF3472D3B4C75A7"), h[:], CipherAES128GCM)
	if want := unhex(t, "73FE7A9A77BEF0BDE49C650D8CCB5F76"); !bytes.Equal(k.Signing, want) {
		t.Fatalf("signing key %x, want %x", k.Signing, want)
	}
}
