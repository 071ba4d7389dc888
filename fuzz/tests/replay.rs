//! Replays every saved input through the fuzz targets' code on the stable toolchain, so inputs
//! that once crashed (`regressions/<target>/`) and the hand-made seeds (`seeds/<target>/`) stay
//! fixed without a nightly compiler or libFuzzer. CI runs this through `scripts/fuzz-build.sh`;
//! the main workspace's `cargo test --workspace` replays the same files through the same code
//! (`tests/tests/fuzz_corpus.rs`).

use std::path::Path;

fn fuzz_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn framing_inputs_replay_cleanly() {
    fuzz_support::replay(fuzz_dir(), "framing", fuzz_support::framing);
}

#[test]
fn session_inputs_replay_cleanly() {
    fuzz_support::replay(fuzz_dir(), "session", fuzz_support::session);
}
