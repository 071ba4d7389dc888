//! What the carrier owes, through the `carrier-sim` binary: the receipt account counts
//! receipts still scheduled (`GET /v1/stats`, the stop report), and with `--state-dir` a
//! restart after SIGTERM or SIGKILL mid-load keeps every accepted message and every owed
//! receipt (each acknowledged id gets its receipt exactly once, old ids answer query_sm, new ids
//! never repeat old ones); a corrupt state file is refused by name unless `--reset-state`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use smpp::client::{BindMode, Client, ClientConfig, Event, Target};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_carrier-sim");

struct Carrier {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    smpp: String,
    http: String,
}

impl Carrier {
    async fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--smpp",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--account",
                "test:secret",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn carrier-sim");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut addrs = HashMap::new();
        while addrs.len() < 2 {
            let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .expect("readiness within 20 s")
                .unwrap()
                .expect("stdout open");
            let v: Value = serde_json::from_str(&line).expect("readiness lines are JSON");
            addrs.insert(
                v["service"].as_str().unwrap().to_string(),
                v["addr"].as_str().unwrap().to_string(),
            );
        }
        Self {
            child,
            lines,
            smpp: addrs["smpp"].clone(),
            http: addrs["http"].clone(),
        }
    }

    async fn stats(&self) -> Value {
        reqwest::get(format!("http://{}/v1/stats", self.http))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// SIGTERM: the `stopped` report.
    async fn terminate(mut self) -> Value {
        signal(&self.child, "-TERM");
        let mut report = Value::Null;
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_secs(20), self.lines.next_line()).await
        {
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["event"] == "stopped" {
                report = v["report"].clone();
            }
        }
        let exit = self.child.wait().await.unwrap();
        assert!(exit.success(), "{exit}");
        report
    }

    /// SIGKILL: no report, no goodbye.
    async fn kill(mut self) {
        signal(&self.child, "-KILL");
        self.child.wait().await.unwrap();
    }
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().unwrap().to_string();
    let ok = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn state_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("carrier-durable-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn submit(to: &str, text: &str) -> smpp::rusmpp::pdus::SubmitSm {
    use smpp::rusmpp::types::OctetString;
    use smpp::rusmpp::values::{EsmClass, RegisteredDelivery};
    smpp::rusmpp::pdus::SubmitSm::builder()
        .source_addr(smpp::pdu::c_string::<21>("12345"))
        .destination_addr(smpp::pdu::c_string::<21>(to))
        .esm_class(EsmClass::from(0u8))
        .registered_delivery(RegisteredDelivery::from(1u8))
        .short_message(OctetString::from_vec(text.as_bytes().to_vec()).unwrap())
        .build()
}

async fn bind(addr: &str, mode: BindMode) -> (Client, smpp::client::Events) {
    let mut cfg = ClientConfig::new("test", "secret");
    cfg.bind = mode;
    cfg.window = 64;
    cfg.event_buffer = 100_000;
    Client::connect(Target::Tcp(addr.to_string()), cfg)
        .await
        .expect("bind")
}

