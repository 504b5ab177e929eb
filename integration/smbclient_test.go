package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sofs.io/sofs/integration/harness"
)

// smbclientDialects are the dialects of the matrix, as smbclient names them
// ([MS-SMB2] 2.2.3: 0x0202, 0x0210, 0x0300, 0x0302, 0x0311).
var smbclientDialects = []string{"SMB2_02", "SMB2_10", "SMB3_00", "SMB3_02", "SMB3_11"}

// smbclientModes are the protection modes of the matrix. Encryption needs
// SMB 3.x ([MS-SMB2] 3.3.5.2.9); smbclient with --client-protection=encrypt
// refuses to go on over 2.x, so those cells expect a failure.
var smbclientModes = []smbclientMode{modeSign, modeEncrypt}

// listing10k is how many files the big directory listing holds: more than
// fits in one QUERY_DIRECTORY response, so resumption is exercised.
const listing10k = 10000

func TestSmbclientMatrix(t *testing.T) {
	bin := harness.RequireTool(t, "smbclient")
	target := harness.FromEnv(t)
	local := t.TempDir()
	src, srcSum := writeRandomFile(t, local, "src4m.bin", 4<<20)
	names10k := populateDir(t, target.ShareDir, "list10k", listing10k)

	for _, dialect := range smbclientDialects {
		t.Run(dialect, func(t *testing.T) {
			for _, mode := range smbclientModes {
				t.Run(string(mode), func(t *testing.T) {
					c := &smbclient{bin: bin, target: target, dialect: dialect, mode: mode}
					if mode == modeEncrypt && !strings.HasPrefix(dialect, "SMB3") {
						testEncryptNeedsSMB3(t, c)
						return
					}
					testSmbclientBasics(t, c, src, srcSum)
				})
			}
			t.Run("ls10k", func(t *testing.T) {
				c := &smbclient{bin: bin, target: target, dialect: dialect, mode: modeSign}
				out := c.run(t, 5*time.Minute, "ls list10k/*")
				got := parseLs(out)
				if len(got) != listing10k {
					t.Fatalf("ls list10k: %d entries, want %d", len(got), listing10k)
				}
				seen := make(map[string]bool, len(got))
				for _, e := range got {
					if !names10k[e.Name] || seen[e.Name] {
						t.Fatalf("ls list10k: unexpected or duplicate entry %q", e.Name)
					}
					seen[e.Name] = true
				}
			})
		})
	}
}

// testEncryptNeedsSMB3 checks that requiring encryption over SMB 2.x does
// not silently fall back to plaintext: the connection must fail.
func testEncryptNeedsSMB3(t *testing.T, c *smbclient) {
	out, err := c.exec(time.Minute, append([]string{c.target.UNC()}, append(c.baseArgs(), "-c", "ls")...))
	if err == nil {
		t.Fatalf("smbclient %s with encryption required succeeded; SMB 2.x cannot encrypt\n%s", c.dialect, out)
	}
}

// testSmbclientBasics runs the per-cell operations: share listing, a 4 MiB
// round trip checked against the local file and the backing file, mkdir,
// rename, rm and rmdir, each checked through the server and on disk.
func testSmbclientBasics(t *testing.T, c *smbclient, src, srcSum string) {
	shares := c.listShares(t)
	for _, want := range []string{c.target.Share, "IPC$"} {
		if !slices.Contains(shares, want) {
			t.Fatalf("smbclient -L: shares %q lack %q", shares, want)
		}
	}

	dir := "m_" + c.dialect + "_" + string(c.mode)
	back := filepath.Join(c.target.ShareDir, dir)
	c.run(t, time.Minute, "mkdir "+dir)
	if fi, err := os.Stat(back); err != nil || !fi.IsDir() {
		t.Fatalf("after mkdir %s: backing dir: %v", dir, err)
	}

	c.run(t, 2*time.Minute, "put "+src+" "+dir+"/a.bin")
	if got := sha256File(t, filepath.Join(back, "a.bin")); got != srcSum {
		t.Fatalf("backing file after put: sha256 %s, want %s", got, srcSum)
	}
	dst := filepath.Join(t.TempDir(), "got.bin")
	c.run(t, 2*time.Minute, "get "+dir+"/a.bin "+dst)
	if got := sha256File(t, dst); got != srcSum {
		t.Fatalf("get: sha256 %s, want %s", got, srcSum)
	}

	c.run(t, time.Minute, "rename "+dir+"/a.bin "+dir+"/b.bin")
	ls := parseLs(c.run(t, time.Minute, "ls "+dir+"/*"))
	if len(ls) != 1 || ls[0].Name != "b.bin" || ls[0].Size != 4<<20 {
		t.Fatalf("ls after rename: %+v, want only b.bin of %d bytes", ls, 4<<20)
	}
	if _, err := os.Stat(filepath.Join(back, "a.bin")); !os.IsNotExist(err) {
		t.Fatalf("after rename: old name still on disk (err %v)", err)
	}

	c.run(t, time.Minute, "rm "+dir+"/b.bin")
	if _, err := os.Stat(filepath.Join(back, "b.bin")); !os.IsNotExist(err) {
		t.Fatalf("after rm: file still on disk (err %v)", err)
	}
	c.run(t, time.Minute, "rmdir "+dir)
	if _, err := os.Stat(back); !os.IsNotExist(err) {
		t.Fatalf("after rmdir: dir still on disk (err %v)", err)
	}
}

// BigMBEnv sizes the large transfer in MiB (default 1024) so that local runs
// can shrink it.
const BigMBEnv = "SOFS_TEST_BIG_MB"

func bigMB(t *testing.T) int {
	t.Helper()
	s := os.Getenv(BigMBEnv)
	if s == "" {
		return 1024
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", BigMBEnv, s)
	}
	return n
}

// TestSmbclientBigTransfer puts and gets one large file over SMB 3.1.1 with
// encryption required (the most expensive path: AES for every byte both
// ways) and compares sha256 of source, backing file and download.
func TestSmbclientBigTransfer(t *testing.T) {
	bin := harness.RequireTool(t, "smbclient")
	mb := bigMB(t)
	target := harness.FromEnv(t)
	c := &smbclient{bin: bin, target: target, dialect: "SMB3_11", mode: modeEncrypt}
	local := t.TempDir()
	src, sum := writeRandomFile(t, local, "big.bin", int64(mb)<<20)
	timeout := smbclientTimeout(mb)

	start := time.Now()
	c.run(t, timeout, "put "+src+" big.bin")
	t.Logf("put %d MiB: %v", mb, time.Since(start))
	back := filepath.Join(target.ShareDir, "big.bin")
	if fi, err := os.Stat(back); err != nil || fi.Size() != int64(mb)<<20 {
		t.Fatalf("backing file after put: %v (size want %d)", err, int64(mb)<<20)
	}
	// The source is no longer needed; removing it keeps peak disk use at two copies.
	os.Remove(src)

	dst := filepath.Join(local, "got.bin")
	start = time.Now()
	c.run(t, timeout, "get big.bin "+dst)
	t.Logf("get %d MiB: %v", mb, time.Since(start))
	if got := sha256File(t, dst); got != sum {
		t.Fatalf("get: sha256 %s, want %s", got, sum)
	}
	if got := sha256File(t, back); got != sum {
		t.Fatalf("backing file: sha256 %s, want %s", got, sum)
	}
}
