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
//
// Every response of a compound is padded, the last one included: Windows
// does so and smbtorture's smb2.compound.compound-padding checks that a
// 3-byte READ answered last in a compound has a 24-byte body. A response
// sent on its own (a plain request, an interim response, the final
// response of an async request whose predecessors were already sent) is
// not padded.
func (c *conn) sendResponses(resps []*request, cs *compoundState) error {
	if len(resps) == 0 {
		return nil
	}
	if cs.flushed {
		// The responses before an async request went out in their own
		// frame; what follows starts a new one and is no longer related
		// to a predecessor in it.
		f := binary.LittleEndian.Uint32(resps[0].out[wire.OffFlags:])
		binary.LittleEndian.PutUint32(resps[0].out[wire.OffFlags:], f&^uint32(wire.FlagRelatedOps))
	}
	pieces := cs.pieces[:0]
	defer func() { clear(pieces); cs.pieces = pieces[:0] }()
	padAll := len(resps) > 1 || (len(cs.reqs) > 1 && !cs.flushed)
	for i, r := range resps {
		if i < len(resps)-1 {
			r.out = wire.Pad8(r.out)
			binary.LittleEndian.PutUint32(r.out[wire.OffNextCommand:], uint32(len(r.out)))
		} else if padAll {
			r.out = wire.Pad8(r.out)
		}
		pieces = append(pieces, r.out)
	}
	// What waits for these responses runs once they are queued
	// (writeFrameQueued runs it on every path, failures included).
	queued := cs.afterSend
	if len(queued) > 0 {
		defer func() {
			clear(queued)
			cs.afterSend = queued[:0]
		}()
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
			if len(resps) == 1 {
				if frame, ok := sealRoom(resps[0]); ok {
					frame, err := e.SealInPlace(frame, enc.id)
					if err != nil {
						runHooks(queued)
						return err
					}
					return c.writeFrameQueued(queued, frame)
				}
			}
			sealed := c.srv.bufs.get(totalLen(pieces) + smbcrypto.SealOverhead)
			sealed, err := e.Seal(sealed, enc.id, pieces...)
			if err != nil {
				c.srv.bufs.put(sealed)
				runHooks(queued)
				return err
			}
			err = c.writeFrameQueued(queued, sealed)
			c.srv.bufs.put(sealed)
			return err
		}
	}
	return c.writeFrameQueued(queued, pieces...)
}

// queuedHook is work tied to a response's place in the send queue. Its
// first part runs with the queue locked, right after the frame is
// queued, so nothing the client could answer can be handled before it;
// it must not block or send. What it returns, if anything, runs next with
// the queue unlocked and may send (after the frame, in queue order).
type queuedHook func() func()

// runHooks runs both parts of hooks whose frame was never queued.
func runHooks(hooks []queuedHook) {
	for _, h := range hooks {
		if then := h(); then != nil {
			then()
		}
	}
}

// sealRoom returns r's response with the transform header's room before
// it, when r was built for sealing in place (handleRead) and r.out still
// lies in that buffer with room for the tag after it.
func sealRoom(r *request) ([]byte, bool) {
	const room = smbcrypto.TransformHeaderSize
	if r.outBuf == nil || len(r.out) == 0 || cap(r.out)-len(r.out) < smbcrypto.SealInPlaceRoom {
		return nil, false
	}
	// r.out is a reslice of outBuf when it starts off bytes in.
	off := cap(r.outBuf) - cap(r.out)
	if off < room || &r.outBuf[off : off+1][0] != &r.out[0] {
		return nil, false
	}
	return r.outBuf[off-room : off+len(r.out)], true
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
	sg := s.responseSigner(c, r) // multichannel.go
	if sg == nil {
		return
	}
	// A SESSION_SETUP response that is not the final success (a
	// re-authentication's MORE_PROCESSING_REQUIRED or its failure) is
	// signed with the session's key like any other ([MS-SMB2] 3.3.4.1.1);
	// a first authentication has no key yet and so is never signed here.
	if r.sign || r.hdr.Flags&wire.FlagSigned != 0 || s.signingRequired {
		c.srv.sign(sg, r.out)
	}
}

// sign signs msg with sg; a large message under AES-GMAC is MACed in
// chunks shared with the idle slice workers, so an 8 MiB READ response is
// not one core's 1.5 ms of work before it can be sent.
func (s *Server) sign(sg smbcrypto.Signer, msg []byte) {
	if ss, ok := sg.(smbcrypto.SplitSigner); ok && len(msg) >= smbcrypto.SplitSignMin {
		ss.SignSplit(msg, &s.slicers)
		return
	}
	sg.Sign(msg)
}

// verify is sg.Verify(msg), split like sign for a large WRITE.
func (s *Server) verify(sg smbcrypto.Signer, msg []byte) bool {
	if ss, ok := sg.(smbcrypto.SplitSigner); ok && len(msg) >= smbcrypto.SplitSignMin {
		return ss.VerifySplit(msg, &s.slicers)
	}
	return sg.Verify(msg)
}
