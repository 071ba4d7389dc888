//! Running the `loadgen` binary from a test: a scratch directory per test process, the binary
//! run with a bound on its time (killed if the test gives up), and its output as text for an
//! assertion's message.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// A path in this test process's scratch directory (`loadgen-<what>-<pid>` under the temp dir).
pub fn scratch(what: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loadgen-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

/// Runs `loadgen run SCENARIO` short and fast (5 s of scenario at time scale 5, no progress)
/// with `outputs` (`--json FILE`...), to its end.
pub async fn quick_run(scenario: &Path, outputs: &[&str]) -> Output {
    let mut args = vec![
        "run",
        scenario.to_str().expect("utf-8"),
        "--time-scale",
        "5",
        "--duration",
        "5s",
        "--progress",
        "off",
    ];
    args.extend_from_slice(outputs);
    loadgen(&args).await
}

/// The JSON report a run wrote.
pub fn json_report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("the JSON report")).expect("JSON")
}

/// Runs `loadgen ARGS` to its end (at most two minutes).
pub async fn loadgen(args: &[&str]) -> Output {
    tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("loadgen finishes within 2 minutes")
    .expect("loadgen runs")
}

/// The exit code, stdout and stderr of a run, for a failed assertion to show.
pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
