#!/usr/bin/env bash
# Overload: one carrier-sim process driven far beyond its capacity with receipts, then at a
# modest rate, to show that overload is answered (ESME_RMSGQFUL), that no accepted message loses
# its receipt, that the log stays short, and that the carrier recovers when the load falls
# (documented in BENCHMARKS.md, "Overload").
#
# Phase 1: HIGH messages/s for HIGH_FOR (far beyond this machine's capacity).
# Phase 2: LOW messages/s for LOW_FOR, right after.
# Per phase: accepted, refused (by status), receipts missing, receipts per second, submit and
# receipt p99; then the carrier's own account (overflow, back-pressure refusals) and the number
# of lines it logged.
#
# Usage: bench/overload.sh        (about a minute)
# Env:   HIGH=400000 HIGH_FOR=30s LOW=10000 LOW_FOR=15s BINDS=4 WINDOW=1000
#        CARRIER_ARGS="--delivery-delay 0s" CARRIER_BIN=path/to/carrier-sim
set -euo pipefail

cd "$(dirname "$0")/.."
HIGH=${HIGH:-400000}
HIGH_FOR=${HIGH_FOR:-30s}
LOW=${LOW:-10000}
LOW_FOR=${LOW_FOR:-15s}
BINDS=${BINDS:-4}
WINDOW=${WINDOW:-1000}
CARRIER_ARGS=${CARRIER_ARGS:---delivery-delay 0s}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

# shellcheck source=bench/carrier.sh
. "$(dirname "$0")/carrier.sh"
prepare

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086 # CARRIER_ARGS is a list of arguments
start_carrier "$WORK" $CARRIER_ARGS
echo "   carrier-sim $ADDR (pid $PID, $CARRIER_ARGS); $BINDS binds, window $WINDOW"

phase() {
    local name=$1 rate=$2 for=$3
    set +e
    "$BIN/loadgen" smpp --target "$ADDR" --system-id test --password secret \
        --rate "$rate" --duration "$for" --binds "$BINDS" --window "$WINDOW" \
        --timeout 5s --progress off --server-pid "$PID" \
        --registered-delivery --receipt-wait 10s --json "$WORK/$name.json" >"$WORK/$name.txt" 2>&1
    local rc=$?
    set -e
    if [ "$rc" = 1 ] || [ ! -s "$WORK/$name.json" ]; then
        echo "loadgen failed:" >&2
        cat "$WORK/$name.txt" >&2
        exit 1
    fi
    local j=$WORK/$name.json
    printf '   %-9s target %7d/s  achieved %9.0f/s  accepted %8d  refused %-40s missing %d  receipts %8.0f/s  submit p99 %dµs  receipt p99 %dµs  server %.2f cores  identity %s\n' \
        "$name" "$rate" "$(jq .achieved_rate "$j")" "$(jq .accepted "$j")" \
        "$(jq -c '[.statuses[] | select(.status != "0x00000000") | {(.name): .count}] | add // {}' "$j")" \
        "$(jq .receipts.missing "$j")" \
        "$(jq '.receipts.matched / (.duration_s + 0.000001)' "$j")" \
        "$(jq .submit_resp_us.p99 "$j")" "$(jq .receipt_us.p99 "$j")" \
        "$(jq '.cpu.server_cores // 0' "$j")" "$(jq -r 'if .identity.holds then "holds" else "BROKEN" end' "$j")"
    # Receipts per second over the phase, second by second (the collapse showed here).
    echo "     receipts/s by second: $(jq -c '[.timeline[] | .receipts]' "$j")"
}

phase overload "$HIGH" "$HIGH_FOR"
phase recovery "$LOW" "$LOW_FOR"
curl -s "http://$HTTP/v1/stats" >"$WORK/stats.json" || true
echo "   carrier: $(jq -c '{receipts: .receipts, balanced: .receipts_balanced, backpressure_refusals: .carriers[0].backpressure_refusals, timer_refusals: .carriers[0].timer_refusals, refusals: .carriers[0].refusals}' "$WORK/stats.json")"
echo "   carrier log: $(wc -l <"$WORK/carrier.err") lines, $(wc -c <"$WORK/carrier.err") bytes; WARN lines: $(grep -c WARN "$WORK/carrier.err" || true)"
echo "== done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
