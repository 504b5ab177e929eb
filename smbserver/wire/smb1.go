package wire

import "bytes"

// SMB1 framing constants needed to recognise a multi-protocol negotiate
// ([MS-CIFS] 2.2.3.1, 2.2.4.52.1; [MS-SMB2] 3.3.5.3.1).
const (
	SMB1ProtocolID       uint32 = 0x424D53FF // 0xFF 'S' 'M' 'B'
	smb1HeaderSize              = 32
	smb1CommandNegotiate        = 0x72
	smb1DialectFormat           = 0x02 // BufferFormat of each dialect string
)

// Dialect strings of an SMB1 negotiate that select SMB2 ([MS-SMB2]
// 3.3.5.3.1).
const (
	SMB1DialectSMB2002      = "SMB 2.002"
	SMB1DialectSMB2Wildcard = "SMB 2.???"
)

// IsSMB1Negotiate reports whether frame starts with an SMB1 header whose
// command is NEGOTIATE.
func IsSMB1Negotiate(frame []byte) bool {
	return len(frame) >= smb1HeaderSize && le.Uint32(frame) == SMB1ProtocolID && frame[4] == smb1CommandNegotiate
}

// DecodeSMB1Negotiate decodes an SMB1 SMB_COM_NEGOTIATE request ([MS-CIFS]
// 2.2.4.52.1) and returns its dialect strings in the order offered. Each
// dialect is a 0x02 byte followed by a NUL-terminated OEM string; the
// server only needs to find "SMB 2.002" and "SMB 2.???" among them.
func DecodeSMB1Negotiate(frame []byte) ([]string, error) {
	if !IsSMB1Negotiate(frame) {
		return nil, malformed("not an SMB1 NEGOTIATE")
	}
	p := frame[smb1HeaderSize:]
	if len(p) < 1 {
		return nil, malformed("SMB1 NEGOTIATE without WordCount")
	}
	// WordCount is 0 for NEGOTIATE; skip whatever words are claimed.
	words := 1 + 2*int(p[0])
	if len(p) < words+2 {
		return nil, malformed("SMB1 NEGOTIATE truncated before ByteCount")
	}
	n := int(le.Uint16(p[words:]))
	data := p[words+2:]
	if n > len(data) {
		return nil, malformed("SMB1 ByteCount %d exceeds %d bytes", n, len(data))
	}
	data = data[:n]
	var out []string
	for len(data) > 0 {
		if data[0] != smb1DialectFormat {
			return nil, malformed("SMB1 dialect BufferFormat %#x", data[0])
		}
		end := bytes.IndexByte(data[1:], 0)
		if end < 0 {
			return nil, malformed("SMB1 dialect string not terminated")
		}
		out = append(out, string(data[1:1+end]))
		data = data[2+end:]
	}
	return out, nil
}
