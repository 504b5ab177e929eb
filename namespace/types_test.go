package namespace

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/md4"
)

// TestNTHashVector checks NTOWFv1 against [MS-NLMP] 4.2.2.1.2, where the
// password "Password" yields a4f49c406510bdcab6824ee7c30fd852.
func TestNTHashVector(t *testing.T) {
	h := NTHash("Password")
	if got, want := hex.EncodeToString(h[:]), "a4f49c406510bdcab6824ee7c30fd852"; got != want {
		t.Fatalf("NTHash(Password) = %s, want %s", got, want)
	}
	// A non-ASCII password is hashed as UTF-16LE ("ä" is e4 00; "😀" is
	// the surrogate pair 3d d8 00 de), not as UTF-8.
	for pw, utf16le := range map[string]string{"ä": "e400", "😀": "3dd800de"} {
		b, _ := hex.DecodeString(utf16le)
		m := md4.New()
		m.Write(b)
		if h := NTHash(pw); hex.EncodeToString(h[:]) != hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("NTHash(%q) is not MD4 of %s", pw, utf16le)
		}
	}
}

// TestGUIDString uses the example GUID of [MS-DTYP] 2.3.4.3,
// {6B29FC40-CA47-1067-B31D-00DD010662DA}, whose packet form starts with
// Data1 little-endian.
func TestGUIDString(t *testing.T) {
	wire, _ := hex.DecodeString("40fc296b47ca6710b31d00dd010662da")
	var g GUID
	copy(g[:], wire)
	if got, want := g.String(), "6b29fc40-ca47-1067-b31d-00dd010662da"; got != want {
		t.Fatalf("String = %s, want %s", got, want)
	}
	b, err := json.Marshal(Cluster{Name: "c", ServerGUID: g})
	if err != nil {
		t.Fatal(err)
	}
	var c Cluster
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.ServerGUID != g {
		t.Fatalf("round trip gave %x, want %x", c.ServerGUID, g)
	}
	for _, bad := range []string{"", "6b29fc40ca471067b31d00dd010662da", "6b29fc40-ca47-1067-b31d-00dd010662dz", "6b29fc40-ca47-1067-b31d+00dd010662da"} {
		if err := g.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted", bad)
		}
	}
}

// fuzzLease is the lease the fuzzed witness registrations' keys are
// attached to.
const fuzzLease = 0x1234

// recordDecoder is one decoder of values read back from etcd, with the
// invariants anything it accepts must satisfy and its encoder.
type recordDecoder struct {
	name   string
	decode func([]byte) (any, error)
	check  func(any) error
	encode func(any) ([]byte, error)
}

func jsonEncode(v any) ([]byte, error) { return json.Marshal(v) }

var recordDecoders = []recordDecoder{
	{"share", func(b []byte) (any, error) { return decodeShare(b) }, func(v any) error { return v.(Share).Validate() }, jsonEncode},
	{"user", func(b []byte) (any, error) { r, _, err := decodeUser(b); return r, err }, func(v any) error {
		r := v.(userRecord)
		if err := ValidateUserName(r.Name); err != nil {
			return err
		}
		_, err := r.hash()
		return err
	}, jsonEncode},
	{"cluster", func(b []byte) (any, error) { return decodeCluster(b) }, func(any) error { return nil }, jsonEncode},
	{"volume", func(b []byte) (any, error) { return decodeVolume(b) }, func(v any) error { return v.(Volume).Validate() }, jsonEncode},
	{"join-token", func(b []byte) (any, error) { return decodeJoinToken(b) }, func(v any) error {
		r := v.(JoinTokenRecord)
		if len(r.SecretHash) != 64 || !isHex(r.SecretHash) || r.Expires.IsZero() || (r.UsedBy != "" && r.UsedAt == nil) {
			return errors.New("accepted a bad hash, no expiry or half a use")
		}
		return nil
	}, jsonEncode},
	{"witness", func(b []byte) (any, error) { return decodeWitness(b, 7, fuzzLease) }, func(v any) error {
		r := v.(WitnessRegistration)
		if r.Lease != fuzzLease || r.ID == "" || strings.ContainsAny(r.ID, "/ ") || len(r.ID) > maxWitnessID || r.rev != 7 {
			return errors.New("accepted another lease or a bad id")
		}
		return nil
	}, jsonEncode},
	{"node", func(b []byte) (any, error) { return decodeNode(b) }, func(v any) error {
		n := v.(NodeRecord)
		if n.ID == "" || strings.ContainsAny(n.ID, "/ ") || len(n.ID) > maxNodeID {
			return errors.New("accepted a bad id")
		}
		switch n.State {
		case NodeJoining, NodeUp, NodeDraining, NodeDown:
			return nil
		}
		return errors.New("accepted an unknown state")
	}, jsonEncode},
	{"secret", func(b []byte) (any, error) { return decodeClusterSecret(b) }, func(v any) error {
		if n := len(v.([]byte)); n < 16 || n > maxClusterSecret {
			return errors.New("accepted a secret of a bad size")
		}
		return nil
	}, func(v any) ([]byte, error) { return []byte(base64.StdEncoding.EncodeToString(v.([]byte))), nil }},
	{"slot-counter", func(b []byte) (any, error) { return parseSlotCounter(b) }, func(v any) error {
		if v.(uint64) > maxSlot {
			return errors.New("accepted a counter beyond the last slot")
		}
		return nil
	}, func(v any) ([]byte, error) { return []byte(strconv.FormatUint(v.(uint64), 10)), nil }},
	{"coordinator", func(b []byte) (any, error) { return parseCoordinatorSlot(b) }, func(v any) error {
		if v.(uint16) == 0 {
			return errors.New("accepted slot 0")
		}
		return nil
	}, func(v any) ([]byte, error) { return []byte(strconv.Itoa(int(v.(uint16)))), nil }},
}

