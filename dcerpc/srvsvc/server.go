package srvsvc

import (
	"fmt"

	"sofs.io/sofs/dcerpc/ndr"
)

// ServerGetInfoRequest is the input of NetrServerGetInfo ([MS-SRVS]
// 3.1.4.17).
type ServerGetInfoRequest struct {
	ServerName    string
	HasServerName bool
	Level         uint32
}

// Marshal encodes the request stub.
func (q *ServerGetInfoRequest) Marshal() []byte {
	w := ndr.NewWriter()
	writeOptionalString(w, q.ServerName, q.HasServerName)
	w.Uint32(q.Level)
	return w.Bytes()
}

// UnmarshalServerGetInfoRequest decodes a NetrServerGetInfo request stub.
func UnmarshalServerGetInfoRequest(b []byte) (*ServerGetInfoRequest, error) {
	r := ndr.NewReader(b)
	q := &ServerGetInfoRequest{}
	var err error
	if q.ServerName, q.HasServerName, err = readOptionalString(r); err != nil {
		return nil, fmt.Errorf("NetrServerGetInfo ServerName: %w", err)
	}
	if q.Level, err = r.Uint32(); err != nil {
		return nil, fmt.Errorf("NetrServerGetInfo Level: %w", err)
	}
	return q, nil
}

// ServerGetInfoResponse is the output of NetrServerGetInfo: the SERVER_INFO
// union ([MS-SRVS] 2.2.3.7), every arm of which is a unique pointer, then
// the status. Levels 100, 101 and 102 are encoded; any other level is sent
// with a NULL arm.
type ServerGetInfoResponse struct {
	Level  uint32
	Info   *ServerInfo
	Status uint32
}

func serverLevelEncodable(level uint32) bool {
	return level == 100 || level == 101 || level == 102
}

// Marshal encodes the response stub.
func (p *ServerGetInfoResponse) Marshal() []byte {
	w := ndr.NewWriter()
	w.Uint32(p.Level)
	present := p.Info != nil && serverLevelEncodable(p.Level)
	w.Pointer(present)
	if present {
		s := p.Info
		// SERVER_INFO_100/101/102 ([MS-SRVS] 2.2.4.40 to 2.2.4.42) share a
		// prefix; the strings follow the scalars in pointer order.
		w.Uint32(platformIDNT)
		w.Pointer(true)
		if p.Level >= 101 {
			w.Uint32(s.VersionMajor)
			w.Uint32(s.VersionMinor)
			w.Uint32(s.Type)
			w.Pointer(true)
		}
		if p.Level == 102 {
			w.Uint32(0) // sv102_users: no configured limit
			w.Uint32(defaultAutodisconnect)
			w.Uint32(0) // sv102_hidden: visible in browse lists
			w.Uint32(defaultAnnounce)
			w.Uint32(defaultAnnDelta)
			w.Uint32(0)     // sv102_licenses: unused since NT
			w.Pointer(true) // sv102_userpath
		}
		w.String(s.Name)
		if p.Level >= 101 {
			w.String(s.Comment)
		}
		if p.Level == 102 {
			w.String(`C:\`)
		}
	}
	w.Uint32(p.Status)
	return w.Bytes()
}

// UnmarshalServerGetInfoResponse decodes a NetrServerGetInfo response stub.
func UnmarshalServerGetInfoResponse(b []byte) (*ServerGetInfoResponse, error) {
	r := ndr.NewReader(b)
	p := &ServerGetInfoResponse{}
	var err error
	if p.Level, err = r.Uint32(); err != nil {
		return nil, fmt.Errorf("NetrServerGetInfo union tag: %w", err)
	}
	present, err := r.Pointer()
	if err != nil {
		return nil, fmt.Errorf("NetrServerGetInfo InfoStruct: %w", err)
	}
	if present {
		if !serverLevelEncodable(p.Level) {
			return nil, fmt.Errorf("server info level %d: %w", p.Level, ndr.ErrInvalid)
		}
		if p.Info, err = readServerInfo(r, p.Level); err != nil {
			return nil, fmt.Errorf("NetrServerGetInfo InfoStruct: %w", err)
		}
	}
	if p.Status, err = r.Uint32(); err != nil {
		return nil, fmt.Errorf("NetrServerGetInfo status: %w", err)
	}
	return p, nil
}

func readServerInfo(r *ndr.Reader, level uint32) (*ServerInfo, error) {
	s := &ServerInfo{}
	var name, comment, userpath bool
	var err error
	if _, err = r.Uint32(); err != nil { // platform id
		return nil, err
	}
	if name, err = r.Pointer(); err != nil {
		return nil, err
	}
	if level >= 101 {
		for _, dst := range []*uint32{&s.VersionMajor, &s.VersionMinor, &s.Type} {
			if *dst, err = r.Uint32(); err != nil {
				return nil, err
			}
		}
		if comment, err = r.Pointer(); err != nil {
			return nil, err
		}
	}
	if level == 102 {
		for range 6 { // users, disc, hidden, announce, anndelta, licenses
			if _, err = r.Uint32(); err != nil {
				return nil, err
			}
		}
		if userpath, err = r.Pointer(); err != nil {
			return nil, err
		}
	}
	if name {
		if s.Name, err = r.String(); err != nil {
			return nil, fmt.Errorf("name: %w", err)
		}
	}
	if comment {
		if s.Comment, err = r.String(); err != nil {
			return nil, fmt.Errorf("comment: %w", err)
		}
	}
	if userpath {
		if _, err = r.String(); err != nil {
			return nil, fmt.Errorf("userpath: %w", err)
		}
	}
	return s, nil
}
