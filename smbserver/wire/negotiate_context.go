package wire

// PreauthIntegrity is SMB2_PREAUTH_INTEGRITY_CAPABILITIES ([MS-SMB2]
// 2.2.3.1.1).
type PreauthIntegrity struct {
	HashAlgorithms []uint16
	Salt           []byte
}

// DecodePreauthIntegrity decodes the Data of a preauth integrity context.
func DecodePreauthIntegrity(d []byte) (PreauthIntegrity, error) {
	var p PreauthIntegrity
	if len(d) < 4 {
		return p, malformed("preauth integrity context of %d bytes", len(d))
	}
	n, saltLen := int(le.Uint16(d)), int(le.Uint16(d[2:]))
	if 4+2*n+saltLen > len(d) {
		return p, malformed("preauth integrity: %d hashes and %d salt bytes exceed %d", n, saltLen, len(d))
	}
	p.HashAlgorithms = decodeU16s(d[4:], n)
	p.Salt = d[4+2*n : 4+2*n+saltLen : 4+2*n+saltLen]
	return p, nil
}

// EncodePreauthIntegrity encodes p as context Data.
func EncodePreauthIntegrity(p PreauthIntegrity) []byte {
	b := make([]byte, 0, 4+2*len(p.HashAlgorithms)+len(p.Salt))
	b = appendU16(b, uint16(len(p.HashAlgorithms)))
	b = appendU16(b, uint16(len(p.Salt)))
	b = appendU16s(b, p.HashAlgorithms)
	return append(b, p.Salt...)
}

// EncryptionCapabilities is SMB2_ENCRYPTION_CAPABILITIES ([MS-SMB2]
// 2.2.3.1.2).
type EncryptionCapabilities struct {
	Ciphers []uint16
}

// DecodeEncryptionCapabilities decodes the Data of an encryption context.
func DecodeEncryptionCapabilities(d []byte) (EncryptionCapabilities, error) {
	ids, err := decodeCountedU16s(d, "encryption capabilities")
	return EncryptionCapabilities{Ciphers: ids}, err
}

// EncodeEncryptionCapabilities encodes e as context Data.
func EncodeEncryptionCapabilities(e EncryptionCapabilities) []byte {
	return appendCountedU16s(nil, e.Ciphers)
}

// SigningCapabilities is SMB2_SIGNING_CAPABILITIES ([MS-SMB2] 2.2.3.1.7).
type SigningCapabilities struct {
	SigningAlgorithms []uint16
}

// DecodeSigningCapabilities decodes the Data of a signing context.
func DecodeSigningCapabilities(d []byte) (SigningCapabilities, error) {
	ids, err := decodeCountedU16s(d, "signing capabilities")
	return SigningCapabilities{SigningAlgorithms: ids}, err
}

// EncodeSigningCapabilities encodes s as context Data.
func EncodeSigningCapabilities(s SigningCapabilities) []byte {
	return appendCountedU16s(nil, s.SigningAlgorithms)
}

// CompressionCapabilities is SMB2_COMPRESSION_CAPABILITIES ([MS-SMB2]
// 2.2.3.1.3). sofs does not compress, so only a decoder exists.
type CompressionCapabilities struct {
	Flags                 uint32
	CompressionAlgorithms []uint16
}

// DecodeCompressionCapabilities decodes the Data of a compression context.
func DecodeCompressionCapabilities(d []byte) (CompressionCapabilities, error) {
	var c CompressionCapabilities
	if len(d) < 8 {
		return c, malformed("compression context of %d bytes", len(d))
	}
	n := int(le.Uint16(d))
	c.Flags = le.Uint32(d[4:])
	if 8+2*n > len(d) {
		return c, malformed("compression context: %d algorithms exceed %d bytes", n, len(d))
	}
	c.CompressionAlgorithms = decodeU16s(d[8:], n)
	return c, nil
}

// DecodeNetname decodes SMB2_NETNAME_NEGOTIATE_CONTEXT_ID ([MS-SMB2]
// 2.2.3.1.4): the server name the client connected to, in UTF-16.
func DecodeNetname(d []byte) (string, error) {
	// Some clients include a terminating NUL; it is not part of the name.
	if len(d) >= 2 && d[len(d)-1] == 0 && d[len(d)-2] == 0 {
		d = d[:len(d)-2]
	}
	return decodeUTF16(d)
}

// TransportCapabilities is SMB2_TRANSPORT_CAPABILITIES ([MS-SMB2]
// 2.2.3.1.5).
type TransportCapabilities struct {
	Flags uint32
}

// DecodeTransportCapabilities decodes the Data of a transport context.
func DecodeTransportCapabilities(d []byte) (TransportCapabilities, error) {
	if len(d) < 4 {
		return TransportCapabilities{}, malformed("transport context of %d bytes", len(d))
	}
	return TransportCapabilities{Flags: le.Uint32(d)}, nil
}

// EncodeTransportCapabilities encodes t as context Data.
func EncodeTransportCapabilities(t TransportCapabilities) []byte {
	return appendU32(nil, t.Flags)
}

// RDMATransformCapabilities is SMB2_RDMA_TRANSFORM_CAPABILITIES ([MS-SMB2]
// 2.2.3.1.6). sofs has no RDMA transport, so only a decoder exists.
type RDMATransformCapabilities struct {
	TransformIDs []uint16
}

// DecodeRDMATransformCapabilities decodes the Data of an RDMA transform
// context.
func DecodeRDMATransformCapabilities(d []byte) (RDMATransformCapabilities, error) {
	var c RDMATransformCapabilities
	if len(d) < 8 {
		return c, malformed("RDMA transform context of %d bytes", len(d))
	}
	n := int(le.Uint16(d))
	if 8+2*n > len(d) {
		return c, malformed("RDMA transform context: %d ids exceed %d bytes", n, len(d))
	}
	c.TransformIDs = decodeU16s(d[8:], n)
	return c, nil
}

// decodeCountedU16s decodes a 2-byte count followed by that many uint16s.
func decodeCountedU16s(d []byte, what string) ([]uint16, error) {
	if len(d) < 2 {
		return nil, malformed("%s context of %d bytes", what, len(d))
	}
	n := int(le.Uint16(d))
	if 2+2*n > len(d) {
		return nil, malformed("%s: %d ids exceed %d bytes", what, n, len(d))
	}
	return decodeU16s(d[2:], n), nil
}

func appendCountedU16s(b []byte, v []uint16) []byte {
	b = appendU16(b, uint16(len(v)))
	return appendU16s(b, v)
}

// decodeU16s decodes n uint16s; the caller has checked len(b) >= 2n.
func decodeU16s(b []byte, n int) []uint16 {
	out := make([]uint16, n)
	for i := range out {
		out[i] = le.Uint16(b[2*i:])
	}
	return out
}

func appendU16s(b []byte, v []uint16) []byte {
	for _, x := range v {
		b = appendU16(b, x)
	}
	return b
}
