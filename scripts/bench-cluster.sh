#!/usr/bin/env bash
# bench-cluster.sh - what cluster-wide open state costs: one sofs node against a three-node
# cluster over one shared directory, in one run on one machine.
#
# Usage: scripts/bench-cluster.sh [--short] [-- extra sofsbench flags]
#
# Starts one sofsd (127.0.0.1) and a three-node cluster with embedded etcd (127.0.0.11-13),
# every share on directories of the same file system, and runs cmd/sofsbench (the metadata and
# small random-I/O workloads by default) against: the one node; the cluster through the node
# that coordinates the open state; the cluster through a node that does not (every CREATE,
# CLOSE and LOCK then costs a node-to-node round trip). Prints cluster/one-node ratios
# (markdown, also in $BENCH_OUT/compare-*.md). Loopback only; needs nothing but Go.
#
# Environment (all optional):
#   BENCH_WORKLOADS=meta-create-write-close-delete,meta-open-close,meta-stat,rand-write-4k-qd1,rand-read-4k-qd1
#   BENCH_REPEAT=2        runs per target (alternating); the comparison takes each workload's best
#   BENCH_OUT=/tmp/sofs-bench-cluster.<pid>
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SHORT=()
EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --short) SHORT=(-short); shift ;;
        --) shift; EXTRA=("$@"); break ;;
        -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/,""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
        *) echo "bench-cluster: unknown argument $1" >&2; exit 2 ;;
    esac
done
WORKLOADS="${BENCH_WORKLOADS:-meta-create-write-close-delete,meta-open-close,meta-stat,rand-write-4k-qd1,rand-read-4k-qd1}"
REPEAT="${BENCH_REPEAT:-2}"
OUT="${BENCH_OUT:-${TMPDIR:-/tmp}/sofs-bench-cluster.$$}"
mkdir -p "$OUT/bin"
log() { printf '%s bench-cluster: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

log "building sofsd, sofsctl and sofsbench into $OUT/bin"
(cd "$ROOT" && go build -o "$OUT/bin/sofsd" ./cmd/sofsd && go build -o "$OUT/bin/sofsbench" ./cmd/sofsbench \
    && go build -o "$OUT/bin/sofsctl" ./cmd/sofsctl)

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # addr port pid
    for _ in $(seq 1 600); do
        if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

rm -rf "$OUT/one" "$OUT/cluster"
mkdir -p "$OUT/one/data" "$OUT/one/share" "$OUT/cluster/share"

# One node.
"$OUT/bin/sofsd" --data "$OUT/one/data" --smb-listen 127.0.0.1:4701 --share "share=$OUT/one/share" \
    --user test:test123 --require-signing=false --etcd-client-listen 127.0.0.1:4702 \
    --etcd-peer-listen 127.0.0.1:4703 --peer-listen 127.0.0.1:0 --api-listen off --log-level warn \
    >"$OUT/one/sofsd.log" 2>&1 &
PIDS+=($!)
wait_port 127.0.0.1 4701 "${PIDS[-1]}" || { tail -30 "$OUT/one/sofsd.log" >&2; exit 1; }

# Three nodes over one directory, with one cluster CA (etcd and the node-to-node channel use
# TLS, as in production).
IC="c1=https://127.0.0.11:4713,c2=https://127.0.0.12:4713,c3=https://127.0.0.13:4713"
mkdir -p "$OUT/cluster/ca"
"$OUT/bin/sofsd" ca init --data "$OUT/cluster/ca" >"$OUT/cluster/ca.log" 2>&1 || { cat "$OUT/cluster/ca.log" >&2; exit 1; }
CADIR="$(dirname "$(find "$OUT/cluster/ca" -name ca.crt | head -1)")"
for i in 1 2 3; do
    a="127.0.0.1$i"
    mkdir -p "$OUT/cluster/c$i"
    "$OUT/bin/sofsd" --data "$OUT/cluster/c$i" --node-name "c$i" --smb-listen "$a:4711" \
        --share "share=$OUT/cluster/share" --user test:test123 --require-signing=false \
        --etcd-client-listen "$a:4712" --etcd-peer-listen "$a:4713" --etcd-initial-cluster "$IC" \
        --peer-listen "$a:4714" --api-listen "$a:4715" --cluster-ca "$CADIR" --log-level info >"$OUT/cluster/c$i.log" 2>&1 &
    PIDS+=($!)
done
for i in 1 2 3; do
    wait_port "127.0.0.1$i" 4711 "${PIDS[$i]}" || { tail -30 "$OUT/cluster/c$i.log" >&2; exit 1; }
done

# Which node coordinates the open state: the one that logged its rebuild as coordinator.
coord=""
for _ in $(seq 1 100); do
    for i in 1 2 3; do
        if grep -q '"message":"open-state coordinator ready"' "$OUT/cluster/c$i.log" 2>/dev/null; then coord=$i; fi
    done
    [ -n "$coord" ] && break
    sleep 0.1
done
[ -n "$coord" ] || { log "no coordinator found in the logs"; exit 1; }
other=$(( coord % 3 + 1 ))
log "coordinator c$coord; measuring through c$coord and c$other"

# peercalls: how many node-to-node calls the three nodes have made so far (their /metrics).
peercalls() {
    local total=0 i tok v
    for i in 1 2 3; do
        tok="$(head -1 "$OUT/cluster/c$i/api-token" 2>/dev/null || true)"
        v=$(curl -sf -H "Authorization: Bearer $tok" "http://127.0.0.1$i:4715/metrics" 2>/dev/null \
            | awk '/^sofs_peer_requests_total\{/ {s += $NF} END {printf "%d", s}')
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

JSONS=()
run() { # label addr
    local j="$OUT/$1-$2.json"
    "$OUT/bin/sofsbench" -addr "$3" -server "$1" -mode plain -workloads "$WORKLOADS" -q \
        "${SHORT[@]}" "${EXTRA[@]}" -json "$j" >"$OUT/$1-$2.txt"
    JSONS+=("$j")
}
for r in $(seq 1 "$REPEAT"); do
    log "round $r: one node"; run one-node "$r" 127.0.0.1:4701
    c0=$(peercalls)
    log "round $r: cluster via the coordinator"; run cluster-coordinator "$r" "127.0.0.1$coord:4711"
    c1=$(peercalls)
    log "round $r: cluster via another node"; run cluster-other "$r" "127.0.0.1$other:4711"
    c2=$(peercalls)
    log "round $r: node-to-node calls: $((c1 - c0)) via the coordinator, $((c2 - c1)) via another node (all workloads)"
done
for s in cluster-coordinator cluster-other; do
    "$OUT/bin/sofsbench" compare -subject "$s" -reference one-node "${JSONS[@]}" | tee "$OUT/compare-$s.md"
done
