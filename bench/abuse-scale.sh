#!/usr/bin/env bash
# Fraud personas at scale (issue 12, point 5; documented in BENCHMARKS.md, "Abuse at scale"):
# bench/abuse-scale.toml asks for codes to over a million distinct numbers (SMS pumpers walking
# a 10^7 range in order, genuine users, brute forcers and a human farm at random over 10^8) and
# keeps over ten thousand attackers' verifications under way at once (brute forcers guessing
# slowly, a human farm reading slowly), with carrier-sim, the reference verifier (guard
# enforcing) and loadgen in one process. It runs twice, back to back, in one script run:
#
#   1. baseline: the same scenario with every arrival rate divided by 10 (a tenth of the
#      numbers, a tenth of the flows under way), so the reader sees how memory grows;
#   2. full: the scenario as written.
#
# The figures come from loadgen's JSON report: distinct numbers asked for (`memory.numbers`,
# the entries of loadgen's map from number to the population that asked), the most flows and
# attackers' flows under way (`memory.peak_pending`, `memory.peak_attack_pending`), the
# process's peak RSS (VmHWM: carrier-sim and the verifier are in it) and its RSS at the start
# of the load, bytes per number and per flow under way, start requests and approvals per second
# over the real wall time (start of the load to the end of the drain), the start rate over the
# send window, and the abuse figures (recall, blocked share, refusals by reason).
#
# A run counts when loadgen exits 0: every request accounted for, no handset event missed,
# nothing failed, no code cracked (the scenario's thresholds).
#
# Usage: bench/abuse-scale.sh            (about 7 minutes: 3 + 4)
# Env:   RUNS="baseline full"  DIVISOR=10  KEEP=DIR (keep the scenarios and reports there)
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-baseline full}
DIVISOR=${DIVISOR:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

echo "== build (release)"
cargo build --release -q -p loadgen --bin loadgen
BIN=$CARGO_TARGET_DIR/release
WORK=${KEEP:-$(mktemp -d)}
mkdir -p "$WORK"
cleanup() { [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

echo "== machine"
echo "   nproc $(nproc); load average $(cut -d' ' -f1-3 /proc/loadavg)"
free -g | sed 's/^/   /'

# The scenario with every arrival rate divided by $1 (1: as written).
scenario() {
    perl -pe "s/(arrival = \{[^}]*\brate = )([0-9.]+)/\$1 . (\$2 \/ $1)/e" bench/abuse-scale.toml
}

summary() {
    jq -r '. as $r
      | $r.memory as $m
      | ($m.peak_rss_bytes - $m.start_rss_bytes) as $grown
      | $r.abuse as $a
      | "  attempted \($r.attempted): refused \($r.outcomes.refused), verified \($r.outcomes.verified), expired \($r.outcomes.expired), abandoned \($r.outcomes.abandoned), failed \($r.outcomes.failed); unsent \($r.unsent)",
        "  distinct numbers asked for: \($m.numbers)",
        "  flows under way at most: \($m.peak_pending), of them attackers: \($m.peak_attack_pending)",
        "  peak RSS \($m.peak_rss_bytes / 1048576 | floor) MiB (\($m.start_rss_bytes / 1048576 | floor) MiB at start): \($grown / $m.numbers | floor) bytes per number asked for, \($grown / $m.peak_pending | floor) bytes per flow under way",
        "  wall \($r.wall_s * 10 | floor / 10) s: \($r.attempted / $r.wall_s | floor) start requests/s and \($r.outcomes.verified / $r.wall_s | floor) verified/s over the wall time; start rate over the send window \($r.rates.achieved | floor)/s against \($r.rates.target | floor)/s (met: \($r.rates.met)); send_lag p99 \($r.latency_us.send_lag.p99 / 1000 | floor) ms; start_response p99 \($r.latency_us.start_response.p99 / 1000 | floor) ms",
        "  CPU: \($r.machine.process_cores * 100 | floor / 100) cores (all three components); load average \($r.machine.load_average) at start",
        "  abuse: recall \($a.recall * 1000 | floor / 1000), precision \($a.precision * 1000 | floor / 1000), blocked share \($a.blocked_share * 1000 | floor / 10) %; matrix \($a.matrix | tostring)",
        ($a.personas[] | "    \(.population) (\(.persona)): requests \(.requests), served \(.served), refused \(.refused) \(.refused_by | tostring), delivered \(.delivered), verified \(.verified), guesses \(.guesses), cracked \(.cracked), cost \(.cost)"),
        "  handsets: \($r.handsets | del(.receipt_stats) | tostring)",
        "  thresholds: \([$r.thresholds[] | "\(.expr) \(if .pass then "ok" else "BREACHED" end)"] | join(", ")); errors: \($r.errors)"' "$1"
}

for run in $RUNS; do
    case $run in
    baseline) div=$DIVISOR ;;
    full) div=1 ;;
    *)
        echo "unknown run $run" >&2
        exit 2
        ;;
    esac
    scenario "$div" >"$WORK/$run.toml"
    echo "== $run: arrival rates divided by $div ($(grep -o 'arrival = {[^}]*rate = [0-9.]*' "$WORK/$run.toml" | grep -o '[0-9.]*$' | paste -sd+ | bc)/s in all)"
    echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    t0=$(date +%s.%N)
    set +e
    "$BIN/loadgen" run "$WORK/$run.toml" --progress plain --json "$WORK/$run.json" \
        >"$WORK/$run.out" 2>"$WORK/$run.err"
    code=$?
    set -e
    t1=$(date +%s.%N)
    echo "   loadgen exit $code after $(echo "$t1 - $t0" | bc) s (process start to exit)"
    if [ -s "$WORK/$run.json" ]; then
        summary "$WORK/$run.json"
    else
        cat "$WORK/$run.err" >&2
    fi
    [ "$code" = 0 ] || tail -5 "$WORK/$run.out"
done