#[tokio::test]
async fn scheduled_receipts_are_in_the_account_and_the_stop_report_says_they_are_lost() {
    let carrier = Carrier::start(&["--delivery-delay", "60s"]).await;
    let (client, _events) = bind(&carrier.smpp, BindMode::Transmitter).await;
    for i in 0..25 {
        let r = client
            .submit_sm(submit("447700900001", &format!("owed {i}")))
            .await
            .unwrap();
        assert!(r.message_id.is_some());
    }
    let stats = carrier.stats().await;
    let r = &stats["receipts"];
    // 25 asked for, none due: every one scheduled, none generated, and the account says so.
    assert_eq!(r["asked"], 25, "{stats}");
    assert_eq!(r["scheduled"], 25, "{stats}");
    assert_eq!(r["generated"], 0, "{stats}");
    assert_eq!(
        r["generated"].as_u64().unwrap() + r["scheduled"].as_u64().unwrap(),
        25
    );
    assert_eq!(stats["receipts_balanced"], true, "{stats}");
    let metrics = reqwest::get(format!("http://{}/metrics", carrier.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("carrier_receipts_scheduled{carrier=\"default\"} 25"),
        "{metrics}"
    );
    let report = carrier.terminate().await;
    assert_eq!(report["receipts"]["scheduled"], 25, "{report}");
    assert_eq!(report["restart"]["receipts_owed"], 25, "{report}");
    let note = report["restart"]["note"].as_str().unwrap();
    assert!(
        note.contains("25 receipts owed") && note.contains("lost"),
        "{note}"
    );
}

#[tokio::test]
async fn the_account_adds_up_with_receipts_generated_and_scheduled_at_once() {
    // Messages to 44770090000x get their receipt at once (stored: only a transmitter is
    // bound); the others in a minute.
    let dir = state_dir("mixed");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mixed.toml");
    std::fs::write(
        &file,
        r#"
unknown_numbers = "accept"
[carriers.default.behaviour]
receipt_latency = "60s"
handset_latency = "60s"
[[ranges]]
prefix = "44770090000"
behaviour = { receipt_latency = "0s", handset_latency = "0s" }
[[ranges]]
prefix = "44770090200"
behaviour = { receipt_latency = "0s", handset_latency = "0s", loss = 0.5, duplicate_receipts = 0.5 }
"#,
    )
    .unwrap();
    let carrier = Carrier::start(&["--config", file.to_str().unwrap()]).await;
    let (client, _events) = bind(&carrier.smpp, BindMode::Transmitter).await;
    for i in 0..35 {
        let to = if i < 10 {
            "447700900001"
        } else {
            "447700901234"
        };
        let r = client.submit_sm(submit(to, "mixed")).await.unwrap();
        assert!(r.message_id.is_some());
    }
    let stats = carrier.stats().await;
    let r = &stats["receipts"];
    assert_eq!(
        (&r["asked"], &r["generated"], &r["scheduled"], &r["queued"]),
        (&35.into(), &10.into(), &25.into(), &10.into()),
        "{stats}"
    );
    assert_eq!(stats["receipts_balanced"], true, "{stats}");
    // Simulated loss withdraws receipts, duplicates add them: the account still adds up.
    for _ in 0..40 {
        client
            .submit_sm(submit("447700902001", "lossy"))
            .await
            .unwrap();
    }
    let stats = carrier.stats().await;
    let (r, c) = (&stats["receipts"], &stats["carriers"][0]);
    let n = |v: &Value| v.as_u64().unwrap();
    assert!(
        n(&c["receipts_lost"]) > 0 && n(&c["receipts_duplicated"]) > 0,
        "{stats}"
    );
    // A lost message withdraws its receipt, twice over when it was also to be duplicated.
    let (withdrawn, lost) = (n(&r["withdrawn"]), n(&c["receipts_lost"]));
    assert!(withdrawn >= lost && withdrawn <= 2 * lost, "{stats}");
    assert_eq!(
        n(&r["asked"]),
        n(&r["generated"]) + n(&r["scheduled"]) + n(&r["withdrawn"]),
        "{stats}"
    );
    assert_eq!(stats["receipts_balanced"], true, "{stats}");
    let report = carrier.terminate().await;
    let owed = 25 + n(&r["queued"]);
    assert_eq!(report["restart"]["receipts_owed"], owed, "{report}");
    let note = report["restart"]["note"].as_str().unwrap();
    assert!(
        note.contains(&format!("{owed} receipts owed (25 scheduled")),
        "{note}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Submits from 16 tasks until `stop_after` are acknowledged, then returns the acknowledged ids
/// (submits still in flight when the carrier dies are not acknowledged: their ids are unknown
/// to the client and not counted).
async fn load(addr: &str, stop_after: usize) -> (Client, Arc<Mutex<Vec<String>>>) {
    let (client, _events) = bind(addr, BindMode::Transmitter).await;
    let ids = Arc::new(Mutex::new(Vec::new()));
    for t in 0..16 {
        let (client, ids) = (client.clone(), Arc::clone(&ids));
        tokio::spawn(async move {
            for i in 0.. {
                match client
                    .submit_sm(submit(&format!("447700{t:02}{:04}", i % 10_000), "load"))
                    .await
                {
                    Ok(r) => {
                        if let Some(id) = r.message_id {
                            ids.lock().unwrap().push(id);
                        }
                    }
                    Err(_) => break,
                }
            }
        });
    }
    while ids.lock().unwrap().len() < stop_after {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (client, ids)
}

/// Binds a receiver and collects receipts until every id in `want` has come (or 30 s pass);
/// returns how often each id came.
async fn collect(addr: &str, want: &HashSet<String>) -> HashMap<String, u32> {
    let (_client, mut events) = bind(addr, BindMode::Receiver).await;
    let mut seen: HashMap<String, u32> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if want.iter().all(|id| seen.contains_key(id)) {
            // A little longer, to catch duplicates.
            let settle = tokio::time::Instant::now() + Duration::from_millis(500);
            while let Ok(Some(e)) = tokio::time::timeout_at(settle, events.recv()).await {
                if let Event::Deliver {
                    receipt: Some(r), ..
                } = e
                {
                    *seen.entry(r.id).or_default() += 1;
                }
            }
            return seen;
        }
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::Deliver {
                receipt: Some(r), ..
            })) => *seen.entry(r.id).or_default() += 1,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return seen,
        }
    }
}

