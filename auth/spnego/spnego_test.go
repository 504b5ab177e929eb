package spnego

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Tokens captured from real SMB sessions (public packet captures).
const (
	// capServerInit is the NEGOTIATE response SecurityBuffer of Samba and
	// Windows: NegTokenInit2 offering NTLMSSP with the negHints hintName.
	capServerInit = `604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa32a3028a0261b246e6f745f
		646566696e65645f696e5f5246433431373840706c656173655f69676e6f7265`
	// capClientInit is a Windows client's first SESSION_SETUP: GSS header,
	// NegTokenInit with NTLMSSP and an NTLM NEGOTIATE_MESSAGE.
	capClientInit = `604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa22a04284e544c4d5353500001
		000000978208e2000000000000000000000000000000000a00ab3f0000000f`
	// capBareInit is the same NegTokenInit without the GSS header.
	capBareInit = `a03e303ca00e300c060a2b06010401823702020aa22a04284e544c4d5353500001000000978208e200000000
		0000000000000000000000000a00d73a0000000f`
	// capClientAuth is a Windows client's second leg: NegTokenResp with
	// no negState, the AUTHENTICATE_MESSAGE, and a mechListMIC.
	capClientAuth = `a18201f8308201f4a28201dc048201d84e544c4d535350000300000018001800580000003c013c0170000000
		0a000a00ac01000008000800b60100000a000a00be01000010001000c801000015820862060100000000000f869e
		dfa10f0714da527caa5da9caf5af000000000000000000000000000000000000000000000000f8e5942603c06bdd
		99642fb0413c97cc0101000000000000c4dc356c911ad70169f6d67314e243590000000002001e00560041004700
		520041004e0054002d004e0038003900430031004600330001001e00560041004700520041004e0054002d004e00
		38003900430031004600330004001e00560041004700520041004e0054002d004e00380039004300310046003300
		03001e00560041004700520041004e0054002d004e0038003900430031004600330007000800c4dc356c911ad701
		06000400020000000800300030000000000000000000000000000000b756d72e9ea5efcd0c3499af097b9a458e41
		5a2100bf8f22c2ef4002c2f4a4770a001000000000000000000000000000000000000900240063006900660073002f
		003100370032002e00320032002e00320032002e0031003200380000000000530041004d00420041007500730065
		00720045003500350037003000025c542d1920ccaa153d4376c65949e5a3120410010000004ea6d81de60bbda700000000`
	// capAnonAuth is an anonymous second leg: NegTokenResp with only the
	// responseToken.
	capAnonAuth = `a16e306ca26a04684e544c4d535350000300000000000000580000000000000058000000000000005800000000
		0000005800000000000000580000001000100058000000158a0062060100000000000f7d521c9e7262eaf2763a33
		721990755673fcdfd4e99f1b5786975ef2cd9c8282`
	// capServerDone is a server's final reply: accept-completed and its
	// mechListMIC.
	capServerDone = "a11b3019a0030a0100a3120410010000006b65125a00bb9ab400000000"
	// capServerChallenge is a server's first reply: accept-incomplete,
	// supportedMech NTLMSSP and a CHALLENGE_MESSAGE.
	capServerChallenge = `a181ce3081cba0030a0101a10c060a2b06010401823702020aa281b50481b24e544c4d53535000020000000800
		080038000000158289e2a7314a557bdb11bf000000000000000072007200400000000a0063450000000f5400450053
		00540002000800540045005300540001001200570049004e003200300031003900410044000400120074006500730
		074002e0063006f007200700003002600570049004e003200300031003900410044002e0074006500730074002e00
		63006f007200700007000800aec600bfc5fdd40100000000`
	// capNegoExInit is a Windows NegTokenInit2 offering NEGOEX then NTLM,
	// with a mechToken and negHints in field [3].
	capNegoExInit = `6082015d06062b0601050502a08201513082014da01a3018060a2b06010401823702021e060a2b060104018237
		02020aa28201010481fe4e45474f4558545301000000000000006000000070000000cffa11765e12599a347d7668
		52bfce7097458710bb8242b4c7dfbad2da897aa311a7d868463430952562dc13c554f20100000000000000006000
		00000100000000000000000000005c33530deaf90d4db2ec4ae3786ec3084e45474f455854530300000001000000
		400000008e000000cffa11765e12599a347d766852bfce705c33530deaf90d4db2ec4ae3786ec308400000004e00
		0000304ca04a3048302a80283026312430220603550403131b584d4c50726f766964657220496e7465726d656469
		617465204341301a80183016311430120603550403130b584d4c50726f7669646572a32a3028a0261b246e6f745f
		646566696e65645f696e5f5246433431373840706c656173655f69676e6f7265`
)

