package wire

// CHANGE_NOTIFY request Flags ([MS-SMB2] 2.2.35).
const WatchTree uint16 = 0x0001

// CompletionFilter bits ([MS-SMB2] 2.2.35).
const (
	FileNotifyChangeFileName    uint32 = 0x00000001
	FileNotifyChangeDirName     uint32 = 0x00000002
	FileNotifyChangeAttributes  uint32 = 0x00000004
	FileNotifyChangeSize        uint32 = 0x00000008
	FileNotifyChangeLastWrite   uint32 = 0x00000010
	FileNotifyChangeLastAccess  uint32 = 0x00000020
	FileNotifyChangeCreation    uint32 = 0x00000040
	FileNotifyChangeEA          uint32 = 0x00000080
	FileNotifyChangeSecurity    uint32 = 0x00000100
	FileNotifyChangeStreamName  uint32 = 0x00000200
	FileNotifyChangeStreamSize  uint32 = 0x00000400
	FileNotifyChangeStreamWrite uint32 = 0x00000800
)

const changeNotifyRequestSize = 32

// ChangeNotifyRequest is the SMB2 CHANGE_NOTIFY request ([MS-SMB2]
// 2.2.35).
type ChangeNotifyRequest struct {
	Flags              uint16
	OutputBufferLength uint32
	FileID             FileID
	CompletionFilter   uint32
}

// Decode decodes a CHANGE_NOTIFY request from msg (header included).
func (r *ChangeNotifyRequest) Decode(msg []byte) error {
	body, err := Body(msg, changeNotifyRequestSize)
	if err != nil {
		return err
	}
	r.Flags = le.Uint16(body[2:])
	r.OutputBufferLength = le.Uint32(body[4:])
	r.FileID = DecodeFileID(body[8:])
	r.CompletionFilter = le.Uint32(body[24:])
	return nil
}

// AppendTo appends the request body to b.
func (r *ChangeNotifyRequest) AppendTo(b []byte) []byte {
	b = appendU16(b, changeNotifyRequestSize)
	b = appendU16(b, r.Flags)
	b = appendU32(b, r.OutputBufferLength)
	b = r.FileID.AppendTo(b)
	b = appendU32(b, r.CompletionFilter)
	return appendU32(b, 0)
}

// ChangeNotifyResponse is the SMB2 CHANGE_NOTIFY response ([MS-SMB2]
// 2.2.36): Buffer holds FILE_NOTIFY_INFORMATION entries ([MS-FSCC]
// 2.7.1).
type ChangeNotifyResponse struct {
	Buffer []byte
}

// AppendTo appends the response body to b, which holds the header.
func (r *ChangeNotifyResponse) AppendTo(b []byte) []byte { return appendOutput(b, r.Buffer) }

// Decode decodes a CHANGE_NOTIFY response from msg (header included).
func (r *ChangeNotifyResponse) Decode(msg []byte) (err error) {
	r.Buffer, err = decodeOutput(msg)
	return err
}
