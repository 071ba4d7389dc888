#!/usr/bin/env bash
# Verifications per second of `loadgen run` (documented in BENCHMARKS.md, "loadgen run"):
# a smoke-like scenario where every verification is a full flow (start at the verifier, SMS
# over SMPP to carrier-sim, delivery to the virtual handset, the code read off it, the check),
# run twice with the same load:
#
#   1. embedded: carrier-sim, the verifier and loadgen in one process (loadgen's default);
#   2. external: carrier-sim and the verifier as separate processes (their release binaries),
#      loadgen driving the verifier over HTTP and reading handsets from carrier-sim's WebSocket
#      event stream, with --server-pid so each process's CPU share is reported.
#
# A run counts when loadgen exits 0: every verification accounted for (the identity holds),
# no handset events missed, and the thresholds below held, among them `achieved_rate`, which
# fails when loadgen could not keep its open-loop schedule (the run would then be measuring a
# lower rate than it claims), and `start_response.p99 < 1s` (the service kept up with the
# starts rather than queueing them). The figures printed come from loadgen's JSON report: the
# achieved start rate, verified per second, the latencies, loadgen's CPU (in cores, everything
# embedded included), the servers' CPU, peak pending verifications and memory per pending
# verification ((peak RSS - RSS at start) / peak pending).
#
# The verifier runs with number lookup and the fraud guard off: with a new number for every
# user, lookup would cost each start an HTTP request to carrier-sim's lookup (measured in
# BENCHMARKS.md, "Verifier flows"), and the guard's velocity rules are built to refuse exactly
# this kind of traffic. Both are configuration, not what this benchmark measures.
#
# Usage: bench/run.sh              (about 1 minute)
# Env:   RATE=10000 DURATION=10s BINDS=4 WINDOW=512 MODES="embedded external" SCENARIO_OUT=
set -euo pipefail

cd "$(dirname "$0")/.."
RATE=${RATE:-10000}
DURATION=${DURATION:-10s}
BINDS=${BINDS:-4}
WINDOW=${WINDOW:-512}
MODES=${MODES:-embedded external}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

echo "== build (release)"
cargo build --release -q -p loadgen --bin loadgen
cargo build --release -q -p simulator --bin carrier-sim
cargo build --release -q -p verifier --bin verifier
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The network, in carrier-sim's format; $1 prefixes its tables ("network." inside a scenario).
network() {
    cat <<EOF
[${1}carriers.alpha.accounts.verifier]
password = "secret"
[${1}carriers.alpha.session]
deliver_window = 512
[${1}carriers.alpha.behaviour]
handset_latency = { kind = "lognormal", median = "500ms", p99 = "2s", cap = "5s" }
receipt_latency = { kind = "lognormal", median = "700ms", p99 = "3s", cap = "5s" }

[[${1}ranges]]
name = "uk mobiles"
prefix = "4477"
country = "GB"
carrier = "alpha"
line_type = "mobile"
EOF
}

# The verifier's settings shared by both modes; $1 prefixes its tables.
verifier_settings() {
    cat <<EOF
[${1}lookup]
enabled = false
[${1}guard]
mode = "off"
EOF
}

cat >"$WORK/scenario.toml" <<EOF
name = "bench-smoke"
description = "smoke at ${RATE} verifications/s: start, SMS, handset delivery, check"
duration = "${DURATION}"
seed = 1

$(network network.)

[[verifier.carriers]]
name = "alpha"
binds = ${BINDS}
window = ${WINDOW}
$(verifier_settings verifier.)

[[populations]]
name = "genuine"
arrival = { model = "constant", rate = ${RATE} }
numbers = { range = "uk mobiles", digits = 12 }

[populations.behaviour]
read_time = { kind = "uniform", min = "500ms", max = "1500ms" }

[settings]
drain = "30s"

[thresholds]
"achieved_rate" = "> 0"
# The service answered the starts in time: requests queued in loadgen (it keeps at most 256
# HTTP requests under way) would otherwise pass for a rate the service sustained.
"start_response.p99" = "< 1s"
"verified_ratio" = ">= 0.999"
"failed" = "<= 0"
"lagged_events" = "<= 0"
EOF

# SCENARIO_OUT=FILE keeps a copy of the scenario (to profile it, say).
if [ -n "${SCENARIO_OUT:-}" ]; then cp "$WORK/scenario.toml" "$SCENARIO_OUT"; fi

