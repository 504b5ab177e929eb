package wire

import "testing"

// The READ and WRITE paths carry the bulk of the bytes, so their codecs
// must not allocate (STYLE practice 18).

func readMsg() []byte {
	return encode(CmdRead, &ReadRequest{Length: 1 << 20, Offset: 4096, FileID: fid, MinimumCount: 0})
}

func writeMsg() []byte {
	return encode(CmdWrite, &WriteRequest{Offset: 4096, FileID: fid, Data: make([]byte, 64<<10)})
}

func TestReadWriteZeroAlloc(t *testing.T) {
	rm, wm := readMsg(), writeMsg()
	var r ReadRequest
	if n := testing.AllocsPerRun(100, func() {
		if err := r.Decode(rm); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ReadRequest.Decode allocates %v times", n)
	}
	var w WriteRequest
	if n := testing.AllocsPerRun(100, func() {
		if err := w.Decode(wm); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("WriteRequest.Decode allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, _, err := w.DecodeFixed(wm[:WriteRequestDataOffset], len(wm)); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("WriteRequest.DecodeFixed allocates %v times", n)
	}
	buf := make([]byte, HeaderSize, HeaderSize+16)
	resp := ReadResponse{}
	if n := testing.AllocsPerRun(100, func() {
		_ = resp.AppendFixedTo(buf[:HeaderSize], 1<<20)
	}); n != 0 {
		t.Errorf("ReadResponse.AppendFixedTo allocates %v times", n)
	}
	wbuf := make([]byte, HeaderSize, HeaderSize+16)
	if n := testing.AllocsPerRun(100, func() {
		_ = (&WriteResponse{Count: 1}).AppendTo(wbuf[:HeaderSize])
	}); n != 0 {
		t.Errorf("WriteResponse.AppendTo allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := DecodeHeader(rm); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("DecodeHeader allocates %v times", n)
	}
}

func BenchmarkDecodeHeader(b *testing.B) {
	m := readMsg()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeHeader(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadRequestDecode(b *testing.B) {
	m := readMsg()
	var r ReadRequest
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Decode(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteRequestDecode(b *testing.B) {
	m := writeMsg()
	var w WriteRequest
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Decode(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadResponseEncode(b *testing.B) {
	buf := make([]byte, HeaderSize, HeaderSize+16)
	r := ReadResponse{}
	b.ReportAllocs()
	for b.Loop() {
		_ = r.AppendFixedTo(buf[:HeaderSize], 1<<20)
	}
}

func BenchmarkCreateRequestDecode(b *testing.B) {
	m := encode(CmdCreate, &CreateRequest{Name: `dir\file.txt`, Contexts: []CreateContext{{Name: "MxAc"}, {Name: "QFid"}}})
	var r CreateRequest
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Decode(m); err != nil {
			b.Fatal(err)
		}
	}
}
