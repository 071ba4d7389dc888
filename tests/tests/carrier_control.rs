//! Carrier behaviour (issue 3) driven and watched through the control plane: MO injection, the
//! timeline's outages and changes, outages and behaviour changes at run time (and their
//! refusals), throttles (per account, per carrier, per part, lifted at run time) and the
//! deliver window, the WebSocket event stream with its filters, voice calls, lookup during an
//! outage, and the Prometheus metrics of a two-carrier network. Message-level behaviour is in
//! `carrier_behaviour.rs`.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use rusmpp::pdus::SubmitSm;
use rusmpp::tlvs::MessageSubmissionRequestTlvValue;
use rusmpp::types::AnyOctetString;
use rusmpp::values::MessagePayload;
use rusmpp::{Command, CommandId, CommandStatus};
use smpp::client::Client;
use smpp::receipt::ReceiptState;
use testbed_tests::{
    RawSession, TestNetwork, build, collect, esme, network_toml, poll_until, sim_config,
};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn start(top: &str, carriers: &[&str], rest: &str) -> TestNetwork {
    TestNetwork::start(sim_config(&network_toml(top, carriers, rest))).await
}

/// Opens `GET /v1/events?{query}`; events published after this returns are seen.
async fn subscribe(net: &TestNetwork, query: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/events?{query}", net.http))
        .await
        .expect("event stream");
    ws
}

/// Next JSON event within 10 s.
async fn next_event(ws: &mut Ws) -> serde_json::Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an event within 10 s")
            .expect("stream open")
            .expect("websocket message");
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).expect("event JSON");
        }
    }
}

/// Binds with a raw session; returns the bind status (`None` when the carrier just closed).
async fn try_bind(addr: SocketAddr) -> Option<CommandStatus> {
    let mut s = RawSession::connect(addr).await;
    let seq = s
        .request(
            rusmpp::pdus::BindTransceiver::builder()
                .system_id(smpp::pdu::c_string::<16>(testbed_tests::SYSTEM_ID))
                .password(smpp::pdu::c_string::<9>(testbed_tests::PASSWORD))
                .build(),
        )
        .await;
    let f = s.next_frame().await?;
    assert_eq!(f.header.sequence_number, seq);
    Some(CommandStatus::from(f.header.command_status))
}

/// Submits a text and waits for its receipt; returns (stat, err).
async fn roundtrip(
    client: &Client,
    events: smpp::client::Events,
    to: &str,
) -> (ReceiptState, String, smpp::client::Events) {
    let collector = collect(events, 1, Duration::from_secs(10));
    let r = client
        .submit_sm(build::text(to, "code"))
        .await
        .expect("answered");
    assert_eq!(r.status, CommandStatus::EsmeRok);
    let (got, events) = collector.await.unwrap();
    let receipt = got[0].receipt.clone().expect("receipt");
    assert_eq!(Some(receipt.id), r.message_id);
    (receipt.stat, receipt.err.unwrap_or_default(), events)
}

