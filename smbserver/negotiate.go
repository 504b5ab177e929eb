package smbserver

import (
	"time"

	"sofs.io/sofs/auth/spnego"
	"sofs.io/sofs/smbserver/smbcrypto"
	"sofs.io/sofs/smbserver/wire"
)

// Cipher and signing preference, fastest first: AES-GCM runs about five
// times faster than CCM on AES-NI hardware, GMAC ten times faster than CMAC
// (measured in DEPS.md).
var (
	cipherPreference  = []uint16{smbcrypto.CipherAES128GCM, smbcrypto.CipherAES256GCM, smbcrypto.CipherAES128CCM, smbcrypto.CipherAES256CCM}
	signingPreference = []uint16{smbcrypto.SigningAESGMAC, smbcrypto.SigningAESCMAC, smbcrypto.SigningHMACSHA256}
)

// smb2MaxIO2002 is the largest READ/WRITE/transact of SMB 2.0.2, which
// has no multi-credit requests ([MS-SMB2] 3.3.5.4).
const smb2MaxIO2002 = 64 << 10

// handleNegotiate implements [MS-SMB2] 3.3.5.4.
func (c *conn) handleNegotiate(r *request) wire.Status {
	if c.negotiated {
		// A second NEGOTIATE on a connection is a protocol error; the
		// spec has the server disconnect.
		c.cancel()
		return wire.StatusInvalidParameter
	}
	var req wire.NegotiateRequest
	if err := req.Decode(r.msg); err != nil {
		return wire.StatusInvalidParameter
	}
	if r.hdr.Flags&wire.FlagSigned != 0 {
		// [MS-SMB2] 3.3.5.2.4: a signed NEGOTIATE is invalid.
		return wire.StatusInvalidParameter
	}
	if len(req.Dialects) == 0 {
		return wire.StatusInvalidParameter
	}
	dialect := uint16(0)
	for _, d := range req.Dialects {
		if d >= c.srv.cfg.MinDialect && d <= c.srv.cfg.MaxDialect && isKnownDialect(d) && d > dialect {
			dialect = d
		}
	}
	if dialect == 0 {
		return wire.StatusNotSupported
	}
	resp := wire.NegotiateResponse{
		SecurityMode:    wire.NegotiateSigningEnabled,
		DialectRevision: dialect,
		ServerGUID:      c.srv.cfg.ServerGUID,
		MaxTransactSize: c.srv.cfg.MaxTransactSize,
		MaxReadSize:     c.srv.cfg.MaxReadSize,
		MaxWriteSize:    c.srv.cfg.MaxWriteSize,
		SystemTime:      fileTime(time.Now()),
		ServerStartTime: 0,
		SecurityBuffer:  spnego.InitialToken(spnego.OIDNTLMSSP),
	}
	if c.srv.cfg.RequireSigning {
		resp.SecurityMode |= wire.NegotiateSigningRequired
	}
	if dialect == Dialect202 {
		resp.MaxTransactSize = min(resp.MaxTransactSize, smb2MaxIO2002)
		resp.MaxReadSize = min(resp.MaxReadSize, smb2MaxIO2002)
		resp.MaxWriteSize = min(resp.MaxWriteSize, smb2MaxIO2002)
	} else {
		resp.Capabilities |= wire.GlobalCapLargeMTU
	}
	if dialect >= Dialect300 && dialect < Dialect311 && req.Capabilities&wire.GlobalCapEncryption != 0 {
		resp.Capabilities |= wire.GlobalCapEncryption
		c.cipher = smbcrypto.CipherAES128CCM
	}
	if dialect >= Dialect300 {
		c.signingAlg = smbcrypto.SigningAESCMAC
	} else {
		c.signingAlg = smbcrypto.SigningHMACSHA256
	}
	if dialect == Dialect311 {
		if st := c.negotiateContexts(&req, &resp); st != wire.StatusSuccess {
			return st
		}
	}
	c.dialect = dialect
	c.clientGUID = req.ClientGUID
	c.clientCaps = req.Capabilities
	c.clientSecMode = req.SecurityMode
	c.clientDialects = append([]uint16(nil), req.Dialects...)
	resp.Capabilities |= c.leasingCap(dialect, req.ClientGUID)      // oplock.go
	resp.Capabilities |= c.dirLeasingCap(dialect, req.Capabilities) // oplock.go
	resp.Capabilities |= persistentCap(dialect)                     // durable.go
	resp.Capabilities |= c.multiChannelCap(dialect)                 // multichannel.go
	c.serverCaps = resp.Capabilities
	c.serverSecMode = resp.SecurityMode
	c.negotiated = true
	maxIO := max(resp.MaxReadSize, resp.MaxWriteSize, resp.MaxTransactSize)
	c.maxFrame = int(maxIO) + frameSlack
	r.out = resp.AppendTo(r.out)
	return wire.StatusSuccess
}

