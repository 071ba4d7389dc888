//! `loadgen run` end to end: the binary's exit codes and outputs, bad scenarios refused before
//! anything starts, and the external modes (a separately started carrier-sim and verifier
//! over HTTP and the WebSocket stream; the Twilio preset and the generic HTTP adapter).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use loadgen::run::{RunOptions, run};
use loadgen::scenario::{Overrides, Plan};
use serde_json::Value;

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loadgen-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

async fn loadgen(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .await
        .expect("loadgen runs")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The smoke scenario, short and fast: 5 s of scenario at time scale 5.
const QUICK: [&str; 6] = ["--time-scale", "5", "--duration", "5s", "--progress", "off"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_passes_with_exit_0_and_writes_its_json() {
    let json = temp("pass.json");
    let smoke = scenarios().join("smoke.toml");
    let hlog = temp("pass.hlog");
    let mut args = vec!["run", smoke.to_str().expect("utf-8")];
    args.extend(QUICK);
    args.extend([
        "--json",
        json.to_str().expect("utf-8"),
        "--hdr-log",
        hlog.to_str().expect("utf-8"),
    ]);
    let out = loadgen(&args).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for shown in [
        "loadgen run · smoke",
        "delivery_time",
        "identity   holds",
        "PASS",
    ] {
        assert!(stdout.contains(shown), "summary lacks {shown:?}:\n{stdout}");
    }
    let r: Value = serde_json::from_slice(&std::fs::read(&json).expect("json written")).unwrap();
    assert_eq!(r["schema"], 1);
    assert_eq!(r["identity"]["holds"], true);
    assert_eq!(r["thresholds_passed"], true);
    assert_eq!(r["scenario"]["time_scale"], 5.0);
    let attempted = r["attempted"].as_u64().unwrap();
    assert!(
        attempted >= 15,
        "20/s for 1 s of wall time: {attempted} users"
    );
    let o = &r["outcomes"];
    let ended: u64 = ["refused", "verified", "expired", "abandoned", "failed"]
        .iter()
        .map(|k| o[k].as_u64().unwrap())
        .sum();
    assert_eq!(ended, attempted, "every user ends in exactly one outcome");
    assert_eq!(r["routes"][0]["carrier"], "alpha");
    assert!(r["latency_us"]["delivery_time"]["p99"].as_u64().unwrap() > 0);

    // Every key of the report is documented in loadgen/README.md's table.
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    let table = &readme[readme
        .find("### JSON keys (`loadgen run --json`")
        .expect("the table")..];
    for (key, value) in r.as_object().expect("an object") {
        assert!(
            table.contains(&format!("`{key}`")),
            "{key} is not documented"
        );
        if let Some(inner) = value
            .as_object()
            .filter(|_| key != "embedded" && key != "reasons")
        {
            for k in inner.keys() {
                assert!(
                    table.contains(&format!("`{k}`")),
                    "{key}.{k} is not documented"
                );
            }
        }
    }

    // The interval log holds every delivery and approval, in intervals HdrHistogram's own
    // reader can merge.
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let log = std::fs::read(&hlog).expect("hdr log written");
    let mut per_tag = std::collections::BTreeMap::<String, u64>::new();
    let mut intervals = 0;
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(h) = entry.expect("a valid log entry") {
            intervals += 1;
            let tag = h.tag().expect("tagged").as_str().to_string();
            let mut d = hdrhistogram::serialization::Deserializer::new();
            let hist: hdrhistogram::Histogram<u64> = d
                .deserialize(&mut std::io::Cursor::new(
                    base64::Engine::decode(
                        &base64::engine::general_purpose::STANDARD,
                        h.encoded_histogram(),
                    )
                    .expect("base64"),
                ))
                .expect("a histogram");
            *per_tag.entry(tag).or_default() += hist.len();
        }
    }
    assert!(intervals >= 2, "{intervals} intervals");
    assert_eq!(per_tag["delivery_time"], r["delivered"].as_u64().unwrap());
    assert_eq!(per_tag["verify_time"], o["verified"].as_u64().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_run_is_the_builtin_smoke_scenario_and_a_breach_exits_99() {
    let json = temp("breach.json");
    let junit = temp("breach.xml");
    let mut args = vec!["run"];
    args.extend(QUICK);
    args.extend([
        "--threshold",
        "delivery_time.p50 < 1us",
        "--json",
        json.to_str().expect("utf-8"),
        "--junit",
        junit.to_str().expect("utf-8"),
    ]);
    let out = loadgen(&args).await;
    assert_eq!(out.status.code(), Some(99), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("scenarios/smoke.toml (built in)"),
        "{stdout}"
    );
    assert!(stdout.contains("✗ delivery_time.p50 < 1us"), "{stdout}");
    assert!(
        stdout.contains("FAIL: a threshold was breached"),
        "{stdout}"
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&json).expect("json written")).unwrap();
    assert_eq!(r["thresholds_passed"], false);
    let verdicts = r["thresholds"].as_array().unwrap();
    let breached: Vec<&Value> = verdicts.iter().filter(|v| v["pass"] == false).collect();
    assert_eq!(breached.len(), 1, "{verdicts:?}");
    assert_eq!(breached[0]["metric"], "delivery_time.p50");
    assert_eq!(breached[0]["unit"], "us");
    // The file's own thresholds are judged too.
    assert!(
        verdicts
            .iter()
            .any(|v| v["expr"] == "verified_ratio > 0.95")
    );

    // JUnit: a test case per threshold plus the run's validity; the breach is the one failure.
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.starts_with("<?xml"), "{xml}");
    let cases = xml.matches("<testcase ").count();
    assert_eq!(cases, verdicts.len() + 1, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert_eq!(xml.matches("<error ").count(), 0, "{xml}");
    assert!(
        xml.contains(&format!(r#"tests="{cases}" failures="1" errors="0""#)),
        "{xml}"
    );
    let failed = xml
        .split("<testcase ")
        .find(|c| c.contains("<failure "))
        .expect("the failed case");
    assert!(
        failed.contains(r#"name="delivery_time.p50 &lt; 1us""#),
        "{failed}"
    );
    assert!(failed.contains("breached: measured "), "{failed}");
    assert_eq!(xml.matches("<testsuite ").count(), 1);
    assert!(xml.trim_end().ends_with("</testsuites>"), "{xml}");
}

#[tokio::test]
async fn a_bad_scenario_is_refused_naming_file_line_and_field_before_anything_starts() {
    let bad = temp("bad.toml");
    std::fs::write(
        &bad,
        "name = \"bad\"\nduration = \"10s\"\n\n[[populations]]\nname = \"g\"\narrival = { model = \"constant\", rate = 5 }\nnumbers = { prefix = \"4477009\", digits = 20 }\n",
    )
    .unwrap();
    let bad_s = bad.to_str().expect("utf-8");
    for args in [
        vec!["validate", bad_s],
        vec!["run", bad_s, "--progress", "off"],
    ] {
        let out = loadgen(&args).await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{bad_s}:7: populations[0].numbers.digits:")),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "nothing ran: {}", text(&out));
    }
    let out = loadgen(&["run", "--threshold", "delivery_time.p99 < soon"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("delivery_time.p99 < soon"),
        "{}",
        text(&out)
    );
    let smoke = scenarios().join("smoke.toml");
    let out = loadgen(&["validate", smoke.to_str().expect("utf-8")]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Starts what a scenario's `[network]` describes, and a verifier bound to it, as separate
/// services on loopback (what `carrier-sim serve` and `verifier serve` would be).
/// The control-plane token of the carrier-sim `separate_services` starts.
const TOKEN: &str = "s3cret-control-token";

/// A carrier-sim whose control plane asks for [`TOKEN`], and a verifier bound to it (which
/// sends the token with its lookups and calls).
async fn separate_services(plan: &Plan) -> (simulator::Running, verifier::Running) {
    let mut net = plan
        .network
        .clone()
        .expect("the scenario describes its network");
    net.http.token = Some(simulator::config::ControlToken::new(TOKEN));
    let sim = simulator::start(net, simulator::Binds::loopback())
        .await
        .expect("carrier-sim starts");
    let control = format!("http://{}", sim.http_addr().expect("control plane"));
    let carriers: Vec<String> = sim
        .carriers()
        .iter()
        .map(|name| {
            format!(
                "smpp://verifier:secret@{}?control={control}&control_token={TOKEN}&name={name}",
                sim.smpp_addr(name).expect("listening")
            )
        })
        .collect();
    let v = verifier::Verifier::start(
        verifier::VerifierConfig::from_flags("127.0.0.1:0", &carriers).expect("flags"),
    )
    .await
    .expect("verifier starts");
    (sim, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_mode_drives_a_running_carrier_sim_and_verifier_over_http_and_websocket() {
    let smoke = scenarios().join("smoke.toml");
    let mut opts = RunOptions::new(Some(smoke.clone()));
    opts.overrides.time_scale = Some(5.0);
    let (plan, _) = loadgen::run::plan(&opts).expect("valid");
    let (sim, v) = separate_services(&plan).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let control = format!("http://{}", sim.http_addr().expect("control plane"));
    opts.overrides = Overrides {
        time_scale: Some(5.0),
        duration: Some(Duration::from_secs(5)),
        network: Some(control.clone()),
        verifier: Some(format!("http://{}", v.http_addr())),
        ..Overrides::default()
    };
    // Without the control plane's token the run does not start, and says why.
    let refused = run(opts.clone()).await.expect_err("401 without the token");
    let refused = refused.to_string();
    assert!(
        refused.contains("HTTP 401") && refused.contains("--network-token"),
        "{refused}"
    );
    opts.overrides.network_token = Some(TOKEN.into());
    let r = run(opts).await.expect("the run");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.target.handsets.starts_with("WebSocket"), "{:?}", r.target);
    assert!(
        r.target.service.starts_with("verifier http://"),
        "{:?}",
        r.target
    );
    assert!(r.identity.holds, "{:?}", r.identity);
    assert!(r.attempted >= 15, "{}", r.attempted);
    assert_eq!(r.delivered, r.started, "every code read off the stream");
    assert!(r.failover.observable, "/v1 tells attempts");
    assert!(r.thresholds_passed, "{:?}", r.thresholds);
    // The verifier saw exactly what loadgen counted.
    let stats = v.stats();
    assert_eq!(stats.counters.approved, r.outcomes.verified);
    v.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twilio_preset_and_the_generic_adapter_drive_a_service_over_http() {
    let base = std::fs::read_to_string(scenarios().join("smoke.toml")).expect("smoke");
    let mut plan = Plan::parse(&scenarios().join("smoke.toml"), &base).expect("valid");
    plan.apply(&Overrides {
        time_scale: Some(5.0),
        ..Overrides::default()
    })
    .unwrap();
    let (sim, v) = separate_services(&plan).await;
    let control = format!("http://{}", sim.http_addr().expect("control plane"));
    let api = format!("http://{}", v.http_addr());
    // Without [verifier] (the service is external), with the scenario's network as a running one.
    let without_verifier: String = {
        let start = base.find("[verifier.codes]").expect("a verifier part");
        let end = base[start..].find("\n\n").map_or(base.len(), |i| start + i);
        format!("{}{}", &base[..start], &base[end..])
    };
    let twilio = format!(
        "{without_verifier}\n[target]\nnetwork = \"{control}\"\nnetwork_token = \"{TOKEN}\"\n[target.service]\nkind = \"twilio\"\nurl = \"{api}\"\nservice_sid = \"VA{}\"\n",
        "0".repeat(32)
    );
    let generic = format!(
        r#"{without_verifier}
[target]
network = "{control}"
network_token = "{TOKEN}"
[target.service]
kind = "http"
url = "{api}"
headers = {{ X-Test = "loadgen" }}
[target.service.start]
path = "/v1/verifications"
body = '{{"to": "{{{{to}}}}", "channel": "{{{{channel}}}}"}}'
id = "/id"
reason = "/rule"
[target.service.check]
path = "/v1/verifications/check"
body = '{{"id": "{{{{id}}}}", "code": "{{{{code}}}}"}}'
status = "/status"
"#
    );
    for (kind, text) in [("twilio", twilio), ("http", generic)] {
        let file = temp(&format!("{kind}.toml"));
        std::fs::write(&file, &text).unwrap();
        let mut opts = RunOptions::new(Some(file));
        opts.overrides.time_scale = Some(5.0);
        opts.overrides.duration = Some(Duration::from_secs(5));
        let r = run(opts).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(r.errors.is_empty(), "{kind}: {:?}", r.errors);
        assert!(r.target.service.starts_with(kind), "{:?}", r.target);
        assert!(r.identity.holds, "{kind}: {:?}", r.identity);
        assert!(r.outcomes.verified >= 15, "{kind}: {:?}", r.outcomes);
        assert!(!r.failover.observable, "{kind}: attempts are not told");
        assert!(r.thresholds_passed, "{kind}: {:?}", r.thresholds);
    }
    v.shutdown().await;
    sim.shutdown().await;
}

/// On a terminal (`script` gives the binary a pseudo-terminal) progress is indicatif's bar,
/// redrawn in place, with the time left, the p99 delivery so far, the users verified, the rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_progress_is_a_bar() {
    let cmd = format!(
        "{} run --time-scale 5 --duration 8s",
        env!("CARGO_BIN_EXE_loadgen")
    );
    let out = tokio::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .await
        .expect("script (util-linux) runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.contains("=>") || tty.contains("[=="), "a bar:\n{tty}");
    assert!(tty.contains("\u{1b}[2K"), "redrawn in place:\n{tty}");
    // (The message is cut to the terminal's width, `script`'s 80 columns: time left and the
    // p99 delivery come first.)
    assert!(tty.contains("left · p99 delivery "), "{tty}");
    assert!(!tty.contains("s] "), "no plain lines on a terminal:\n{tty}");
    assert!(tty.contains("result     PASS"), "{tty}");
}

/// The abuse figures need nothing of the embedded verifier: against a running carrier-sim and
/// a service over HTTP, loadgen judges the service by its answers (the reference verifier's
/// `/v1`, and a generic adapter with its block statuses and reason pointer), reads the money
/// off the carrier's event stream, and, where the service is the reference verifier, sets its
/// refusals against the decision records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abuse_is_judged_from_the_answers_of_a_service_over_http() {
    let base = std::fs::read_to_string(scenarios().join("otp-bombing.toml")).expect("scenario");
    let mut plan = Plan::parse(&scenarios().join("otp-bombing.toml"), &base).expect("valid");
    plan.apply(&Overrides::default()).unwrap();
    let without_verifier: String = {
        let start = base.find("[verifier.codes]").expect("a verifier part");
        let end = base[start..].find("\n\n").map_or(base.len(), |i| start + i);
        format!("{}{}", &base[..start], &base[end..])
    }
    .replace("baseline = \"record_only\"", "");
    for kind in ["verifier", "http"] {
        // Fresh services each time: the verifier's per-number and per-IP counts are real time.
        let (sim, v) = separate_services(&plan).await;
        let control = format!("http://{}", sim.http_addr().expect("control plane"));
        let api = format!("http://{}", v.http_addr());
        let target = format!("[target]\nnetwork = \"{control}\"\nnetwork_token = \"{TOKEN}\"\n");
        let text = if kind == "verifier" {
            format!(
                "{without_verifier}\n{target}[target.service]\nkind = \"verifier\"\nurl = \"{api}\"\n"
            )
        } else {
            format!(
                r#"{without_verifier}
{target}[target.service]
kind = "http"
url = "{api}"
[target.service.start]
path = "/v1/verifications"
body = '{{"to": "{{{{to}}}}", "channel": "{{{{channel}}}}", "client_ip": "{{{{client_ip}}}}"}}'
id = "/id"
blocked = [403, 429]
reason = "/rule"
[target.service.check]
path = "/v1/verifications/check"
body = '{{"id": "{{{{id}}}}", "code": "{{{{code}}}}"}}'
status = "/status"
"#
            )
        };
        let file = temp(&format!("abuse-{kind}.toml"));
        std::fs::write(&file, &text).unwrap();
        let mut opts = RunOptions::new(Some(file));
        opts.overrides.duration = Some(Duration::from_secs(600));
        let r = run(opts).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(r.errors.is_empty(), "{kind}: {:?}", r.errors);
        assert!(r.identity.holds, "{kind}: {:?}", r.identity);
        let a = r.abuse.as_ref().expect("the abuse section");
        let bombers = a
            .personas
            .iter()
            .find(|p| p.population == "bombers")
            .expect("the bombers' row");
        // Three victims, each refused after 4 starts without a check (the verifier's default).
        assert!(bombers.requests >= 60, "{kind}: {bombers:?}");
        assert_eq!(bombers.served, 12, "{kind}: {bombers:?}");
        assert_eq!(
            bombers.refused_by.get("number_flood"),
            Some(&bombers.refused),
            "{kind}: the reason is read off the answer: {bombers:?}"
        );
        assert_eq!(a.matrix.genuine_refused, 0, "{kind}");
        // Money from the carrier's stream, to the cent of its own total.
        let m = &a.money;
        assert!(m.measured, "{kind}: {m:?}");
        assert_eq!(m.currency.as_deref(), Some("EUR"));
        let (attack, genuine) = (m.attack_cost.unwrap(), m.genuine_cost.unwrap());
        assert!((attack - 12.0 * 0.035).abs() < 0.005, "{kind}: {m:?}");
        assert!(
            (m.carrier_total.unwrap() - attack - genuine - m.other_cost.unwrap()).abs() < 0.015,
            "{kind}: {m:?}"
        );
        match kind {
            "verifier" => {
                let d = a
                    .decisions
                    .as_ref()
                    .expect("the reference verifier's records");
                assert!(d.consistent, "{:?}", d.differences);
                assert_eq!(d.mode, "enforce");
            }
            _ => assert!(
                a.decisions.is_none(),
                "a generic service has no records to read"
            ),
        }
        v.shutdown().await;
        sim.shutdown().await;
    }
}
