#!/usr/bin/env bash
# bench-compare.sh - benchmark sofs against Samba's smbd in one run, on one machine.
#
# Usage: scripts/bench-compare.sh [--short] [-- extra sofsbench flags]
#
# For each mode it starts sofsd (cmd/sofsd, one node, embedded etcd) and a throwaway smbd
# (../shared/tools/samba-ref.sh) with matching settings, runs cmd/sofsbench against each with
# the same client (the harness's own fast client by default; BENCH_CLIENTS) and workloads (BENCH_REPEAT times, alternating), and finally prints sofs/Samba
# ratios per workload and mode (markdown, also in $BENCH_OUT/compare.md).
#
# sofsd also gets --api-listen off (when it has the flag), so it opens no port outside the above.
#
#   mode        sofsd                                   smbd (samba-ref.sh)
#   plain       --require-signing=false                 defaults (signing offered, not required)
#   signing     --require-signing=true, client -sign    server signing = mandatory, client -sign
#   encryption  share ",encrypt"                        share: server smb encrypt = required
#               (BENCH_ENCRYPT=global: sofsd --encrypt and Samba's [global] instead)
#   ca          share ",ca" (write-through + fdatasync) strict sync = yes (BENCH_SAMBA_CA_EXTRA)
#
# Environment (all optional):
#   BENCH_MODES="plain signing encryption ca"   modes to run, in order
#   BENCH_CLIENTS="fast"                        clients to run (fast, go-smb2 or both: "fast go-smb2");
#                                               the comparison keeps each client's runs apart
#   BENCH_REPEAT=2                              runs per server and mode (alternating); the comparison
#                                               takes each workload's best run
#   BENCH_OUT=/tmp/sofs-bench.<pid>             output directory (JSON per run, logs, compare.md)
#   BENCH_SOFS_PORT=4601                        sofsd SMB port (etcd uses the next two)
#   BENCH_SAMBA_PORT=4605                       smbd port
#   BENCH_CEILING_PORT=4619                     loopback TCP ceiling measurement
#   BENCH_ENCRYPT=share                         share | global: where encryption is required
#   BENCH_SAMBA_CA_EXTRA='strict sync = yes'    share lines for Samba in mode ca
#                                               (e.g. $'strict sync = yes\nsync always = yes')
#   SOFS_SAMBA_REF=/work/shared/tools/samba-ref.sh
#
# Loopback only. Both servers' directories live on the same file system (checked). Needs root
# (samba-ref.sh), smbd and libnss-wrapper. A full run takes about 8-10 minutes on 2 cores.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SHORT=()
EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --short) SHORT=(-short); shift ;;
        --) shift; EXTRA=("$@"); break ;;
        -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/,""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
        *) echo "bench-compare: unknown argument $1" >&2; exit 2 ;;
    esac
done

MODES="${BENCH_MODES:-plain signing encryption ca}"
OUT="${BENCH_OUT:-${TMPDIR:-/tmp}/sofs-bench.$$}"
SOFS_PORT="${BENCH_SOFS_PORT:-4601}"
SAMBA_PORT="${BENCH_SAMBA_PORT:-4605}"
CEIL_PORT="${BENCH_CEILING_PORT:-4619}"
SAMBA_CA_EXTRA="${BENCH_SAMBA_CA_EXTRA:-strict sync = yes}"
ENCRYPT="${BENCH_ENCRYPT:-share}"
REPEAT="${BENCH_REPEAT:-2}"
CLIENTS="${BENCH_CLIENTS:-fast}"
SAMBA_REF="${SOFS_SAMBA_REF:-}"
if [ -z "$SAMBA_REF" ]; then
    for c in /work/shared/tools/samba-ref.sh "$ROOT/../shared/tools/samba-ref.sh"; do
        [ -f "$c" ] && { SAMBA_REF="$c"; break; }
    done
fi
[ -n "$SAMBA_REF" ] || { echo "bench-compare: samba-ref.sh not found (set SOFS_SAMBA_REF)" >&2; exit 1; }

mkdir -p "$OUT/bin"
log() { printf '%s bench-compare: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

log "building sofsd and sofsbench into $OUT/bin"
(cd "$ROOT" && go build -o "$OUT/bin/sofsd" ./cmd/sofsd && go build -o "$OUT/bin/sofsbench" ./cmd/sofsbench)

SOFS_PID=""
stop_sofs() {
    if [ -n "$SOFS_PID" ] && kill -0 "$SOFS_PID" 2>/dev/null; then
        kill -TERM "$SOFS_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SOFS_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SOFS_PID" 2>/dev/null || true
        wait "$SOFS_PID" 2>/dev/null || true
    fi
    SOFS_PID=""
}
stop_samba() { SAMBA_REF_PORT="$SAMBA_PORT" bash "$SAMBA_REF" stop >/dev/null 2>&1 || true; }
cleanup() { stop_sofs; stop_samba; }
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # port pid-or-empty
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then return 1; fi
        sleep 0.1
    done
    return 1
}