func isKnownDialect(d uint16) bool {
	switch d {
	case Dialect202, Dialect210, Dialect300, Dialect302, Dialect311:
		return true
	}
	return false
}

// negotiateContexts processes the 3.1.1 negotiate contexts ([MS-SMB2]
// 3.3.5.4): preauth integrity is mandatory, each context type at most once.
func (c *conn) negotiateContexts(req *wire.NegotiateRequest, resp *wire.NegotiateResponse) wire.Status {
	var havePreauth, haveEnc, haveSign, haveComp bool
	var ciphers, signAlgs []uint16
	for _, nc := range req.Contexts {
		switch nc.Type {
		case wire.ContextPreauthIntegrity:
			if havePreauth {
				return wire.StatusInvalidParameter
			}
			havePreauth = true
			p, err := wire.DecodePreauthIntegrity(nc.Data)
			if err != nil || len(p.HashAlgorithms) == 0 {
				return wire.StatusInvalidParameter
			}
			ok := false
			for _, a := range p.HashAlgorithms {
				if a == wire.HashSHA512 {
					ok = true
				}
			}
			if !ok {
				return wire.StatusSMBNoPreauthIntegrityHashOverlap
			}
		case wire.ContextEncryption:
			if haveEnc {
				return wire.StatusInvalidParameter
			}
			haveEnc = true
			e, err := wire.DecodeEncryptionCapabilities(nc.Data)
			if err != nil || len(e.Ciphers) == 0 {
				return wire.StatusInvalidParameter
			}
			ciphers = e.Ciphers
		case wire.ContextSigning:
			if haveSign {
				return wire.StatusInvalidParameter
			}
			haveSign = true
			sc, err := wire.DecodeSigningCapabilities(nc.Data)
			if err != nil || len(sc.SigningAlgorithms) == 0 {
				return wire.StatusInvalidParameter
			}
			signAlgs = sc.SigningAlgorithms
		case wire.ContextCompression:
			if haveComp {
				return wire.StatusInvalidParameter
			}
			haveComp = true
			// Compression is not offered; the context is ignored, which
			// the spec allows (no response context means none).
		}
	}
	if !havePreauth {
		return wire.StatusInvalidParameter
	}
	salt := make([]byte, 32)
	randRead(salt)
	resp.Contexts = append(resp.Contexts, wire.NegotiateContext{
		Type: wire.ContextPreauthIntegrity,
		Data: wire.EncodePreauthIntegrity(wire.PreauthIntegrity{HashAlgorithms: []uint16{wire.HashSHA512}, Salt: salt}),
	})
	if haveEnc {
		chosen := pick(cipherPreference, ciphers)
		c.cipher = chosen
		resp.Contexts = append(resp.Contexts, wire.NegotiateContext{
			Type: wire.ContextEncryption,
			Data: wire.EncodeEncryptionCapabilities(wire.EncryptionCapabilities{Ciphers: []uint16{chosen}}),
		})
	}
	if haveSign {
		chosen := pick(signingPreference, signAlgs)
		if chosen == 0 && !contains(signAlgs, smbcrypto.SigningHMACSHA256) {
			chosen = smbcrypto.SigningAESCMAC
		}
		c.signingAlg = chosen
		resp.Contexts = append(resp.Contexts, wire.NegotiateContext{
			Type: wire.ContextSigning,
			Data: wire.EncodeSigningCapabilities(wire.SigningCapabilities{SigningAlgorithms: []uint16{chosen}}),
		})
	}
	return wire.StatusSuccess
}

