#!/usr/bin/env bash
# failover-soak.sh - kill -9 the node serving a persistent handle, again and again, on a
# three-node cluster, and report what the client saw.
#
# Usage: scripts/failover-soak.sh [--witness] [KILLS]   (default 1000)
#
# Runs integration/failover TestRepeatedFailover with SOFS_FAILOVER_KILLS=KILLS: one client
# writes through one persistent handle (RWH lease, CA share); the node it is connected to is
# killed with SIGKILL at a random moment; the client reconnects through a random survivor with
# DH2C and replays its unanswered writes; the killed node restarts and rejoins before the next
# kill. Prints the summary: acknowledged bytes lost (must be 0), handle records left in etcd
# after CLOSE (must be 0), and the client-visible pause (last acknowledged WRITE before the
# kill to the first after) p50/p99/max. Loopback only; needs Go. About 10 s per kill.
# With --witness it runs TestWitnessDrivenFailover instead: the client registers with the SMB
# Witness service of another node (python3-samba's client) and reconnects only when told
# RESOURCE_CHANGE unavailable; the summary adds how long the notification took after the kill.
# The full log is kept in $SOAK_OUT (default /tmp/sofs-failover-soak.<pid>.log); with
# SOFS_KEEP_LOGS=1 and SOFS_TEST_LOGS=DIR the nodes' own logs are copied to DIR even when the
# test passes (the witness test's lines give each kill's time, to find a slow round there).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TEST=TestRepeatedFailover
if [ "${1:-}" = --witness ]; then
    TEST=TestWitnessDrivenFailover
    shift
fi
KILLS="${1:-1000}"
case "$KILLS" in
    ''|*[!0-9]*) echo "failover-soak: KILLS must be a number, got '$KILLS'" >&2; exit 2 ;;
esac
OUT="${SOAK_OUT:-/tmp/sofs-failover-soak.$$.log}"
# A minute per kill bounds the test (see the test's own context).
TIMEOUT="$(( KILLS + 10 ))m"
cd "$ROOT"
echo "failover-soak: $TEST, $KILLS kills; log in $OUT" >&2
status=0
SOFS_FAILOVER_KILLS="$KILLS" go test -count=1 -v -timeout "$TIMEOUT" -run "^${TEST}\$" ./integration/failover/ >"$OUT" 2>&1 || status=$?
grep -oE '(FAILOVER|WITNESS)-SUMMARY.*' "$OUT" || echo "failover-soak: no summary (the test stopped early)"
if [ "$status" -ne 0 ]; then
    echo "failover-soak: FAILED (exit $status); see $OUT" >&2
    grep -E '^\s+(repeat|witness)_test.go:[0-9]+: ' "$OUT" | grep -v 'kill [0-9]* of' | tail -20 >&2 || true
fi
exit "$status"
