package smbserver

import (
	"encoding/binary"
	"testing"
	"unicode/utf16"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/smbserver/fscc"
	"sofs.io/sofs/smbserver/wire"
)

// TestAlternateName: a long name has an 8.3 alternate name, reported by
// FileAlternateNameInformation ([MS-FSCC] 2.4.5) and as the ShortName of
// its directory entry, and usable to open the file; an 8.3 name is its
// own alternate name and has no separate ShortName in listings.
func TestAlternateName(t *testing.T) {
	ts := startServer(t, nil)
	c := dialFS(t, ts)
	const long = "a long file name.txt"
	f := c.mustCreate(fsOpenIf(long)).FileID
	st, buf := c.queryInfo(f, infoFile, fscc.FileAlternateNameInformation, 0)
	short := csv.ShortName(long)
	if st != wire.StatusSuccess || fsName(buf) != short || short == "" {
		t.Fatalf("alternate name: %#x %q, want %q", uint32(st), fsName(buf), short)
	}
	c.close(f)
	g := c.mustCreate(fsOpenIf("SHORT.TXT")).FileID
	if st, buf := c.queryInfo(g, infoFile, fscc.FileAlternateNameInformation, 0); st != wire.StatusSuccess || fsName(buf) != "SHORT.TXT" {
		t.Errorf("alternate name of an 8.3 name: %#x %q", uint32(st), fsName(buf))
	}
	c.close(g)
	root := c.mustCreate(wire.CreateRequest{Name: "", DesiredAccess: maximumAllowed, CreateDisposition: 1}).FileID
	if st, _ := c.queryInfo(root, infoFile, fscc.FileAlternateNameInformation, 0); st != wire.StatusObjectNameNotFound {
		t.Errorf("alternate name of the root: %#x, want OBJECT_NAME_NOT_FOUND", uint32(st))
	}
	st, buf = c.queryDir(root, fscc.FileBothDirectoryInformation, 0, "*", 65536)
	if st != wire.StatusSuccess {
		t.Fatalf("query directory: %#x", uint32(st))
	}
	got := map[string]string{}
	for len(buf) >= 94 {
		next := binary.LittleEndian.Uint32(buf)
		nameLen := binary.LittleEndian.Uint32(buf[60:])
		shortLen := int(buf[68])
		got[fsUTF16(buf[94:94+nameLen])] = fsUTF16(buf[70 : 70+shortLen])
		if next == 0 {
			break
		}
		buf = buf[next:]
	}
	if got[long] != short || got["SHORT.TXT"] != "" {
		t.Errorf("ShortName in listing: %q", got)
	}
	// The short name opens the file.
	resp := c.mustCreate(wire.CreateRequest{Name: short, DesiredAccess: maximumAllowed, CreateDisposition: 1})
	st, buf = c.queryInfo(resp.FileID, infoFile, fscc.FileNameInformation, 0)
	if st != wire.StatusSuccess || fsName(buf) != `\`+long {
		t.Errorf("opened by short name: %#x %q", uint32(st), fsName(buf))
	}
}

// fsName decodes a FILE_NAME_INFORMATION.
func fsName(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	n := binary.LittleEndian.Uint32(b)
	if 4+int(n) > len(b) {
		return ""
	}
	return fsUTF16(b[4 : 4+n])
}

func fsUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
