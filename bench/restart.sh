#!/usr/bin/env bash
# A carrier that keeps its word across a SIGKILL (issue 13, "Done when"; BENCHMARKS.md,
# "Restart").
#
# 1. carrier-sim with --state-dir and a 30 s delivery delay; 10,000 messages asking for
#    receipts are submitted (simulator/examples/receipt_check.rs, `submit`), and their
#    acknowledged ids written down;
# 2. halfway through the delay (15 s after the first submit) the carrier is killed with SIGKILL;
# 3. it is restarted on the same directory; a receiver binds (`receive`) and must get every one
#    of the 10,000 receipts exactly once, with the ids it was given;
# 4. the same submits to a carrier without --state-dir, stopped with SIGTERM: its stop report
#    must state the 10,000 receipts it owed (and that they are lost).
#
# Usage: bench/restart.sh          (about a minute and a half)
# Env:   COUNT=10000 DELAY=30 CARRIER_SIM=path/to/carrier-sim
set -euo pipefail

cd "$(dirname "$0")/.."
COUNT=${COUNT:-10000}
DELAY=${DELAY:-30}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

echo "== build (release)"
cargo build --release -q -p simulator --bin carrier-sim --example receipt_check
CARRIER_SIM=${CARRIER_SIM:-$CARGO_TARGET_DIR/release/carrier-sim}
CHECK=$CARGO_TARGET_DIR/release/examples/receipt_check
WORK=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME ARGS... : starts carrier-sim, waits for its SMPP readiness line; sets PID, ADDR.
start() {
    local name=$1
    shift
    "$CARRIER_SIM" serve --smpp 127.0.0.1:0 --http 127.0.0.1:0 --account test:secret "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PID=$!
    for _ in $(seq 1 400); do
        ADDR=$(jq -r 'select(.event=="listening" and .service=="smpp") | .addr' \
            "$WORK/$name.out" 2>/dev/null | head -1)
        [ -n "$ADDR" ] && return 0
        if ! kill -0 "$PID" 2>/dev/null; then break; fi
        sleep 0.05
    done
    echo "$name did not start:" >&2
    cat "$WORK/$name.err" >&2
    exit 1
}

fail=0
echo "== with --state-dir: $COUNT messages, ${DELAY}s delivery delay, SIGKILL at $((DELAY / 2))s"
echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
start first --state-dir "$WORK/state" --delivery-delay "${DELAY}s"
t0=$(date +%s.%N)
"$CHECK" submit --target "$ADDR" --count "$COUNT" --ids "$WORK/ids.txt" | tee "$WORK/submit.json"
accepted=$(jq .accepted "$WORK/submit.json")
kill_at=$(echo "$t0 + $DELAY / 2" | bc)
sleep "$(echo "$kill_at - $(date +%s.%N)" | bc | sed 's/^-.*/0/')"
echo "   state before the kill: $(curl -s "http://$(jq -r 'select(.service=="http") | .addr' "$WORK/first.out")/v1/stats" \
    | jq -c '{receipts: .receipts | {asked, scheduled, generated}, state: .carriers[0].state | {commits, writes, pending}}')"
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
echo "   SIGKILL at $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5)s after the first submit"
start second --state-dir "$WORK/state" --delivery-delay "${DELAY}s"
echo "   restarted: $(grep -o 'state restored.*' "$WORK/second.err" | head -1 || true)"
if "$CHECK" receive --target "$ADDR" --ids "$WORK/ids.txt" --timeout-secs $((DELAY * 3)) \
    | tee "$WORK/receive.json"; then
    echo "   PASS: $accepted accepted before the kill, every receipt received exactly once after the restart"
else
    echo "   FAIL: see the line above"
    fail=1
fi
[ "$accepted" = "$COUNT" ] || { echo "   FAIL: only $accepted of $COUNT accepted"; fail=1; }
kill -TERM "$PID"
wait "$PID" 2>/dev/null || true

echo "== without --state-dir: $COUNT messages, ${DELAY}s delivery delay, SIGTERM"
start memory --delivery-delay "${DELAY}s"
"$CHECK" submit --target "$ADDR" --count "$COUNT" --ids "$WORK/ids2.txt" >/dev/null
kill -TERM "$PID"
wait "$PID" 2>/dev/null || true
PID=
jq -c 'select(.event=="stopped") | .report.restart' "$WORK/memory.out"
owed=$(jq 'select(.event=="stopped") | .report.restart.receipts_owed' "$WORK/memory.out")
if [ "$owed" = "$COUNT" ]; then
    echo "   PASS: the stop report states the $COUNT receipts it owed"
else
    echo "   FAIL: the stop report states $owed owed, not $COUNT"
    fail=1
fi
echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fail
