//! The carrier bills: SMS parts at their range's `price_sms` when accepted, answered calls per
//! started minute at `price_call_minute`; and `/v1/messages`, `/v1/stats`, `/metrics`, the
//! event feed and the stop report agree to the cent.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use rusmpp::CommandStatus;
use rusmpp::tlvs::MessageSubmissionRequestTlvValue;
use rusmpp::types::AnyOctetString;
use rusmpp::values::MessagePayload;
use simulator::{EventFilter, EventKind};
use testbed_tests::{RawSession, TestNetwork, build, network_toml, poll_until, sim_config};

const TOP: &str = "time_scale = 100.0\nunknown_numbers = \"accept\"\ncurrency = \"GBP\"";

const PLAN: &str = r#"
[carriers.alpha.accounts.slow]
password = "pw"
throttle = { rate = 0.001, burst = 1 }

[[ranges]]
name = "uk mobile"
prefix = "4477"
carrier = "alpha"
price_sms = 0.04

[[ranges]]
name = "premium"
prefix = "4490"
carrier = "alpha"
line_type = "landline"
price_sms = 0.25
price_call_minute = 0.5
voice = { answer = 1.0 }
"#;

/// A one-part submit asking for no receipt (so the raw session reads only responses).
fn one_part(to: &str) -> rusmpp::pdus::SubmitSm {
    build::submit(to, b"code 123456", 0, 0, 0)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.005
}