summary() {
    jq -r '. as $r
      | ($r.wall_s / $r.attempted * 1e6) as $us_per
      | ([$r.timeline[] | select(.t > 3 and .t <= $r.scenario.duration_s) | .verified_rate]
         | sort | if length > 0 then .[length / 2 | floor] | floor else null end) as $steady
      | "  attempted \($r.attempted), verified \($r.outcomes.verified), failed \($r.outcomes.failed) \($r.reasons.failed), unsent \($r.unsent)",
        "  start rate achieved \($r.rates.achieved | floor)/s against \($r.rates.target | floor)/s (schedule met: \($r.rates.met)); behind schedule \($r.behind_schedule); send_lag p99 \($r.latency_us.send_lag.p99 / 1000 | floor) ms",
        "  verified per second while arrivals ran (median of the per-second rows after the first 3 s): \($steady)/s",
        "  delivery_time p50 \($r.latency_us.delivery_time.p50 / 1000 | floor) ms p99 \($r.latency_us.delivery_time.p99 / 1000 | floor) ms; start_response p99 \($r.latency_us.start_response.p99 / 1000 | floor) ms; verify_time p99 \($r.latency_us.verify_time.p99 / 1000 | floor) ms",
        "  CPU: loadgen \($r.machine.process_cores * 100 | floor / 100) cores (\($r.machine.process_cores * $us_per | floor) µs per verification\(if ($r.machine.servers_cores | length) == 0 then ", carrier-sim and verifier included" else "" end)); servers \($r.machine.servers_cores | to_entries | map("pid \(.key) \(.value * 100 | floor / 100) cores (\(.value * $us_per | floor) µs per verification)") | join(", ")); machine \($r.machine.cores) cores, load average \($r.machine.load_average) at start",
        "  memory: peak pending \($r.memory.peak_pending); peak RSS \($r.memory.peak_rss_bytes / 1048576 | floor) MiB (\($r.memory.start_rss_bytes / 1048576 | floor) MiB at start): \($r.memory.per_pending_bytes) bytes per pending verification",
        "  thresholds: \([$r.thresholds[] | "\(.expr) \(if .pass then "ok" else "BREACHED" end)"] | join(", ")); errors: \($r.errors)"' "$1"
}

run_loadgen() {
    local mode=$1
    shift
    echo "== $mode: $RATE verifications/s for $DURATION"
    echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    set +e
    "$BIN/loadgen" run "$WORK/scenario.toml" --progress plain --json "$WORK/$mode.json" "$@" \
        >"$WORK/$mode.out" 2>"$WORK/$mode.err"
    local code=$?
    set -e
    echo "   loadgen exit $code"
    if [ -s "$WORK/$mode.json" ]; then
        summary "$WORK/$mode.json"
    else
        cat "$WORK/$mode.err" >&2
    fi
    [ "$code" = 0 ] || tail -5 "$WORK/$mode.out"
}

# wait_for FILE SERVICE : the address of the first readiness line for SERVICE.
wait_for() {
    for _ in $(seq 1 200); do
        local a
        a=$(jq -r "select(.event==\"listening\" and .service==\"$2\") | .addr" "$1" 2>/dev/null | head -1)
        if [ -n "$a" ]; then
            echo "$a"
            return 0
        fi
        sleep 0.05
    done
    echo "no readiness line for $2 in $1" >&2
    return 1
}

for mode in $MODES; do
    case $mode in
    embedded)
        run_loadgen embedded
        ;;
    external)
        { echo "[carriers.alpha]"; echo 'smpp = ["127.0.0.1:0"]'; network ""; } >"$WORK/network.toml"
        "$BIN/carrier-sim" serve --config "$WORK/network.toml" --http 127.0.0.1:0 \
            >"$WORK/sim.out" 2>"$WORK/sim.err" &
        SIM=$!
        PIDS+=("$SIM")
        SMPP=$(wait_for "$WORK/sim.out" smpp)
        HTTP=$(wait_for "$WORK/sim.out" http)
        cat >"$WORK/verifier.toml" <<EOF
listen = "127.0.0.1:0"
[[carriers]]
name = "alpha"
smpp = "$SMPP"
system_id = "verifier"
password = "secret"
control = "http://$HTTP"
binds = $BINDS
window = $WINDOW
$(verifier_settings "")
EOF
        "$BIN/verifier" serve --config "$WORK/verifier.toml" >"$WORK/verifier.out" 2>"$WORK/verifier.err" &
        VER=$!
        PIDS+=("$VER")
        VHTTP=$(wait_for "$WORK/verifier.out" http)
        sleep 1 # the verifier's binds come up
        run_loadgen external --network "http://$HTTP" --verifier "http://$VHTTP" \
            --server-pid "$SIM" --server-pid "$VER"
        kill "$VER" "$SIM" 2>/dev/null || true
        wait "$VER" "$SIM" 2>/dev/null || true
        ;;
    *)
        echo "unknown mode $mode" >&2
        exit 2
        ;;
    esac
done