log "ceilings (loopback TCP, memcpy)"
CEIL_TIME=2s; [ ${#SHORT[@]} -gt 0 ] && CEIL_TIME=200ms
"$OUT/bin/sofsbench" ceilings -addr "127.0.0.1:$CEIL_PORT" -time "$CEIL_TIME" -json "$OUT/ceilings.json" | tee "$OUT/ceilings.txt"

# sofsd's admin API would take its default port (4480); the benchmark does not use it.
SOFS_EXTRA=()
if "$OUT/bin/sofsd" --help 2>&1 | grep -q -- '--api-listen'; then SOFS_EXTRA+=(--api-listen off); fi

JSONS=()
for mode in $MODES; do
    # ---- sofs ----
    sdir="$OUT/sofs-$mode"
    rm -rf "$sdir"; mkdir -p "$sdir/data" "$sdir/share"
    spec="share=$sdir/share"
    sargs=(--require-signing=false)
    cargs=()
    gextra="" ; shextra=""
    case "$mode" in
        plain) ;;
        signing) sargs=(--require-signing=true); cargs=(-sign); gextra="server signing = mandatory" ;;
        encryption)
            if [ "$ENCRYPT" = global ]; then sargs+=(--encrypt); gextra="server smb encrypt = required"
            else spec="$spec,encrypt"; shextra="server smb encrypt = required"; fi ;;
        ca) spec="$spec,ca"; shextra="$SAMBA_CA_EXTRA" ;;
        *) echo "bench-compare: unknown mode $mode" >&2; exit 2 ;;
    esac
    log "[$mode] starting sofsd on 127.0.0.1:$SOFS_PORT over $sdir/share (${sargs[*]} $spec)"
    "$OUT/bin/sofsd" --data "$sdir/data" --smb-listen "127.0.0.1:$SOFS_PORT" --share "$spec" \
        --user test:test123 --etcd-client-listen "127.0.0.1:$((SOFS_PORT + 1))" \
        --etcd-peer-listen "127.0.0.1:$((SOFS_PORT + 2))" --peer-listen 127.0.0.1:0 --log-level warn "${sargs[@]}" "${SOFS_EXTRA[@]}" \
        >"$sdir/sofsd.log" 2>&1 &
    SOFS_PID=$!
    wait_port "$SOFS_PORT" "$SOFS_PID" || { tail -30 "$sdir/sofsd.log" >&2; log "sofsd did not start"; exit 1; }

    # ---- samba ----
    log "[$mode] starting smbd on 127.0.0.1:$SAMBA_PORT (${gextra}${shextra})"
    stop_samba
    kv="$(SAMBA_REF_PORT="$SAMBA_PORT" SAMBA_REF_GLOBAL_EXTRA="$gextra" SAMBA_REF_SHARE_EXTRA="$shextra" bash "$SAMBA_REF" start)"
    sharedir="$(printf '%s\n' "$kv" | sed -n 's/^sharedir=//p')"
    [ -n "$sharedir" ] || { log "samba-ref.sh printed no sharedir"; exit 1; }
    if [ "$(stat -c %d "$sharedir")" != "$(stat -c %d "$sdir/share")" ]; then
        log "WARNING: $sharedir and $sdir/share are on different file systems"
    fi

    # Both servers stay up; runs alternate so that load from other work on
    # the machine hits both alike, and which server goes first alternates
    # with the repetition: the first run after the servers start is the
    # slowest (sequential writes most of all), whichever server it is.
    # sync first so one run's dirty pages are not written back during the
    # next.
    for rep in $(seq 1 "$REPEAT"); do
        order="sofs samba"; [ $((rep % 2)) -eq 0 ] && order="samba sofs"
        for client in $CLIENTS; do
            for srv in $order; do
                if [ "$srv" = sofs ]; then port="$SOFS_PORT"; dir="$sdir/share"; else port="$SAMBA_PORT"; dir="$sharedir"; fi
                sync
                log "[$mode] $srv run $rep/$REPEAT, client $client"
                out="$OUT/$srv-$mode-$client-$rep"
                "$OUT/bin/sofsbench" -addr "127.0.0.1:$port" -local-dir "$dir" -server "$srv" -mode "$mode" -client "$client" \
                    -json "$out.json" -q "${SHORT[@]}" "${cargs[@]}" "${EXTRA[@]}" >"$out.txt" 2>&1 \
                    || log "[$mode] $srv: sofsbench reported failures (see $out.txt)"
                cat "$out.txt"
                [ -f "$out.json" ] && JSONS+=("$out.json")
            done
        done
    done
    stop_sofs
    stop_samba
done

log "comparison (also in $OUT/compare.md)"
"$OUT/bin/sofsbench" compare "${JSONS[@]}" | tee "$OUT/compare.md"
log "done; results in $OUT"
