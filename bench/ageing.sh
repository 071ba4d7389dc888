#!/usr/bin/env bash
# Fresh against aged, at the same moment: two carrier-sim processes, one aged first by AGE_FOR
# at AGE_RATE messages/s with receipts, then PAIRS alternating runs of DURATION at RATE on each;
# prints carrier-sim's CPU per accepted message for each run (documented in BENCHMARKS.md,
# "Soak"). Alternating on the same machine at the same time is what makes the two comparable
# on a shared machine, where load moves CPU per message more than age does.
#
# Usage: bench/ageing.sh           (about 2 minutes)
# Env:   AGE_RATE=100000 AGE_FOR=15s RATE=20000 DURATION=10s PAIRS=3 CARRIER_BIN=...
#        PERF=1: also record a perf profile of each (/tmp/perf-aged.data, /tmp/perf-fresh.data)
set -euo pipefail

cd "$(dirname "$0")/.."
AGE_RATE=${AGE_RATE:-100000}
AGE_FOR=${AGE_FOR:-15s}
RATE=${RATE:-20000}
DURATION=${DURATION:-10s}
PAIRS=${PAIRS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

# shellcheck source=bench/carrier.sh
. "$(dirname "$0")/carrier.sh"
prepare
mkdir -p "$WORK/fresh" "$WORK/aged"
start_carrier "$WORK/fresh" --delivery-delay 0s
FRESH_PID=$PID FRESH=$ADDR
start_carrier "$WORK/aged" --delivery-delay 0s
AGED_PID=$PID AGED=$ADDR
trap 'kill "$FRESH_PID" "$AGED_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# run NAME PID ADDR RATE DURATION
run() {
    local before after
    before=$(awk '{ print $14 + $15 }' "/proc/$2/stat")
    "$BIN/loadgen" smpp --target "$3" --system-id test --password secret --rate "$4" \
        --duration "$5" --binds 4 --window 1000 --progress off --registered-delivery \
        --receipt-wait 5s --json "$WORK/r.json" >/dev/null 2>&1 || true
    after=$(awk '{ print $14 + $15 }' "/proc/$2/stat")
    printf '   %-6s %7d/s  %s µs/msg  missing %s  rss %s MiB  load %s\n' "$1" "$4" \
        "$(awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" -v n="$(jq .accepted "$WORK/r.json")" \
            'BEGIN { printf "%.2f", t * 1e6 / hz / n }')" \
        "$(jq .receipts.missing "$WORK/r.json")" \
        "$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$2/status")" "$(cut -d' ' -f1 /proc/loadavg)"
}

# profile PID ADDR OUT: a perf profile of 6 s inside a 12 s run.
profile() {
    "$BIN/loadgen" smpp --target "$2" --system-id test --password secret --rate "$RATE" \
        --duration 12s --binds 4 --window 1000 --progress off --registered-delivery \
        --receipt-wait 3s >/dev/null 2>&1 &
    sleep 3
    perf record -F 1999 -g -p "$1" -o "$3" -- sleep 6 >/dev/null 2>&1 || true
    wait
}

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
run aging "$AGED_PID" "$AGED" "$AGE_RATE" "$AGE_FOR"
for _ in $(seq 1 "$PAIRS"); do
    run fresh "$FRESH_PID" "$FRESH" "$RATE" "$DURATION"
    run aged "$AGED_PID" "$AGED" "$RATE" "$DURATION"
done
if [ -n "${PERF:-}" ]; then
    profile "$AGED_PID" "$AGED" /tmp/perf-aged.data
    profile "$FRESH_PID" "$FRESH" /tmp/perf-fresh.data
    echo "   profiles: /tmp/perf-aged.data /tmp/perf-fresh.data"
fi
echo "== done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
