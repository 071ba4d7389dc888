//! The number-lookup HTTP API of a running simulator: a plan with mobiles, landlines, premium
//! numbers, ported and SIM-swapped numbers and an open-SMS list, queried over HTTP with reqwest;
//! outages set through the control plane.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{Value, json};
use simulator::{Binds, Running, SimConfig};

const PLAN: &str = r#"
currency = "GBP"

[carriers.alpha]
[carriers.beta]
[carriers.premium-co]

[[ranges]]
name = "alpha mobiles"
prefix = "447700900"
country = "GB"
mcc = "234"
mnc = "10"
carrier = "alpha"
line_type = "mobile"
price_sms = 0.04

[[ranges]]
name = "london landlines"
prefix = "44207946"
country = "GB"
carrier = "beta"
line_type = "landline"

[[ranges]]
name = "international premium"
prefix = "882"
carrier = "premium-co"
line_type = "premium"
price_sms = 1.5

[[ranges]]
name = "open-SMS sites"
numbers = ["447700900555", "+447700900111"]
open_sms = true

[[ranges]]
name = "ported"
numbers = ["447700900222"]
ported = true
recycled = true

[[ranges]]
name = "swapped"
numbers = ["447700900333"]
sim_swap_ago = "30m"
"#;

/// A simulator running the plan above, every listener on loopback port 0.
async fn start() -> (SocketAddr, Running) {
    let cfg = SimConfig::parse(Path::new("lookup.toml"), PLAN).expect("config parses");
    let running = simulator::start(cfg, Binds::loopback())
        .await
        .expect("simulator starts");
    (running.http_addr().expect("control plane"), running)
}

async fn outage(addr: SocketAddr, carrier: &str, on: bool) {
    let url = format!("http://{addr}/v1/carriers/{carrier}/outage");
    let client = reqwest::Client::new();
    let resp = if on {
        client.post(url).json(&json!({})).send().await
    } else {
        client.delete(url).send().await
    }
    .expect("request");
    assert_eq!(resp.status(), 200);
}

async fn get(addr: SocketAddr, path: &str) -> Value {
    let resp = reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("request");
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.expect("json body")
}

#[tokio::test]
async fn mobile_number_lookup() {
    let (addr, _running) = start().await;
    let body = get(addr, "/v1/lookup/+447700900123").await;
    assert_eq!(
        body,
        json!({
            "phone_number": "+447700900123",
            "valid": true,
            "validation_errors": [],
            "country_code": "GB",
            "line_type_intelligence": {
                "type": "mobile",
                "carrier_name": "alpha",
                "mobile_country_code": "234",
                "mobile_network_code": "10",
                "error_code": null
            },
            "sim_swap": {
                "last_sim_swap": {
                    "last_sim_swap_date": null,
                    "swapped_period": null,
                    "swapped_in_period": false
                },
                "carrier_name": "alpha",
                "mobile_country_code": "234",
                "mobile_network_code": "10",
                "error_code": null
            },
            "ported": false,
            "recycled": false,
            "reachability": { "status": "reachable", "reason": null },
            "url": "/v1/lookup/+447700900123"
        })
    );
    // Without '+', percent-encoded '+', and with an ignored `fields` query: the same answer.
    assert_eq!(get(addr, "/v1/lookup/447700900123").await, body);
    assert_eq!(get(addr, "/v1/lookup/%2B447700900123").await, body);
    assert_eq!(
        get(
            addr,
            "/v1/lookup/447700900123?fields=line_type_intelligence,sim_swap"
        )
        .await,
        body
    );
}

#[tokio::test]
async fn landline_and_premium_line_types() {
    let (addr, _running) = start().await;
    let body = get(addr, "/v1/lookup/442079460123").await;
    assert_eq!(body["valid"], true);
    assert_eq!(body["line_type_intelligence"]["type"], "landline");
    assert_eq!(body["line_type_intelligence"]["carrier_name"], "beta");
    assert_eq!(
        body["line_type_intelligence"]["mobile_country_code"],
        Value::Null
    );

    let body = get(addr, "/v1/lookup/+882123456789").await;
    assert_eq!(body["line_type_intelligence"]["type"], "premium");
    assert_eq!(body["line_type_intelligence"]["carrier_name"], "premium-co");
    assert_eq!(body["country_code"], Value::Null);
}

#[tokio::test]
async fn ported_and_sim_swapped_numbers() {
    let (addr, _running) = start().await;
    let body = get(addr, "/v1/lookup/447700900222").await;
    assert_eq!(body["ported"], true);
    assert_eq!(body["recycled"], true);
    // Inherited from the enclosing prefix.
    assert_eq!(body["line_type_intelligence"]["carrier_name"], "alpha");

    let body = get(addr, "/v1/lookup/447700900333").await;
    let swap = &body["sim_swap"]["last_sim_swap"];
    assert!(swap["last_sim_swap_date"].is_string(), "{body}");
    assert_eq!(swap["swapped_period"], "PT1H");
    assert_eq!(swap["swapped_in_period"], true);
    assert_eq!(body["sim_swap"]["carrier_name"], "alpha");
    assert_eq!(body["ported"], false);
}

#[tokio::test]
async fn open_sms_numbers_are_published() {
    let (addr, _running) = start().await;
    let body = get(addr, "/v1/open-sms-numbers").await;
    assert_eq!(
        body,
        json!({
            "count": 2,
            "numbers": [
                {
                    "number": "+447700900111",
                    "country_code": "GB",
                    "carrier_name": "alpha",
                    "line_type": "mobile",
                    "messages_url": "/v1/handsets/447700900111/messages"
                },
                {
                    "number": "+447700900555",
                    "country_code": "GB",
                    "carrier_name": "alpha",
                    "line_type": "mobile",
                    "messages_url": "/v1/handsets/447700900555/messages"
                }
            ]
        })
    );
}