// ntlmMechTypesDER is the MechTypeList [NTLMSSP] as clients send it.
const ntlmMechTypesDER = "300c060a2b06010401823702020a"

func TestInitialTokenMatchesCapture(t *testing.T) {
	if got, want := InitialToken(OIDNTLMSSP), unhex(t, capServerInit); !bytes.Equal(got, want) {
		t.Fatalf("InitialToken =\n%x\nwant\n%x", got, want)
	}
	if !bytes.Equal(InitialToken(), InitialToken(OIDNTLMSSP)) {
		t.Error("InitialToken() does not default to NTLMSSP")
	}
	// The server's own hint decodes as a NegTokenInit listing its mechs.
	tok, err := Decode(InitialToken(OIDMSKerberos5, OIDKerberos5, OIDNTLMSSP))
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Init || len(tok.MechTypes) != 3 || !tok.MechTypes[0].Equal(OIDMSKerberos5) ||
		!tok.MechTypes[1].Equal(OIDKerberos5) || !tok.MechTypes[2].Equal(OIDNTLMSSP) {
		t.Errorf("decoded hint = %+v", tok)
	}
	if tok.MechListMIC != nil || tok.MechToken != nil {
		t.Error("negHints mistaken for mechListMIC or mechToken")
	}
}

func TestEncodeRespMatchesCapture(t *testing.T) {
	mic := unhex(t, "010000006b65125a00bb9ab400000000")
	if got, want := EncodeResp(AcceptCompleted, nil, nil, mic), unhex(t, capServerDone); !bytes.Equal(got, want) {
		t.Errorf("accept-completed =\n%x\nwant\n%x", got, want)
	}
	want := unhex(t, capServerChallenge)
	challenge := want[len(want)-0xb2:]
	if got := EncodeResp(AcceptIncomplete, OIDNTLMSSP, challenge, nil); !bytes.Equal(got, want) {
		t.Errorf("accept-incomplete =\n%x\nwant\n%x", got, want)
	}
	if got, want := EncodeResp(Reject, nil, nil, nil), []byte{0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x02}; !bytes.Equal(got, want) {
		t.Errorf("reject = %x, want %x", got, want)
	}
}

