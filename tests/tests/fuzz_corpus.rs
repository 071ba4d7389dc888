//! Replays the fuzz corpus (`fuzz/seeds/<target>/*` and `fuzz/regressions/<target>/*`) in the
//! main test command, so an input that once crashed a target is re-checked by every
//! `cargo test --workspace`, not only by CI's separate `scripts/fuzz-build.sh`.
//!
//! The fuzz crate is its own workspace (libFuzzer must not be built by `--workspace`), so its
//! harness is compiled here as a module from its one source file: the invariants checked are
//! exactly the ones `cargo fuzz run` checks, with no second copy to drift.

use std::path::PathBuf;

#[path = "../../fuzz/src/lib.rs"]
mod fuzz_support;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn framing_seeds_and_regressions_replay_cleanly() {
    fuzz_support::replay(&fuzz_dir(), "framing", fuzz_support::framing);
}

#[test]
fn session_seeds_and_regressions_replay_cleanly() {
    fuzz_support::replay(&fuzz_dir(), "session", fuzz_support::session);
}