// pick returns the first of pref that offered contains, or 0.
func pick(pref, offered []uint16) uint16 {
	for _, p := range pref {
		if contains(offered, p) {
			return p
		}
	}
	return 0
}

func contains(s []uint16, v uint16) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// updatePreauth feeds the 3.1.1 preauth integrity hash ([MS-SMB2]
// 3.3.5.4, 3.3.5.5): the connection hash covers NEGOTIATE request and
// response, a session's hash continues with each SESSION_SETUP request and
// every response that is not the final success.
func (c *conn) updatePreauth(r *request) {
	if c.dialect != Dialect311 {
		return
	}
	switch r.hdr.Command {
	case wire.CmdNegotiate:
		if r.status == wire.StatusSuccess && !c.preauthDone {
			c.preauth.Update(r.msg)
			c.preauth.Update(r.out)
			c.preauthDone = true
		}
	case wire.CmdSessionSetup:
		if r.status == wire.StatusMoreProcessingRequired && r.setupSess != nil {
			r.setupSess.mu.Lock()
			if r.setupChan != nil {
				r.setupChan.preauth.Update(r.out) // a binding's own hash
			} else {
				r.setupSess.preauth.Update(r.out)
			}
			r.setupSess.mu.Unlock()
		}
	}
}

// handleSMB1Negotiate answers an SMB1 multi-protocol NEGOTIATE with an SMB2
// NEGOTIATE response ([MS-SMB2] 3.3.5.3.1): dialect 0x02FF when the client
// offers "SMB 2.???" (it then sends a real SMB2 NEGOTIATE), 2.0.2 when it
// offers only "SMB 2.002". Anything else is SMB1, which sofs refuses by
// closing the connection.
func (c *conn) handleSMB1Negotiate(frame []byte) error {
	dialects, err := wire.DecodeSMB1Negotiate(frame)
	if err != nil {
		return errDisconnect
	}
	var wildcard, d2002 bool
	for _, d := range dialects {
		switch d {
		case "SMB 2.???":
			wildcard = true
		case "SMB 2.002":
			d2002 = true
		}
	}
	var dialect uint16
	switch {
	case wildcard && c.srv.cfg.MaxDialect > Dialect202:
		dialect = 0x02FF
	case d2002 || wildcard:
		dialect = Dialect202
	default:
		return errDisconnect
	}
	if dialect == Dialect202 && c.srv.cfg.MinDialect > Dialect202 {
		return errDisconnect
	}
	if err := c.credits.consume(0, 1); err != nil {
		return errDisconnect
	}
	resp := wire.NegotiateResponse{
		SecurityMode:    wire.NegotiateSigningEnabled,
		DialectRevision: dialect,
		ServerGUID:      c.srv.cfg.ServerGUID,
		MaxTransactSize: smb2MaxIO2002,
		MaxReadSize:     smb2MaxIO2002,
		MaxWriteSize:    smb2MaxIO2002,
		SystemTime:      fileTime(time.Now()),
		SecurityBuffer:  spnego.InitialToken(spnego.OIDNTLMSSP),
	}
	if c.srv.cfg.RequireSigning {
		resp.SecurityMode |= wire.NegotiateSigningRequired
	}
	h := wire.Header{Command: wire.CmdNegotiate, Flags: wire.FlagServerToRedir, Credits: c.credits.grant(1)}
	out := h.AppendTo(make([]byte, 0, 256))
	out = resp.AppendTo(out)
	if dialect == Dialect202 {
		c.dialect = Dialect202
		c.negotiated = true
		c.serverSecMode = resp.SecurityMode
		c.signingAlg = smbcrypto.SigningHMACSHA256
		c.maxFrame = smb2MaxIO2002 + frameSlack
	}
	return c.writeFrame(out)
}
