#!/usr/bin/env bash
# loadgen's send precision, and its service time against the wire (documented in
# BENCHMARKS.md, "loadgen send precision").
#
# 1. Against carrier-sim (release, --delivery-delay 0s), one `loadgen smpp` run per rate in
#    RATES (1 bind, window 100, each message sent at its own time): send lag p50/p99/p99.9/max,
#    sends behind schedule, and CPU (loadgen's, of which the sending thread's and its spinning;
#    carrier-sim's) over the sending phase.
# 2. The capture check: at WIRE_RATE, tcpdump on loopback records the run, and
#    bench/wire_latency.py pairs each submit_sm with its submit_sm_resp by sequence number;
#    loadgen's submit_service p50/p99 (its clock started at the write) must be within
#    10 % + 50 us of the wire's. Skipped without tcpdump (Debian: apt-get install tcpdump;
#    capturing needs root or CAP_NET_RAW). "kernel-stamped" says how many of those service
#    times started at the kernel's transmit timestamp of the write (the rest at the time
#    taken just before it).
#
# Usage: bench/send_precision.sh      (about two minutes)
# Env:   DURATION=10s RATES="1000 5000 20000 50000" WIRE_RATE=5000
#        LOADGEN=path  measure that loadgen binary instead of this tree's (a "before")
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
RATES=${RATES:-1000 5000 20000 50000}
WIRE_RATE=${WIRE_RATE:-5000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

echo "== build (release)"
cargo build --release -q -p simulator --bin carrier-sim
cargo build --release -q -p loadgen --bin loadgen
BIN=$CARGO_TARGET_DIR/release
LOADGEN=${LOADGEN:-$BIN/loadgen}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN/carrier-sim" serve --smpp 127.0.0.1:0 --http 127.0.0.1:0 --account test:secret \
    --delivery-delay 0s >"$WORK/carrier.out" 2>"$WORK/carrier.err" &
CARRIER_PID=$!
PIDS+=("$CARRIER_PID")
ADDR=
for _ in $(seq 1 200); do
    ADDR=$(jq -r 'select(.event=="listening" and .service=="smpp") | .addr' \
        "$WORK/carrier.out" 2>/dev/null | head -1)
    [ -n "$ADDR" ] && break
    sleep 0.05
done
[ -n "$ADDR" ] || { echo "carrier-sim did not start" >&2; cat "$WORK/carrier.err" >&2; exit 1; }
PORT=${ADDR##*:}

# run RATE JSON : one loadgen run against carrier-sim.
run() {
    "$LOADGEN" smpp --target "$ADDR" --system-id test --password secret --rate "$1" \
        --duration "$DURATION" --progress off --server-pid "$CARRIER_PID" --json "$2" \
        >"$2.txt" 2>&1 || true
}

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== send lag against carrier-sim $ADDR, $DURATION per rate, 1 bind, window 100"
printf '   %8s  %-28s %9s  %-9s %-38s %s\n' rate "send lag us p50/p99/p99.9/max" behind rate_met \
    "cpu loadgen (sender, spinning) server" "margin us"
for rate in $RATES; do
    run "$rate" "$WORK/r$rate.json"
    j=$WORK/r$rate.json
    printf '   %7d/s  %-28s %9s  %-9s %-38s %s\n' "$rate" \
        "$(jq -r '.send_lag_us | "\(.p50)/\(.p99)/\(.p999)/\(.max)"' "$j")" \
        "$(jq .behind_schedule "$j")" "$(jq .rate_met "$j")" \
        "$(jq -r '.cpu | "\(.loadgen_cores*100|round/100) (\(.sender_cores*100|round/100), \(.sender_spin_cores*100|round/100)) \(.server_cores*100|round/100)"' "$j")" \
        "$(jq .cpu.sender_margin_us "$j")"
done

echo "== service time against the wire at $WIRE_RATE/s"
if ! command -v tcpdump >/dev/null; then
    echo "   skipped: no tcpdump (apt-get install tcpdump)"
else
    tcpdump -i lo -w "$WORK/x.pcap" --time-stamp-precision=nano -B 65536 "tcp port $PORT" \
        2>"$WORK/tcpdump.err" &
    TCPDUMP=$!
    PIDS+=("$TCPDUMP")
    sleep 1
    run "$WIRE_RATE" "$WORK/w.json"
    sleep 0.5
    kill -INT "$TCPDUMP"
    wait "$TCPDUMP" 2>/dev/null || true
    grep -E 'dropped' "$WORK/tcpdump.err" | sed 's/^/   tcpdump: /'
    python3 bench/wire_latency.py "$WORK/x.pcap" --port "$PORT" --json >"$WORK/wire.json"
    jq -r --slurpfile w "$WORK/wire.json" '
        .submit_service_us as $l | $w[0] as $w
        | def ok(a; b): if ((a - b) | fabs) <= 0.1 * b + 50 then "within" else "OUTSIDE" end;
        "   loadgen submit_service (from the write): count \($l.count)  p50 \($l.p50)  p90 \($l.p90)  p99 \($l.p99)  max \($l.max)  (kernel-stamped \(.submit_service_kernel_stamped // "n/a"))",
        "   wire submit_sm -> submit_sm_resp:        count \($w.count)  p50 \($w.p50|round)  p90 \($w.p90|round)  p99 \($w.p99|round)  max \($w.max|round)",
        "   p50 \(ok($l.p50; $w.p50)) 10 % + 50 us of the wire, p99 \(ok($l.p99; $w.p99)) (send lag p50/p99 \(.send_lag_us.p50)/\(.send_lag_us.p99) us; submit_resp p50/p99 \(.submit_resp_us.p50)/\(.submit_resp_us.p99) us)"
    ' "$WORK/w.json"
fi
echo "== done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
