//! Carrier behaviour (issue 3) observed through SMPP and HTTP, as a tester sees it: number-plan
//! routing, the seeded outcome mix, submit errors, silent loss, duplicate and out-of-order
//! receipts, handset vs receipt timing, latency distributions, determinism, session faults,
//! receipt-format profiles and MO replies. Statistical checks use a fixed seed and
//! tolerances a wrong implementation would miss; second-scale latencies run in milliseconds
//! through `time_scale`. Throttles, run-time control, timeline, events, voice and metrics are
//! in `carrier_control.rs`.

use std::collections::HashMap;
use std::time::Duration;

use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use smpp::client::{Client, Delivered};
use smpp::receipt::{Receipt, ReceiptState};
use testbed_tests::{
    Delivery, RawSession, TestNetwork, build, collect, esme, network_toml, poll_until, sim_config,
};
use tokio::time::Instant;

/// Starts a network of the named carriers (each with `test:secret`).
async fn start(top: &str, carriers: &[&str], rest: &str) -> TestNetwork {
    TestNetwork::start(sim_config(&network_toml(top, carriers, rest))).await
}

/// Submits a GSM text; returns the status and message id.
async fn submit(client: &Client, to: &str, text: &str) -> (CommandStatus, Option<String>) {
    let r = client
        .submit_sm(build::text(to, text))
        .await
        .expect("submit answered");
    (r.status, r.message_id)
}

/// Receipts among `deliveries`, by message id (in arrival order per id).
fn receipts_by_id(deliveries: &[Delivery]) -> HashMap<String, Vec<Receipt>> {
    let mut m: HashMap<String, Vec<Receipt>> = HashMap::new();
    for d in deliveries {
        if let Some(r) = &d.receipt {
            m.entry(r.id.clone()).or_default().push(r.clone());
        }
    }
    m
}

/// Polls `/v1/stats` until `n` messages of `name` reached a final state; returns its stats
/// (the loss and duplicate counters are settled by then).
async fn settled(net: &TestNetwork, name: &str, n: u64) -> serde_json::Value {
    let finals = |stats: &serde_json::Value| -> u64 {
        stats["outcomes"]
            .as_object()
            .expect("outcomes")
            .values()
            .filter_map(serde_json::Value::as_u64)
            .sum()
    };
    let stats = poll_until(
        Duration::from_secs(10),
        async || net.carrier_stats(name).await,
        |s| finals(s) >= n,
    )
    .await;
    assert!(
        finals(&stats) >= n,
        "only {} of {n} final: {stats}",
        finals(&stats)
    );
    stats
}

/// The inbox of a handset.
async fn inbox(net: &TestNetwork, number: &str) -> serde_json::Value {
    let (status, body) = net
        .get_json(&format!("/v1/handsets/{number}/messages"))
        .await;
    assert_eq!(status, 200);
    body
}

