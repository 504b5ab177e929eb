package integration

import (
	"slices"
	"strings"
	"testing"
)

// lsSample is smbclient 4.17 ls output, including a name with spaces and
// digits that must not be mistaken for the size column.
const lsSample = `  .                                   D        0  Sun Nov 22 05:31:50 2026
  ..                                  D        0  Sun Nov 22 05:31:50 2026
  b.bin                               A  4194304  Sun Nov 22 05:31:51 2026
  my file 2 1024                      N     1024  Mon Nov  2 09:01:02 2026
  sub                                 D        0  Sun Nov 22 05:31:51 2026

		258369580 blocks of size 1024. 82735604 blocks available
`

func TestParseLs(t *testing.T) {
	got := parseLs(lsSample)
	want := []lsEntry{
		{Name: "b.bin", Attrs: "A", Size: 4194304},
		{Name: "my file 2 1024", Attrs: "N", Size: 1024},
		{Name: "sub", Attrs: "D", Size: 0},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("parseLs:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseShareList(t *testing.T) {
	const out = "\n\tSharename       Type      Comment\n\t---------       ----      -------\n" +
		"\tshare           Disk      \n\tIPC$            IPC       IPC Service (samba reference)\n" +
		"\tmy share        Disk      with spaces\nSMB1 disabled -- no workgroup available\n"
	got := parseShareList(out)
	if !slices.Equal(got, []string{"share", "IPC$", "my share"}) {
		t.Fatalf("parseShareList: %q", got)
	}
}

// FuzzParseSmbclient feeds arbitrary text (server-controlled names end up
// in smbclient's output) to both parsers: they must not panic and must only
// return well-formed entries.
func FuzzParseSmbclient(f *testing.F) {
	f.Add(lsSample)
	f.Add("\tshare           Disk      \n")
	f.Fuzz(func(t *testing.T, out string) {
		for _, e := range parseLs(out) {
			if e.Name == "" || e.Size < 0 || strings.Contains(e.Name, "\n") {
				t.Fatalf("bad ls entry %+v", e)
			}
		}
		for _, n := range parseShareList(out) {
			if n == "" || strings.Contains(n, "\n") {
				t.Fatalf("bad share name %q", n)
			}
		}
	})
}
