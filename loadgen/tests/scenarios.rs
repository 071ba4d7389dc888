//! Every scenario of `scenarios/` runs through the `loadgen` binary, at a time scale that keeps
//! it well under a minute, and its own thresholds hold (exit 0); then what the scenario is
//! about is checked in its JSON report: failover to the second carrier during the outage with
//! the time it added, the throttled spike moving to beta, the heavy tail and its resends, the
//! landline users called instead of texted.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loadgen-scenarios-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `scenarios/NAME.toml` at `time_scale` with `extra` arguments; asserts it passed (exit 0,
/// every threshold held, the identity holds, no errors) and returns its JSON report and output.
async fn run(name: &str, time_scale: &str, extra: &[&str]) -> (Value, Output) {
    let file = scenarios().join(format!("{name}.toml"));
    let json = temp(&format!("{name}.json"));
    let mut args = vec![
        "run",
        file.to_str().expect("utf-8"),
        "--time-scale",
        time_scale,
        "--json",
        json.to_str().expect("utf-8"),
    ];
    args.extend(extra);
    if !extra.contains(&"--progress") {
        args.extend(["--progress", "off"]);
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(&args)
        .output()
        .await
        .expect("loadgen runs");
    assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
    let r: Value = serde_json::from_slice(&std::fs::read(&json).expect("json written"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(r["scenario"]["name"], name);
    assert_eq!(r["thresholds_passed"], true, "{name}: {}", r["thresholds"]);
    assert!(
        !r["thresholds"].as_array().expect("verdicts").is_empty(),
        "{name} judges its thresholds"
    );
    assert_eq!(r["identity"]["holds"], true, "{name}: {}", r["identity"]);
    assert_eq!(r["errors"], Value::Array(vec![]), "{name}");
    assert_eq!(r["handsets"]["lagged_events"], 0, "{name}");
    (r, out)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Codes delivered by `carrier` in the report's intervals ending in `(from, to]` (scenario s).
fn delivered_by(r: &Value, carrier: &str, from: f64, to: f64) -> u64 {
    r["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|row| {
            let t = row["t"].as_f64().expect("t");
            t > from && t <= to
        })
        .map(|row| row["delivered_by_carrier"][carrier].as_u64().unwrap_or(0))
        .sum()
}

fn route<'a>(r: &'a Value, channel: &str, carrier: &str) -> Option<&'a Value> {
    r["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|x| x["channel"] == channel && x["carrier"] == carrier)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_passes_with_plain_progress_lines_off_a_terminal() {
    // `--progress auto` with stderr not a terminal (a pipe here, a CI log) prints plain lines.
    let (r, out) = run("smoke", "5", &["--progress", "auto"]).await;
    assert!(u(&r["outcomes"]["verified"]) >= 60, "{}", r["outcomes"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("left ·")).collect();
    assert!(lines.len() >= 2, "a line a second:\n{stderr}");
    assert!(lines[0].contains("verified") && lines[0].contains("p99 delivery"));
    assert!(stderr.contains("draining:"), "{stderr}");
    assert!(!stderr.contains('\r'), "no bar off a terminal:\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_spreads_over_two_carriers_and_two_phases() {
    let (r, _) = run("steady-state", "10", &[]).await;
    let alpha = route(&r, "sms", "alpha").expect("alpha delivered");
    let beta = route(&r, "sms", "beta").expect("beta delivered the failed-over codes");
    assert!(u(&alpha["delivered"]) > u(&beta["delivered"]));
    assert!(
        u(&r["failover"]["by_cause"]["undeliverable"]) >= 1,
        "{}",
        r["failover"]
    );
    let phases = r["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 2);
    // The busy hour has twice the quiet phase's rate.
    let (quiet, busy) = (u(&phases[0]["attempted"]), u(&phases[1]["attempted"]));
    assert!(busy as f64 > 1.5 * quiet as f64, "{quiet} then {busy}");
    assert_eq!(r["populations"].as_array().expect("populations").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_outage_moves_verifications_to_the_second_carrier_and_measures_the_time_added() {
    let (r, _) = run("carrier-outage-failover", "10", &[]).await;
    let event = &r["events"][0];
    assert_eq!(event["carrier"], "alpha");
    assert!(event["error"].is_null(), "{event}");
    let at = event["at_s"].as_f64().expect("at");
    assert!((29.0..33.0).contains(&at), "the outage began at {at} s");
    // Before the outage every code came through alpha; during it, through beta.
    let (alpha_before, beta_before) = (
        delivered_by(&r, "alpha", 0.0, 30.0),
        delivered_by(&r, "beta", 0.0, 30.0),
    );
    assert!(alpha_before > 0, "{}", r["timeline"]);
    assert_eq!(beta_before, 0, "{}", r["timeline"]);
    let (alpha_during, beta_during) = (
        delivered_by(&r, "alpha", 40.0, 60.0),
        delivered_by(&r, "beta", 40.0, 60.0),
    );
    assert!(
        beta_during > 4 * alpha_during.max(1),
        "beta {beta_during}, alpha {alpha_during}: {}",
        r["timeline"]
    );
    // Failover counted by cause, with the time it added measured.
    let f = &r["failover"];
    assert_eq!(f["observable"], true);
    let n = u(&f["verifications"]);
    assert!(n >= 30, "{f}");
    let causes: u64 = f["by_cause"]
        .as_object()
        .expect("causes")
        .values()
        .map(u)
        .sum();
    assert_eq!(causes, n, "every failover has its cause: {f}");
    // Most of them had their later step sent, so the time failover added is measured.
    assert!(u(&f["added_us"]["count"]) >= n / 2, "{f}");
    assert!(u(&f["delivery_time_us"]["count"]) == n, "{f}");
    assert!(u(&route(&r, "sms", "beta").expect("beta")["delivered"]) >= n / 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_carrier_sends_the_spike_through_the_second_carrier() {
    let (r, _) = run("throttled-carrier", "10", &[]).await;
    let f = &r["failover"];
    assert!(u(&f["by_cause"]["throttled"]) >= 10, "{f}");
    // Beta carries codes during the spike (20 s to 40 s, plus delivery time), none before it.
    assert_eq!(delivered_by(&r, "beta", 0.0, 20.0), 0, "{}", r["timeline"]);
    assert!(
        delivered_by(&r, "beta", 20.0, 50.0) >= 10,
        "{}",
        r["timeline"]
    );
    // The spike: four times the base rate for 20 of the 60 s.
    let attempted = |from: f64, to: f64| -> u64 {
        r["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter(|row| (from..to).contains(&row["t"].as_f64().expect("t")))
            .map(|row| u(&row["attempted"]))
            .sum()
    };
    assert!(
        attempted(25.0, 40.5) > 2 * attempted(0.0, 20.5),
        "{}",
        r["timeline"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_tail_roaming_shows_the_tail_and_the_resends() {
    let (r, _) = run("heavy-tail-roaming", "10", &[]).await;
    let d = &r["latency_us"]["delivery_time"];
    // Heavy tail: the p99 is many times the median.
    assert!(u(&d["p99"]) > 5 * u(&d["p50"]), "{d}");
    assert!(u(&r["resends"]) >= 1);
    let pops = r["populations"].as_array().expect("populations");
    assert_eq!(pops[1]["name"], "roaming");
    assert!(u(&pops[1]["resends"]) >= 1, "roaming users asked again");
    assert_eq!(u(&pops[0]["resends"]), 0, "home users did not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landline_users_are_called_and_those_asking_for_sms_are_refused() {
    let (r, _) = run("landline-voice-fallback", "10", &[]).await;
    let voice = route(&r, "voice", "alpha").expect("codes by voice");
    assert!(u(&voice["delivered"]) >= 10, "{voice}");
    assert!(route(&r, "sms", "alpha").is_some());
    // Landlines asking for `auto` were routed straight to the voice step.
    assert!(
        u(&r["failover"]["routed"]["landline"]) >= u(&voice["delivered"]) / 2,
        "{}",
        r["failover"]
    );
    let refused = &r["reasons"]["refused"];
    assert!(u(&refused["sms_to_landline"]) >= 1, "{refused}");
    assert_eq!(
        u(&r["outcomes"]["refused"]),
        u(&refused["sms_to_landline"]),
        "the only refusals"
    );
}
