package krb5

import (
	"crypto/rand"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The AP-REP (RFC 4120 5.5.2) proves the server holds the service key:
// it returns the client's authenticator time encrypted in the ticket's
// session key. gokrb5 decodes AP-REPs but does not build them.

// encAPRepPart is EncAPRepPart ::= [APPLICATION 27] SEQUENCE. subkey is
// the acceptor subkey, which keys the context from then on (RFC 4121 2);
// seq-number is the acceptor's initial sequence number for MIC tokens
// (RFC 4121 4.2.6).
type encAPRepPart struct {
	CTime  time.Time     `asn1:"generalized,explicit,tag:0"`
	Cusec  int           `asn1:"explicit,tag:1"`
	Subkey encryptionKey `asn1:"explicit,tag:2"`
	Seq    int64         `asn1:"explicit,tag:3"`
}

// encryptionKey is EncryptionKey (RFC 4120 5.2.9).
type encryptionKey struct {
	KeyType  int32  `asn1:"explicit,tag:0"`
	KeyValue []byte `asn1:"explicit,tag:1"`
}

// apRep is AP-REP ::= [APPLICATION 15] SEQUENCE.
type apRep struct {
	PVNO    int           `asn1:"explicit,tag:0"`
	MsgType int           `asn1:"explicit,tag:1"`
	EncPart encryptedData `asn1:"explicit,tag:2"`
}

// encryptedData is EncryptedData (RFC 4120 5.2.9) without kvno, which an
// AP-REP's part (encrypted in a session key) does not carry.
type encryptedData struct {
	EType  int32  `asn1:"explicit,tag:0"`
	Cipher []byte `asn1:"explicit,tag:2"`
}

const (
	pvno         = 5
	msgTypeAPRep = 15
	tagAPRep     = 15
	tagEncAPRep  = 27
)

// buildAPRep returns the DER AP-REP answering auth.
func buildAPRep(auth *types.Authenticator, key, subkey types.EncryptionKey, seq uint64) ([]byte, error) {
	part, err := asn1.MarshalWithParams(encAPRepPart{CTime: auth.CTime.UTC(), Cusec: auth.Cusec,
		Subkey: encryptionKey{KeyType: subkey.KeyType, KeyValue: subkey.KeyValue}, Seq: int64(seq)},
		fmt.Sprintf("application,explicit,tag:%d", tagEncAPRep))
	if err != nil {
		return nil, fmt.Errorf("krb5: EncAPRepPart: %w", err)
	}
	ed, err := crypto.GetEncryptedData(part, key, keyUsageAPRep, 0)
	if err != nil {
		return nil, fmt.Errorf("krb5: encrypt AP-REP: %w", err)
	}
	b, err := asn1.MarshalWithParams(apRep{PVNO: pvno, MsgType: msgTypeAPRep, EncPart: encryptedData{EType: ed.EType, Cipher: ed.Cipher}},
		fmt.Sprintf("application,explicit,tag:%d", tagAPRep))
	if err != nil {
		return nil, fmt.Errorf("krb5: AP-REP: %w", err)
	}
	return b, nil
}

// randomSeq returns a non-zero initial sequence number below maxSeq.
func randomSeq() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("krb5: sequence number: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:])%(maxSeq-1) + 1, nil
}
