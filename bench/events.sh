#!/usr/bin/env bash
# Event-stream subscribers against the SMPP path: the same loadgen run (RATE with receipts)
# with no WebSocket subscriber, with SUBSCRIBERS that never read (every event matches their
# filter), and with SUBSCRIBERS whose filter matches nothing; prints the achieved rate, p99 and
# carrier-sim's CPU per message for each (documented in BENCHMARKS.md, "Event subscribers").
#
# Subscribers are raw sockets that complete the WebSocket handshake and then never read (a
# small python3 helper below), like stalled dashboards.
#
# Usage: bench/events.sh          (about a minute)
# Env:   SUBSCRIBERS=1000 RATE=20000 DURATION=10s
set -euo pipefail

cd "$(dirname "$0")/.."
SUBSCRIBERS=${SUBSCRIBERS:-1000}
RATE=${RATE:-20000}
DURATION=${DURATION:-10s}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

# shellcheck source=bench/carrier.sh
. "$(dirname "$0")/carrier.sh"
prepare
cat >"$WORK/config.toml" <<EOF
[events]
max_subscribers = $((SUBSCRIBERS + 10))
[http]
max_connections = $((SUBSCRIBERS + 100))
EOF
echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
start_carrier "$WORK" --delivery-delay 0s --config "$WORK/config.toml"

# subscribe N QUERY: opens N WebSocket subscriptions that never read; prints when they are up,
# then holds them until killed.
subscribe() {
    python3 - "$HTTP" "$1" "$2" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
n, query = int(sys.argv[2]), sys.argv[3]
socks = []
for _ in range(n):
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall((f"GET /v1/events{query} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    socks.append(s)
print(f"   {n} subscribers up ({query or 'no filter'})", flush=True)
time.sleep(3600)
PY
    SUB=$!
    for _ in $(seq 1 600); do
        open=$(curl -s "http://$HTTP/v1/stats" | jq '.event_subscribers.open')
        [ "$open" -ge "$1" ] && return 0
        sleep 0.1
    done
    echo "subscribers did not come up" >&2
    exit 1
}

# run NAME: one loadgen run; prints its figures.
run() {
    local before after
    before=$(awk '{ print $14 + $15 }' "/proc/$PID/stat")
    "$BIN/loadgen" smpp --target "$ADDR" --system-id test --password secret --rate "$RATE" \
        --duration "$DURATION" --binds 4 --window 1000 --timeout 5s --progress off \
        --registered-delivery --receipt-wait 5s --json "$WORK/r.json" >/dev/null 2>&1 || true
    after=$(awk '{ print $14 + $15 }' "/proc/$PID/stat")
    printf '   %-28s achieved %9.0f/s  submit p99 %8dµs  missing %d  carrier %s µs/msg  subscribers %s  lagged-closed %s\n' \
        "$1" "$(jq .achieved_rate "$WORK/r.json")" "$(jq .submit_resp_us.p99 "$WORK/r.json")" \
        "$(jq .receipts.missing "$WORK/r.json")" \
        "$(awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" -v n="$(jq .accepted "$WORK/r.json")" \
            'BEGIN { printf "%.2f", t * 1e6 / hz / n }')" \
        "$(curl -s "http://$HTTP/v1/stats" | jq '.event_subscribers.open')" \
        "$(curl -s "http://$HTTP/v1/stats" | jq '.event_subscribers.closed_lagging')"
}

run "no subscriber"
subscribe "$SUBSCRIBERS" ""
run "$SUBSCRIBERS not reading, all match"
kill "$SUB" 2>/dev/null || true
wait "$SUB" 2>/dev/null || true
subscribe "$SUBSCRIBERS" "?prefix=999"
run "$SUBSCRIBERS matching nothing"
kill "$SUB" 2>/dev/null || true
run "no subscriber again"
echo "== done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
