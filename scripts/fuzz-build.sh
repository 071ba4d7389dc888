#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and replays their saved inputs, on the stable
# toolchain alone: this is what CI runs (.ci/run). Running the fuzzer itself needs a nightly
# toolchain and cargo-fuzz; see fuzz/README.md.
#
# - `cargo build` of the fuzz crate compiles libFuzzer (C++, needs g++) and links both targets,
#   so a change that breaks a target's build fails here, not weeks later on a fuzzing box.
# - `cargo test` replays fuzz/seeds/* and fuzz/regressions/* through the same code the targets
#   run, so every crash ever found stays fixed.
#
# The fuzz crate is its own workspace (excluded from the main one) with its own Cargo.lock, seeded
# from the root one so both resolve the same versions. It builds in a subdirectory of the main
# target directory: its tokio has `test-util` on, so few artifacts could be shared anyway, and a
# separate directory keeps it from invalidating the main workspace's build.
set -euo pipefail
cd "$(dirname "$0")/.."

manifest=fuzz/Cargo.toml
target_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz-stable"

echo "fuzz-build: building fuzz targets (stable, $(rustc --version))" >&2
cargo build --manifest-path "$manifest" --locked --bins --target-dir "$target_dir"

echo "fuzz-build: replaying seeds and regressions" >&2
cargo test --manifest-path "$manifest" --locked --target-dir "$target_dir"
