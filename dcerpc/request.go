package dcerpc

import (
	"errors"
	"fmt"

	"sofs.io/sofs/dcerpc/ndr"
	"sofs.io/sofs/dcerpc/srvsvc"
)

// Fault statuses ([C706] appendix E, [MS-RPCE] 2.2.2.11 and 3.3.2.4.3).
const (
	faultAccessDenied = 0x00000005 // nca_s_fault_access_denied
	faultNDR          = 0x000006f7 // nca_s_fault_ndr: stub data does not decode
	faultInvalidTag   = 0x1c000006 // nca_s_fault_invalid_tag
	faultRemoteNoMem  = 0x1c00001b // nca_s_fault_remote_no_memory
	faultOpRangeError = 0x1c010002 // nca_s_op_rng_error: unknown opnum
	faultUnknownIf    = 0x1c010003 // nca_s_unk_if: context not negotiated
	faultProtoError   = 0x1c01000b // nca_s_proto_error
	faultUnspecified  = 0x1c000012 // nca_s_fault_unspec
	objectUUIDLen     = 16
)

// faultFor maps an interface's error to the fault status a MIDL server stub
// would send, and whether the call was not executed. This is the one table
// from Go errors to faults.
func faultFor(err error) (status uint32, notExecuted bool) {
	var f Fault
	switch {
	case errors.As(err, &f):
		return uint32(f), true
	case errors.Is(err, ErrUnknownOpnum), errors.Is(err, srvsvc.ErrUnknownOpnum):
		return faultOpRangeError, true
	case errors.Is(err, ErrInvalidTag), errors.Is(err, srvsvc.ErrInvalidTag):
		return faultInvalidTag, true
	case errors.Is(err, ErrBadStub), errors.Is(err, srvsvc.ErrBadStub):
		return faultNDR, true
	}
	return faultUnspecified, false
}

// handleRequest reassembles request fragments and answers a complete call
// with response fragments or a fault ([C706] 12.6.4.9, [MS-RPCE] 3.3.1.5.4).
func (a *assoc) handleRequest(h header, pdu []byte) (*pendingCall, error) {
	r := ndr.NewReader(pdu)
	if err := r.Skip(headerLen); err != nil {
		return nil, err
	}
	if _, err := r.Uint32(); err != nil { // alloc_hint: only a hint
		return nil, fmt.Errorf("request: %w: %w", ErrMalformed, err)
	}
	ctxID, err := r.Uint16()
	if err != nil {
		return nil, fmt.Errorf("request: %w: %w", ErrMalformed, err)
	}
	opnum, err := r.Uint16()
	if err != nil {
		return nil, fmt.Errorf("request: %w: %w", ErrMalformed, err)
	}
	if h.flags&pfcObjectUUID != 0 {
		// No interface here takes an object UUID; skip it as Windows does.
		if err := r.Skip(objectUUIDLen); err != nil {
			return nil, fmt.Errorf("request object: %w: %w", ErrMalformed, err)
		}
	}
	if !a.bound {
		return nil, a.emit(fault(h.callID, ctxID, faultProtoError, true))
	}
	stub, err := a.checkRequestAuth(h, pdu, r.Offset())
	if err != nil {
		a.req = nil
		if errors.Is(err, errAuth) {
			return nil, a.emit(fault(h.callID, ctxID, faultAccessDenied, true))
		}
		return nil, err
	}
	first, last := h.flags&pfcFirstFrag != 0, h.flags&pfcLastFrag != 0
	switch {
	case first:
		// A new first fragment abandons any unfinished call.
		a.req = &partialRequest{callID: h.callID, ctxID: ctxID, opnum: opnum}
	case a.req == nil || a.req.callID != h.callID:
		// A middle or last fragment with no call to belong to.
		a.req = nil
		return nil, a.emit(fault(h.callID, ctxID, faultProtoError, true))
	}
	if len(a.req.stub)+len(stub) > maxRequestStub {
		a.req = nil
		return nil, a.emit(fault(h.callID, ctxID, faultRemoteNoMem, true))
	}
	if first && last {
		// The common case: no copy.
		a.req.stub = stub
	} else {
		a.req.stub = append(a.req.stub, stub...)
	}
	if !last {
		return nil, nil
	}
	call := a.req
	a.req = nil
	iface, ok := a.contexts[call.ctxID]
	if !ok {
		return nil, a.emit(fault(h.callID, call.ctxID, faultUnknownIf, true))
	}
	return &pendingCall{callID: h.callID, ctxID: call.ctxID, iface: iface,
		call: Call{Opnum: call.opnum, Stub: call.stub, Local: a.local, Remote: a.remote, User: a.authUser(), AuthLevel: a.authLevel()},
		prot: a.auth.protection()}, nil
}

func (a *assoc) authUser() string {
	if a.auth == nil || a.auth.sec == nil {
		return ""
	}
	return a.auth.user
}