// recordSeeds are valid values of every record kind, as the store
// writes them.
func recordSeeds(t testing.TB) [][]byte {
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	vol, err := NewVolume("vol1", "/srv/vol1")
	if err != nil {
		t.Fatal(err)
	}
	vol.Created = when
	var out [][]byte
	for _, v := range []any{
		Share{Name: "share", Path: "/srv/share", Comment: "c", ContinuouslyAvailable: true},
		userRecord{Name: "test", NTHash: "a4f49c406510bdcab6824ee7c30fd852", Created: when},
		Cluster{Name: "sofs", ServerGUID: GUID{1, 2, 3}},
		vol,
		JoinTokenRecord{SecretHash: strings.Repeat("ab", 32), Created: when, Expires: when.Add(time.Hour)},
		JoinTokenRecord{SecretHash: strings.Repeat("cd", 32), Created: when, Expires: when.Add(time.Hour), UsedBy: "n3", UsedAt: &when},
		WitnessRegistration{ID: "6b29fc40-ca47-1067-b31d-00dd010662da", Version: 0x20000, NetName: "SOFS", IPAddress: "10.0.0.1",
			NodeID: "n1", Client: "CLIENT1", Via: "n1", Since: when, Reported: WitnessAvailable, Addresses: []string{"10.0.0.1"}, Lease: fuzzLease},
		NodeRecord{ID: "6b29fc40-ca47-1067-b31d-00dd010662da", Name: "node-a", SMBAddresses: []string{"10.0.0.1:445"}, State: NodeUp,
			StartedAt: when, Slot: 3, PeerAddress: "10.0.0.1:7946", Draining: true},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return append(out, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))), []byte("65535"), []byte("3"))
}

// FuzzDecodeRecords feeds arbitrary bytes to every decoder of values read
// back from etcd (possibly damaged or hand-edited): none panics, what one
// accepts satisfies its validation, and its encoding decodes to the same
// encoding again.
func FuzzDecodeRecords(f *testing.F) {
	for _, b := range recordSeeds(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"name":"IPC$","path":"/x"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, d := range recordDecoders {
			v, err := d.decode(b)
			if err != nil {
				continue
			}
			if err := d.check(v); err != nil {
				t.Fatalf("%s: accepted %q: %v", d.name, b, err)
			}
			enc, err := d.encode(v)
			if err != nil {
				continue // a time outside years 0..9999 decodes but does not encode
			}
			v2, err := d.decode(enc)
			if err != nil {
				t.Fatalf("%s: its own encoding %s refused: %v", d.name, enc, err)
			}
			if enc2, _ := d.encode(v2); !bytes.Equal(enc, enc2) {
				t.Fatalf("%s: does not round-trip: %s then %s", d.name, enc, enc2)
			}
		}
	})
}

