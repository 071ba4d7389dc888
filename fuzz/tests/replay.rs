//! Replays every saved input through the fuzz targets' code on the stable toolchain, so inputs
//! that once crashed (`regressions/<target>/`) and the hand-made seeds (`seeds/<target>/`) stay
//! fixed without a nightly compiler or libFuzzer. CI runs this through `scripts/fuzz-build.sh`.

use std::path::{Path, PathBuf};

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let mut n = 0;
    for kind in ["seeds", "regressions"] {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            eprintln!("replaying {}", path.display());
            run(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn framing_inputs_replay_cleanly() {
    assert!(
        replay("framing", fuzz_support::framing) > 0,
        "no framing seeds found"
    );
}

#[test]
fn session_inputs_replay_cleanly() {
    assert!(
        replay("session", fuzz_support::session) > 0,
        "no session seeds found"
    );
}
