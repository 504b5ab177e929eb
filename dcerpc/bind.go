package dcerpc

import (
	"bytes"
	"fmt"

	"sofs.io/sofs/dcerpc/ndr"
)

// Presentation context results and provider reasons ([C706] 12.6.3.1,
// [MS-RPCE] 2.2.2.4 and 2.2.2.5).
const (
	resultAcceptance         = 0
	resultProviderRejection  = 2
	resultNegotiateAck       = 3
	reasonNotSpecified       = 0
	reasonAbstractSyntax     = 1 // abstract_syntax_not_supported
	reasonTransferSyntaxes   = 2 // proposed_transfer_syntaxes_not_supported
	reasonLocalLimitExceeded = 3
)

// bind_nak reject reasons ([C706] 12.6.3.1 p_reject_reason_t).
const (
	nakReasonNotSpecified          = 0
	nakProtocolVersionNotSupported = 4
	nakAuthTypeNotRecognized       = 8
)

// ctxResult is one p_result_t of bind_ack or alter_context_resp.
type ctxResult struct {
	result, reason uint16
	transfer       SyntaxID
}

// contextElemMinLen is the smallest p_cont_elem_t: p_cont_id,
// n_transfer_syn, reserved and the abstract syntax, with no transfer syntax.
const contextElemMinLen = 4 + syntaxIDLen

// handleBind answers bind with bind_ack or bind_nak, and alter_context
// with alter_context_resp ([C706] 12.6.4.3 to 12.6.4.6, [MS-RPCE]
// 3.3.1.5.6).
func (a *assoc) handleBind(h header, pdu []byte) error {
	alter := h.ptype == ptypeAlterContext
	var authOut []byte
	withAuth := h.authLen != 0
	if withAuth {
		// bind and alter_context bodies start right after the header.
		v, end, err := splitAuth(h, pdu, headerLen)
		if err != nil {
			return err
		}
		if !alter && a.bound {
			return a.emit(bindNak(h.callID, nakReasonNotSpecified))
		}
		if authOut, err = a.authLeg(h.ptype, v); err != nil {
			// On ncacn_np the SMB session is the authentication
			// ([MS-RPCE] 3.3.1.5.2 leaves RPC auth optional); there
			// and for unknown mechanisms, refuse as Windows does.
			if alter {
				return a.emit(fault(h.callID, 0, faultAccessDenied, true))
			}
			reason := uint16(nakAuthTypeNotRecognized)
			if a.knowsAuthType(v.authType) {
				reason = nakInvalidChecksum
			}
			return a.emit(bindNak(h.callID, reason))
		}
		pdu = pdu[:end-int(v.padLen)]
		if !alter {
			a.headerSign = h.flags&pfcSupportHeaderSign != 0
		}
	}
	if alter && !a.bound {
		return a.emit(fault(h.callID, 0, faultProtoError, true))
	}
	if !alter && a.bound {
		// [C706] 12.5.2.1: a second bind on an association is refused.
		return a.emit(bindNak(h.callID, nakReasonNotSpecified))
	}
	r := ndr.NewReader(pdu)
	if err := r.Skip(headerLen); err != nil {
		return err
	}
	if _, err := r.Uint16(); err != nil { // max_xmit_frag: we accept up to 64 KiB anyway
		return fmt.Errorf("bind max_xmit_frag: %w: %w", ErrMalformed, err)
	}
	clientRecv, err := r.Uint16()
	if err != nil {
		return fmt.Errorf("bind max_recv_frag: %w: %w", ErrMalformed, err)
	}
	if _, err := r.Uint32(); err != nil { // assoc_group_id
		return fmt.Errorf("bind assoc_group_id: %w: %w", ErrMalformed, err)
	}
	results, err := a.negotiateContexts(r)
	if err != nil {
		return fmt.Errorf("bind contexts: %w: %w", ErrMalformed, err)
	}
	if !alter {
		// [C706] 12.6.3.1: each side sends fragments no larger than the
		// peer can receive.
		a.xmitFrag = max(min(int(clientRecv), maxXmitFrag), minFragSize)
		a.bound = true
	}
	return a.emit(a.bindAck(h, results, withAuth, authOut))
}

