package srvsvc

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Call executes operation opnum with the given request stub and returns the
// response stub. Its errors wrap ErrUnknownOpnum, ErrBadStub or
// ErrInvalidTag, which the RPC layer turns into faults; an operation that
// runs always reports its outcome in the response's status instead.
func Call(b Backend, opnum uint16, stub []byte) ([]byte, error) {
	switch opnum {
	case OpNetrShareEnum:
		return shareEnum(b, stub)
	case OpNetrShareGetInfo:
		return shareGetInfo(b, stub)
	case OpNetrServerGetInfo:
		return serverGetInfo(b, stub)
	}
	return nil, fmt.Errorf("opnum %d: %w", opnum, ErrUnknownOpnum)
}

// decodeError classifies a stub decoding error for the fault table.
func decodeError(err error) error {
	if errors.Is(err, ErrInvalidTag) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrBadStub, err)
}

// shareEnum implements NetrShareEnum ([MS-SRVS] 3.1.4.8). Like Windows it
// lists special shares too; the $ suffix hides them in clients, not here.
func shareEnum(b Backend, stub []byte) ([]byte, error) {
	q, err := UnmarshalShareEnumRequest(stub)
	if err != nil {
		return nil, decodeError(err)
	}
	level := q.Info.Level
	resp := ShareEnumResponse{
		Info:            ShareEnumStruct{Level: level, HasContainer: q.Info.HasContainer},
		HasResumeHandle: q.HasResumeHandle,
	}
	if _, encodable := enumArm(level); !encodable {
		// Level 503 is for administrators of scoped (per-address)
		// shares, which sofs does not have.
		resp.Status = StatusAccessDenied
		return resp.Marshal(), nil
	}
	resp.Info.HasContainer = true
	all := b.Shares()
	start := 0
	if q.HasResumeHandle && uint64(q.ResumeHandle) <= uint64(len(all)) {
		start = int(q.ResumeHandle)
	} else if q.HasResumeHandle {
		start = len(all)
	}
	resp.TotalEntries = uint32(len(all) - start)
	// [MS-SRVS] 3.1.4.8: return as many entries as fit in
	// PreferedMaximumLength, but always at least one so that a client with a
	// small buffer still progresses, and ERROR_MORE_DATA with a resume
	// handle when entries remain.
	used := uint64(0)
	end := start
	for end < len(all) {
		size := uint64(entrySize(level, &all[end]))
		if q.PreferredMaximumLength != maxPreferredLength && end > start &&
			used+size > uint64(q.PreferredMaximumLength) {
			break
		}
		used += size
		end++
	}
	resp.Info.Shares = all[start:end]
	if end < len(all) {
		resp.Status = StatusMoreData
		resp.ResumeHandle = uint32(end)
	}
	return resp.Marshal(), nil
}

// entrySize estimates the bytes one share costs in a response at level, the
// measure PreferedMaximumLength is compared with.
func entrySize(level uint32, s *ShareInfo) int {
	n := shareFixedSize(level) + wireStringSize(s.Name)
	if level != 0 {
		n += wireStringSize(s.Comment)
	}
	if level == 2 || level == 502 {
		n += wireStringSize(s.Path)
	}
	return n
}

func wireStringSize(s string) int {
	return 12 + 2*(len(utf16.Encode([]rune(s)))+1)
}

// shareGetInfo implements NetrShareGetInfo ([MS-SRVS] 3.1.4.10).
func shareGetInfo(b Backend, stub []byte) ([]byte, error) {
	q, err := UnmarshalShareGetInfoRequest(stub)
	if err != nil {
		return nil, decodeError(err)
	}
	valid, encodable := shareInfoArm(q.Level)
	if !valid {
		// The [out] union cannot be marshalled with a tag that names no
		// arm; a MIDL server stub raises RPC_S_INVALID_TAG.
		return nil, fmt.Errorf("share info level %d: %w", q.Level, ErrInvalidTag)
	}
	resp := ShareGetInfoResponse{Level: q.Level}
	var found *ShareInfo
	for _, s := range b.Shares() {
		// Share names compare case-insensitively, as on Windows.
		if strings.EqualFold(s.Name, q.NetName) {
			found = &s
			break
		}
	}
	switch {
	case found == nil:
		resp.Status = StatusNetNameNotFound
	case !encodable:
		resp.Status = StatusInvalidLevel
	default:
		resp.Info = found
	}
	return resp.Marshal(), nil
}

// serverGetInfo implements NetrServerGetInfo ([MS-SRVS] 3.1.4.17).
func serverGetInfo(b Backend, stub []byte) ([]byte, error) {
	q, err := UnmarshalServerGetInfoRequest(stub)
	if err != nil {
		return nil, decodeError(err)
	}
	resp := ServerGetInfoResponse{Level: q.Level}
	if serverLevelEncodable(q.Level) {
		info := b.Server()
		resp.Info = &info
	} else {
		resp.Status = StatusInvalidLevel
	}
	return resp.Marshal(), nil
}
