package sofs_test

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden lists, per package pattern, the sofs packages it must never
// depend on, and why. The direction is the brief's: cmd -> (smbserver,
// witness, admin API) -> (csv, namespace) -> etcd client.
var forbidden = []struct {
	pkg    string
	denied []string
	why    string
}{
	{"sofs.io/sofs/csv/...", []string{"sofs.io/sofs/smbserver", "sofs.io/sofs/witness", "sofs.io/sofs/cmd", "sofs.io/sofs/namespace"}, "storage knows nothing of protocols or cluster shape"},
	{"sofs.io/sofs/namespace/...", []string{"sofs.io/sofs/smbserver", "sofs.io/sofs/witness", "sofs.io/sofs/cmd", "sofs.io/sofs/csv"}, "the namespace is below the protocol engines"},
	{"sofs.io/sofs/smbserver/...", []string{"sofs.io/sofs/witness", "sofs.io/sofs/cmd"}, "the SMB engine does not reach up or sideways"},
	{"sofs.io/sofs/witness/...", []string{"sofs.io/sofs/smbserver", "sofs.io/sofs/cmd", "sofs.io/sofs/adminapi", "sofs.io/sofs/csv"}, "witness and SMB are peers wired by cmd; the witness sees the cluster through namespace only"},
	{"sofs.io/sofs/adminapi/...", []string{"sofs.io/sofs/smbserver", "sofs.io/sofs/witness", "sofs.io/sofs/cmd", "sofs.io/sofs/csv"}, "the admin API sees the server only through the views cmd adapts"},
	{"sofs.io/sofs/namespace/clustertls", []string{"sofs.io/sofs/"}, "the cluster's certificates are a leaf any node-to-node transport may use"},
	{"sofs.io/sofs/dcerpc/...", []string{"sofs.io/sofs/smbserver", "sofs.io/sofs/witness", "sofs.io/sofs/cmd", "sofs.io/sofs/csv", "sofs.io/sofs/namespace", "sofs.io/sofs/adminapi"}, "the DCE/RPC engine is shared by SMB and the witness and knows neither"},
	{"sofs.io/sofs/dcerpc/ndr", []string{"sofs.io/sofs/"}, "NDR codecs are pure"},
	{"sofs.io/sofs/auth/...", []string{"sofs.io/sofs/smbserver$", "sofs.io/sofs/smbserver/rpc", "sofs.io/sofs/smbserver/smbcrypto", "sofs.io/sofs/smbserver/fscc", "sofs.io/sofs/witness", "sofs.io/sofs/cmd", "sofs.io/sofs/csv", "sofs.io/sofs/namespace", "sofs.io/sofs/dcerpc", "sofs.io/sofs/adminapi"}, "authentication mechanisms serve SMB and DCE/RPC alike and know neither (the pure SID codec, smbserver/secdesc, is allowed: a PAC names SIDs)"},
	{"sofs.io/sofs/smbserver/wire", []string{"sofs.io/sofs/"}, "wire codecs are pure"},
	{"sofs.io/sofs/smbserver/fscc", []string{"sofs.io/sofs/"}, "info-class codecs are pure"},
	{"sofs.io/sofs/smbserver/secdesc", []string{"sofs.io/sofs/"}, "the security descriptor codec is pure"},
	{"sofs.io/sofs/auth/...", []string{"sofs.io/sofs/smbserver/wire", "sofs.io/sofs/csv", "sofs.io/sofs/namespace", "sofs.io/sofs/integration"}, "authentication mechanisms deal in tokens, keys and identities, not SMB messages or storage (so the witness RPC can share them)"},
}

func TestDependencyDirection(t *testing.T) {
	for _, f := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", f.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", f.pkg, err, out)
		}
		self := strings.TrimSuffix(f.pkg, "/...")
		for _, dep := range strings.Fields(string(out)) {
			if dep == self || strings.HasPrefix(dep, self+"/") {
				continue
			}
			for _, d := range f.denied {
				if exact, ok := strings.CutSuffix(d, "$"); ok {
					// "pkg$" denies pkg itself, not its subpackages.
					if dep == exact {
						t.Errorf("%s depends on %s: %s", f.pkg, dep, f.why)
					}
					continue
				}
				if dep == d || strings.HasPrefix(dep, strings.TrimSuffix(d, "/")+"/") || (strings.HasSuffix(d, "/") && strings.HasPrefix(dep, d)) {
					t.Errorf("%s depends on %s: %s", f.pkg, dep, f.why)
				}
			}
		}
	}
}
