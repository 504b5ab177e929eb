package srvsvc

import (
	"fmt"

	"sofs.io/sofs/dcerpc/ndr"
)

// ShareEnumStruct is SHARE_ENUM_STRUCT ([MS-SRVS] 2.2.4.38): a level and a
// SHARE_ENUM_UNION whose arm is a unique pointer to a container.
type ShareEnumStruct struct {
	Level uint32
	// HasContainer is false when the union arm is a NULL pointer.
	HasContainer bool
	// Shares are the container's entries; NULL and empty arrays both decode
	// to nil.
	Shares []ShareInfo
}

// enumArm reports whether level names an arm of SHARE_ENUM_UNION
// ([MS-SRVS] 2.2.4.39) and whether this package can encode its entries.
func enumArm(level uint32) (valid, encodable bool) {
	switch level {
	case 0, 1, 2, 501, 502:
		return true, true
	case 503:
		return true, false
	}
	return false, false
}

func (s *ShareEnumStruct) marshal(w *ndr.Writer) {
	w.Uint32(s.Level)
	w.Uint32(s.Level) // non-encapsulated union discriminant, switch_is(Level)
	w.Pointer(s.HasContainer)
	if !s.HasContainer {
		return
	}
	if _, encodable := enumArm(s.Level); !encodable {
		// An unencodable level carries an empty container: EntriesRead 0,
		// NULL buffer, which is the same wire form for every container type.
		w.Uint32(0)
		w.Pointer(false)
		return
	}
	writeShareArray(w, s.Level, s.Shares)
}

func (s *ShareEnumStruct) unmarshal(r *ndr.Reader) error {
	var err error
	if s.Level, err = r.Uint32(); err != nil {
		return fmt.Errorf("level: %w", err)
	}
	tag, err := r.Uint32()
	if err != nil {
		return fmt.Errorf("union tag: %w", err)
	}
	if tag != s.Level {
		return fmt.Errorf("union tag %d for level %d: %w", tag, s.Level, ndr.ErrInvalid)
	}
	valid, encodable := enumArm(tag)
	if !valid {
		return fmt.Errorf("share enum level %d: %w", tag, ErrInvalidTag)
	}
	if s.HasContainer, err = r.Pointer(); err != nil || !s.HasContainer {
		return err
	}
	if !encodable {
		// Clients pass an empty container in; a filled one of a level we do
		// not model cannot be skipped without decoding it.
		if _, err := r.Uint32(); err != nil {
			return err
		}
		buf, err := r.Pointer()
		if err != nil {
			return err
		}
		if buf {
			return fmt.Errorf("filled level %d container: %w", tag, ndr.ErrInvalid)
		}
		return nil
	}
	s.Shares, err = readShareArray(r, tag)
	return err
}

// ShareEnumRequest is the input of NetrShareEnum ([MS-SRVS] 3.1.4.8).
type ShareEnumRequest struct {
	// ServerName is the optional [unique] server name; HasServerName
	// distinguishes NULL from "".
	ServerName    string
	HasServerName bool
	Info          ShareEnumStruct
	// PreferredMaximumLength bounds the response size; 0xFFFFFFFF means no
	// limit (MAX_PREFERRED_LENGTH).
	PreferredMaximumLength uint32
	// ResumeHandle is NULL when HasResumeHandle is false.
	ResumeHandle    uint32
	HasResumeHandle bool
}

// Marshal encodes the request stub.
func (q *ShareEnumRequest) Marshal() []byte {
	w := ndr.NewWriter()
	writeOptionalString(w, q.ServerName, q.HasServerName)
	q.Info.marshal(w)
	w.Uint32(q.PreferredMaximumLength)
	writeOptionalUint32(w, q.ResumeHandle, q.HasResumeHandle)
	return w.Bytes()
}

// UnmarshalShareEnumRequest decodes a NetrShareEnum request stub.
func UnmarshalShareEnumRequest(b []byte) (*ShareEnumRequest, error) {
	r := ndr.NewReader(b)
	q := &ShareEnumRequest{}
	var err error
	if q.ServerName, q.HasServerName, err = readOptionalString(r); err != nil {
		return nil, fmt.Errorf("NetrShareEnum ServerName: %w", err)
	}
	if err := q.Info.unmarshal(r); err != nil {
		return nil, fmt.Errorf("NetrShareEnum InfoStruct: %w", err)
	}
	if q.PreferredMaximumLength, err = r.Uint32(); err != nil {
		return nil, fmt.Errorf("NetrShareEnum PreferedMaximumLength: %w", err)
	}
	if q.ResumeHandle, q.HasResumeHandle, err = readOptionalUint32(r); err != nil {
		return nil, fmt.Errorf("NetrShareEnum ResumeHandle: %w", err)
	}
	return q, nil
}

// ShareEnumResponse is the output of NetrShareEnum.
type ShareEnumResponse struct {
	Info            ShareEnumStruct
	TotalEntries    uint32
	ResumeHandle    uint32
	HasResumeHandle bool
	Status          uint32
}

// Marshal encodes the response stub.
func (p *ShareEnumResponse) Marshal() []byte {
	w := ndr.NewWriter()
	p.Info.marshal(w)
	w.Uint32(p.TotalEntries) // [out] DWORD*: a top-level ref pointer has no wire form
	writeOptionalUint32(w, p.ResumeHandle, p.HasResumeHandle)
	w.Uint32(p.Status)
	return w.Bytes()
}

// UnmarshalShareEnumResponse decodes a NetrShareEnum response stub.
func UnmarshalShareEnumResponse(b []byte) (*ShareEnumResponse, error) {
	r := ndr.NewReader(b)
	p := &ShareEnumResponse{}
	var err error
	if err := p.Info.unmarshal(r); err != nil {
		return nil, fmt.Errorf("NetrShareEnum InfoStruct: %w", err)
	}
	if p.TotalEntries, err = r.Uint32(); err != nil {
		return nil, fmt.Errorf("NetrShareEnum TotalEntries: %w", err)
	}
	if p.ResumeHandle, p.HasResumeHandle, err = readOptionalUint32(r); err != nil {
		return nil, fmt.Errorf("NetrShareEnum ResumeHandle: %w", err)
	}
	if p.Status, err = r.Uint32(); err != nil {
		return nil, fmt.Errorf("NetrShareEnum status: %w", err)
	}
	return p, nil
}

// writeOptionalString writes a top-level [unique, string] wchar_t*: the
// referent id, then at once the string, since a top-level pointer's referent
// is not deferred past its own parameter ([C706] 14.3.12.1).
func writeOptionalString(w *ndr.Writer, s string, present bool) {
	w.Pointer(present)
	if present {
		w.String(s)
	}
}

func readOptionalString(r *ndr.Reader) (string, bool, error) {
	present, err := r.Pointer()
	if err != nil || !present {
		return "", false, err
	}
	s, err := r.String()
	return s, true, err
}

// writeOptionalUint32 writes a top-level [unique] DWORD*.
func writeOptionalUint32(w *ndr.Writer, v uint32, present bool) {
	w.Pointer(present)
	if present {
		w.Uint32(v)
	}
}

func readOptionalUint32(r *ndr.Reader) (uint32, bool, error) {
	present, err := r.Pointer()
	if err != nil || !present {
		return 0, false, err
	}
	v, err := r.Uint32()
	return v, true, err
}
