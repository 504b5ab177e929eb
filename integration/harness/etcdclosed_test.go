package harness

import (
	"strings"
	"testing"

	"sofs.io/sofs/internal/testetcd"
)

// TestEtcdStrangerFindsOpenEtcd: the checker reports a member without TLS,
// so its silence on a cluster means something.
func TestEtcdStrangerFindsOpenEtcd(t *testing.T) {
	n := testetcd.Start(t) // plain HTTP
	err := EtcdStranger(t.Context(), t.TempDir(), n.ClientURL(), "")
	if err == nil || !strings.Contains(err.Error(), "plain HTTP") {
		t.Fatalf("EtcdStranger on an open member: %v", err)
	}
}
