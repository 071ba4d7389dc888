#!/usr/bin/env bash
# SMPP throughput and latency of carrier-sim against a baseline SMSC, measured with
# `loadgen smpp`, in one run on this machine (documented in BENCHMARKS.md, "SMPP throughput").
#
# For each server (carrier-sim, then loadgen/examples/baseline_smsc.rs) and each mode
# (without receipts; with registered_delivery=1 and delivery delay 0) it finds the highest rate
# sustained with zero errors, then measures latency at half carrier-sim's rate (the same load on
# both servers), and prints loadgen's and
# the server's CPU share (from /proc/PID/stat over the sending phase). Then it measures memory:
# loadgen's bytes per in-flight message and carrier-sim's bytes per stored receipt.
#
# A trial passes when every one of these holds (checked by loadgen's own --threshold flags):
#   rejected, timed_out, unsent, missing, duplicated, unmatched all 0;
#   the real rate: achieved_rate (sends within the run over the real send window) >= 99 % of
#   the target; lateness: behind_schedule 0 (no send later than --behind-tolerance, 2 ms by
#   default, BEHIND_TOLERANCE to change it), so a trial whose sends stalled and caught up does
#   not pass; submit_resp.p99 < 250ms (a server that cannot keep up builds a queue: its windows
#   fill, sends fall behind and end unsent, and over a few seconds its p99 grows far beyond
#   that).
# The search for the highest rate sends with --coalesce $COALESCE (500us by default): loadgen
# wakes at most that often and writes everything due at once, as a throughput search needs
# (sending each of 400,000 messages a second at its own microsecond would multiply loadgen's
# and the server's system calls); each send is still held to the lateness limit. The latency
# rows send every message at its own time (no coalescing).
# A failed trial is run once more before the rate counts as failed: this machine is shared,
# and another process's CPU burst can stall a run for a moment without saying anything about
# the server. The search doubles the rate from START until a rate fails, then bisects STEPS
# times.
#
# Usage: bench/smpp.sh            (about 4-5 minutes)
# Env:   TRIAL=3s START=25000 STEPS=3 BINDS=4 WINDOW=1000 LOADGEN_THREADS=1 SERVER_THREADS=2
#        COALESCE=500us BEHIND_TOLERANCE=2ms
#        CARRIER_SIM=path/to/carrier-sim  (another build of the carrier, e.g. an older commit's,
#        measured with this tree's loadgen and baseline: the same driver for both)
#        DURABLE=1   also measures carrier-sim with --state-dir (a fresh directory) with
#                    receipts, in the same run: its max rate, latency at half of it on both
#                    carrier-sims, and the ratio durable / in-memory (BENCHMARKS.md, "Durable
#                    state")
#        MODES="0 1" which modes to search (0 without receipts, 1 with); MEMORY=0 skips the
#                    memory measurements; BASELINE_SEARCH=0 skips the baseline's rate search
set -euo pipefail