func TestDecodeCaptures(t *testing.T) {
	ntlm := OIDNTLMSSP
	for _, tc := range []struct {
		name                    string
		hex                     string
		init                    bool
		mechs                   []asn1.ObjectIdentifier
		mechTypesDER            string
		tokenPrefix, tokenLen   int
		mic                     string
		state                   NegState
		supported               asn1.ObjectIdentifier
		tokenStartsWithNTLMType byte
	}{
		{name: "gss init", hex: capClientInit, init: true, mechs: []asn1.ObjectIdentifier{ntlm},
			mechTypesDER: ntlmMechTypesDER, tokenLen: 40, state: NegStateAbsent, tokenStartsWithNTLMType: 1},
		{name: "bare init", hex: capBareInit, init: true, mechs: []asn1.ObjectIdentifier{ntlm},
			mechTypesDER: ntlmMechTypesDER, tokenLen: 40, state: NegStateAbsent, tokenStartsWithNTLMType: 1},
		{name: "auth with mic", hex: capClientAuth, tokenLen: 0x1d8, mic: "010000004ea6d81de60bbda700000000",
			state: NegStateAbsent, tokenStartsWithNTLMType: 3},
		{name: "anonymous auth", hex: capAnonAuth, tokenLen: 0x68, state: NegStateAbsent, tokenStartsWithNTLMType: 3},
		{name: "server challenge", hex: capServerChallenge, tokenLen: 0xb2, state: AcceptIncomplete,
			supported: ntlm, tokenStartsWithNTLMType: 2},
		{name: "server done", hex: capServerDone, mic: "010000006b65125a00bb9ab400000000", state: AcceptCompleted},
		{name: "negoex init", hex: capNegoExInit, init: true,
			mechs:        []asn1.ObjectIdentifier{{1, 3, 6, 1, 4, 1, 311, 2, 2, 30}, ntlm},
			mechTypesDER: "3018060a2b06010401823702021e060a2b06010401823702020a", tokenLen: 0xfe, state: NegStateAbsent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Decode(unhex(t, tc.hex))
			if err != nil {
				t.Fatal(err)
			}
			if tok.Init != tc.init || tok.Raw {
				t.Errorf("Init=%v Raw=%v", tok.Init, tok.Raw)
			}
			if len(tok.MechTypes) != len(tc.mechs) {
				t.Fatalf("MechTypes = %v, want %v", tok.MechTypes, tc.mechs)
			}
			for i := range tc.mechs {
				if !tok.MechTypes[i].Equal(tc.mechs[i]) {
					t.Errorf("MechTypes[%d] = %v, want %v", i, tok.MechTypes[i], tc.mechs[i])
				}
			}
			if got := hex.EncodeToString(tok.MechTypesDER); got != tc.mechTypesDER {
				t.Errorf("MechTypesDER = %s, want %s", got, tc.mechTypesDER)
			}
			if len(tok.MechToken) != tc.tokenLen {
				t.Errorf("MechToken is %d bytes, want %d", len(tok.MechToken), tc.tokenLen)
			}
			if tc.tokenStartsWithNTLMType != 0 &&
				(!bytes.HasPrefix(tok.MechToken, []byte("NTLMSSP\x00")) || tok.MechToken[8] != tc.tokenStartsWithNTLMType) {
				t.Errorf("MechToken does not hold NTLM message type %d: %x", tc.tokenStartsWithNTLMType, tok.MechToken[:min(12, len(tok.MechToken))])
			}
			if got := hex.EncodeToString(tok.MechListMIC); got != tc.mic {
				t.Errorf("MechListMIC = %s, want %s", got, tc.mic)
			}
			if tok.NegState != tc.state {
				t.Errorf("NegState = %v, want %v", tok.NegState, tc.state)
			}
			if (tc.supported == nil) != (tok.SupportedMech == nil) || tc.supported != nil && !tok.SupportedMech.Equal(tc.supported) {
				t.Errorf("SupportedMech = %v, want %v", tok.SupportedMech, tc.supported)
			}
		})
	}
}

func TestDecodeCopies(t *testing.T) {
	b := unhex(t, capClientAuth)
	tok, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	mic, token := bytes.Clone(tok.MechListMIC), bytes.Clone(tok.MechToken)
	clear(b)
	if !bytes.Equal(mic, tok.MechListMIC) || !bytes.Equal(token, tok.MechToken) {
		t.Error("Token aliases the input buffer")
	}
}

