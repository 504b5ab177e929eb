package smbserver

import (
	"encoding/binary"
	"sofs.io/sofs/smbserver/smbcrypto"

	"sofs.io/sofs/smbserver/wire"
)

// sendResponses chains, signs, encrypts and writes the responses of one
// request frame ([MS-SMB2] 3.3.4.1: compound responses are padded to 8
// bytes and each is signed on its own; an encrypted compound is sealed as
// one transform).
func (c *conn) sendResponses(resps []*request, cs *compoundState) error {
	if len(resps) == 0 {
		return nil
	}
	pieces := make([][]byte, 0, len(resps))
	for i, r := range resps {
		if i < len(resps)-1 {
			r.out = wire.Pad8(r.out)
			binary.LittleEndian.PutUint32(r.out[wire.OffNextCommand:], uint32(len(r.out)))
		}
		pieces = append(pieces, r.out)
	}
	enc := cs.respSess
	for _, r := range resps {
		if enc == nil {
			c.signResponse(r)
		}
		c.updatePreauth(r)
	}
	if enc != nil {
		if e := enc.encryptor(); e != nil {
			sealed := c.srv.bufs.get(totalLen(pieces) + smbcrypto.SealOverhead)
			sealed, err := e.Seal(sealed, enc.id, pieces...)
			if err != nil {
				c.srv.bufs.put(sealed)
				return err
			}
			err = c.writeFrame(sealed)
			c.srv.bufs.put(sealed)
			return err
		}
	}
	return c.writeFrame(pieces...)
}

func totalLen(p [][]byte) int {
	n := 0
	for _, b := range p {
		n += len(b)
	}
	return n
}

// signResponse signs r's response when its session signs ([MS-SMB2]
// 3.3.4.1.1): always when the request was signed or the session requires
// signing, never for NEGOTIATE or for an anonymous/guest session.
func (c *conn) signResponse(r *request) {
	s := r.signSess
	if s == nil {
		s = r.sess
	}
	if s == nil || r.hdr.Command == wire.CmdNegotiate {
		return
	}
	sg := s.getSigner()
	if sg == nil {
		return
	}
	if r.sign || r.hdr.Flags&wire.FlagSigned != 0 || s.signingRequired {
		if r.status == wire.StatusMoreProcessingRequired {
			return
		}
		sg.Sign(r.out)
	}
}

// sendInterim sends the STATUS_PENDING interim response of a request that
// goes async ([MS-SMB2] 3.3.4.2) and grants its credits.
func (c *conn) sendInterim(r *request) error {
	rh := wire.Header{
		CreditCharge: r.hdr.CreditCharge,
		Status:       uint32(wire.StatusPending),
		Command:      r.hdr.Command,
		Credits:      c.grantFor(r),
		Flags:        wire.FlagServerToRedir | wire.FlagAsyncCommand | (r.hdr.Flags & wire.FlagRelatedOps),
		MessageID:    r.hdr.MessageID,
		AsyncID:      r.asyncID,
		SessionID:    r.hdr.SessionID,
	}
	out := rh.AppendTo(make([]byte, 0, wire.HeaderSize+9))
	e := wire.ErrorResponse{}
	out = e.AppendTo(out)
	tmp := &request{c: c, hdr: r.hdr, out: out, sess: r.sess, status: wire.StatusPending}
	cs := &compoundState{}
	if r.sess != nil && r.sess.encryptResponses(r) {
		cs.respSess = r.sess
	}
	return c.sendResponses([]*request{tmp}, cs)
}
