//! Rough throughput of the verifier with carrier-sim in one process: `N` verifications started
//! over HTTP by `C` concurrent clients, each code read from the in-process handset feed and
//! checked. Prints starts/s and approvals/s (achieved: completed work over the time it took).
//! The HTTP clients share the machine, so the figure is a floor, not the service's ceiling.
//!
//! ```sh
//! cargo run --release -p verifier --example throughput -- 20000 64 [lookup-off]
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use simulator::config::{AccountConfig, CarrierConfig};
use simulator::{Binds, EventFilter, EventKind, SimConfig};
use verifier::{Verifier, VerifierConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let c: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(64);
    let lookup = args.get(3).map(String::as_str) != Some("lookup-off");

    let mut carrier = CarrierConfig::default();
    carrier.accounts.insert(
        "verifier".into(),
        AccountConfig {
            max_binds: 16,
            ..AccountConfig::new("secret")
        },
    );
    let mut net = SimConfig::default();
    net.carriers.insert(carrier.name.clone(), carrier);
    let sim = simulator::start(net, Binds::loopback()).await?;
    let url = format!(
        "smpp://verifier:secret@{}?control=http://{}&binds=4&window=256",
        sim.smpp_addr("default").expect("listening"),
        sim.http_addr().expect("control plane")
    );
    let mut cfg = VerifierConfig::from_flags("127.0.0.1:0", &[url])?;
    cfg.lookup.enabled = lookup;
    let running = Verifier::start(cfg).await?;
    let api = format!("http://{}", running.http_addr());

    // Codes by number, from the handset feed.
    let codes: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let mut feed = sim.feed(EventFilter::parse(None, Some("handset_delivered"), None)?);
    let sink = Arc::clone(&codes);
    tokio::spawn(async move {
        while let Some(e) = feed.next().await {
            if let EventKind::HandsetDelivered { to, text, .. } = e.kind {
                let code: String = text.chars().take_while(char::is_ascii_digit).collect();
                sink.lock().unwrap().insert(to, code);
            }
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let http = reqwest::Client::new();
    let start = Instant::now();
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let approved = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..c {
        let (http, api, codes, started, approved) = (
            http.clone(),
            api.clone(),
            Arc::clone(&codes),
            Arc::clone(&started),
            Arc::clone(&approved),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                let to = format!("4477{:08}", i);
                i += c;
                let r = http
                    .post(format!("{api}/v1/verifications"))
                    .json(&serde_json::json!({ "to": format!("+{to}"), "channel": "sms" }))
                    .send()
                    .await;
                if !r.is_ok_and(|r| r.status().as_u16() == 201) {
                    continue;
                }
                started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let code = loop {
                    if let Some(code) = codes.lock().unwrap().remove(&to) {
                        break code;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                };
                let r = http
                    .post(format!("{api}/v1/verifications/check"))
                    .json(&serde_json::json!({ "to": format!("+{to}"), "code": code }))
                    .send()
                    .await;
                if let Ok(r) = r
                    && r.json::<serde_json::Value>()
                        .await
                        .is_ok_and(|b| b["status"] == "approved")
                {
                    approved.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = start.elapsed().as_secs_f64();
    let (s, a) = (
        started.load(std::sync::atomic::Ordering::Relaxed),
        approved.load(std::sync::atomic::Ordering::Relaxed),
    );
    println!(
        "lookup {}: {s} started, {a} approved in {secs:.2} s: {:.0} starts/s, {:.0} approvals/s",
        if lookup { "on" } else { "off" },
        s as f64 / secs,
        a as f64 / secs
    );
    let report = running.shutdown().await;
    println!(
        "{}",
        serde_json::to_string(&report.stats.counters.overload)?
    );
    sim.shutdown().await;
    Ok(())
}