#[tokio::test]
async fn numbers_outside_the_plan_and_malformed_input() {
    let (addr, _running) = start().await;
    let body = get(addr, "/v1/lookup/+15551234567").await;
    assert_eq!(
        body,
        json!({
            "phone_number": "+15551234567",
            "valid": false,
            "validation_errors": ["NOT_IN_NUMBER_PLAN"],
            "country_code": null,
            "line_type_intelligence": null,
            "sim_swap": null,
            "ported": null,
            "recycled": null,
            "reachability": null,
            "url": "/v1/lookup/+15551234567"
        })
    );
    let body = get(addr, "/v1/lookup/call-me").await;
    assert_eq!(body["valid"], false);
    assert_eq!(body["validation_errors"], json!(["INVALID_FORMAT"]));
    assert_eq!(body["line_type_intelligence"], Value::Null);
}

#[tokio::test]
async fn carrier_down_makes_its_numbers_unreachable() {
    let (addr, _running) = start().await;
    let up = get(addr, "/v1/lookup/447700900123").await;
    assert_eq!(
        up["reachability"],
        json!({"status": "reachable", "reason": null})
    );

    outage(addr, "alpha", true).await;
    let down = get(addr, "/v1/lookup/447700900123").await;
    assert_eq!(
        down["reachability"],
        json!({"status": "unreachable", "reason": "carrier_outage"})
    );
    // Another carrier's numbers are unaffected.
    let other = get(addr, "/v1/lookup/442079460123").await;
    assert_eq!(other["reachability"]["status"], "reachable");

    outage(addr, "alpha", false).await;
    let back = get(addr, "/v1/lookup/447700900123").await;
    assert_eq!(back["reachability"]["status"], "reachable");
}

/// POSTs to a control-plane path with an optional JSON body: status and JSON answer.
async fn post(addr: SocketAddr, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(format!("http://{addr}{path}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json body"))
}

#[tokio::test]
async fn number_life_events_change_what_lookup_answers() {
    let (addr, running) = start().await;
    let mut changes = running
        .feed(simulator::EventFilter::parse(None, Some("number_changed"), None).expect("filter"));
    let before = get(addr, "/v1/lookup/+447700900123").await;
    assert_eq!(before["recycled"], false);

    // Recycled: a new subscriber, and no SIM swap.
    let (status, body) = post(addr, "/v1/numbers/+447700900123/recycle", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recycled"], true);
    assert_eq!(
        body["sim_swap"]["last_sim_swap"]["swapped_in_period"],
        false
    );
    assert_eq!(get(addr, "/v1/lookup/447700900123").await, body);
    let e = changes.next().await.expect("an event");
    assert_eq!(e.number.as_deref(), Some("447700900123"));
    assert_eq!(e.carrier.as_deref(), Some("alpha"));
    assert_eq!(
        e.kind,
        simulator::EventKind::NumberChanged {
            change: "recycled".into(),
            ported_to: None
        }
    );

    // A SIM swap now.
    let (status, body) = post(addr, "/v1/numbers/447700900124/sim-swap", None).await;
    assert_eq!(status, 200, "{body}");
    let swap = &body["sim_swap"]["last_sim_swap"];
    assert_eq!(swap["swapped_period"], "PT15M", "{body}");
    assert_eq!(swap["swapped_in_period"], true);
    let date: chrono::DateTime<chrono::Utc> = swap["last_sim_swap_date"]
        .as_str()
        .expect("a date")
        .parse()
        .expect("RFC 3339");
    assert!(
        (chrono::Utc::now() - date).num_seconds().abs() < 5,
        "{date}"
    );
    assert_eq!(body["recycled"], false, "a SIM swap is not a recycling");
    assert_eq!(get(addr, "/v1/lookup/447700900124").await, body);
    assert_eq!(
        get(addr, "/v1/lookup/447700900125").await["sim_swap"]["last_sim_swap"]["swapped_in_period"],
        false,
        "only that number"
    );

    // Ported, with and without a carrier.
    let (status, body) = post(
        addr,
        "/v1/numbers/447700900126/port",
        Some(json!({ "carrier": "beta" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ported"], true);
    assert_eq!(body["line_type_intelligence"]["carrier_name"], "beta");
    let (status, body) = post(addr, "/v1/numbers/447700900127/port", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ported"], true);
    assert_eq!(body["line_type_intelligence"]["carrier_name"], "alpha");

    // Refusals name the field.
    let (status, body) = post(
        addr,
        "/v1/numbers/447700900126/port",
        Some(json!({ "carrier": "nowhere" })),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().starts_with("carrier:"),
        "{body}"
    );
    let (status, body) = post(
        addr,
        "/v1/numbers/447700900126/port",
        Some(json!({ "network": "beta" })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(addr, "/v1/numbers/44770x/recycle", None).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().starts_with("number:"),
        "{body}"
    );
    let (status, body) = post(addr, "/v1/numbers/99912345/sim-swap", None).await;
    assert_eq!(status, 404, "outside the plan: {body}");
    assert!(
        body["error"].as_str().unwrap().contains("+99912345"),
        "{body}"
    );

    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("\ncarrier_number_changes_total 4\n"),
        "{metrics}"
    );
    assert!(metrics.contains("\ncarrier_number_changes_refused_total 0\n"));
    running.shutdown().await;
}
