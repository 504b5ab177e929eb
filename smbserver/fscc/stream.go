package fscc

// Stream is one entry of FileStreamInformation ([MS-FSCC] 2.4.43).
type Stream struct {
	// Name is the stream name without decoration; "" is the default
	// data stream.
	Name                 string
	Size, AllocationSize int64
}

// StreamWireName is the StreamName a FILE_STREAM_INFORMATION entry
// carries: "::$DATA" for the default stream, ":name:$DATA" otherwise.
func StreamWireName(name string) string { return ":" + name + ":$DATA" }

// streamEntryFixed is the fixed part of an entry: NextEntryOffset,
// StreamNameLength, StreamSize, StreamAllocationSize.
const streamEntryFixed = 24

// AppendStreamInformation appends FILE_STREAM_INFORMATION entries for
// streams, each 8-byte aligned with NextEntryOffset linking them ([MS-FSCC]
// 2.4.43). An empty list encodes as nothing (a directory without streams).
// max, if positive, bounds the output: only whole entries that fit are
// written, and overflow reports that some were left out.
func AppendStreamInformation(b []byte, streams []Stream, max int) (out []byte, overflow bool) {
	start := len(b)
	prev := -1
	for _, s := range streams {
		name := StreamWireName(s.Name)
		n := utf16Len(name)
		at := len(b)
		if prev >= 0 {
			at = start + ((len(b)-start)+7)&^7
		}
		if max > 0 && at-start+streamEntryFixed+n > max {
			return b, true
		}
		if prev >= 0 {
			b = append(b, zeros[:at-len(b)]...)
			le.PutUint32(b[prev:], uint32(at-prev))
		}
		prev = at
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, uint32(n))
		b = le.AppendUint64(b, uint64(s.Size))
		b = le.AppendUint64(b, uint64(s.AllocationSize))
		b = EncodeUTF16(b, name)
	}
	return b, false
}