// authLevel is the level of the association's established security
// context, 0 without one.
func (a *assoc) authLevel() uint8 {
	if a.auth == nil || a.auth.sec == nil {
		return 0
	}
	return a.auth.level
}

// checkRequestAuth returns a request fragment's stub after checking its
// verifier: none without a security context or at level connect; at packet
// and integrity levels a signature over the PDU up to the auth_value; at
// privacy the stub and padding are decrypted in place first ([MS-RPCE]
// 3.3.1.5.2.2). NTLM always signs the whole PDU, header included. An
// error wrapping errAuth refuses the call; any other breaks the
// connection, since the security context's sequence is lost.
func (a *assoc) checkRequestAuth(h header, pdu []byte, bodyStart int) ([]byte, error) {
	st := a.auth
	if st != nil && st.failed {
		return nil, fmt.Errorf("security context failed: %w", errAuth)
	}
	if h.authLen == 0 {
		if st.protects() || (st != nil && st.sec == nil) {
			return nil, fmt.Errorf("request without verifier: %w", errAuth)
		}
		return pdu[bodyStart:], nil
	}
	if st == nil || st.sec == nil {
		return nil, fmt.Errorf("verifier without a security context: %w", errAuth)
	}
	v, trailer, err := splitAuth(h, pdu, bodyStart)
	if err != nil {
		return nil, err
	}
	if v.authType != st.authType || v.level != st.level || v.ctxID != st.ctxID {
		return nil, fmt.Errorf("verifier for another security context: %w", errAuth)
	}
	signed := pdu[:len(pdu)-len(v.value)]
	switch st.level {
	case authLevelPrivacy:
		err = st.sec.Unseal(signed, pdu[bodyStart:trailer], v.value)
	case authLevelPkt, authLevelIntegrity:
		err = st.sec.Verify(signed, v.value)
	}
	if err != nil {
		return nil, fmt.Errorf("request verifier: %w: %w", ErrMalformed, err)
	}
	return pdu[bodyStart : trailer-int(v.padLen)], nil
}

// respond splits a response stub into fragments of at most the negotiated
// size, each sent through emit ([C706] 12.6.3.7). Every fragment
// but the last carries a multiple of 8 stub bytes, so that NDR alignment
// never straddles a fragment boundary.
func (a *assoc) respond(callID uint32, ctxID uint16, stub []byte, prot protection, emit func([]byte) error) error {
	chunk := (a.xmitFrag - responseFixedLen) &^ 7
	protect := prot.sec != nil
	sigLen := 0
	if protect {
		// Room for padding, sec_trailer and signature; whole blocks of
		// stub keep every fragment but the last unpadded.
		sigLen = prot.sec.SigLen(prot.level == authLevelPrivacy)
		chunk = (a.xmitFrag - responseFixedLen - authPadAlign - secTrailerLen - sigLen) &^ (authPadAlign - 1)
	}
	flags := uint8(pfcFirstFrag)
	for {
		n := min(chunk, len(stub))
		if n == len(stub) {
			flags |= pfcLastFrag
		}
		w := newPDU(ptypeResponse, flags, callID)
		w.Uint32(uint32(len(stub))) // alloc_hint: stub bytes still to come
		w.Uint16(ctxID)
		w.Uint8(0) // cancel_count
		w.Uint8(0) // reserved
		w.Raw(stub[:n])
		b := finishPDU(w)
		if protect {
			var pad uint8
			b, pad = appendVerifier(b, responseFixedLen, prot.authType, prot.level, prot.ctxID, sigLen)
			signed := b[:len(b)-sigLen]
			var sig []byte
			var err error
			if prot.level == authLevelPrivacy {
				sig, err = prot.sec.Seal(signed, b[responseFixedLen:responseFixedLen+n+int(pad)])
			} else {
				sig, err = prot.sec.Sign(signed)
			}
			if err != nil || len(sig) != sigLen {
				return fmt.Errorf("rpc: protect response: %d-byte verifier, %v", len(sig), err)
			}
			copy(b[len(b)-sigLen:], sig)
		}
		if err := emit(b); err != nil {
			return err
		}
		stub = stub[n:]
		if flags&pfcLastFrag != 0 {
			return nil
		}
		flags = 0
	}
}

// fault encodes a fault PDU ([C706] 12.6.4.7, [MS-RPCE] 2.2.2.11).
func fault(callID uint32, ctxID uint16, status uint32, notExecuted bool) []byte {
	flags := uint8(pfcFirstFrag | pfcLastFrag)
	if notExecuted {
		flags |= pfcDidNotExecute
	}
	w := newPDU(ptypeFault, flags, callID)
	w.Uint32(0) // alloc_hint
	w.Uint16(ctxID)
	w.Uint8(0) // cancel_count
	w.Uint8(0) // reserved
	w.Uint32(status)
	w.Uint32(0) // reserved2
	return finishPDU(w)
}