cd "$(dirname "$0")/.."
TRIAL=${TRIAL:-3s}
START=${START:-25000}
STEPS=${STEPS:-3}
BINDS=${BINDS:-4}
WINDOW=${WINDOW:-1000}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
SERVER_THREADS=${SERVER_THREADS:-2}
COALESCE=${COALESCE:-500us}
BEHIND_TOLERANCE=${BEHIND_TOLERANCE:-2ms}
DURABLE=${DURABLE:-0}
MODES=${MODES:-0 1}
MEMORY=${MEMORY:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

echo "== build (release)"
cargo build --release -q -p simulator --bin carrier-sim
cargo build --release -q -p loadgen --bin loadgen --example baseline_smsc
BIN=$CARGO_TARGET_DIR/release
LOADGEN=$BIN/loadgen
CARRIER_SIM=${CARRIER_SIM:-$BIN/carrier-sim}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME CMD... : starts a server, waits for its readiness line, sets ADDR and PID.
start() {
    local name=$1
    shift
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PID=$!
    PIDS+=("$PID")
    for _ in $(seq 1 200); do
        ADDR=$(jq -r 'select(.event=="listening" and .service=="smpp") | .addr' \
            "$WORK/$name.out" 2>/dev/null | head -1)
        [ -n "$ADDR" ] && return 0
        sleep 0.05
    done
    echo "$name did not start:" >&2
    cat "$WORK/$name.err" >&2
    exit 1
}

# trial ADDR PID RATE RECEIPTS JSON [COALESCE] : one loadgen run; returns loadgen's exit code.
trial() {
    local addr=$1 pid=$2 rate=$3 receipts=$4 json=$5 coalesce=${6:-0}
    local extra=()
    if [ "$receipts" = 1 ]; then
        extra=(--registered-delivery --receipt-wait 3s --threshold 'missing<=0')
    fi
    set +e
    "$LOADGEN" smpp --target "$addr" --system-id test --password secret \
        --rate "$rate" --duration "$TRIAL" --binds "$BINDS" --window "$WINDOW" \
        --timeout 2s --progress off --threads "$LOADGEN_THREADS" --server-pid "$pid" \
        --coalesce "$coalesce" --behind-tolerance "$BEHIND_TOLERANCE" \
        --threshold 'rejected<=0' --threshold 'timed_out<=0' --threshold 'unsent<=0' \
        --threshold 'duplicated<=0' --threshold 'unmatched<=0' \
        --threshold "achieved_rate>=$((rate * 99 / 100))" --threshold 'behind_schedule<=0' \
        --threshold 'submit_resp.p99<250ms' \
        "${extra[@]}" --json "$json" >"$json.txt" 2>&1
    local rc=$?
    set -e
    if [ "$rc" = 1 ]; then
        echo "loadgen failed:" >&2
        cat "$json.txt" >&2
        exit 1
    fi
    return "$rc"
}

# trial2 ...: like trial, but a failure is retried once.
trial2() {
    trial "$@" || trial "$@"
}

# search NAME ADDR PID RECEIPTS : prints the highest passing rate.
search() {
    local name=$1 addr=$2 pid=$3 receipts=$4
    local pass=0 fail=0 rate=$START
    while :; do
        if trial2 "$addr" "$pid" "$rate" "$receipts" "$WORK/t.json" "$COALESCE"; then
            printf '   %-9s %8d/s  pass  (loadgen %.2f cores, server %.2f cores)\n' "$name" "$rate" \
                "$(jq .cpu.loadgen_cores "$WORK/t.json")" "$(jq .cpu.server_cores "$WORK/t.json")" >&2
            pass=$rate
            rate=$((rate * 2))
        else
            printf '   %-9s %8d/s  FAIL  %s\n' "$name" "$rate" \
                "$(jq -r '[.thresholds[] | select(.pass|not) | "\(.metric)=\(.value)"] | join(" ")' "$WORK/t.json")" >&2
            fail=$rate
            break
        fi
    done
    for _ in $(seq 1 "$STEPS"); do
        rate=$(((pass + fail) / 2))
        if trial2 "$addr" "$pid" "$rate" "$receipts" "$WORK/t.json" "$COALESCE"; then
            printf '   %-9s %8d/s  pass  (loadgen %.2f cores, server %.2f cores)\n' "$name" "$rate" \
                "$(jq .cpu.loadgen_cores "$WORK/t.json")" "$(jq .cpu.server_cores "$WORK/t.json")" >&2
            pass=$rate
        else
            printf '   %-9s %8d/s  FAIL  %s\n' "$name" "$rate" \
                "$(jq -r '[.thresholds[] | select(.pass|not) | "\(.metric)=\(.value)"] | join(" ")' "$WORK/t.json")" >&2
            fail=$rate
        fi
    done
    echo "$pass"
}

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
start carrier "$CARRIER_SIM" serve --smpp 127.0.0.1:0 --http 127.0.0.1:0 \
    --account test:secret --delivery-delay 0s
CARRIER=$ADDR
CARRIER_PID=$PID
start baseline "$BIN/examples/baseline_smsc" --listen 127.0.0.1:0 --threads "$SERVER_THREADS"
BASELINE=$ADDR
BASELINE_PID=$PID
echo "   carrier-sim $CARRIER (pid $CARRIER_PID), baseline $BASELINE (pid $BASELINE_PID)"
if [ "$DURABLE" = 1 ]; then
    start durable "$CARRIER_SIM" serve --smpp 127.0.0.1:0 --http 127.0.0.1:0 \
        --account test:secret --delivery-delay 0s --state-dir "$WORK/state"
    DURABLE_ADDR=$ADDR
    DURABLE_PID=$PID
    echo "   carrier-sim --state-dir $DURABLE_ADDR (pid $DURABLE_PID)"
fi
echo "   loadgen: $BINDS binds (trx), window $WINDOW, $TRIAL per trial, $LOADGEN_THREADS runtime thread(s), search coalescing $COALESCE, behind tolerance $BEHIND_TOLERANCE"

declare -A MAX
for receipts in $MODES; do
    mode=$([ "$receipts" = 1 ] && echo "with receipts" || echo "without receipts")
    echo "== max sustained rate, $mode"
    MAX[carrier$receipts]=$(search carrier "$CARRIER" "$CARRIER_PID" "$receipts")
    if [ "$DURABLE" = 1 ] && [ "$receipts" = 1 ]; then
        MAX[durable1]=$(search durable "$DURABLE_ADDR" "$DURABLE_PID" 1)
    fi
    if [ "${BASELINE_SEARCH:-1}" = 1 ]; then
        MAX[baseline$receipts]=$(search baseline "$BASELINE" "$BASELINE_PID" "$receipts")
    else
        MAX[baseline$receipts]=0
    fi
done

echo "== latency at half carrier-sim's max rate, the same load on both servers, $TRIAL"
printf '   %-9s %-9s %9s  %-38s %-38s %s\n' server receipts rate \
    "submit_resp µs p50/p90/p99/p99.9/max" "receipt µs p50/p90/p99/p99.9/max" "cpu loadgen/server"
for receipts in $MODES; do
    for name in carrier baseline; do
        if [ "$name" = carrier ]; then addr=$CARRIER pid=$CARRIER_PID; else addr=$BASELINE pid=$BASELINE_PID; fi
        rate=$((MAX[carrier$receipts] / 2))
        [ "$rate" -gt 0 ] || continue
        trial "$addr" "$pid" "$rate" "$receipts" "$WORK/h.json" || true
        j=$WORK/h.json
        printf '   %-9s %-9s %8d/s  %-38s %-38s %.2f/%.2f  %s\n' "$name" \
            "$([ "$receipts" = 1 ] && echo yes || echo no)" "$rate" \
            "$(jq -r '.submit_resp_us | "\(.p50)/\(.p90)/\(.p99)/\(.p999)/\(.max)"' "$j")" \
            "$(jq -r 'if .registered_delivery then (.receipt_us | "\(.p50)/\(.p90)/\(.p99)/\(.p999)/\(.max)") else "-" end' "$j")" \
            "$(jq .cpu.loadgen_cores "$j")" "$(jq .cpu.server_cores "$j")" \
            "$(jq -r 'if .identity.holds then "identity holds" else "IDENTITY BROKEN" end' "$j")"
    done
done

if [ "$DURABLE" = 1 ] && [ -n "${MAX[durable1]:-}" ]; then
    echo "== latency at half the durable carrier-sim's max rate, with receipts, $TRIAL"
    rate=$((MAX[durable1] / 2))
    for name in carrier durable; do
        if [ "$name" = carrier ]; then addr=$CARRIER pid=$CARRIER_PID; else addr=$DURABLE_ADDR pid=$DURABLE_PID; fi
        [ "$rate" -gt 0 ] || continue
        trial "$addr" "$pid" "$rate" 1 "$WORK/h.json" || true
        j=$WORK/h.json
        printf '   %-9s %-9s %8d/s  %-38s %-38s %.2f/%.2f  %s\n' "$name" yes "$rate" \
            "$(jq -r '.submit_resp_us | "\(.p50)/\(.p90)/\(.p99)/\(.p999)/\(.max)"' "$j")" \
            "$(jq -r '.receipt_us | "\(.p50)/\(.p90)/\(.p99)/\(.p999)/\(.max)"' "$j")" \
            "$(jq .cpu.loadgen_cores "$j")" "$(jq .cpu.server_cores "$j")" \
            "$(jq -r 'if .identity.holds then "identity holds" else "IDENTITY BROKEN" end' "$j")"
    done
    HTTP_DURABLE=$(jq -r 'select(.event=="listening" and .service=="http") | .addr' "$WORK/durable.out")
    echo "   durable state: $(curl -s "http://$HTTP_DURABLE/v1/stats" | jq -c '.carriers[0].state | {commits, writes, pending, refusals}'), file $(du -h "$WORK/state" | tail -1 | cut -f1)"
fi

echo "== summary"
for receipts in $MODES; do
    c=${MAX[carrier$receipts]}
    b=${MAX[baseline$receipts]}
    ratio=$(awk -v c="$c" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", c / b; else print "n/a" }')
    printf '   %-17s carrier-sim %8d/s   baseline %8d/s   carrier/baseline %s\n' \
        "$([ "$receipts" = 1 ] && echo "with receipts" || echo "without receipts")" "$c" "$b" "$ratio"
done

if [ "$DURABLE" = 1 ] && [ -n "${MAX[durable1]:-}" ]; then
    printf '   %-17s carrier-sim --state-dir %8d/s   in memory %8d/s   durable/in-memory %s\n' \
        "with receipts" "${MAX[durable1]}" "${MAX[carrier1]}" \
        "$(awk -v d="${MAX[durable1]}" -v c="${MAX[carrier1]}" 'BEGIN { if (c > 0) printf "%.2f", d / c; else print "n/a" }')"
fi
if [ "$MEMORY" != 1 ]; then
    echo "== done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    exit 0
fi

echo "== memory"
# loadgen, bytes per in-flight message: a silent SMSC never answers, so a window of N fills
# and stays full; peak RSS with N in flight minus peak RSS with 1 in flight, divided by N.
start silent "$BIN/examples/baseline_smsc" --listen 127.0.0.1:0 --silent
SILENT=$ADDR
N=200000
for w in 1 $N; do
    "$LOADGEN" smpp --target "$SILENT" --system-id test --password secret --rate 200000 \
        --duration 1500ms --window "$w" --timeout 500ms --progress off \
        --json "$WORK/m$w.json" >/dev/null 2>&1 || true
done
awk -v a="$(jq .peak_rss_bytes "$WORK/m1.json")" -v b="$(jq .peak_rss_bytes "$WORK/m$N.json")" -v n="$N" \
    'BEGIN { printf "   loadgen: %.0f bytes per in-flight message (peak RSS %.1f MiB with %d in flight, %.1f MiB with 1)\n", (b - a) / n, b / 1048576, n, a / 1048576 }'
# loadgen, bytes per tracked receipt (receipt book entry): N messages with and without
# registered_delivery against the baseline (which answers every receipt at once).
for rd in 0 1; do
    extra=()
    [ "$rd" = 1 ] && extra=(--registered-delivery --receipt-wait 2s)
    "$LOADGEN" smpp --target "$BASELINE" --system-id test --password secret --rate 200000 \
        --duration 5s --binds 2 --window 1000 --progress off "${extra[@]}" \
        --json "$WORK/r$rd.json" >/dev/null 2>&1 || true
done
awk -v a="$(jq .peak_rss_bytes "$WORK/r0.json")" -v b="$(jq .peak_rss_bytes "$WORK/r1.json")" \
    -v n="$(jq .receipts.expected "$WORK/r1.json")" \
    'BEGIN { printf "   loadgen: %.0f bytes per tracked message in the receipt book (%d messages)\n", (b - a) / n, n }'
# carrier-sim, bytes per stored receipt: transmitter-only binds, so receipts cannot be
# delivered and are stored; the same messages without registered_delivery give the cost of
# the message records alone. RSS after minus RSS before, per message.
M=100000
for rd in 0 1; do
    start "carrier-mem$rd" "$CARRIER_SIM" serve --smpp 127.0.0.1:0 --http 127.0.0.1:0 \
        --account test:secret --delivery-delay 0s
    before=$(awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$PID/status")
    extra=()
    [ "$rd" = 1 ] && extra=(--registered-delivery --receipt-wait 0)
    "$LOADGEN" smpp --target "$ADDR" --system-id test --password secret --rate 50000 \
        --duration "$((M / 50000))s" --binds 2 --bind-type tx --window 1000 --progress off \
        "${extra[@]}" --json "$WORK/c$rd.json" >/dev/null 2>&1 || true
    sleep 1
    after=$(awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$PID/status")
    eval "CDELTA$rd=$((after - before))"
    kill "$PID"
done
awk -v r0="$CDELTA0" -v r1="$CDELTA1" -v m="$M" \
    'BEGIN { printf "   carrier-sim: %.0f bytes per stored message record, %.0f more per stored receipt (%d messages; RSS deltas %.1f and %.1f MiB)\n", r0 / m, (r1 - r0) / m, m, r0 / 1048576, r1 / 1048576 }'
echo "== done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
