package srvsvc

import (
	"fmt"

	"sofs.io/sofs/dcerpc/ndr"
)

// shareInfoArm reports whether level names an arm of the SHARE_INFO union
// ([MS-SRVS] 2.2.3.6) and whether this package can encode it.
func shareInfoArm(level uint32) (valid, encodable bool) {
	switch level {
	case 0, 1, 2, 501, 502, 1005:
		return true, true
	case 503, 1004, 1006, 1501:
		return true, false
	}
	return false, false
}

// ShareGetInfoRequest is the input of NetrShareGetInfo ([MS-SRVS] 3.1.4.10).
type ShareGetInfoRequest struct {
	ServerName    string
	HasServerName bool
	// NetName is a [ref, string] parameter: always present.
	NetName string
	Level   uint32
}

// Marshal encodes the request stub.
func (q *ShareGetInfoRequest) Marshal() []byte {
	w := ndr.NewWriter()
	writeOptionalString(w, q.ServerName, q.HasServerName)
	w.String(q.NetName) // top-level ref pointer: no referent id
	w.Uint32(q.Level)
	return w.Bytes()
}

// UnmarshalShareGetInfoRequest decodes a NetrShareGetInfo request stub.
func UnmarshalShareGetInfoRequest(b []byte) (*ShareGetInfoRequest, error) {
	r := ndr.NewReader(b)
	q := &ShareGetInfoRequest{}
	var err error
	if q.ServerName, q.HasServerName, err = readOptionalString(r); err != nil {
		return nil, fmt.Errorf("NetrShareGetInfo ServerName: %w", err)
	}
	if q.NetName, err = r.String(); err != nil {
		return nil, fmt.Errorf("NetrShareGetInfo NetName: %w", err)
	}
	if q.Level, err = r.Uint32(); err != nil {
		return nil, fmt.Errorf("NetrShareGetInfo Level: %w", err)
	}
	return q, nil
}

// ShareGetInfoResponse is the output of NetrShareGetInfo: the SHARE_INFO
// union with discriminant Level, whose arm is a unique pointer (NULL when
// Info is nil), then the status.
type ShareGetInfoResponse struct {
	Level  uint32
	Info   *ShareInfo
	Status uint32
}

// Marshal encodes the response stub. An Info at a level this package cannot
// encode is sent as a NULL arm.
func (p *ShareGetInfoResponse) Marshal() []byte {
	w := ndr.NewWriter()
	w.Uint32(p.Level)
	_, encodable := shareInfoArm(p.Level)
	present := p.Info != nil && encodable
	w.Pointer(present)
	if present {
		writeShareScalars(w, p.Level, p.Info)
		writeShareBuffers(w, p.Level, p.Info)
	}
	w.Uint32(p.Status)
	return w.Bytes()
}

// UnmarshalShareGetInfoResponse decodes a NetrShareGetInfo response stub.
func UnmarshalShareGetInfoResponse(b []byte) (*ShareGetInfoResponse, error) {
	r := ndr.NewReader(b)
	p := &ShareGetInfoResponse{}
	var err error
	if p.Level, err = r.Uint32(); err != nil {
		return nil, fmt.Errorf("NetrShareGetInfo union tag: %w", err)
	}
	valid, encodable := shareInfoArm(p.Level)
	if !valid {
		return nil, fmt.Errorf("share info level %d: %w", p.Level, ErrInvalidTag)
	}
	present, err := r.Pointer()
	if err != nil {
		return nil, fmt.Errorf("NetrShareGetInfo InfoStruct: %w", err)
	}
	if present {
		if !encodable {
			return nil, fmt.Errorf("share info level %d: %w", p.Level, ndr.ErrInvalid)
		}
		p.Info = &ShareInfo{}
		refs, err := readShareScalars(r, p.Level, p.Info)
		if err != nil {
			return nil, fmt.Errorf("NetrShareGetInfo InfoStruct: %w", err)
		}
		if err := readShareBuffers(r, refs, p.Info); err != nil {
			return nil, fmt.Errorf("NetrShareGetInfo InfoStruct: %w", err)
		}
	}
	if p.Status, err = r.Uint32(); err != nil {
		return nil, fmt.Errorf("NetrShareGetInfo status: %w", err)
	}
	return p, nil
}