/// Stops the carrier `how` ("kill" or "term") mid-load, restarts it on the same state, and
/// checks every acknowledged message. With `delay` 0 the receipts are made at once and stored
/// (no receiver is bound before the stop); with a longer one they are still scheduled.
async fn restart_keeps_every_accepted_message(how: &str, delay: &str) {
    let dir = state_dir(&format!("{how}-{delay}"));
    let dir_arg = dir.to_str().unwrap();
    // Commits 50 ms apart: a carrier that answered before committing would have many
    // acknowledged messages in no commit yet when it is killed, so this test would see them
    // go missing.
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("slow-commits.toml");
    std::fs::write(&config, "[state]\ncommit_interval = \"50ms\"\n").unwrap();
    let config = config.to_str().unwrap();
    let args = [
        "--delivery-delay",
        delay,
        "--state-dir",
        dir_arg,
        "--config",
        config,
    ];
    let first = Carrier::start(&args).await;
    // Mid-load: the submitters are still going when the carrier is stopped.
    let (client, ids) = load(&first.smpp, 400).await;
    let stats = first.stats().await;
    assert!(
        stats["carriers"][0]["state"]["commits"].as_u64().unwrap() > 0,
        "{stats}"
    );
    match how {
        "kill" => first.kill().await,
        _ => {
            let report = first.terminate().await;
            let note = report["restart"]["note"].as_str().unwrap();
            assert!(
                note.contains("are kept in") && note.contains(dir_arg),
                "{note}"
            );
        }
    }
    client.close().await;
    let accepted: Vec<String> = ids.lock().unwrap().clone();
    assert!(accepted.len() >= 400);
    let want: HashSet<String> = accepted.iter().cloned().collect();
    assert_eq!(
        want.len(),
        accepted.len(),
        "ids were unique before the restart"
    );

    let second = Carrier::start(&args).await;
    let stats = second.stats().await;
    let state = &stats["carriers"][0]["state"];
    assert!(
        state["restored_messages"].as_u64().unwrap() >= accepted.len() as u64,
        "{stats}"
    );
    if delay == "0s" {
        // Made before the stop and kept until an ESME takes them.
        assert!(
            state["restored_receipts"].as_u64().unwrap() >= accepted.len() as u64 / 2,
            "{stats}"
        );
    }
    // An old id answers query_sm with its real state.
    let (tx, _events) = bind(&second.smpp, BindMode::Transmitter).await;
    let q = smpp::rusmpp::pdus::QuerySm::builder()
        .message_id(smpp::pdu::c_string::<65>(&accepted[0]))
        .source_addr(smpp::pdu::c_string::<21>("12345"))
        .build();
    let answer = tx.query_sm(q).await.unwrap();
    assert_eq!(
        answer.status,
        smpp::rusmpp::CommandStatus::EsmeRok,
        "query_sm of an id from before the restart"
    );
    // Every acknowledged message gets its receipt, exactly once, after the restart.
    let seen = collect(&second.smpp, &want).await;
    let missing: Vec<&String> = want.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} receipts missing after {how}, e.g. {:?}",
        missing.len(),
        want.len(),
        &missing[..missing.len().min(5)]
    );
    let twice: Vec<(&String, &u32)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "duplicated receipts: {twice:?}");
    // Receipts for ids the client never saw can only be submits in flight at the kill (one
    // per submitting task).
    assert!(
        seen.len() - want.len() <= 16,
        "{} unknown",
        seen.len() - want.len()
    );
    // New ids never repeat old ones.
    for _ in 0..20 {
        let id = tx
            .submit_sm(submit("447700900099", "after"))
            .await
            .unwrap()
            .message_id
            .unwrap();
        assert!(!want.contains(&id), "id {id} given out twice");
    }
    let stats = second.stats().await;
    assert_eq!(stats["receipts_balanced"], true, "{stats}");
    second.terminate().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn restart_after_sigkill_mid_load_loses_no_accepted_message_and_no_receipt() {
    restart_keeps_every_accepted_message("kill", "1500ms").await;
}

