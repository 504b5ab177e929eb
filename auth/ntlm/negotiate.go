package ntlm

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"time"
)

// Fixed-part sizes of the messages, [MS-NLMP] 2.2.1.
const (
	negotiateMinLen   = 16 // Signature, MessageType, NegotiateFlags
	negotiateFixedLen = 32 // plus DomainNameFields and WorkstationFields
	challengeFixedLen = 56 // through Version
)

// maxNameBytes bounds each configured name in the TargetInfo: a DNS name
// is at most 255 characters, so 255 UTF-16 code units suffice, and the
// cap keeps every AV pair length inside its uint16.
const maxNameBytes = 2 * 255

// Negotiate consumes the client's NEGOTIATE_MESSAGE ([MS-NLMP] 2.2.1.1) and
// returns the CHALLENGE_MESSAGE ([MS-NLMP] 2.2.1.2, 3.2.5.1.1). It may be
// called once per Exchange.
func (e *Exchange) Negotiate(negotiateMsg []byte) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateNew {
		return nil, fmt.Errorf("%w: NEGOTIATE out of sequence", ErrMalformed)
	}
	if err := header(negotiateMsg, typeNegotiate, negotiateMinLen); err != nil {
		return nil, fmt.Errorf("negotiate: %w", err)
	}
	clientFlags := binary.LittleEndian.Uint32(negotiateMsg[12:])
	if len(negotiateMsg) >= negotiateFixedLen {
		// The supplied domain and workstation are informational; they are
		// checked only so a lying descriptor is caught early.
		if _, err := field(negotiateMsg, 16, negotiateFixedLen, "DomainName"); err != nil {
			return nil, fmt.Errorf("negotiate: %w", err)
		}
		if _, err := field(negotiateMsg, 24, negotiateFixedLen, "Workstation"); err != nil {
			return nil, fmt.Errorf("negotiate: %w", err)
		}
	}
	var ch [8]byte
	if _, err := io.ReadFull(e.srv.cfg.Rand, ch[:]); err != nil {
		return nil, fmt.Errorf("ntlm: server challenge: %w", err)
	}
	flags := serverFlags(clientFlags, e.srv.cfg.NetBIOSDomain != "")
	msg := e.srv.buildChallenge(flags, ch, e.srv.cfg.Now())

	e.negotiate = slices.Clone(negotiateMsg)
	e.challenge = msg
	e.serverCh = ch
	e.chFlags = flags
	e.state = stateChallenged
	return slices.Clone(msg), nil
}

// serverFlags chooses the CHALLENGE flags ([MS-NLMP] 3.2.5.1.1): the
// session-security options the client asked for are echoed, NTLM and
// TARGET_INFO are always set (NTLMv2 needs the TargetInfo), and the
// character set follows the client's preference.
func serverFlags(client uint32, domain bool) uint32 {
	f := uint32(alwaysServerFlags) | client&echoedClientFlags
	switch {
	case client&flagUnicode != 0:
		f |= flagUnicode
	case client&flagOEM != 0:
		f |= flagOEM
	default:
		// A client naming neither character set gets Unicode, the only
		// one every NTLMv2 implementation understands.
		f |= flagUnicode
	}
	if client&flagRequestTarget != 0 {
		f |= flagRequestTarget
	}
	// The TargetName is always sent, as in the [MS-NLMP] 4.2.4.3 example,
	// so the target type is always set.
	if domain {
		f |= flagTargetDomain
	} else {
		f |= flagTargetServer
	}
	return f
}

// buildChallenge lays out the CHALLENGE_MESSAGE: fixed part, then
// TargetName, then TargetInfo.
func (s *Server) buildChallenge(flags uint32, ch [8]byte, now time.Time) []byte {
	unicode := flags&flagUnicode != 0
	targetName := s.cfg.NetBIOSComputer
	if flags&flagTargetDomain != 0 {
		targetName = s.cfg.NetBIOSDomain
	}
	tn := clampName(encodeString(targetName, unicode))
	ti := s.targetInfo(now)

	msg := make([]byte, challengeFixedLen, challengeFixedLen+len(tn)+len(ti))
	copy(msg, signature)
	binary.LittleEndian.PutUint32(msg[8:], typeChallenge)
	putField(msg, 12, len(tn), challengeFixedLen)
	binary.LittleEndian.PutUint32(msg[20:], flags)
	copy(msg[24:32], ch[:])
	putField(msg, 40, len(ti), challengeFixedLen+len(tn))
	if flags&flagVersion != 0 {
		copy(msg[48:56], serverVersion)
	}
	msg = append(msg, tn...)
	msg = append(msg, ti...)
	return msg
}

// targetInfo encodes the AV pairs the server announces ([MS-NLMP]
// 2.2.2.1): NetBIOS domain and computer (mandatory), the DNS names when
// configured, the timestamp, and the terminator. Windows sends the same
// set in the same order.
func (s *Server) targetInfo(now time.Time) []byte {
	var b []byte
	b = appendAV(b, avNbDomainName, clampName(utf16le(s.cfg.NetBIOSDomain)))
	b = appendAV(b, avNbComputerName, clampName(utf16le(s.cfg.NetBIOSComputer)))
	if s.cfg.DNSDomain != "" {
		b = appendAV(b, avDNSDomainName, clampName(utf16le(s.cfg.DNSDomain)))
	}
	if s.cfg.DNSComputer != "" {
		b = appendAV(b, avDNSComputerName, clampName(utf16le(s.cfg.DNSComputer)))
	}
	var ts [8]byte
	binary.LittleEndian.PutUint64(ts[:], fileTime(now))
	b = appendAV(b, avTimestamp, ts[:])
	return appendAV(b, avEOL, nil)
}

// appendAV appends one AV_PAIR.
func appendAV(b []byte, id uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, id)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

// clampName cuts a configured name to maxNameBytes on an even boundary.
func clampName(b []byte) []byte {
	if len(b) > maxNameBytes {
		return b[:maxNameBytes]
	}
	return b
}

// fileTime converts t to a FILETIME: 100-nanosecond intervals since
// 1601-01-01 UTC ([MS-DTYP] 2.3.3).
func fileTime(t time.Time) uint64 {
	const epochDelta = 116444736000000000 // 1601 to 1970 in 100 ns units
	return uint64(t.UnixNano()/100) + epochDelta
}