// negotiateContexts reads p_cont_list_t and decides each context.
func (a *assoc) negotiateContexts(r *ndr.Reader) ([]ctxResult, error) {
	n, err := r.Uint8()
	if err != nil {
		return nil, err
	}
	if err := r.Skip(3); err != nil { // reserved, reserved2
		return nil, err
	}
	if int(n)*contextElemMinLen > r.Remaining() {
		return nil, fmt.Errorf("%d contexts in %d bytes: %w", n, r.Remaining(), ndr.ErrShort)
	}
	results := make([]ctxResult, n)
	featuresSeen := false
	for i := range results {
		ctxID, err := r.Uint16()
		if err != nil {
			return nil, err
		}
		nts, err := r.Uint8()
		if err != nil {
			return nil, err
		}
		if err := r.Skip(1); err != nil {
			return nil, err
		}
		abstract, err := readSyntax(r)
		if err != nil {
			return nil, err
		}
		if int(nts)*syntaxIDLen > r.Remaining() {
			return nil, fmt.Errorf("%d transfer syntaxes: %w", nts, ndr.ErrShort)
		}
		transfers := make([]SyntaxID, nts)
		for j := range transfers {
			if transfers[j], err = readSyntax(r); err != nil {
				return nil, err
			}
		}
		results[i] = a.decide(ctxID, abstract, transfers, &featuresSeen)
	}
	return results, nil
}

// decide picks the result for one presentation context.
func (a *assoc) decide(ctxID uint16, abstract SyntaxID, transfers []SyntaxID, featuresSeen *bool) ctxResult {
	// [MS-RPCE] 3.3.1.5.3: the feature negotiation element has exactly
	// one transfer syntax, whose UUID starts with the magic prefix; the
	// server answers negotiate_ack with the features it supports in the
	// reason field and a zero transfer syntax.
	if len(transfers) == 1 && bytes.Equal(transfers[0].UUID[:8], bindTimeFeaturePrefix[:]) && !*featuresSeen {
		*featuresSeen = true
		offered := uint16(transfers[0].UUID[8]) | uint16(transfers[0].UUID[9])<<8
		a.features = offered & featuresSupported
		return ctxResult{result: resultNegotiateAck, reason: a.features}
	}
	var iface *Interface
	for _, i := range a.ifaces {
		if i.Syntax == abstract {
			iface = i
		}
	}
	if iface == nil {
		return ctxResult{result: resultProviderRejection, reason: reasonAbstractSyntax}
	}
	for _, t := range transfers {
		// Only NDR 2.0; NDR64 and anything else fall through to
		// proposed_transfer_syntaxes_not_supported.
		if t != ndrSyntax {
			continue
		}
		if _, ok := a.contexts[ctxID]; !ok && len(a.contexts) >= maxContexts {
			return ctxResult{result: resultProviderRejection, reason: reasonLocalLimitExceeded}
		}
		a.contexts[ctxID] = iface
		return ctxResult{result: resultAcceptance, transfer: ndrSyntax}
	}
	return ctxResult{result: resultProviderRejection, reason: reasonTransferSyntaxes}
}

// bindAck encodes bind_ack or alter_context_resp ([C706] 12.6.4.4 and
// 12.6.4.2).
func (a *assoc) bindAck(h header, results []ctxResult, withAuth bool, authValue []byte) []byte {
	ptype := uint8(ptypeBindAck)
	addr := a.secondaryAddr
	if h.ptype == ptypeAlterContext {
		// Windows sends an empty secondary address in alter_context_resp.
		ptype, addr = ptypeAlterResp, ""
	}
	flags := uint8(pfcFirstFrag | pfcLastFrag)
	if a.headerSign {
		flags |= pfcSupportHeaderSign
	}
	w := newPDU(ptype, flags, h.callID)
	w.Uint16(uint16(a.xmitFrag)) // max_xmit_frag
	w.Uint16(maxXmitFrag)        // max_recv_frag
	w.Uint32(a.assocGroup)
	if addr == "" {
		w.Uint16(0)
	} else {
		// port_spec is an ASCII string whose length counts its NUL.
		w.Uint16(uint16(len(addr) + 1))
		w.Raw([]byte(addr))
		w.Uint8(0)
	}
	w.Align(4)
	w.Uint8(uint8(len(results)))
	w.Uint8(0)
	w.Uint16(0)
	for _, res := range results {
		w.Uint16(res.result)
		w.Uint16(res.reason)
		writeSyntax(w, res.transfer)
	}
	b := finishPDU(w)
	if withAuth && authValue != nil {
		// The verifier of bind_ack or alter_context_resp carries the
		// next token; the padding is counted from the header's end.
		b, _ = appendVerifier(b, headerLen, a.auth.authType, a.auth.level, a.auth.ctxID, len(authValue))
		copy(b[len(b)-len(authValue):], authValue)
	}
	return b
}

// bindNak encodes bind_nak with the one protocol version sofs supports
// ([C706] 12.6.4.5).
func bindNak(callID uint32, reason uint16) []byte {
	w := newPDU(ptypeBindNak, pfcFirstFrag|pfcLastFrag, callID)
	w.Uint16(reason)
	w.Uint8(1) // n_protocols
	w.Uint8(5) // rpc_vers
	w.Uint8(0) // rpc_vers_minor
	return finishPDU(w)
}