#[tokio::test]
async fn restart_after_sigkill_mid_load_keeps_the_stored_receipts() {
    restart_keeps_every_accepted_message("kill", "0s").await;
}

#[tokio::test]
async fn restart_after_sigterm_mid_load_loses_no_accepted_message_and_no_receipt() {
    restart_keeps_every_accepted_message("term", "1500ms").await;
}

fn serve_once(dir: &Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args([
            "serve",
            "--smpp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--account",
            "test:secret",
            "--state-dir",
            dir.to_str().unwrap(),
        ])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test]
async fn corrupt_state_is_refused_by_name_unless_reset() {
    let dir = state_dir("corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("default.sqlite");
    std::fs::write(&file, b"this is not what carrier-sim wrote").unwrap();
    let out = serve_once(&dir, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(file.to_str().unwrap()) && err.contains("--reset-state"),
        "{err}"
    );
    // A SQLite file of a carrier-sim whose pages were damaged is refused too.
    let d2 = state_dir("damaged");
    let c = Carrier::start(&["--state-dir", d2.to_str().unwrap()]).await;
    let (client, _e) = bind(&c.smpp, BindMode::Transmitter).await;
    for _ in 0..50 {
        client.submit_sm(submit("447700900001", "x")).await.unwrap();
    }
    client.close().await;
    c.terminate().await;
    let damaged = d2.join("default.sqlite");
    let mut bytes = std::fs::read(&damaged).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..] {
        *b = 0xA5;
    }
    std::fs::write(&damaged, &bytes).unwrap();
    let out = serve_once(&d2, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(damaged.to_str().unwrap()), "{err}");

    // --reset-state discards it and starts afresh.
    let c = Carrier::start(&["--state-dir", dir.to_str().unwrap(), "--reset-state"]).await;
    let stats = c.stats().await;
    assert_eq!(stats["carriers"][0]["state"]["restored_messages"], 0);
    c.terminate().await;
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&d2).ok();
}

#[tokio::test]
async fn a_second_carrier_on_the_same_state_is_refused() {
    let dir = state_dir("locked");
    let first = Carrier::start(&["--state-dir", dir.to_str().unwrap()]).await;
    let out = serve_once(&dir, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another carrier-sim"), "{err}");
    first.terminate().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_stop_line_shows_the_bill_and_restored_messages_keep_their_price() {
    let dir = state_dir("billing");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("priced.toml");
    std::fs::write(
        &config,
        "currency = \"USD\"\n[[ranges]]\nname = \"mobiles\"\nprefix = \"4477\"\nprice_sms = 0.05\n",
    )
    .unwrap();
    let args = [
        "--state-dir",
        dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    let first = Carrier::start(&args).await;
    let (client, _events) = bind(&first.smpp, BindMode::Transmitter).await;
    for n in 0..3 {
        let r = client
            .submit_sm(submit(&format!("44770090020{n}"), "code 1"))
            .await
            .unwrap();
        assert_eq!(r.status, smpp::rusmpp::CommandStatus::EsmeRok);
    }
    client.close().await;
    let report = first.terminate().await;
    let bill = &report["billing"];
    assert_eq!(bill["currency"], "USD", "{report}");
    assert_eq!(bill["sms_parts"], 3, "{report}");
    assert!(
        (bill["total_cost"].as_f64().unwrap() - 0.15).abs() < 1e-9,
        "{report}"
    );
    assert_eq!(bill["by_range"]["mobiles"]["sms_parts"], 3, "{report}");

    // After the restart: the messages with their price; the totals count from this start.
    let second = Carrier::start(&args).await;
    let body: Value = reqwest::get(format!("http://{}/v1/messages", second.http))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{body}");
    for m in messages {
        assert!((m["price"].as_f64().unwrap() - 0.05).abs() < 1e-9, "{m}");
        assert_eq!(m["currency"], "USD");
    }
    assert_eq!(second.stats().await["billing"]["sms_parts"], 0);
    second.terminate().await;
    std::fs::remove_dir_all(&dir).ok();
}
