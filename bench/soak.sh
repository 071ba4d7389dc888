#!/usr/bin/env bash
# Soak: one carrier-sim process, RUNS consecutive loadgen runs of DURATION at a fixed RATE with
# receipts, to show whether the carrier ages (documented in BENCHMARKS.md, "Soak").
#
# Per run it prints carrier-sim's CPU per accepted message (utime + stime from /proc/PID/stat
# over the run, receipt wait included), its resident memory after the run (VmRSS) and peak
# (VmHWM), loadgen's submit_resp and receipt p99, missing receipts and refusals; at the end the
# ratio of the last run's CPU per message to the first's, and how long the process took to exit
# after SIGTERM.
#
# The carrier runs with its defaults (delivery delay 0 unless CARRIER_ARGS says otherwise), so
# loadgen's destinations (4477009 + a 5-digit counter: 100,000 numbers in turn) fill the
# handsets' and the store's bounds within the first run; memory should be flat after that.
#
# Usage: bench/soak.sh            (RUNS x (DURATION + ~5 s); 11 minutes with the defaults)
# Env:   RUNS=10 DURATION=60s RATE=20000 BINDS=4 WINDOW=1000 LOADGEN_THREADS=1
#        CARRIER_ARGS="--delivery-delay 0s"
#        CARRIER_BIN=path/to/carrier-sim (default: the release build; e.g. one built with
#        --no-default-features, without mimalloc, to compare)
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
DURATION=${DURATION:-60s}
RATE=${RATE:-20000}
BINDS=${BINDS:-4}
WINDOW=${WINDOW:-1000}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
CARRIER_ARGS=${CARRIER_ARGS:---delivery-delay 0s}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

# shellcheck source=bench/carrier.sh
. "$(dirname "$0")/carrier.sh"
prepare

TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086 # CARRIER_ARGS is a list of arguments
start_carrier "$WORK" $CARRIER_ARGS
echo "   carrier-sim $ADDR (pid $PID, $CARRIER_ARGS); loadgen: $RUNS runs of $DURATION at $RATE/s with receipts, $BINDS binds, window $WINDOW"
printf '   %3s %10s %9s %10s %10s %9s %11s %11s %8s %9s %s\n' run accepted "cpu µs/msg" "rss MiB" "peak MiB" "server" "submit p99" "receipt p99" missing refused "load"

FIRST=
LAST=
for run in $(seq 1 "$RUNS"); do
    before=$(cpu_ticks "$PID")
    set +e
    "$BIN/loadgen" smpp --target "$ADDR" --system-id test --password secret \
        --rate "$RATE" --duration "$DURATION" --binds "$BINDS" --window "$WINDOW" \
        --threads "$LOADGEN_THREADS" --timeout 5s --progress off --server-pid "$PID" \
        --registered-delivery --receipt-wait 10s --json "$WORK/run.json" >"$WORK/run.txt" 2>&1
    rc=$?
    set -e
    if [ "$rc" = 1 ] || [ ! -s "$WORK/run.json" ]; then
        echo "loadgen failed:" >&2
        cat "$WORK/run.txt" >&2
        exit 1
    fi
    after=$(cpu_ticks "$PID")
    j=$WORK/run.json
    accepted=$(jq .accepted "$j")
    us=$(awk -v t="$((after - before))" -v hz="$TCK" -v n="$accepted" 'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "n/a" }')
    [ -z "$FIRST" ] && FIRST=$us
    LAST=$us
    printf '   %3d %10d %9s %10.1f %10.1f %9.2f %9dµs %9dµs %8d %9d %s\n' "$run" "$accepted" "$us" \
        "$(awk -v k="$(kib "$PID" VmRSS)" 'BEGIN { print k / 1024 }')" \
        "$(awk -v k="$(kib "$PID" VmHWM)" 'BEGIN { print k / 1024 }')" \
        "$(jq '.cpu.server_cores // 0' "$j")" \
        "$(jq .submit_resp_us.p99 "$j")" "$(jq .receipt_us.p99 "$j")" \
        "$(jq .receipts.missing "$j")" "$(jq .rejected "$j")" "$(cut -d' ' -f1 /proc/loadavg)"
done
curl -s "http://$HTTP/v1/stats" >"$WORK/stats.json" || true
echo "   carrier: $(jq -c '{receipts: .receipts, handsets: .handsets, store: .store, refusals: .carriers[0].refusals}' "$WORK/stats.json" 2>/dev/null)"
awk -v a="$FIRST" -v b="$LAST" 'BEGIN { if (a > 0) printf "== last/first CPU per message: %.3f (%s / %s µs)\n", b / a, b, a }'

t0=$(date +%s%N)
kill -TERM "$PID"
while kill -0 "$PID" 2>/dev/null; do sleep 0.01; done
t1=$(date +%s%N)
PID=
awk -v ns="$((t1 - t0))" 'BEGIN { printf "== exit after SIGTERM: %.2f s\n", ns / 1e9 }'
echo "   stderr lines: $(wc -l <"$WORK/carrier.err")"
echo "== done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
