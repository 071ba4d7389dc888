#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the interop peers (python smpplib,
# Kannel) if they are missing, then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-peers.sh
cargo test --workspace --locked
