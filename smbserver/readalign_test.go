package smbserver

import (
	"testing"
	"unsafe"

	"sofs.io/sofs/smbserver/smbcrypto"
)

// TestReadResponseStartAlignsData checks that a READ response placed at
// readResponseStart has its data on a readDataAlign boundary, with the
// transform header's room before it and the whole response inside the
// buffer, wherever the buffer itself starts.
func TestReadResponseStartAlignsData(t *testing.T) {
	const length = 3*readDataAlign + 5
	backing := make([]byte, 2*readDataAlign+smbcrypto.TransformHeaderSize+readResponseFixed+readDataAlign+length)
	for shift := range readDataAlign + 1 {
		buf := backing[shift : shift : shift+smbcrypto.TransformHeaderSize+readResponseFixed+readDataAlign+length]
		start := readResponseStart(buf)
		if start < smbcrypto.TransformHeaderSize {
			t.Fatalf("shift %d: start %d leaves less than the transform header's %d bytes", shift, start, smbcrypto.TransformHeaderSize)
		}
		if end := start + readResponseFixed + length; end > cap(buf) {
			t.Fatalf("shift %d: response ends at %d, past the buffer's %d", shift, end, cap(buf))
		}
		data := uintptr(unsafe.Pointer(&buf[:start+readResponseFixed+1][start+readResponseFixed]))
		if data%readDataAlign != 0 {
			t.Fatalf("shift %d: data at address %#x, not %d-aligned", shift, data, readDataAlign)
		}
	}
}

// TestSealRoomFindsTheResponse checks that sealRoom hands back the frame
// with the transform header's room right before the response, wherever in
// its buffer the response starts, and refuses a response it cannot seal
// in place.
func TestSealRoomFindsTheResponse(t *testing.T) {
	const room = smbcrypto.TransformHeaderSize
	outBuf := make([]byte, 0, 8192)
	for _, start := range []int{room, room + 1, 4000, 4096 - readResponseFixed} {
		r := &request{outBuf: outBuf, out: outBuf[start : start+500]}
		frame, ok := sealRoom(r)
		if !ok {
			t.Fatalf("start %d: no room found", start)
		}
		if len(frame) != room+500 || &frame[room] != &r.out[0] {
			t.Fatalf("start %d: frame of %d bytes does not end with the response", start, len(frame))
		}
	}
	refused := map[string]*request{
		"no room before":      {outBuf: outBuf, out: outBuf[room-1 : room+499]},
		"no room for the tag": {outBuf: outBuf, out: outBuf[4096 : cap(outBuf)-smbcrypto.SealInPlaceRoom+1]},
		"another buffer":      {outBuf: outBuf, out: make([]byte, 500, 600)},
		"no buffer":           {out: outBuf[room : room+500]},
	}
	for name, r := range refused {
		if _, ok := sealRoom(r); ok {
			t.Errorf("%s: sealRoom accepted a response it cannot seal in place", name)
		}
	}
}
