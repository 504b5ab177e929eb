package krb5

import (
	"testing"
	"time"
)

// FuzzAccept feeds arbitrary tokens to the acceptor: it must refuse them
// with an error, never panic, hang or allocate without bound. Seeds are a
// valid AP-REQ token and its truncations.
func FuzzAccept(f *testing.F) {
	kt := testKeytab(f)
	tkt, skey := ticketFor(f, kt, "SOFS1$", "cifs/sofs1", time.Now().Add(time.Hour))
	tok, _ := apReqToken(f, tkt, skey, true, time.Now())
	f.Add(tok)
	f.Add(tok[:len(tok)/2])
	f.Add(tok[17:])
	f.Add([]byte{0x60, 0x84, 0xff, 0xff, 0xff, 0xff})
	a := newTestAcceptor(kt, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := a.Accept(b)
		if err == nil && res == nil {
			t.Fatal("nil result without error")
		}
	})
}

// FuzzPACLayout checks that the PAC layout check bounds every buffer.
func FuzzPACLayout(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkPACLayout(b) == nil {
			n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16 | int(b[3])<<24
			if 8+16*n > len(b) {
				t.Fatalf("accepted %d buffers in %d bytes", n, len(b))
			}
		}
	})
}