// TestRecordSeedsAccepted: the store's own encodings decode.
func TestRecordSeedsAccepted(t *testing.T) {
	seeds := recordSeeds(t)
	at := []int{0, 1, 2, 3, 4, 6, 7, 8, 9, 10}
	for i, d := range recordDecoders {
		if _, err := d.decode(seeds[at[i]]); err != nil {
			t.Errorf("%s refused %s: %v", d.name, seeds[at[i]], err)
		}
	}
}

// TestDamagedRecordsRefused lists stored values that must not be acted
// on.
func TestDamagedRecordsRefused(t *testing.T) {
	byName := map[string]recordDecoder{}
	for _, d := range recordDecoders {
		byName[d.name] = d
	}
	for _, c := range []struct{ decoder, value string }{
		{"witness", `{"id":"x","lease":1}`},        // another lease than the key's
		{"witness", `{"id":"","lease":4660}`},      // no id
		{"witness", `{"id":"a/b","lease":4660}`},   // an id that is a path
		{"node", `{"id":"n1","state":"exploded"}`}, // an unknown state
		{"node", `{"id":"n1/x","state":"up"}`},
		{"node", `{"state":"up"}`},
		{"join-token", `{"secretHash":"zz","expires":"2026-01-01T00:00:00Z"}`},
		{"join-token", `{"secretHash":"` + strings.Repeat("ab", 32) + `"}`},
		{"join-token", `{"secretHash":"` + strings.Repeat("ab", 32) + `","expires":"2026-01-01T00:00:00Z","usedBy":"n3"}`},
		{"volume", `{"name":"v","path":"/srv/v","id":"nothex"}`},
		{"secret", `c2hvcnQ=`},
		{"secret", strings.Repeat("A", 4*maxClusterSecret)},
		{"slot-counter", `65536`},
		{"slot-counter", `-1`},
		{"coordinator", `0`},
		{"coordinator", ` 3`},
	} {
		if _, err := byName[c.decoder].decode([]byte(c.value)); err == nil {
			t.Errorf("%s accepted %s", c.decoder, c.value)
		}
	}
}

func TestSharePermissionsValidate(t *testing.T) {
	ok := Share{Name: "s", Path: "/p", Permissions: []SharePermission{{Account: "Everyone", Access: "READ"}, {Account: "bob", Access: "full", Deny: true}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid permissions refused: %v", err)
	}
	for _, p := range []SharePermission{{Account: "", Access: "read"}, {Account: "bob", Access: "write"}, {Account: strings.Repeat("a", 257), Access: "read"}} {
		sh := Share{Name: "s", Path: "/p", Permissions: []SharePermission{p}}
		if err := sh.Validate(); err == nil {
			t.Errorf("permission %+v accepted", p)
		}
	}
	// A domain account is stored only with its SID; the form check
	// (before the directory lookup) lets it through without one.
	dom := Share{Name: "s", Path: "/p", Permissions: []SharePermission{{Account: `EXAMPLE\Domain Users`, Access: "read"}}}
	if err := dom.Validate(); err == nil {
		t.Error("domain account without SID accepted")
	}
	if err := dom.ValidateForm(); err != nil {
		t.Errorf("ValidateForm refused a domain account awaiting its SID: %v", err)
	}
	dom.Permissions = append(dom.Permissions, SharePermission{Account: "alice@example.com", Access: "full"})
	dom.Permissions[0].SID, dom.Permissions[1].SID = "S-1-5-21-1-2-3-513", "s-1-5-21-1-2-3-1104"
	if err := dom.Validate(); err != nil {
		t.Errorf("domain accounts with SIDs refused: %v", err)
	}
	for _, sid := range []string{"S-1", "S-2-5-21", "S-1-5-", "S-1-5-x", "1-5-21", "S-1-5" + strings.Repeat("-1", 16), "S-1-99999999999999999999999"} {
		dom.Permissions[0].SID = sid
		if err := dom.ValidateForm(); err == nil {
			t.Errorf("sid %q accepted", sid)
		}
	}
	many := Share{Name: "s", Path: "/p", Permissions: make([]SharePermission, MaxSharePermissions+1)}
	for i := range many.Permissions {
		many.Permissions[i] = SharePermission{Account: "Everyone", Access: "read"}
	}
	if err := many.Validate(); err == nil {
		t.Error("too many permissions accepted")
	}
	// The list survives the JSON round trip of the store.
	b, err := json.Marshal(ok)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeShare(b)
	if err != nil || !reflect.DeepEqual(got, ok) {
		t.Fatalf("decodeShare = %+v %v", got, err)
	}
}
