package krb5

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// KeySource supplies the service key a ticket is encrypted in.
type KeySource interface {
	// Key returns the key of service sname in realm with version kvno (0:
	// the newest) and encryption type etype, or an error wrapping
	// ErrNoKey.
	Key(sname types.PrincipalName, realm string, kvno int, etype int32) (types.EncryptionKey, error)
}

// maxKeytab caps the keytab file read: a node's keytab holds a few keys
// per SPN and kvno, a few KiB.
const maxKeytab = 1 << 20

// KeytabFile is a KeySource reading a keytab file (MIT format, as
// `samba-tool domain exportkeytab` and `ktpass` write). The file is read
// again when its size or modification time changes, so a key rotation
// (a new kvno added next to the old one) takes effect without a restart,
// and sessions set up with the old key keep their own keys.
type KeytabFile struct {
	path string

	mu   sync.Mutex
	kt   *keytab.Keytab
	mod  time.Time
	size int64
}

// OpenKeytab reads the keytab at path.
func OpenKeytab(path string) (*KeytabFile, error) {
	f := &KeytabFile{path: path}
	if _, err := f.current(); err != nil {
		return nil, err
	}
	return f, nil
}

// current returns the keytab, reread if the file changed. A file that
// turned unreadable or corrupt keeps the keys last read: refusing every
// logon because an operator is half-way through copying a new keytab
// would be worse.
func (f *KeytabFile) current() (*keytab.Keytab, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		if f.kt != nil {
			return f.kt, nil
		}
		return nil, fmt.Errorf("keytab: %w", err)
	}
	if f.kt != nil && fi.ModTime().Equal(f.mod) && fi.Size() == f.size {
		return f.kt, nil
	}
	if fi.Size() > maxKeytab {
		return nil, fmt.Errorf("keytab %s: %d bytes exceeds %d", f.path, fi.Size(), maxKeytab)
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		if f.kt != nil {
			return f.kt, nil
		}
		return nil, fmt.Errorf("keytab: %w", err)
	}
	kt := keytab.New()
	err = unmarshalKeytab(kt, b)
	if err == nil && len(kt.Entries) == 0 {
		err = errors.New("no keys")
	}
	if err != nil {
		if f.kt != nil {
			return f.kt, nil
		}
		return nil, fmt.Errorf("keytab %s: %w", f.path, err)
	}
	f.kt, f.mod, f.size = kt, fi.ModTime(), fi.Size()
	return kt, nil
}

// unmarshalKeytab decodes a keytab, turning a decoder panic on a corrupt
// file into an error.
func unmarshalKeytab(kt *keytab.Keytab, b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt keytab: %v", r)
		}
	}()
	return kt.Unmarshal(b)
}

// Key implements KeySource.
func (f *KeytabFile) Key(sname types.PrincipalName, realm string, kvno int, etype int32) (types.EncryptionKey, error) {
	kt, err := f.current()
	if err != nil {
		return types.EncryptionKey{}, fmt.Errorf("%w: %v", ErrNoKey, err)
	}
	return lookupKey(kt, sname, realm, kvno, etype)
}

// lookupKey finds the key of a ticket. A ticket is encrypted in the key of
// the account that holds its SPN: an entry named as the SPN is used when
// the keytab has one, otherwise the computer account's (NAME$), which is
// what `samba-tool domain exportkeytab --principal=NAME$` exports and
// what a Windows server decrypts every SPN of its account with. Names
// compare case-insensitively, as SPNs do in Active Directory. Among
// matches, the highest kvno wins when the ticket names none.
func lookupKey(kt *keytab.Keytab, sname types.PrincipalName, realm string, kvno int, etype int32) (types.EncryptionKey, error) {
	var best, account types.EncryptionKey
	var bestKV, accountKV uint32
	for _, e := range kt.Entries {
		if e.Key.KeyType != etype || !strings.EqualFold(e.Principal.Realm, realm) || len(e.Key.KeyValue) == 0 {
			continue
		}
		if kvno != 0 && e.KVNO != uint32(kvno) {
			continue
		}
		switch {
		case sameName(e.Principal.Components, sname.NameString):
			if best.KeyValue == nil || e.KVNO > bestKV {
				best, bestKV = e.Key, e.KVNO
			}
		case len(e.Principal.Components) == 1 && strings.HasSuffix(e.Principal.Components[0], "$"):
			if account.KeyValue == nil || e.KVNO > accountKV {
				account, accountKV = e.Key, e.KVNO
			}
		}
	}
	if best.KeyValue != nil {
		return best, nil
	}
	if account.KeyValue != nil {
		return account, nil
	}
	return types.EncryptionKey{}, fmt.Errorf("%w: %s@%s kvno %d etype %d", ErrNoKey, sname.PrincipalNameString(), realm, kvno, etype)
}

func sameName(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

// Principals lists the principals and key versions the keytab holds
// ("SOFS1$@CORP.EXAMPLE.COM kvno 3"), for the log at startup.
func (f *KeytabFile) Principals() []string {
	kt, err := f.current()
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range kt.Entries {
		s := fmt.Sprintf("%s@%s kvno %d", strings.Join(e.Principal.Components, "/"), e.Principal.Realm, e.KVNO)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