func TestDecodeRawNTLM(t *testing.T) {
	raw := unhex(t, "4e544c4d5353500001000000978208e2000000000000000000000000000000000a00ab3f0000000f")
	tok, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Raw || tok.Init || !bytes.Equal(tok.MechToken, raw) {
		t.Errorf("raw NTLMSSP decoded as %+v", tok)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		state    NegState
		mech     asn1.ObjectIdentifier
		tok, mic []byte
	}{
		{AcceptIncomplete, OIDNTLMSSP, bytes.Repeat([]byte{0xab}, 300), nil},
		{AcceptCompleted, nil, nil, bytes.Repeat([]byte{1}, 16)},
		{RequestMIC, OIDKerberos5, []byte{}, []byte{}},
		{Reject, nil, nil, nil},
		{NegStateAbsent, nil, []byte("NTLMSSP\x00"), bytes.Repeat([]byte{3}, 16)},
		{AcceptIncomplete, nil, bytes.Repeat([]byte{7}, 70000), nil}, // 3-byte length
	} {
		b := EncodeResp(tc.state, tc.mech, tc.tok, tc.mic)
		got, err := Decode(b)
		if len(b) > maxToken {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("oversized token: err = %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Decode(EncodeResp(%v)): %v", tc.state, err)
		}
		if got.Init || got.NegState != tc.state || !bytes.Equal(got.MechToken, tc.tok) || !bytes.Equal(got.MechListMIC, tc.mic) ||
			(tc.mech == nil) != (got.SupportedMech == nil) || tc.mech != nil && !got.SupportedMech.Equal(tc.mech) {
			t.Errorf("round trip of %v gave %+v", tc.state, got)
		}
		if (tc.tok != nil) != (got.MechToken != nil) {
			t.Errorf("%v: responseToken presence not preserved", tc.state)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	for name, h := range map[string]string{
		"empty":                 "",
		"one byte":              "a0",
		"indefinite length":     "a0803000",
		"length past end":       "a1093007a0030a0101",
		"untagged field":        "a10530030a0101",
		"trailing bytes":        "a1073005a0030a010000",
		"5 length octets":       "a1850000000005",
		"high tag":              "bf01",
		"unknown choice":        "a2023000",
		"gss not spnego":        "600d06092a864886f71201020201",
		"gss resp inside":       "600da10b300906062b0601050502",
		"init without mechs":    "a0063004a2020400",
		"mechTypes not oids":    "a0083006a0043002 0400",
		"empty oid":             "a0083006a00430020600",
		"oid subid too long":    "a00d300ba009300706058fffffff7f",
		"oid unterminated":      "a00a3008a006300406022b86",
		"negState too big":      "a1073005a0030a0104",
		"negState long":         "a1083006a0040a020001",
		"negState wrong type":   "a1073005a0030201 01",
		"token not octets":      "a1083006a2043002 0400",
		"duplicate field":       "a10e300ca0030a0100a0030a0100 0000",
		"two mics":              "a01e301ca00e300c060a2b06010401823702020aa3020400a4020400",
		"mechListMIC truncated": "a1073005a3030402ff",
	} {
		if _, err := Decode(unhex(t, h)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := Decode(make([]byte, maxToken+1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized: err = %v", err)
	}
}

func TestMechTypesCap(t *testing.T) {
	var list []byte
	for range maxMechTypes + 1 {
		list = append(list, oidTLV(OIDNTLMSSP)...)
	}
	b := appendTLV(nil, tagCtx0, appendTLV(nil, tagSequence, appendTLV(nil, tagCtx0, appendTLV(nil, tagSequence, list))))
	if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("%d mechTypes: err = %v", maxMechTypes+1, err)
	}
}

func TestOIDEncoding(t *testing.T) {
	for _, oid := range []asn1.ObjectIdentifier{OIDSPNEGO, OIDNTLMSSP, OIDKerberos5, OIDMSKerberos5, {2, 999, 3}} {
		want, err := asn1.Marshal(oid)
		if err != nil {
			t.Fatal(err)
		}
		if got := oidTLV(oid); !bytes.Equal(got, want) {
			t.Errorf("oidTLV(%v) = %x, want %x", oid, got, want)
		}
		back, err := parseOID(want[2:])
		if err != nil || !back.Equal(oid) {
			t.Errorf("parseOID(%x) = %v, %v", want[2:], back, err)
		}
	}
}
