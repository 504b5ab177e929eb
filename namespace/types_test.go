package namespace

import (
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

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

// FuzzDecodeRecords feeds arbitrary bytes to the record decoders, which
// read whatever is stored in etcd (possibly hand-edited): they must never
// panic, and anything accepted must satisfy validation.
func FuzzDecodeRecords(f *testing.F) {
	f.Add([]byte(`{"name":"share","path":"/srv/share","comment":"c","continuouslyAvailable":true}`))
	f.Add([]byte(`{"name":"test","ntHash":"a4f49c406510bdcab6824ee7c30fd852","created":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"name":"sofs","serverGuid":"6b29fc40-ca47-1067-b31d-00dd010662da"}`))
	f.Add([]byte(`{"name":"IPC$","path":"/x"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if sh, err := decodeShare(b); err == nil {
			if err := sh.Validate(); err != nil {
				t.Fatalf("decodeShare accepted invalid share: %v", err)
			}
		}
		if rec, _, err := decodeUser(b); err == nil {
			if err := ValidateUserName(rec.Name); err != nil {
				t.Fatalf("decodeUser accepted invalid name: %v", err)
			}
		}
		decodeCluster(b)
	})
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