// ---------------------------------------------------------------------------------------------
// MO injection
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn injected_mo_reaches_a_bound_receiver_and_the_event_stream() {
    let net = start("", &["alpha"], "").await;
    let (client, events) = esme(net.smpp_of("alpha")).await;
    let mut ws = subscribe(&net, "type=mo").await;
    let collector = collect(events, 1, Duration::from_secs(10));
    let (status, body) = net
        .send_json(
            Method::POST,
            "/v1/mo",
            &serde_json::json!({ "from": "+447700900777", "to": "12345", "text": "HELLO" }),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["account"], "test");
    let (got, _) = collector.await.unwrap();
    let mo = &got[0];
    assert!(mo.receipt.is_none());
    assert_eq!(mo.pdu.esm_class(), 0);
    assert_eq!(mo.pdu.source_addr(), "447700900777");
    assert_eq!(mo.pdu.destination_addr(), "12345");
    assert_eq!(mo.pdu.payload(), b"HELLO");
    let e = next_event(&mut ws).await;
    assert_eq!(e["type"], "mo", "{e}");
    assert_eq!(e["number"], "447700900777");
    assert_eq!(e["text"], "HELLO");
    assert_eq!(e["account"], "test");

    let (status, body) = net
        .send_json(
            Method::POST,
            "/v1/mo",
            &serde_json::json!({ "from": "not-a-number", "to": "1", "text": "x" }),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("from"), "{body}");
    client.unbind().await.ok();
    net.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Timeline and run-time changes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn timeline_outage_refuses_binds_and_drops_sessions_for_its_duration() {
    // Down from 2 s to 6 s of scenario time, four times faster: 0.5 s to 1.5 s of wall time.
    let t0 = Instant::now();
    let net = start(
        "time_scale = 4.0",
        &["alpha"],
        r#"
[[timeline]]
at = "2s"
carrier = "alpha"
outage = "4s"
"#,
    )
    .await;
    let addr = net.smpp_of("alpha");
    let mut bound = RawSession::bound(addr).await;
    assert!(bound.closed().await, "the outage drops the bound session");
    assert!(
        t0.elapsed() >= Duration::from_millis(450),
        "not before the timeline's offset: {:?}",
        t0.elapsed()
    );
    let (_, view) = net.get_json("/v1/carriers/alpha").await;
    assert_eq!(view["down"], true, "{view}");
    assert_eq!(try_bind(addr).await, Some(CommandStatus::EsmeRbindfail));

    let back = poll_until(
        Duration::from_secs(10),
        async || try_bind(addr).await,
        |status| *status == Some(CommandStatus::EsmeRok),
    )
    .await;
    assert_eq!(
        back,
        Some(CommandStatus::EsmeRok),
        "the carrier never came back"
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(1450),
        "binds work again only after the outage: {:?}",
        t0.elapsed()
    );
    let (_, view) = net.get_json("/v1/carriers/alpha").await;
    assert_eq!(view["down"], false, "{view}");
    // The time scale is reported, with elapsed time in both wall and scenario seconds.
    let (_, stats) = net.get_json("/v1/stats").await;
    assert_eq!(stats["time_scale"], 4.0);
    let wall = stats["elapsed_secs"].as_f64().expect("elapsed_secs");
    let scenario = stats["scenario_elapsed_secs"].as_f64().expect("scenario");
    assert!(wall >= 1.45, "{stats}");
    assert!((scenario / wall - 4.0).abs() < 0.05, "{stats}");
    net.shutdown().await;
}

#[tokio::test]
async fn timeline_changes_behaviour_and_throttle_at_its_offset() {
    // At 20 s of scenario time, ten times faster: 2 s of wall time.
    let net = start(
        "time_scale = 10.0",
        &["alpha"],
        r#"
[[timeline]]
at = "20s"
carrier = "alpha"
change = { behaviour = { outcomes = [{ stat = "UNDELIV", err = 34, probability = 1.0 }] }, throttle = { rate = 0.1, burst = 1 } }
"#,
    )
    .await;
    // The bus orders events, so which messages came before the change is read from the stream,
    // not from clocks.
    let mut ws = subscribe(&net, "type=message_accepted,carrier_changed").await;
    let (client, mut events) = esme(net.smpp_of("alpha")).await;
    let mut outcomes = HashMap::new();
    for i in 0.. {
        let collector = collect(events, 1, Duration::from_secs(10));
        let r = client
            .submit_sm(build::text(&format!("4477009{i:05}"), "code"))
            .await
            .expect("answered");
        assert_eq!(r.status, CommandStatus::EsmeRok);
        let (got, e) = collector.await.unwrap();
        events = e;
        let receipt = got[0].receipt.clone().expect("receipt");
        let changed = receipt.stat == ReceiptState::Undeliverable;
        outcomes.insert(receipt.id, (receipt.stat, receipt.err.unwrap_or_default()));
        if changed {
            break;
        }
        assert!(i < 1000, "the timeline change never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = client
        .submit_sm(build::text("447700800000", "x"))
        .await
        .expect("answered");
    assert_eq!(
        r.status,
        CommandStatus::EsmeRthrottled,
        "the new throttle's one token went to the previous message"
    );
    let mut after_change = false;
    let mut before = 0;
    let mut seen = 0;
    while seen < outcomes.len() {
        let e = next_event(&mut ws).await;
        match e["type"].as_str() {
            Some("carrier_changed") => {
                assert_eq!(e["change"], "behaviour_changed", "{e}");
                after_change = true;
            }
            Some("message_accepted") => {
                let id = e["message_id"].as_str().expect("id");
                let Some((stat, err)) = outcomes.get(id) else {
                    continue;
                };
                seen += 1;
                if after_change {
                    assert_eq!((*stat, err.as_str()), (ReceiptState::Undeliverable, "034"));
                } else {
                    assert_eq!(*stat, ReceiptState::Delivered, "before the change");
                    before += 1;
                }
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert!(
        after_change && before > 0,
        "{before} messages before the change"
    );
    client.unbind().await.ok();
    net.shutdown().await;
}

#[tokio::test]
async fn outage_endpoint_takes_a_carrier_down_until_deleted() {
    let net = start("", &["alpha", "beta"], "").await;
    let addr = net.smpp_of("alpha");
    let mut bound = RawSession::bound(addr).await;
    let (status, body) = net
        .send_json(
            Method::POST,
            "/v1/carriers/alpha/outage",
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["down"], true);
    assert!(bound.closed().await, "sessions are dropped");
    assert_eq!(try_bind(addr).await, Some(CommandStatus::EsmeRbindfail));
    assert_eq!(
        try_bind(net.smpp_of("beta")).await,
        Some(CommandStatus::EsmeRok),
        "only alpha is down"
    );
    let (_, stats) = net.get_json("/v1/stats").await;
    assert_eq!(stats["carriers"][0]["carrier"], "alpha");
    assert_eq!(stats["carriers"][0]["down"], true);

    let (status, body) = net
        .send_json(
            Method::DELETE,
            "/v1/carriers/alpha/outage",
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["down"], false);
    assert_eq!(try_bind(addr).await, Some(CommandStatus::EsmeRok));

    let (status, _) = net
        .send_json(
            Method::POST,
            "/v1/carriers/alpha/outage",
            &serde_json::json!({ "duration": "0s" }),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = net
        .send_json(
            Method::POST,
            "/v1/carriers/nope/outage",
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 404);
    net.shutdown().await;
}

#[tokio::test]
async fn patched_behaviour_applies_to_the_next_messages_and_bad_patches_are_refused() {
    let net = start("", &["alpha"], "").await;
    let (client, events) = esme(net.smpp_of("alpha")).await;
    let (stat, _, events) = roundtrip(&client, events, "447700900100").await;
    assert_eq!(stat, ReceiptState::Delivered);

    let (status, body) = net
        .send_json(
            Method::PATCH,
            "/v1/carriers/alpha",
            &serde_json::json!({
                "behaviour": { "outcomes": [{ "stat": "UNDELIV", "err": 1, "probability": 1.0 }] }
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["behaviour"]["outcomes"][0]["stat"], "UNDELIV");
    let mut events = events;
    for i in 0..3 {
        let (stat, err, e) = roundtrip(&client, events, &format!("44770090020{i}")).await;
        events = e;
        assert_eq!((stat, err.as_str()), (ReceiptState::Undeliverable, "001"));
    }

    for (body, field) in [
        (
            serde_json::json!({ "behaviour": { "loss": 2.0 } }),
            "behaviour.loss",
        ),
        (
            serde_json::json!({ "behaviour": { "outcomes": [{ "stat": "DELIVRD", "probability": 0.5 }] } }),
            "behaviour.outcomes",
        ),
        (serde_json::json!({ "behavior": {} }), "behavior"),
        (
            serde_json::json!({ "throttle": { "rate": -1.0 } }),
            "throttle",
        ),
    ] {
        let (status, answer) = net
            .send_json(Method::PATCH, "/v1/carriers/alpha", &body)
            .await;
        assert_eq!(status, 400, "{body} -> {answer}");
        let msg = answer["error"].as_str().expect("error message");
        assert!(msg.contains(field), "{body}: {msg} should name {field}");
    }
    // Refused patches changed nothing.
    let (stat, _, _) = roundtrip(&client, events, "447700900300").await;
    assert_eq!(stat, ReceiptState::Undeliverable);

    // Faults change at run time too, for sessions already bound.
    let (status, body) = net
        .send_json(
            Method::PATCH,
            "/v1/carriers/alpha",
            &serde_json::json!({ "faults": { "generic_nack_probability": 1.0 } }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let r = client
        .submit_sm(build::text("447700900400", "x"))
        .await
        .expect("answered");
    assert_eq!(r.status, CommandStatus::EsmeRsyserr, "generic_nack now");
    assert!(r.message_id.is_none());

    let (status, answer) = net
        .send_json(
            Method::PATCH,
            "/v1/carriers/nope",
            &serde_json::json!({ "behaviour": { "loss": 0.1 } }),
        )
        .await;
    assert_eq!(status, 404);
    assert!(
        answer["error"].as_str().unwrap().contains("nope"),
        "{answer}"
    );
    client.unbind().await.ok();
    net.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Event stream
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn event_stream_filters_by_prefix_and_type() {
    let net = start("", &["alpha"], "").await;
    let (client, events) = esme(net.smpp_of("alpha")).await;
    let mut ws = subscribe(&net, "prefix=4477&type=handset_delivered,receipt_sent").await;
    let collector = collect(events, 3, Duration::from_secs(10));
    let mut ids = Vec::new();
    for to in ["442079460001", "447700900100", "447700900200"] {
        let r = client
            .submit_sm(build::text(to, &format!("code for {to}")))
            .await
            .expect("answered");
        ids.push(r.message_id.expect("id"));
    }
    collector.await.unwrap();
    let mut seen = BTreeSet::new();
    while seen.len() < 4 {
        let e = next_event(&mut ws).await;
        let number = e["number"].as_str().expect("number").to_string();
        assert!(number.starts_with("4477"), "filtered out by prefix: {e}");
        let kind = e["type"].as_str().expect("type").to_string();
        let idx = if number == "447700900100" { 1 } else { 2 };
        assert_eq!(e["message_id"], ids[idx].as_str(), "{e}");
        match kind.as_str() {
            "handset_delivered" => {
                assert_eq!(e["text"], format!("code for {number}"));
                assert_eq!(e["channel"], "sms");
            }
            "receipt_sent" => {
                assert_eq!(e["stat"], "DELIVRD");
                assert_eq!(e["account"], "test");
            }
            other => panic!("filtered out by type: {other}"),
        }
        assert!(seen.insert((kind, number)), "each event once");
    }
    client.unbind().await.ok();
    net.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Throttling and the deliver window
// ---------------------------------------------------------------------------------------------

/// Sends every submit before reading any response (one burst), returns the statuses in order.
async fn burst(s: &mut RawSession, pdus: Vec<SubmitSm>) -> Vec<CommandStatus> {
    let mut seqs = Vec::new();
    for p in pdus {
        seqs.push(s.request(p).await);
    }
    let mut by_seq = HashMap::new();
    for _ in 0..seqs.len() {
        let c = s.next_non_probe().await;
        assert_eq!(c.id(), CommandId::SubmitSmResp);
        by_seq.insert(c.sequence_number(), c.status());
    }
    seqs.iter().map(|q| by_seq[q]).collect()
}

#[tokio::test]
async fn account_throttle_admits_the_burst_then_answers_throttled() {
    let net = start(
        "",
        &["alpha"],
        r#"
[carriers.alpha.accounts.test.throttle]
rate = 0.5
burst = 5
response = "throttled"
"#,
    )
    .await;
    let mut s = RawSession::bound(net.smpp_of("alpha")).await;
    let pdus = (0..20)
        .map(|i| build::quiet(&format!("4477009{i:05}")))
        .collect();
    let statuses = burst(&mut s, pdus).await;
    assert_eq!(&statuses[..5], &[CommandStatus::EsmeRok; 5]);
    assert_eq!(
        &statuses[5..],
        &[CommandStatus::EsmeRthrottled; 15],
        "{statuses:?}"
    );
    assert_eq!(u32::from(CommandStatus::EsmeRthrottled), 0x58);
    let stats = net.carrier_stats("alpha").await;
    assert_eq!(stats["refusals"]["ESME_RTHROTTLED"], 15);
    net.shutdown().await;
}

#[tokio::test]
async fn carrier_throttle_answers_queue_full() {
    let net = start(
        "",
        &["alpha"],
        r#"
[carriers.alpha.throttle]
rate = 0.5
burst = 2
response = "queue_full"
"#,
    )
    .await;
    let mut s = RawSession::bound(net.smpp_of("alpha")).await;
    let pdus = (0..4)
        .map(|i| build::quiet(&format!("4477009{i:05}")))
        .collect();
    let statuses = burst(&mut s, pdus).await;
    assert_eq!(
        statuses,
        vec![
            CommandStatus::EsmeRok,
            CommandStatus::EsmeRok,
            CommandStatus::EsmeRmsgqful,
            CommandStatus::EsmeRmsgqful
        ]
    );
    assert_eq!(u32::from(CommandStatus::EsmeRmsgqful), 0x14);
    net.shutdown().await;
}

/// A submit_sm whose text (GSM-7, `chars` characters) is in message_payload.
fn payload_submit(to: &str, chars: usize) -> SubmitSm {
    let text = "a".repeat(chars);
    let bytes = smpp::text::encode(&text, smpp::text::Encoding::Gsm7).expect("GSM-7");
    build::with_tlvs(
        build::submit(to, &[], 0, 0, 0),
        vec![MessageSubmissionRequestTlvValue::MessagePayload(
            MessagePayload::new(AnyOctetString::from_vec(bytes)),
        )],
    )
}

#[tokio::test]
async fn throttle_counts_each_part_of_a_long_message() {
    let net = start(
        "",
        &["alpha"],
        "[carriers.alpha.accounts.test.throttle]\nrate = 0.2\nburst = 5\n",
    )
    .await;
    let mut s = RawSession::bound(net.smpp_of("alpha")).await;
    // 400 GSM characters are 3 parts of 153: 3 tokens, leaving 2.
    let statuses = burst(
        &mut s,
        vec![
            payload_submit("447700900001", 400),
            payload_submit("447700900002", 400),
            build::quiet("447700900003"),
            build::quiet("447700900004"),
            build::quiet("447700900005"),
        ],
    )
    .await;
    use CommandStatus::{EsmeRok as Ok_, EsmeRthrottled as Thr};
    assert_eq!(
        statuses,
        vec![Ok_, Thr, Ok_, Ok_, Thr],
        "3 + 1 + 1 tokens of 5; the second long message needed 3 of the 2 left"
    );
    net.shutdown().await;
}

#[tokio::test]
async fn patching_the_throttle_off_lifts_it() {
    let net = start(
        "",
        &["alpha"],
        "[carriers.alpha.throttle]\nrate = 0.1\nburst = 1\nresponse = \"queue_full\"\n",
    )
    .await;
    let mut s = RawSession::bound(net.smpp_of("alpha")).await;
    let two = (0..2)
        .map(|i| build::quiet(&format!("4477009{i:05}")))
        .collect();
    assert_eq!(
        burst(&mut s, two).await,
        vec![CommandStatus::EsmeRok, CommandStatus::EsmeRmsgqful]
    );
    let (status, body) = net
        .send_json(
            reqwest::Method::PATCH,
            "/v1/carriers/alpha",
            &serde_json::json!({ "throttle": "off" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["throttle"].is_null(), "{body}");
    let ten = (0..10)
        .map(|i| build::quiet(&format!("4477008{i:05}")))
        .collect();
    assert_eq!(burst(&mut s, ten).await, vec![CommandStatus::EsmeRok; 10]);
    net.shutdown().await;
}

#[tokio::test]
async fn unacknowledged_receipts_are_capped_by_the_deliver_window() {
    let net = start(
        "",
        &["alpha"],
        "[carriers.alpha.session]\ndeliver_window = 2\nshutdown_grace = \"500ms\"\n",
    )
    .await;
    let mut s = RawSession::bound(net.smpp_of("alpha")).await;
    for i in 0..5 {
        s.request(build::text(&format!("44770090010{i}"), "x"))
            .await;
    }
    let (mut responses, mut delivers) = (0, Vec::new());
    while responses < 5 || delivers.len() < 2 {
        let c = s.next_non_probe().await;
        match c.id() {
            CommandId::SubmitSmResp => responses += 1,
            CommandId::DeliverSm => delivers.push(c.sequence_number()),
            other => panic!("unexpected {other:?}"),
        }
    }
    // Waiting is the point here and below: nothing may arrive while the window is full.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), s.next_frame())
            .await
            .is_err(),
        "no third receipt while two are unacknowledged"
    );
    let ack = |seq: u32| {
        Command::new(
            CommandStatus::EsmeRok,
            seq,
            rusmpp::pdus::DeliverSmResp::new(smpp::pdu::c_string::<65>(""), Vec::new()),
        )
    };
    s.send(ack(delivers[0])).await;
    let third = s.next_non_probe().await;
    assert_eq!(third.id(), CommandId::DeliverSm, "an ack frees one slot");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), s.next_frame())
            .await
            .is_err(),
        "and only one"
    );
    net.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Voice
// ---------------------------------------------------------------------------------------------

const VOICE_PLAN: &str = r#"
[[ranges]]
prefix = "44207946"
carrier = "alpha"
line_type = "landline"
price_call_minute = 0.05
voice = { answer = 1.0 }

[[ranges]]
prefix = "44207947"
carrier = "alpha"
line_type = "landline"
voice = { answer = 0.0, busy = 1.0 }

[[ranges]]
prefix = "44207948"
carrier = "alpha"
line_type = "landline"
voice = { answer = 0.0, no_answer_timeout = "20s" }
"#;

async fn call(net: &TestNetwork, to: &str, text: &str) -> String {
    let (status, body) = net
        .send_json(
            Method::POST,
            "/v1/calls",
            &serde_json::json!({ "to": to, "from": "447700900000", "text": text }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "queued");
    body["call_id"].as_str().expect("call id").to_string()
}

/// Polls a call until it reaches a final status; returns its record.
async fn final_call(net: &TestNetwork, id: &str) -> serde_json::Value {
    let ended = |body: &serde_json::Value| {
        ["completed", "busy", "no_answer", "failed"].contains(&body["status"].as_str().unwrap())
    };
    let body = poll_until(
        Duration::from_secs(10),
        async || {
            let (status, body) = net.get_json(&format!("/v1/calls/{id}")).await;
            assert_eq!(status, 200);
            body
        },
        ended,
    )
    .await;
    assert!(ended(&body), "call never ended: {body}");
    body
}

#[tokio::test]
async fn calls_ring_answer_complete_land_in_the_inbox_and_are_priced() {
    let net = start("time_scale = 100.0", &["alpha"], VOICE_PLAN).await;
    let mut ws = subscribe(&net, "type=call&prefix=44207946").await;
    // 100 words read twice at 2.5 words/s: 80 s of talk, two started minutes.
    let text = vec!["code"; 100].join(" ");
    let id = call(&net, "442079460001", &text).await;
    let mut statuses = Vec::new();
    while statuses.last().map(String::as_str) != Some("completed") {
        let e = next_event(&mut ws).await;
        assert_eq!(e["call_id"], id.as_str(), "{e}");
        statuses.push(e["status"].as_str().unwrap().to_string());
    }
    assert_eq!(statuses, ["queued", "ringing", "answered", "completed"]);
    let record = final_call(&net, &id).await;
    assert_eq!(record["duration_secs"], 80);
    let price = record["price"].as_f64().expect("price");
    assert!(
        (price - 0.10).abs() < 1e-9,
        "2 started minutes × 0.05: {price}"
    );
    assert_eq!(record["currency"], "EUR");
    let (_, inbox) = net.get_json("/v1/handsets/442079460001/messages").await;
    let entry = &inbox["messages"][0];
    assert_eq!(entry["channel"], "voice", "{inbox}");
    assert_eq!(entry["text"], text.as_str());
    assert_eq!(entry["reference"], id.as_str());

    let busy = call(&net, "442079470001", "your code is 1 2 3").await;
    let record = final_call(&net, &busy).await;
    assert_eq!(record["status"], "busy", "{record}");
    assert_eq!(record["price"], 0.0);
    let (_, inbox) = net.get_json("/v1/handsets/442079470001/messages").await;
    assert_eq!(inbox["received"], 0, "nobody heard a busy call");

    let unanswered = call(&net, "442079480001", "your code is 1 2 3").await;
    let record = final_call(&net, &unanswered).await;
    assert_eq!(record["status"], "no_answer", "{record}");
    let (_, inbox) = net.get_json("/v1/handsets/442079480001/messages").await;
    assert_eq!(inbox["received"], 0);

    let (status, _) = net
        .send_json(
            Method::POST,
            "/v1/carriers/alpha/outage",
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, lookup) = net.get_json("/v1/lookup/+442079460002").await;
    assert_eq!(
        lookup["line_type_intelligence"]["type"], "landline",
        "{lookup}"
    );
    assert_eq!(lookup["line_type_intelligence"]["carrier_name"], "alpha");
    assert_eq!(lookup["reachability"]["status"], "unreachable", "{lookup}");
    assert_eq!(lookup["reachability"]["reason"], "carrier_outage");
    let down = call(&net, "442079460002", "your code is 1 2 3").await;
    let record = final_call(&net, &down).await;
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["reason"], "carrier_outage");
    net.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn metrics_count_outcomes_and_refusals_per_carrier_and_account() {
    let net = start(
        "",
        &["alpha", "beta"],
        r#"
[[ranges]]
prefix = "4477"
carrier = "alpha"
line_type = "mobile"

[[ranges]]
prefix = "4420"
carrier = "alpha"
line_type = "landline"
"#,
    )
    .await;
    for (carrier, mobiles, landlines) in [("alpha", 3, 1), ("beta", 2, 0)] {
        let (client, events) = esme(net.smpp_of(carrier)).await;
        let collector = collect(events, mobiles + landlines, Duration::from_secs(10));
        for i in 0..mobiles {
            client
                .submit_sm(build::text(&format!("44770090010{i}"), "x"))
                .await
                .expect("answered");
        }
        for i in 0..landlines {
            client
                .submit_sm(build::text(&format!("44207946000{i}"), "x"))
                .await
                .expect("answered");
        }
        let r = client
            .submit_sm(build::text("15550001111", "x"))
            .await
            .expect("answered");
        assert_eq!(r.status, CommandStatus::EsmeRinvdstadr);
        let (got, _) = collector.await.unwrap();
        assert_eq!(got.len(), mobiles + landlines);
        client.unbind().await.ok();
    }
    let text = net.get_text("/metrics").await;
    for line in [
        r#"carrier_message_outcomes_total{carrier="alpha",account="test",outcome="DELIVRD"} 3"#,
        r#"carrier_message_outcomes_total{carrier="alpha",account="test",outcome="UNDELIV"} 1"#,
        r#"carrier_message_outcomes_total{carrier="beta",account="test",outcome="DELIVRD"} 2"#,
        r#"carrier_submit_refusals_total{carrier="alpha",account="test",status="0x0000000b"} 1"#,
        r#"carrier_submit_refusals_total{carrier="beta",account="test",status="0x0000000b"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
    assert!(
        !text.contains(r#"carrier="beta",account="test",outcome="UNDELIV""#),
        "no outcome series without messages"
    );
    for kind in ["# HELP ", "# TYPE "] {
        let mut names = BTreeSet::new();
        for l in text.lines().filter(|l| l.starts_with(kind)) {
            let name = l[kind.len()..].split(' ').next().unwrap();
            assert!(names.insert(name), "`{kind}{name}` twice in\n{text}");
        }
        for family in [
            "carrier_message_outcomes_total",
            "carrier_submit_refusals_total",
        ] {
            assert!(names.contains(family), "no `{kind}{family}`");
        }
    }
    net.shutdown().await;
}
