//! Every scenario of `scenarios/` runs through the `loadgen` binary, at a time scale that keeps
//! it well under a minute, and its own thresholds hold (exit 0); then what the scenario is
//! about is checked in its JSON report: failover to the second carrier during the outage with
//! the time it added, the throttled spike moving to beta, the heavy tail and its resends, the
//! landline users called instead of texted; and for the attack scenarios, which rule refused
//! each persona, what got through, and that the money adds up to the carrier's own bill.

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

/// The abuse section's row of population `name`.
fn persona<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["abuse"]["personas"]
        .as_array()
        .expect("an abuse section")
        .iter()
        .find(|p| p["population"] == name)
        .unwrap_or_else(|| panic!("no row for {name}"))
}

/// The money of the abuse section adds up to what the carrier says it billed.
fn money_accounted(r: &Value) {
    let m = &r["abuse"]["money"];
    assert_eq!(m["measured"], true, "{m}");
    let f = |k: &str| m[k].as_f64().unwrap_or_else(|| panic!("{k}: {m}"));
    let sum = f("attack_cost") + f("genuine_cost") + f("other_cost");
    assert!((f("carrier_total") - sum).abs() < 0.015, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_pumping_is_refused_by_line_type_at_once_and_by_its_traffic_within_minutes() {
    let (r, _) = run("sms-pumping-attack", "60", &[]).await;
    let premium = persona(&r, "premium-pumpers");
    assert_eq!(premium["refused_by"]["line_type"], premium["requests"]);
    let mobile = persona(&r, "mobile-pumpers");
    assert!(u(&mobile["refused_by"]["sms_pumping"]) > 0, "{mobile}");
    assert!(
        u(&mobile["served"]) > 0,
        "the rule needs traffic to judge: {mobile}"
    );
    money_accounted(&r);
    // The baseline (guard recording only) served the pumpers: the guard saved most of it.
    let m = &r["abuse"]["money"];
    let baseline = m["baseline"]["attack_cost"].as_f64().expect("a baseline");
    let cost = m["attack_cost"].as_f64().unwrap();
    assert!(baseline > 10.0 * cost, "{m}");
    assert_eq!(m["baseline"]["mode"], "record_only");
    assert_eq!(r["abuse"]["decisions"]["consistent"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_sms_numbers_on_the_list_are_refused_and_new_ones_are_not() {
    let (r, _) = run("open-sms-site-abuse", "60", &[]).await;
    let listed = persona(&r, "listed-number-bots");
    assert_eq!(
        listed["refused_by"]["blocklist_open_sms"],
        listed["requests"]
    );
    let new = persona(&r, "new-number-bots");
    assert!(u(&new["verified"]) > 0, "not on the list yet: {new}");
    assert_eq!(r["abuse"]["matrix"]["genuine_refused"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bombed_victims_get_four_codes_each_then_their_number_is_refused() {
    let (r, _) = run("otp-bombing", "60", &["--no-baseline"]).await;
    let b = persona(&r, "bombers");
    assert_eq!(u(&b["served"]), 12, "4 per victim: {b}");
    assert_eq!(u(&b["refused_by"]["number_flood"]), u(&b["refused"]), "{b}");
    assert!(r["abuse"]["money"]["baseline"].is_null(), "--no-baseline");
    money_accounted(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessers_are_locked_after_five_guesses_and_their_ips_refused() {
    let (r, _) = run("code-brute-force", "1", &[]).await;
    let g = persona(&r, "guessers");
    assert_eq!(g["cracked"], 0);
    // Each verification takes five wrong guesses and refuses the sixth.
    assert_eq!(u(&g["guesses"]), 6 * u(&g["served"]), "{g}");
    assert_eq!(u(&g["guesses_refused"]), u(&g["served"]), "{g}");
    assert!(u(&g["refused_by"]["ip_velocity"]) > 0, "{g}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_swapped_numbers_are_refused_and_old_swaps_are_not() {
    let (r, _) = run("sim-swap-takeover", "60", &[]).await;
    let t = persona(&r, "takeovers");
    assert_eq!(t["refused_by"]["sim_swap"], t["requests"], "{t}");
    assert_eq!(persona(&r, "genuine-old-sim")["refused"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_set_bots_are_refused_from_their_second_round() {
    let (r, _) = run("number-set-bots", "20", &[]).await;
    let b = persona(&r, "set-bots");
    assert!(u(&b["refused_by"]["number_group"]) > 0, "{b}");
    // 12 bots: their first round and two numbers of their second round.
    assert_eq!(u(&b["served"]), 12 * 6, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_without_attestation_are_refused_and_users_with_it_served() {
    let (r, _) = run("api-key-bots", "60", &[]).await;
    for bots in ["no-token-bots", "forged-token-bots"] {
        let b = persona(&r, bots);
        assert_eq!(b["refused_by"]["attestation"], b["requests"], "{b}");
    }
    let g = persona(&r, "genuine");
    assert_eq!(g["refused"], 0, "{g}");
    assert!(u(&g["verified"]) > 100, "{g}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_traffic_shows_every_persona_the_matrix_and_the_money_saved() {
    let (r, out) = run("mixed-traffic", "1440", &[]).await;
    let a = &r["abuse"];
    assert_eq!(a["personas"].as_array().unwrap().len(), 12);
    let m = &a["matrix"];
    let requests: u64 = a["personas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| u(&p["served"]) + u(&p["refused"]))
        .sum();
    assert_eq!(
        u(&m["attack_refused"])
            + u(&m["attack_served"])
            + u(&m["genuine_refused"])
            + u(&m["genuine_served"]),
        requests
    );
    // Recycled numbers were listed, then forgiven for their new owners.
    assert_eq!(persona(&r, "recycled-owners")["refused"], 0);
    assert!(u(&persona(&r, "recycled-owners")["verified"]) > 0);
    // The human farm is what the guard misses.
    assert_eq!(persona(&r, "human-farm")["refused"], 0);
    money_accounted(&r);
    assert!(
        a["money"]["saved"].as_f64().unwrap() > 100.0,
        "{}",
        a["money"]
    );
    assert_eq!(a["decisions"]["consistent"], true, "{}", a["decisions"]);
    assert_eq!(a["decisions"]["mode"], "enforce");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for says in [
        "start requests  refused  served",
        "the guard saved",
        "RingCaptcha reports blocking about 1.7 %",
        "human-farm",
    ] {
        assert!(stdout.contains(says), "{says}:\n{stdout}");
    }
}
