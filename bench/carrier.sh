# Shared by the carrier-sim benchmarks (soak.sh, overload.sh): source it, call prepare, then
# start_carrier. Not a script of its own.

# prepare : builds loadgen (and carrier-sim unless CARRIER_BIN names one), sets BIN, CARRIER_BIN
# and WORK (a temporary folder), and stops the carrier and removes WORK on exit.
prepare() {
    echo "== build (release)"
    [ -n "${CARRIER_BIN:-}" ] || cargo build --release -q -p simulator --bin carrier-sim
    cargo build --release -q -p loadgen --bin loadgen
    BIN=$CARGO_TARGET_DIR/release
    CARRIER_BIN=${CARRIER_BIN:-$BIN/carrier-sim}
    WORK=$(mktemp -d)
    PID=
    trap cleanup EXIT
}

cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$WORK"
}

# start_carrier WORK ARGS... : starts "$CARRIER_BIN" serve on port 0 with the account test:secret
# and ARGS, waits for its readiness lines, and sets PID, ADDR (SMPP) and HTTP.
start_carrier() {
    local work=$1
    shift
    "$CARRIER_BIN" serve --smpp 127.0.0.1:0 --http 127.0.0.1:0 --account test:secret \
        "$@" >"$work/carrier.out" 2>"$work/carrier.err" &
    PID=$!
    ADDR=
    for _ in $(seq 1 200); do
        ADDR=$(jq -r 'select(.event=="listening" and .service=="smpp") | .addr' \
            "$work/carrier.out" 2>/dev/null | head -1)
        [ -n "$ADDR" ] && break
        sleep 0.05
    done
    if [ -z "$ADDR" ]; then
        echo "carrier-sim did not start:" >&2
        cat "$work/carrier.err" >&2
        exit 1
    fi
    HTTP=$(jq -r 'select(.event=="listening" and .service=="http") | .addr' "$work/carrier.out" | head -1)
}
