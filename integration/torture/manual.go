package torture

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Samba marks smb2.set-sparse-ioctl and smb2.zero-data-ioctl "for manual
// testing" (selftest/skip): they only act on a file named by options, and
// Samba's selftest drives them from source3/script/tests/test_zero_data.sh,
// which prepares the file in the share directory and checks what the
// server stored afterwards. manualSuites does the same for the runner, so
// these suites run in CI against either server.

// manualFile is the fixture the manual suites act on, relative to the
// share root.
const manualFile = "manual-ioctl.dat"

// manualSize is the fixture's size: 128 KiB, as test_zero_data.sh uses.
const manualSize = 128 << 10

// manualSuite is what a manual suite needs around the smbtorture run.
type manualSuite struct {
	// options name the file and the ranges (torture:filename, ...).
	options []string
	// prepare creates the fixture in the share directory.
	prepare func(shareDir string) error
	// check verifies the file after the run; a failure becomes a failed
	// result named suite + ".stored".
	check func(shareDir string) error
}

var manualSuites = map[string]manualSuite{
	// SET_SPARSE on a file the test opens with OPEN_IF; the status is
	// what smbtorture checks. The fixture's data must come through
	// untouched: marking a file sparse deallocates nothing.
	"smb2.set-sparse-ioctl": {
		options: []string{"--option=torture:filename=" + manualFile},
		prepare: writeRandomFixture,
		check: func(dir string) error {
			return checkFixture(dir, func(b []byte) error {
				if bytes.Count(b, []byte{0}) == len(b) {
					return fmt.Errorf("SET_SPARSE zeroed the data")
				}
				return nil
			})
		},
	},
	// SET_ZERO_DATA over the whole file (test_zero_data.sh's offset 0,
	// beyond_final_zero 131072): every byte reads back as zero and the
	// size stays.
	"smb2.zero-data-ioctl": {
		options: []string{
			"--option=torture:filename=" + manualFile,
			"--option=torture:offset=0",
			fmt.Sprintf("--option=torture:beyond_final_zero=%d", manualSize),
		},
		prepare: writeRandomFixture,
		check: func(dir string) error {
			return checkFixture(dir, func(b []byte) error {
				if i := bytes.IndexFunc(b, func(r rune) bool { return r != 0 }); i >= 0 {
					return fmt.Errorf("byte %d is not zero after SET_ZERO_DATA", i)
				}
				return nil
			})
		},
	},
}

// writeRandomFixture writes manualSize random bytes to the fixture (and
// syncs them, so the allocation is real before the server acts on it).
func writeRandomFixture(dir string) error {
	b := make([]byte, manualSize)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, manualFile), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o666)
	if err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("fixture: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fixture: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	// The tests ask for every right (SEC_RIGHTS_DIR_ALL): a server that
	// maps POSIX permissions to NT rights (Samba) grants them only to the
	// owner, execute included, so the file belongs to whoever owns the
	// share and has mode 0777, as test_zero_data.sh leaves it.
	path := filepath.Join(dir, manualFile)
	if err := os.Chmod(path, 0o777); err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("fixture: %w", err)
		}
	}
	return nil
}

// checkFixture reads the fixture back, checks that its size is unchanged
// and runs fn on its contents.
func checkFixture(dir string, fn func([]byte) error) error {
	b, err := os.ReadFile(filepath.Join(dir, manualFile))
	if err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	if len(b) != manualSize {
		return fmt.Errorf("fixture is %d bytes, want %d", len(b), manualSize)
	}
	return fn(b)
}