#[tokio::test]
async fn messages_and_calls_are_billed_and_every_view_agrees() {
    let net = TestNetwork::start(sim_config(&network_toml(TOP, &["alpha"], PLAN))).await;
    let mut feed = net.running.feed(
        EventFilter::parse(None, Some("message_accepted,message_rejected,call"), None)
            .expect("filter"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/v1/events?type=message_accepted",
        net.http
    ))
    .await
    .expect("event stream");
    let mut s = RawSession::bound(net.smpp).await;

    // One part to a mobile: 0.04.
    assert_eq!(
        s.call(one_part("447700900001")).await.status(),
        CommandStatus::EsmeRok
    );
    // A two-part UDH message to a premium number: two submits, 0.25 each.
    let text = "x".repeat(200);
    let split = smpp::concat::split(
        &text,
        smpp::text::Encoding::Gsm7,
        smpp::concat::ConcatMethod::Udh8,
        9,
    )
    .expect("split");
    assert_eq!(split.parts.len(), 2);
    for p in &split.parts {
        let sm = build::submit("449000000001", &p.short_message, split.data_coding, 0x40, 0);
        assert_eq!(s.call(sm).await.status(), CommandStatus::EsmeRok);
    }
    // A long message_payload in one submit: 300 GSM characters are two parts, 0.08.
    let sm = build::with_tlvs(
        build::submit("447700900002", &[], 0, 0, 0),
        vec![MessageSubmissionRequestTlvValue::MessagePayload(
            MessagePayload::new(AnyOctetString::from_vec(vec![b'y'; 300])),
        )],
    );
    assert_eq!(s.call(sm).await.status(), CommandStatus::EsmeRok);
    // Outside every range: counted, free.
    assert_eq!(
        s.call(one_part("12025550100")).await.status(),
        CommandStatus::EsmeRok
    );

    // A throttled submit is not billed.
    let mut slow = RawSession::connect(net.smpp).await;
    assert_eq!(
        slow.bind_transceiver("slow", "pw").await.status(),
        CommandStatus::EsmeRok
    );
    assert_eq!(
        slow.call(one_part("449000000002")).await.status(),
        CommandStatus::EsmeRok
    );
    assert_eq!(
        slow.call(one_part("449000000002")).await.status(),
        CommandStatus::EsmeRthrottled
    );

    // An answered call: 100 words read twice at 2.5 words/s is 80 s of talk, two started
    // minutes at 0.5.
    let words = vec!["code"; 100].join(" ");
    let (status, body) = net
        .send_json(
            Method::POST,
            "/v1/calls",
            &serde_json::json!({ "to": "449000000009", "from": "447700900000", "text": words }),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // The feed: every accepted message with its price, the throttled one refused, the call's
    // final status priced.
    let mut by_number: BTreeMap<String, f64> = BTreeMap::new();
    let (mut accepted, mut rejected, mut call_price) = (0, 0, None);
    while call_price.is_none() || accepted < 6 || rejected < 1 {
        let e = tokio::time::timeout(Duration::from_secs(10), feed.next())
            .await
            .expect("an event within 10 s")
            .expect("feed open");
        match e.kind {
            EventKind::MessageAccepted { to, price, .. } => {
                accepted += 1;
                *by_number.entry(to).or_default() += price;
            }
            EventKind::MessageRejected { command_status, .. } => {
                rejected += 1;
                assert_eq!(command_status, 0x58, "throttled");
            }
            EventKind::Call { status, price, .. } => match status.as_str() {
                "completed" => call_price = price,
                _ => assert_eq!(price, None, "no price before the final status"),
            },
            _ => {}
        }
    }
    let want = [
        ("12025550100", 0.0),
        ("447700900001", 0.04),
        ("447700900002", 0.08),
        ("449000000001", 0.5),
        ("449000000002", 0.25),
    ];
    assert_eq!(by_number.len(), want.len(), "{by_number:?}");
    for (n, p) in want {
        assert!(close(by_number[n], p), "{n}: {} != {p}", by_number[n]);
    }
    assert!(close(call_price.expect("priced"), 1.0), "{call_price:?}");
    // The WebSocket stream carries the same prices.
    let mut streamed: BTreeMap<String, f64> = BTreeMap::new();
    for _ in 0..accepted {
        let e = loop {
            let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("an event within 10 s")
                .expect("stream open")
                .expect("websocket message");
            if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
                break serde_json::from_str::<serde_json::Value>(t.as_str()).expect("JSON");
            }
        };
        let to = e["to"].as_str().expect("to").to_string();
        *streamed.entry(to).or_default() += e["price"].as_f64().expect("price");
    }
    assert_eq!(streamed, by_number, "the stream and the feed agree");

    // /v1/messages: each message with its price and the currency.
    let body = net.get_ok("/v1/messages?limit=100").await;
    let messages = body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), want.len(), "{body}");
    for m in messages {
        let to = m["destination"].as_str().expect("destination");
        let price = m["price"].as_f64().expect("price");
        assert!(
            close(price, by_number[to]),
            "{to}: {price} (feed {})",
            by_number[to]
        );
        assert_eq!(m["currency"], "GBP");
    }

    // /v1/stats and Running::stats().
    let stats = net.get_ok("/v1/stats").await;
    let b = &stats["billing"];
    assert_eq!(b["currency"], "GBP", "{b}");
    assert_eq!(
        b["sms_parts"], 7,
        "1 + 2 + 2 + 1 + 1 (the throttled one not): {b}"
    );
    assert!(close(b["sms_cost"].as_f64().unwrap(), 0.87), "{b}");
    assert_eq!(b["call_minutes"], 2);
    assert!(close(b["call_cost"].as_f64().unwrap(), 1.0), "{b}");
    assert!(close(b["total_cost"].as_f64().unwrap(), 1.87), "{b}");
    assert!(close(
        b["by_carrier"]["alpha"]["total_cost"].as_f64().unwrap(),
        1.87
    ));
    assert!(close(
        b["by_account"]["test"]["sms_cost"].as_f64().unwrap(),
        0.62
    ));
    assert!(close(
        b["by_account"]["slow"]["sms_cost"].as_f64().unwrap(),
        0.25
    ));
    assert_eq!(b["by_account"]["(voice)"]["call_minutes"], 2);
    assert_eq!(b["by_range"]["uk mobile"]["sms_parts"], 3);
    assert!(close(
        b["by_range"]["premium"]["total_cost"].as_f64().unwrap(),
        1.75
    ));
    assert_eq!(b["by_range"]["(outside plan)"]["sms_parts"], 1);
    assert_eq!(b["by_range"]["(outside plan)"]["sms_cost"], 0.0);
    let typed = net.running.stats().billing;
    assert_eq!(typed.total.sms_parts, 7);
    assert!(close(typed.total.total_cost, 1.87));

    // /metrics.
    let metrics = net.get_text("/metrics").await;
    let sample = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    assert_eq!(
        sample(r#"carrier_billed_sms_parts_total{carrier="alpha",account="test",range="premium"}"#),
        2.0
    );
    assert!(close(
        sample(
            r#"carrier_billed_sms_cost_total{carrier="alpha",account="test",range="uk mobile",currency="GBP"}"#
        ),
        0.12
    ));
    assert_eq!(
        sample(
            r#"carrier_billed_call_minutes_total{carrier="alpha",account="(voice)",range="premium"}"#
        ),
        2.0
    );
    assert!(close(
        sample(
            r#"carrier_billed_call_cost_total{carrier="alpha",account="(voice)",range="premium",currency="GBP"}"#
        ),
        1.0
    ));

    // The stop report.
    let report = net.shutdown().await;
    assert_eq!(report.billing.currency, "GBP");
    assert!(close(report.billing.total.total_cost, 1.87));
}

#[tokio::test]
async fn a_message_outside_every_range_is_rejected_unbilled_when_the_plan_rejects_it() {
    let net = TestNetwork::start(sim_config(&network_toml(
        "",
        &["alpha"],
        "[[ranges]]\nprefix = \"4477\"\ncarrier = \"alpha\"\nprice_sms = 0.04\n",
    )))
    .await;
    let mut s = RawSession::bound(net.smpp).await;
    assert_eq!(
        s.call(one_part("12025550100")).await.status(),
        CommandStatus::EsmeRinvdstadr
    );
    let stats = poll_until(
        Duration::from_secs(2),
        async || net.get_ok("/v1/stats").await,
        |s| {
            s["carriers"][0]["refusals"]
                .as_object()
                .is_some_and(|r| !r.is_empty())
        },
    )
    .await;
    assert_eq!(stats["billing"]["sms_parts"], 0, "{stats}");
    assert_eq!(stats["billing"]["total_cost"], 0.0);
    net.shutdown().await;
}
