package krb5

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
)

// maxReplayEntries bounds the replay cache. An entry lives for twice the
// clock skew (10 minutes by default); 64 Ki entries allow more than 100
// new Kerberos sessions a second, far above what one file server node
// sets up. When the cache is full of live entries new authenticators are
// refused rather than remembered partly: forgetting one would let its
// replay through.
const maxReplayEntries = 1 << 16

// replayCache remembers authenticators (RFC 4120 3.2.3: a server must
// reject an authenticator it has seen within the clock skew).
type replayCache struct {
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]time.Time // key -> when it may be forgotten
}

func newReplayCache(skew time.Duration) *replayCache {
	return &replayCache{ttl: 2 * skew, entries: make(map[string]time.Time)}
}

// replayKey identifies an authenticator: the client, the service and the
// client's time to the microsecond, which RFC 4120 3.2.3 says suffice.
func replayKey(a *types.Authenticator, sname types.PrincipalName) string {
	return a.CName.PrincipalNameString() + "@" + a.CRealm + "|" + sname.PrincipalNameString() + "|" +
		strconv.FormatInt(a.CTime.Unix(), 10) + "." + strconv.Itoa(a.Cusec)
}

// check records key, or fails with ErrReplay if it was seen.
func (c *replayCache) check(key string, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, ok := c.entries[key]; ok && now.Before(exp) {
		return fmt.Errorf("%w", ErrReplay)
	}
	if len(c.entries) >= maxReplayEntries {
		for k, exp := range c.entries {
			if !now.Before(exp) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxReplayEntries {
			return fmt.Errorf("%w: replay cache full (%d live authenticators)", ErrReplay, len(c.entries))
		}
	}
	c.entries[key] = now.Add(c.ttl)
	return nil
}
