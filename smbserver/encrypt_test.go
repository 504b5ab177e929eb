package smbserver

import (
	"bytes"
	"testing"
)

// TestGlobalEncryption runs a whole session on a server that requires
// encryption everywhere (sofsd --encrypt): the session setup must complete
// (its final response signed, not encrypted) and file I/O must work.
func TestGlobalEncryption(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.EncryptData = true })
	fs, err := ts.mount(t, "test", "test123")
	if err != nil {
		t.Fatalf("mount on an encrypt-everything server: %v", err)
	}
	defer fs.Umount()
	data := bytes.Repeat([]byte("sealed"), 10000)
	if err := fs.WriteFile("e.bin", data, 0o644); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := fs.ReadFile("e.bin")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	sessions := ts.srv.Sessions()
	if len(sessions) != 1 || !sessions[0].Encrypted {
		t.Fatalf("session not marked encrypted: %+v", sessions)
	}
}
