//! The ESME side of `bench/restart.sh`: submits messages asking for receipts and writes the
//! acknowledged ids to a file (`submit`), or binds a receiver and checks that every id in such a
//! file gets its receipt exactly once (`receive`).
//!
//! ```sh
//! receipt_check submit  --target 127.0.0.1:2775 --count 10000 --ids ids.txt
//! receipt_check receive --target 127.0.0.1:2775 --ids ids.txt --timeout-secs 90
//! ```
//!
//! `receive` prints one JSON line (`expected`, `received`, `matched`, `missing`, `duplicated`,
//! `unknown`) and exits 0 only when every id came exactly once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use smpp::client::{BindMode, Client, ClientConfig, Event, Target};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn need(args: &[String], name: &str) -> String {
    arg(args, name).unwrap_or_else(|| {
        eprintln!("receipt_check: {name} is required");
        std::process::exit(2)
    })
}

async fn bind(target: &str, mode: BindMode) -> (Client, smpp::client::Events) {
    let mut cfg = ClientConfig::new("test", "secret");
    cfg.bind = mode;
    cfg.window = 200;
    cfg.event_buffer = 1 << 20;
    match Client::connect(Target::Tcp(target.to_string()), cfg).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("receipt_check: cannot bind to {target}: {e}");
            std::process::exit(2)
        }
    }
}

async fn submit(target: &str, count: usize, ids_path: &str) {
    use smpp::rusmpp::types::OctetString;
    use smpp::rusmpp::values::{EsmClass, RegisteredDelivery};
    let (client, _events) = bind(target, BindMode::Transmitter).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    let per = count.div_ceil(8);
    for t in 0..8 {
        let client = client.clone();
        let n = per.min(count.saturating_sub(t * per));
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(n);
            let mut refused = 0usize;
            for i in 0..n {
                let sm = smpp::rusmpp::pdus::SubmitSm::builder()
                    .source_addr(smpp::pdu::c_string::<21>("12345"))
                    .destination_addr(smpp::pdu::c_string::<21>(&format!(
                        "447700{t}{:05}",
                        i % 100_000
                    )))
                    .esm_class(EsmClass::from(0u8))
                    .registered_delivery(RegisteredDelivery::from(1u8))
                    .short_message(OctetString::from_vec(b"restart check".to_vec()).unwrap())
                    .build();
                match client.submit_sm(sm).await {
                    Ok(r) if r.status == smpp::rusmpp::CommandStatus::EsmeRok => {
                        ids.extend(r.message_id);
                    }
                    _ => refused += 1,
                }
            }
            (ids, refused)
        }));
    }
    let mut ids = Vec::with_capacity(count);
    let mut refused = 0;
    for t in tasks {
        let (i, r) = t.await.expect("submitter");
        ids.extend(i);
        refused += r;
    }
    let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
    if let Err(e) = std::fs::write(ids_path, text) {
        eprintln!("receipt_check: {ids_path}: cannot write: {e}");
        std::process::exit(2);
    }
    println!(
        "{}",
        serde_json::json!({
            "event": "submitted",
            "accepted": ids.len(),
            "refused": refused,
            "secs": started.elapsed().as_secs_f64(),
        })
    );
    client.close().await;
}

async fn receive(target: &str, ids_path: &str, timeout: Duration) -> bool {
    let text = std::fs::read_to_string(ids_path).unwrap_or_else(|e| {
        eprintln!("receipt_check: {ids_path}: cannot read: {e}");
        std::process::exit(2)
    });
    let want: HashSet<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let (_client, mut events) = bind(target, BindMode::Receiver).await;
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut matched = 0usize;
    let mut settle: Option<tokio::time::Instant> = None;
    loop {
        let until = settle.unwrap_or(deadline).min(deadline);
        match tokio::time::timeout_at(until, events.recv()).await {
            Ok(Some(Event::Deliver {
                receipt: Some(r), ..
            })) => {
                let n = seen.entry(r.id.clone()).or_default();
                *n += 1;
                if *n == 1 && want.contains(r.id.as_str()) {
                    matched += 1;
                    if matched == want.len() {
                        // Everything came: listen two seconds more for duplicates.
                        settle = Some(tokio::time::Instant::now() + Duration::from_secs(2));
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let duplicated: u32 = seen.values().map(|n| n - 1).sum();
    let unknown = seen.keys().filter(|id| !want.contains(id.as_str())).count();
    let ok = matched == want.len() && duplicated == 0;
    println!(
        "{}",
        serde_json::json!({
            "event": "received",
            "expected": want.len(),
            "received": seen.values().sum::<u32>(),
            "matched": matched,
            "missing": want.len() - matched,
            "duplicated": duplicated,
            "unknown": unknown,
            "secs": started.elapsed().as_secs_f64(),
            "ok": ok,
        })
    );
    ok
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target = need(&args, "--target");
    let ids = need(&args, "--ids");
    match args.first().map(String::as_str) {
        Some("submit") => {
            let count = need(&args, "--count").parse().unwrap_or_else(|_| {
                eprintln!("receipt_check: --count must be a number");
                std::process::exit(2)
            });
            submit(&target, count, &ids).await;
        }
        Some("receive") => {
            let secs: u64 = arg(&args, "--timeout-secs")
                .and_then(|s| s.parse().ok())
                .unwrap_or(90);
            if !receive(&target, &ids, Duration::from_secs(secs)).await {
                std::process::exit(1);
            }
        }
        _ => {
            eprintln!(
                "usage: receipt_check submit|receive --target ADDR --ids FILE [--count N] [--timeout-secs S]"
            );
            std::process::exit(2);
        }
    }
}
