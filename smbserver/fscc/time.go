package fscc

import (
	"math"
	"time"
)

// filetimeEpochDelta is the number of seconds from 1601-01-01 (the FILETIME
// epoch, [MS-DTYP] 2.3.3) to 1970-01-01 (the Unix epoch).
const filetimeEpochDelta = 11644473600

// ticksPerSecond is the FILETIME resolution: 100-nanosecond intervals.
const ticksPerSecond = 10_000_000

// FileTime converts t to a FILETIME: 100-nanosecond intervals since
// 1601-01-01 UTC ([MS-DTYP] 2.3.3). The zero time (and any time before
// 1601) maps to 0, which SMB uses for "no time"; times beyond the largest
// signed FILETIME are clamped to it because Windows treats FILETIMEs as
// signed 64-bit values.
func FileTime(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	sec := t.Unix()
	if sec < -filetimeEpochDelta {
		return 0
	}
	s := uint64(sec + filetimeEpochDelta)
	if s > (math.MaxInt64-ticksPerSecond)/ticksPerSecond {
		return math.MaxInt64
	}
	return s*ticksPerSecond + uint64(t.Nanosecond()/100)
}

// TimeOf converts a FILETIME back to a UTC time; 0 maps to the zero time.
// The result is exact to the FILETIME's 100-nanosecond resolution.
func TimeOf(ft uint64) time.Time {
	if ft == 0 {
		return time.Time{}
	}
	sec := int64(ft/ticksPerSecond) - filetimeEpochDelta
	nsec := int64(ft%ticksPerSecond) * 100
	return time.Unix(sec, nsec).UTC()
}
