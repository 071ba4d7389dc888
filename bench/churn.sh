#!/usr/bin/env bash
# Session churn: ROUNDS times, SESSIONS connections bind (transceiver), then unbind and close,
# against one carrier-sim process; prints its resident memory after each round (documented in
# BENCHMARKS.md, "Soak"). Memory that grows round after round is state a session leaves behind.
#
# Usage: bench/churn.sh           (about a minute)
# Env:   SESSIONS=2000 ROUNDS=8
set -euo pipefail

cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-2000}
ROUNDS=${ROUNDS:-8}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

# shellcheck source=bench/carrier.sh
. "$(dirname "$0")/carrier.sh"
prepare
cat >"$WORK/config.toml" <<TOML
[carriers.default.session]
max_connections = $((SESSIONS + 100))
[carriers.default.accounts.test]
password = "secret"
max_binds = $((SESSIONS + 100))
TOML
echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
start_carrier "$WORK" --config "$WORK/config.toml"
echo "   carrier-sim $ADDR (pid $PID): $(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$PID/status") MiB at start"
for round in $(seq 1 "$ROUNDS"); do
    python3 - "$ADDR" "$SESSIONS" <<'PY'
import socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
n = int(sys.argv[2])
def pdu(cmd, seq, body):
    return struct.pack(">IIII", 16 + len(body), cmd, 0, seq) + body
bind = pdu(0x09, 1, b"test\0secret\0\0\x34\x00\x00\0")
socks = [socket.create_connection((host, int(port))) for _ in range(n)]
for s in socks:
    s.sendall(bind)
for s in socks:
    head = b""
    while len(head) < 16:
        head += s.recv(16 - len(head))
    rest = struct.unpack(">I", head[:4])[0] - 16
    while rest > 0:
        rest -= len(s.recv(rest))
for s in socks:
    s.sendall(pdu(0x06, 2, b""))
for s in socks:
    s.settimeout(2)
    try:
        s.recv(64)
    except OSError:
        pass
    s.close()
PY
    sleep 0.5
    printf '   round %d: %d sessions bound and unbound; RSS %d MiB; open %s\n' "$round" "$SESSIONS" \
        "$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$PID/status")" \
        "$(curl -s "http://$HTTP/v1/stats" | jq .connections_open)"
done
echo "== done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