fn inbox_texts(inbox: &serde_json::Value) -> Vec<String> {
    inbox["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["text"].as_str().expect("text").to_string())
        .collect()
}

fn share(count: usize, total: usize) -> f64 {
    count as f64 / total as f64
}

// ---------------------------------------------------------------------------------------------
// 1. Number plan routing
// ---------------------------------------------------------------------------------------------

const PLAN: &str = r#"
[[ranges]]
name = "uk mobiles"
prefix = "447700900"
carrier = "alpha"
line_type = "mobile"

[[ranges]]
name = "a landline block inside the mobiles"
prefix = "4477009009"
line_type = "landline"

[[ranges]]
name = "london landlines"
prefix = "44207946"
carrier = "alpha"
line_type = "landline"

[[ranges]]
name = "one listed number with its own behaviour"
numbers = ["447700900555"]
behaviour = { outcomes = [{ stat = "REJECTD", err = 5, probability = 1.0 }] }

[[ranges]]
name = "a switched-off phone"
numbers = ["447700900556"]
absent = true
"#;

#[tokio::test]
async fn number_plan_routes_each_range_and_the_most_specific_wins() {
    let net = start("seed = 1", &["alpha"], PLAN).await;
    let (client, events) = esme(net.smpp_of("alpha")).await;
    let collector = collect(events, 5, Duration::from_secs(10));

    // Outside the plan: refused at submit.
    let (status, id) = submit(&client, "15550001111", "hello").await;
    assert_eq!(status, CommandStatus::EsmeRinvdstadr);
    assert!(id.is_none());

    let mut ids = HashMap::new();
    for (to, text) in [
        ("447700900100", "mobile code 1234"),
        ("442079460001", "landline code 5678"),
        ("447700900555", "listed code 9999"),
        ("447700900901", "inner landline 4321"),
        ("447700900556", "absent code 1111"),
    ] {
        let (status, id) = submit(&client, to, text).await;
        assert_eq!(status, CommandStatus::EsmeRok, "{to}");
        ids.insert(to, id.expect("message id"));
    }
    let (got, _) = collector.await.unwrap();
    let receipts = receipts_by_id(&got);
    let stat_err = |to: &str| {
        let r = &receipts[&ids[to]][0];
        (r.stat, r.err.clone().unwrap_or_default())
    };
    assert_eq!(
        stat_err("447700900100"),
        (ReceiptState::Delivered, "000".into())
    );
    assert_eq!(
        stat_err("442079460001"),
        (ReceiptState::Undeliverable, "011".into()),
        "landlines cannot take SMS"
    );
    assert_eq!(
        stat_err("447700900555"),
        (ReceiptState::Rejected, "005".into()),
        "the listed number's behaviour wins over its prefix"
    );
    assert_eq!(
        stat_err("447700900901"),
        (ReceiptState::Undeliverable, "011".into()),
        "the longer prefix's line type wins over the shorter one"
    );
    assert_eq!(
        stat_err("447700900556"),
        (ReceiptState::Expired, "027".into()),
        "an absent subscriber's message expires"
    );

    assert_eq!(
        inbox_texts(&inbox(&net, "447700900100").await),
        vec!["mobile code 1234"]
    );
    for n in [
        "442079460001",
        "447700900555",
        "447700900901",
        "+15550001111",
    ] {
        let b = inbox(&net, n).await;
        assert_eq!(b["received"], 0, "{n}: {b}");
    }
    client.unbind().await.ok();
    net.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Outcome mix, submit errors, loss, duplicates, reordering, handset vs receipt timing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn outcome_mix_follows_the_configured_shares() {
    let net = start(
        "seed = 2026",
        &["alpha"],
        r#"
[carriers.alpha.behaviour]
outcomes = [
  { stat = "DELIVRD", probability = 0.7 },
  { stat = "UNDELIV", err = 1, probability = 0.2 },
  { stat = "EXPIRED", probability = 0.1 },
]
"#,
    )
    .await;
    let n = 2000;
    let (client, events) = esme(net.smpp_of("alpha")).await;
    let collector = collect(events, n, Duration::from_secs(30));
    for i in 0..n {
        let (status, _) = submit(&client, &format!("4477009{i:05}"), "code").await;
        assert_eq!(status, CommandStatus::EsmeRok);
    }
    let (got, _) = collector.await.unwrap();
    assert_eq!(got.len(), n);
    let mut counts: HashMap<ReceiptState, usize> = HashMap::new();
    for d in &got {
        let r = d.receipt.as_ref().expect("a receipt");
        if r.stat == ReceiptState::Undeliverable {
            assert_eq!(r.err.as_deref(), Some("001"));
        }
        *counts.entry(r.stat).or_default() += 1;
    }
    for (stat, p) in [
        (ReceiptState::Delivered, 0.7),
        (ReceiptState::Undeliverable, 0.2),
        (ReceiptState::Expired, 0.1),
    ] {
        let s = share(counts.get(&stat).copied().unwrap_or(0), n);
        assert!((s - p).abs() <= 0.04, "{stat:?}: {s} vs {p} ({counts:?})");
    }
    let stats = net.carrier_stats("alpha").await;
    assert_eq!(
        stats["outcomes"]["DELIVRD"],
        counts[&ReceiptState::Delivered]
    );
    assert_eq!(
        stats["messages_delivered"],
        counts[&ReceiptState::Delivered],
        "only DELIVRD messages reach a handset"
    );
    client.unbind().await.ok();
    net.shutdown().await;
}

#[tokio::test]
async fn submit_errors_are_drawn_with_their_probability() {
    let net = start(
        "seed = 5",
        &["alpha"],
        r#"
[carriers.alpha.behaviour]
submit_errors = [{ status = "ESME_RSYSERR", probability = 0.15 }]
"#,
    )
    .await;
    let n = 1000;
    let (client, _events) = esme(net.smpp_of("alpha")).await;
    let mut refused = 0;
    for i in 0..n {
        let r = client
            .submit_sm(build::submit(&format!("4477008{i:05}"), b"x", 0, 0, 0))
            .await
            .expect("answered");
        match r.status {
            CommandStatus::EsmeRok => assert!(r.message_id.is_some()),
            CommandStatus::EsmeRsyserr => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let s = share(refused, n);
    assert!((s - 0.15).abs() <= 0.035, "ESME_RSYSERR share {s}");
    let stats = net.carrier_stats("alpha").await;
    assert_eq!(stats["refusals"]["ESME_RSYSERR"], refused);
    assert_eq!(stats["messages_accepted"], n - refused);
    client.unbind().await.ok();
    net.shutdown().await;
}

#[tokio::test]
async fn lost_receipts_never_come_but_the_handset_gets_the_message() {
    let net = start(
        "seed = 77",
        &["alpha"],
        "[carriers.alpha.behaviour]\nloss = 0.3\n",
    )
    .await;
    let n = 500;
    let (client, events) = esme(net.smpp_of("alpha")).await;
    // Fewer than the client's 1024 buffered events: they can wait until every submit is in.
    for i in 0..n {
        let (status, _) = submit(&client, &format!("4477007{i:05}"), "code").await;
        assert_eq!(status, CommandStatus::EsmeRok);
    }
    let stats = settled(&net, "alpha", n as u64).await;
    let lost = stats["receipts_lost"].as_u64().expect("receipts_lost") as usize;
    let (got, events) = collect(events, n - lost, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(got.len(), n - lost, "every receipt not lost arrives");
    // Listening a while longer is the point: a lost receipt must not turn up late.
    let (late, _) = collect(events, 1, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(late.is_empty(), "a lost receipt never comes: {late:?}");
    let s = share(lost, n);
    assert!((s - 0.3).abs() <= 0.06, "loss share {s}");
    assert_eq!(
        stats["messages_delivered"], n,
        "loss is of receipts only: every handset got its message"
    );
    client.unbind().await.ok();
    net.shutdown().await;
}

#[tokio::test]
async fn duplicated_receipts_arrive_twice_with_the_same_id() {
    let net = start(
        "seed = 8",
        &["alpha"],
        "[carriers.alpha.behaviour]\nduplicate_receipts = 0.3\n",
    )
    .await;
    let n = 400;
    let (client, events) = esme(net.smpp_of("alpha")).await;
    let mut ids = Vec::new();
    for i in 0..n {
        let (status, id) = submit(&client, &format!("4477006{i:05}"), "code").await;
        assert_eq!(status, CommandStatus::EsmeRok);
        ids.push(id.expect("id"));
    }
    let stats = settled(&net, "alpha", n as u64).await;
    let duplicated = stats["receipts_duplicated"].as_u64().expect("count") as usize;
    let (mut got, events) = collect(events, n + duplicated, Duration::from_secs(10))
        .await
        .unwrap();
    // Anything beyond what the carrier says it sent would be a third copy.
    let (extra, _) = collect(events, 1, Duration::from_millis(300))
        .await
        .unwrap();
    got.extend(extra);
    let by_id = receipts_by_id(&got);
    assert_eq!(by_id.len(), n, "every message has a receipt");
    assert!(ids.iter().all(|id| by_id.contains_key(id)));
    let twice = by_id.values().filter(|v| v.len() == 2).count();
    assert!(
        by_id.values().all(|v| v.len() <= 2),
        "a duplicate is sent once"
    );
    for v in by_id.values().filter(|v| v.len() == 2) {
        assert_eq!(v[0], v[1], "a duplicate is the same receipt");
    }
    let s = share(twice, n);
    assert!((s - 0.3).abs() <= 0.07, "duplicate share {s}");
    assert_eq!(duplicated, twice);
    client.unbind().await.ok();
    net.shutdown().await;
}

#[tokio::test]
async fn held_back_receipts_are_overtaken_by_later_ones() {
    let net = start(
        "seed = 3\ntime_scale = 10.0",
        &["alpha"],
        r#"
[[ranges]]
prefix = "4477"
line_type = "mobile"
carrier = "alpha"

[[ranges]]
numbers = ["447700900001"]
behaviour = { out_of_order = 1.0, reorder_delay = "5s" }
"#,
    )
    .await;
    let (client, events) = esme(net.smpp_of("alpha")).await;
    let collector = collect(events, 6, Duration::from_secs(10));
    let (_, held) = submit(&client, "447700900001", "first").await;
    let mut later = Vec::new();
    for i in 0..5 {
        let (_, id) = submit(&client, &format!("44770090010{i}"), "later").await;
        later.push(id.expect("id"));
    }
    let (got, _) = collector.await.unwrap();
    let order: Vec<String> = got
        .iter()
        .map(|d| d.receipt.as_ref().expect("receipt").id.clone())
        .collect();
    assert_eq!(order.len(), 6);
    assert_eq!(
        order.last(),
        held.as_ref(),
        "the held receipt comes last: {order:?}"
    );
    assert_eq!(&order[..5], &later[..], "the others keep their order");
    client.unbind().await.ok();
    net.shutdown().await;
}

#[tokio::test]
async fn handset_and_receipt_times_are_drawn_separately() {
    let net = start(
        "seed = 4\ntime_scale = 10.0",
        &["alpha"],
        r#"
[[ranges]]
prefix = "4477009001"
line_type = "mobile"
carrier = "alpha"
behaviour = { handset_latency = "0s", receipt_latency = "3s" }

[[ranges]]
prefix = "4477009002"
line_type = "mobile"
carrier = "alpha"
behaviour = { handset_latency = "3s", receipt_latency = "0s" }
"#,
    )
    .await;
    let (client, events) = esme(net.smpp_of("alpha")).await;

    // Code before receipt: the inbox has it while the receipt is still 300 ms away.
    let collector = collect(events, 1, Duration::from_secs(10));
    let sent = Instant::now();
    submit(&client, "447700900100", "early code").await;
    let texts = inbox_texts(&inbox(&net, "447700900100").await);
    let (got, events) = collector.await.unwrap();
    assert_eq!(
        texts,
        vec!["early code"],
        "the handset has the text when the submit is answered"
    );
    assert!(
        got[0].at - sent >= Duration::from_millis(250),
        "receipt after its scaled 3 s: {:?}",
        got[0].at - sent
    );

    // Receipt before code: DELIVRD arrives while the inbox is still empty.
    let collector = collect(events, 1, Duration::from_secs(10));
    submit(&client, "447700900200", "late code").await;
    let (got, _) = collector.await.unwrap();
    assert_eq!(
        got[0].receipt.as_ref().unwrap().stat,
        ReceiptState::Delivered
    );
    assert_eq!(
        inbox(&net, "447700900200").await["received"],
        0,
        "the receipt came before the handset got it"
    );
    let later = poll_until(
        Duration::from_secs(10),
        async || inbox(&net, "447700900200").await,
        |b| b["received"] != 0,
    )
    .await;
    assert_ne!(later["received"], 0, "the handset never got it");
    assert_eq!(inbox_texts(&later), vec!["late code"]);
    client.unbind().await.ok();
    net.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Latency distributions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn lognormal_receipt_latency_has_the_configured_median_and_tail() {
    // Median 2 s, p99 15 s, run 25 times faster: median 80 ms, p99 600 ms (slow enough that a
    // busy machine's scheduling noise of a few milliseconds does not move the figures).
    let net = start(
        "seed = 9\ntime_scale = 25.0",
        &["alpha"],
        r#"
[carriers.alpha.behaviour]
receipt_latency = { kind = "lognormal", median = "2s", p99 = "15s" }
"#,
    )
    .await;
    let n = 1000;
    let (client, events) = esme(net.smpp_of("alpha")).await;
    let collector = collect(events, n, Duration::from_secs(30));
    let mut sent = HashMap::new();
    for i in 0..n {
        let t = Instant::now();
        let (status, id) = submit(&client, &format!("4477005{i:05}"), "code").await;
        assert_eq!(status, CommandStatus::EsmeRok);
        sent.insert(id.expect("id"), t);
    }
    let (got, _) = collector.await.unwrap();
    assert_eq!(got.len(), n);
    let mut delays: Vec<f64> = got
        .iter()
        .map(|d| {
            let id = &d.receipt.as_ref().expect("receipt").id;
            (d.at - sent[id]).as_secs_f64() * 1000.0
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    let median = delays[n / 2];
    assert!(
        (52.0..=108.0).contains(&median),
        "median {median:.1} ms, expected 80 ms ± 35%"
    );
    // The tail: P(X > 3 × median) is 10% for this log-normal; a fixed or uniform latency
    // around 80 ms has none, a much heavier one far more.
    let above = delays.iter().filter(|&&d| d > 240.0).count();
    let s = share(above, n);
    assert!((0.05..=0.17).contains(&s), "share above 240 ms: {s}");
    client.unbind().await.ok();
    net.shutdown().await;
}

#[tokio::test]
async fn submit_latency_holds_the_submit_response() {
    let net = start(
        "seed = 1\ntime_scale = 10.0",
        &["alpha"],
        "[carriers.alpha.behaviour]\nsubmit_latency = \"2s\"\n",
    )
    .await;
    let mut s = RawSession::bound(net.smpp_of("alpha")).await;
    let t = Instant::now();
    let resp = s.call(build::text("447700900100", "slow")).await;
    assert_eq!(resp.status(), CommandStatus::EsmeRok);
    assert!(
        t.elapsed() >= Duration::from_millis(190),
        "held for its scaled 2 s: {:?}",
        t.elapsed()
    );
    net.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Determinism
// ---------------------------------------------------------------------------------------------

const MIXED: &str = r#"
[carriers.alpha.behaviour]
submit_errors = [{ status = "ESME_RSYSERR", probability = 0.1 }]
outcomes = [
  { stat = "DELIVRD", probability = 0.5 },
  { stat = "UNDELIV", err = 1, probability = 0.3 },
  { stat = "REJECTD", probability = 0.2 },
]
"#;

/// Outcome of each (destination, occurrence): the refusal status or the receipt stat.
async fn run_outcomes(seed: u64) -> Vec<String> {
    let net = start(&format!("seed = {seed}"), &["alpha"], MIXED).await;
    let (client, events) = esme(net.smpp_of("alpha")).await;
    let mut submitted = Vec::new();
    // Each number twice: the second message draws from its own (later) stream.
    for round in 0..2 {
        for i in 0..200 {
            let to = format!("4477004{i:05}");
            let (status, id) = submit(&client, &to, "code").await;
            submitted.push((format!("{to}#{round}"), status, id));
        }
    }
    // 400 receipts at most: they wait in the client's event buffer until all are submitted.
    let accepted = submitted.iter().filter(|(_, _, id)| id.is_some()).count();
    let (got, _) = collect(events, accepted, Duration::from_secs(10))
        .await
        .unwrap();
    let by_id = receipts_by_id(&got);
    client.unbind().await.ok();
    net.shutdown().await;
    submitted
        .into_iter()
        .map(|(key, status, id)| match id {
            Some(id) => format!("{key} {:?}", by_id[&id][0].stat),
            None => format!("{key} {status:?}"),
        })
        .collect()
}

#[tokio::test]
async fn same_seed_same_outcomes_other_seed_other_outcomes() {
    let one = run_outcomes(31).await;
    let two = run_outcomes(31).await;
    assert_eq!(one, two, "same seed and config, same decisions");
    let other = run_outcomes(32).await;
    let differing = one.iter().zip(&other).filter(|(a, b)| a != b).count();
    // With this mix two independent draws differ about 60% of the time.
    assert!(
        differing > 150,
        "another seed reshuffles the decisions: {differing} of 400 differ"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Session faults
// ---------------------------------------------------------------------------------------------

async fn fault_net(faults: &str) -> TestNetwork {
    start(
        "time_scale = 10.0",
        &["alpha"],
        &format!("[carriers.alpha.faults]\n{faults}\n"),
    )
    .await
}

#[tokio::test]
async fn drop_after_pdus_closes_the_connection_and_keeps_what_was_accepted() {
    let net = fault_net("drop_after_pdus = 4").await;
    let mut s = RawSession::bound(net.smpp_of("alpha")).await; // PDU 1
    for i in 0..2 {
        // PDUs 2 and 3
        let r = s.call(build::quiet(&format!("44770090000{i}"))).await;
        assert_eq!(r.status(), CommandStatus::EsmeRok);
    }
    s.request(build::quiet("447700900009")).await; // PDU 4
    assert!(
        s.next_frame().await.is_none(),
        "closed without answering the 4th PDU"
    );
    let (_, body) = net.get_json("/v1/messages?carrier=alpha").await;
    let msgs = body["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 2, "{body}");
    net.shutdown().await;
}

#[tokio::test]
async fn ignore_enquire_link_leaves_it_unanswered() {
    let net = fault_net("ignore_enquire_link = true").await;
    let mut s = RawSession::bound(net.smpp_of("alpha")).await;
    s.request(Pdu::EnquireLink).await;
    let sub = s.request(build::quiet("447700900100")).await;
    let next = s.next().await;
    assert_eq!(
        (next.id(), next.sequence_number()),
        (CommandId::SubmitSmResp, sub),
        "the enquire_link got no answer; the submit did"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn generic_nack_replaces_the_submit_response() {
    let net = fault_net("generic_nack_probability = 1.0").await;
    let mut s = RawSession::bound(net.smpp_of("alpha")).await;
    let seq = s.request(build::quiet("447700900100")).await;
    let c = s.next().await;
    assert_eq!(c.id(), CommandId::GenericNack);
    assert_eq!(u32::from(c.id()), 0x8000_0000);
    assert_eq!(c.sequence_number(), seq);
    assert_eq!(c.status(), CommandStatus::EsmeRsyserr);
    net.shutdown().await;
}

#[tokio::test]
async fn unbind_after_pdus_makes_the_carrier_unbind() {
    let net = fault_net("unbind_after_pdus = 2").await;
    let mut s = RawSession::bound(net.smpp_of("alpha")).await; // PDU 1
    let seq = s.request(build::quiet("447700900100")).await; // PDU 2
    let resp = s.next().await;
    assert_eq!(
        (resp.id(), resp.sequence_number()),
        (CommandId::SubmitSmResp, seq)
    );
    let unbind = s.next_non_probe().await;
    assert_eq!(unbind.id(), CommandId::Unbind, "{unbind:?}");
    s.send(Command::new(
        CommandStatus::EsmeRok,
        unbind.sequence_number(),
        Pdu::UnbindResp,
    ))
    .await;
    assert!(s.closed().await, "the carrier closes after its unbind");
    net.shutdown().await;
}

#[tokio::test]
async fn response_delay_holds_every_response() {
    let net = fault_net("response_delay = \"2s\"").await;
    let mut s = RawSession::bound(net.smpp_of("alpha")).await;
    let t = Instant::now();
    let r = s.call(Pdu::EnquireLink).await;
    assert_eq!(r.id(), CommandId::EnquireLinkResp);
    assert!(
        t.elapsed() >= Duration::from_millis(190),
        "held for the scaled 2 s: {:?}",
        t.elapsed()
    );
    net.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Receipt profiles
// ---------------------------------------------------------------------------------------------

/// Sends one message through `carrier` and returns its id and the delivery that carried its
/// receipt.
async fn one_receipt(net: &TestNetwork, carrier: &str) -> (String, Delivery) {
    let (client, events) = esme(net.smpp_of(carrier)).await;
    let collector = collect(events, 1, Duration::from_secs(10));
    let (status, id) = submit(&client, "447700900100", "your code is 123456").await;
    assert_eq!(status, CommandStatus::EsmeRok);
    let (mut got, _) = collector.await.unwrap();
    client.unbind().await.ok();
    (id.expect("id"), got.remove(0))
}

fn text_of(d: &Delivery) -> String {
    String::from_utf8_lossy(d.pdu.payload()).to_string()
}

#[tokio::test]
async fn receipt_profiles_shape_ids_text_tlvs_and_pdu() {
    let net = start(
        "",
        &["dec", "upper", "tlvonly", "datasm"],
        r#"
[carriers.dec.receipts]
message_id = "decimal"
capitalized_text = true

[carriers.upper.receipts]
message_id = "uuid"
upper_case_keys = true
sub_dlvrd = false

[carriers.tlvonly.receipts]
text = false
tlvs = true

[carriers.datasm.receipts]
pdu = "data_sm"
"#,
    )
    .await;

    let (id, d) = one_receipt(&net, "dec").await;
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "decimal id {id}");
    let text = text_of(&d);
    assert!(
        text.starts_with(&format!("id:{id} sub:001 dlvrd:001 ")),
        "{text}"
    );
    assert!(
        text.contains("stat:DELIVRD") && text.contains(" Text:"),
        "{text}"
    );

    let (id, d) = one_receipt(&net, "upper").await;
    assert_eq!(id.len(), 36, "uuid id {id}");
    assert_eq!(id.matches('-').count(), 4, "uuid id {id}");
    assert!(
        id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'),
        "{id}"
    );
    let text = text_of(&d);
    assert!(text.starts_with(&format!("ID:{id} ")), "{text}");
    assert!(
        text.contains("STAT:DELIVRD") && text.contains(" TEXT:"),
        "{text}"
    );
    assert!(!text.to_lowercase().contains("sub:"), "{text}");
    assert!(!text.to_lowercase().contains("dlvrd:"), "{text}");
    let r = d.receipt.as_ref().expect("parsed");
    assert_eq!(
        (r.id.as_str(), r.stat),
        (id.as_str(), ReceiptState::Delivered)
    );

    let (id, d) = one_receipt(&net, "tlvonly").await;
    let Delivered::DeliverSm(ref sm) = d.pdu else {
        panic!("deliver_sm expected: {:?}", d.pdu)
    };
    assert!(sm.short_message().as_ref().is_empty(), "TLV-only: no text");
    assert_eq!(d.pdu.esm_class(), 0x04);
    let tlvs = d.pdu.receipt_tlvs();
    assert_eq!(tlvs.message_id.as_deref(), Some(id.as_str()));
    assert_eq!(tlvs.state, Some(ReceiptState::Delivered));
    let r = d
        .receipt
        .as_ref()
        .expect("the client reads TLV-only receipts");
    assert_eq!(
        (r.id.as_str(), r.stat),
        (id.as_str(), ReceiptState::Delivered)
    );

    let (id, d) = one_receipt(&net, "datasm").await;
    assert!(matches!(d.pdu, Delivered::DataSm(_)), "{:?}", d.pdu);
    assert_eq!(d.pdu.esm_class(), 0x04);
    let r = d.receipt.as_ref().expect("smpp::receipt parses it");
    assert_eq!(
        (r.id.as_str(), r.stat),
        (id.as_str(), ReceiptState::Delivered)
    );
    assert!(text_of(&d).starts_with(&format!("id:{id} ")));
    net.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 7. MO
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn handsets_reply_stop_after_delivery() {
    let net = start(
        "time_scale = 10.0",
        &["alpha"],
        r#"
[carriers.alpha.behaviour]
mo_reply = 1.0
mo_text = "STOP"
mo_latency = "1s"
"#,
    )
    .await;
    let (client, events) = esme(net.smpp_of("alpha")).await;
    let collector = collect(events, 2, Duration::from_secs(10));
    let (_, id) = submit(&client, "447700900123", "your code is 1").await;
    let (got, _) = collector.await.unwrap();
    assert_eq!(got.len(), 2);
    let receipt = got.iter().find(|d| d.receipt.is_some()).expect("receipt");
    assert_eq!(receipt.receipt.as_ref().unwrap().id, id.unwrap());
    let mo = got.iter().find(|d| d.receipt.is_none()).expect("an MO");
    assert_eq!(mo.pdu.esm_class(), 0, "an MO is not a receipt");
    assert!(matches!(mo.pdu, Delivered::DeliverSm(_)));
    assert_eq!(mo.pdu.source_addr(), "447700900123", "from the handset");
    assert_eq!(
        mo.pdu.destination_addr(),
        "447700900000",
        "to the original sender"
    );
    assert_eq!(text_of(mo), "STOP");
    assert!(
        mo.at > receipt.at,
        "the reply follows delivery by its latency"
    );
    assert_eq!(net.carrier_stats("alpha").await["mo"], 1);
    client.unbind().await.ok();
    net.shutdown().await;
}
