#!/usr/bin/env bash
# carrier-sim's cost per message in CPU instructions, counted by valgrind (callgrind), for one
# or two builds of the carrier under the same fixed workload from `loadgen smpp`.
#
# Instruction counts do not depend on what else the machine is doing, so two builds can be
# compared on a busy, shared machine where rates and CPU seconds swing by tens of percent
# (BENCHMARKS.md, "SMPP throughput"). They are not time: cache misses, contention and the
# kernel's share are not in them. Use this to tell whether a change made the carrier do more
# or less work per message; use bench/smpp.sh for what it sustains.
#
# The workload, per mode (without receipts; with registered_delivery=1, delivery delay 0): one
# carrier-sim process under callgrind, MESSAGES messages at RATE/s over 2 transceiver binds,
# then SIGTERM. The count covers the whole process (start, binds, messages, shutdown); a second
# run with a tenth of the messages measures the fixed part, and the difference divided by the
# difference in messages is the cost per message.
#
# Usage: bench/instructions.sh [CARRIER_SIM_B]
#        (the first build is this tree's; CARRIER_SIM_B, e.g. an older commit's release
#        binary, is measured under the same loadgen)
# Env:   MESSAGES=20000 RATE=2000
set -euo pipefail

cd "$(dirname "$0")/.."
MESSAGES=${MESSAGES:-20000}
RATE=${RATE:-2000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
command -v jq >/dev/null || { echo "needs jq (apt-get install jq)" >&2; exit 1; }

cargo build --release -q -p simulator --bin carrier-sim
cargo build --release -q -p loadgen --bin loadgen
BIN=$CARGO_TARGET_DIR/release
BUILDS=("$BIN/carrier-sim")
[ $# -ge 1 ] && BUILDS+=("$1")
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# count BINARY RECEIPTS N : total instructions of one carrier-sim run that handles N messages.
count() {
    local bin=$1 receipts=$2 n=$3 out=$WORK/cg.out
    rm -f "$out" "$WORK/ready"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" serve \
        --smpp 127.0.0.1:0 --http 127.0.0.1:0 --account test:secret --delivery-delay 0s \
        >"$WORK/ready" 2>"$WORK/err" &
    local pid=$!
    local addr=""
    for _ in $(seq 1 600); do
        addr=$(jq -r 'select(.event=="listening" and .service=="smpp") | .addr' "$WORK/ready" \
            2>/dev/null | head -1)
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { cat "$WORK/err" >&2; exit 1; }
    local extra=()
    [ "$receipts" = 1 ] && extra=(--registered-delivery --receipt-wait 10s)
    local secs
    secs=$(awk -v n="$n" -v r="$RATE" 'BEGIN { printf "%.3fs", n / r }')
    "$BIN/loadgen" smpp --target "$addr" --system-id test --password secret --rate "$RATE" \
        --duration "$secs" --binds 2 --window 100 --timeout 10s --progress off \
        --json "$WORK/run.json" "${extra[@]}" >/dev/null 2>&1 || true
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    local accepted
    accepted=$(jq -r '.accepted' "$WORK/run.json")
    local total
    total=$(awk '/^summary:/ { print $2 }' "$out")
    echo "$total $accepted"
}

printf '%-60s %-9s %14s\n' "build" "receipts" "instr/message"
for bin in "${BUILDS[@]}"; do
    for receipts in 0 1; do
        read -r big n_big < <(count "$bin" "$receipts" "$MESSAGES")
        read -r small n_small < <(count "$bin" "$receipts" $((MESSAGES / 10)))
        per=$(awk -v a="$big" -v b="$small" -v na="$n_big" -v nb="$n_small" \
            'BEGIN { printf "%.0f", (a - b) / (na - nb) }')
        printf '%-60s %-9s %14s   (%s accepted: %s instr; %s: %s)\n' "$bin" "$receipts" "$per" \
            "$n_big" "$big" "$n_small" "$small"
    done
done
