package wire

import (
	"bytes"
	"testing"
)

// FuzzFsctlInputs feeds arbitrary IOCTL input to every FSCTL input
// decoder: none may panic or allocate past the buffer, and what decodes
// re-encodes to the prefix it was read from.
func FuzzFsctlInputs(f *testing.F) {
	f.Add(uint8(0), FileZeroDataInformation{1, 2}.Encode())
	f.Add(uint8(1), AllocatedRange{0, 4096}.AppendTo(nil))
	f.Add(uint8(2), FileLevelTrim{Ranges: []AllocatedRange{{0, 1}}}.Encode())
	f.Add(uint8(3), SrvCopychunkCopy{Chunks: []SrvCopychunk{{1, 2, 3}}}.Encode())
	f.Add(uint8(4), NetworkResiliencyRequest{1000}.Encode())
	f.Add(uint8(5), []byte{2, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(6), OffloadReadInput{CopyLength: 4096}.Encode())
	f.Add(uint8(7), OffloadWriteInput{CopyLength: 4096}.Encode())
	f.Add(uint8(8), DuplicateExtentsData{ByteCount: 4096}.Encode())
	f.Add(uint8(3), []byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, which uint8, in []byte) {
		var enc []byte
		var err error
		switch which % 9 {
		case 0:
			var v FileZeroDataInformation
			if v, err = DecodeFileZeroDataInformation(in); err == nil {
				enc = v.Encode()
			}
		case 1:
			var v AllocatedRange
			if v, err = DecodeAllocatedRange(in); err == nil {
				enc = v.AppendTo(nil)
			}
		case 2:
			var v FileLevelTrim
			if v, err = DecodeFileLevelTrim(in); err == nil {
				enc = v.Encode()
			}
		case 3:
			var v SrvCopychunkCopy
			if v, err = DecodeSrvCopychunkCopy(in); err == nil {
				if len(v.Chunks)*24 > len(in) {
					t.Fatalf("%d chunks from %d bytes", len(v.Chunks), len(in))
				}
				_ = v.Encode()
			}
		case 4:
			_, _ = DecodeNetworkResiliencyRequest(in)
		case 5:
			_, _ = DecodeSetIntegrityInformation(in)
		case 6:
			var v OffloadReadInput
			if v, err = DecodeOffloadReadInput(in); err == nil {
				enc = v.Encode()
				enc, in = enc[16:], in[16:32] // reserved word not kept
			}
		case 7:
			var v OffloadWriteInput
			if v, err = DecodeOffloadWriteInput(in); err == nil {
				enc = v.Encode()
			}
		case 8:
			var v DuplicateExtentsData
			if v, err = DecodeDuplicateExtentsData(in); err == nil {
				enc = v.Encode()
			}
		}
		if enc != nil && !bytes.HasPrefix(in, enc) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", in, enc)
		}
	})
}
