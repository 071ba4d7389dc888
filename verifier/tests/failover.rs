//! Workflow and failover (issue 9, point 5), through HTTP against carrier-sim: alpha's outage,
//! throttling, an undeliverable receipt, a step that times out, a landline sent to voice, and
//! the circuit breaker opening and closing again, a control plane behind a token. Each checks
//! the attempt records and causes.

mod common;

use std::time::Duration;

use common::{LANDLINE, MOBILE, Testbed, alpha_beta, eventually};
use reqwest::Method;
use serde_json::{Value, json};

/// The (carrier, channel, failover cause) of each attempt.
fn attempts(record: &Value) -> Vec<(String, String, Option<String>)> {
    record["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| {
            (
                a["carrier"].as_str().unwrap_or_default().to_string(),
                a["channel"].as_str().unwrap_or_default().to_string(),
                a["failover_cause"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// Waits until the verification's attempts satisfy `f`, returns its record.
async fn record_when(tb: &Testbed, id: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..800 {
        last = tb.record(id).await;
        if f(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what}: {last}");
}

/// Starts a verification, reads its code on `channel` and approves it.
async fn approve(tb: &Testbed, to: &str, channel: &str) -> Value {
    let (status, started) = tb.start_verification(to, json!({})).await;
    assert_eq!(status, 201, "{started}");
    let code = tb.code(to, channel, 1).await;
    let (_, checked) = tb.check(to, &code).await;
    assert_eq!(checked["status"], "approved", "{checked}");
    started
}

#[tokio::test]
async fn during_alphas_outage_verifications_complete_through_beta() {
    // alpha-beta.toml at time scale 20: alpha is down from 3 s to 4.5 s. Voice goes through
    // beta by name, so calls to alpha's mobiles do not depend on alpha either.
    let tb = Testbed::with(alpha_beta(20.0, true), Duration::from_secs(5), |c| {
        c.carriers[1].voice_carrier = Some("beta".into());
    })
    .await;
    let alpha_down = || async {
        let (_, body) = tb
            .control(Method::GET, "/v1/lookup/+447700900555", None)
            .await;
        body["reachability"]["reason"] == "carrier_outage"
    };
    eventually("alpha's outage begins", alpha_down).await;
    eventually("the verifier sees alpha's binds drop", || async {
        tb.verifier.stats().carriers[0].binds_up == 0
    })
    .await;
    // A voice verification placed during the outage as well.
    let caller = "+447700900126";
    let (status, by_voice) = tb
        .start_verification(caller, json!({ "channel": "voice" }))
        .await;
    assert_eq!(status, 201, "{by_voice}");
    let started = approve(&tb, MOBILE, "sms").await;
    let record = tb.record(started["id"].as_str().unwrap()).await;
    let a = attempts(&record);
    assert_eq!(a.len(), 2, "{record}");
    assert_eq!(
        (a[0].0.as_str(), a[0].2.as_deref()),
        ("alpha", Some("bind_lost")),
        "{record}"
    );
    assert_eq!(
        (a[1].0.as_str(), a[1].1.as_str(), a[1].2.as_deref()),
        ("beta", "sms", None)
    );
    assert_eq!(
        tb.metric("verifier_failovers_total{cause=\"bind_lost\"}")
            .await,
        1
    );
    let heard = tb.code(caller, "voice", 1).await;
    assert_eq!(tb.check(caller, &heard).await.1["status"], "approved");
    let a = attempts(&tb.record(by_voice["id"].as_str().unwrap()).await);
    assert_eq!(
        (a[0].0.as_str(), a[0].1.as_str(), a[0].2.as_deref()),
        ("beta", "voice", None)
    );
    let (_, calls) = tb
        .control(Method::GET, "/v1/calls?to=447700900126", None)
        .await;
    assert_eq!(
        calls["calls"][0]["carrier"], "beta",
        "placed through beta: {calls}"
    );
    // After the outage alpha carries traffic again.
    eventually("alpha's binds are back", || async {
        tb.verifier.stats().carriers[0].binds_up > 0
    })
    .await;
    let started = approve(&tb, "+447700900124", "sms").await;
    let a = attempts(&tb.record(started["id"].as_str().unwrap()).await);
    assert_eq!((a[0].0.as_str(), a[0].2.as_deref()), ("alpha", None));
    tb.shutdown().await;
}

#[tokio::test]
async fn throttling_fails_over_at_once() {
    let tb = Testbed::start(|_| {}).await;
    tb.patch_carrier(
        "alpha",
        json!({ "throttle": { "rate": 0.01, "burst": 1, "response": "throttled" } }),
    )
    .await;
    approve(&tb, "+447700900201", "sms").await;
    let started = approve(&tb, "+447700900202", "sms").await;
    let a = attempts(&tb.record(started["id"].as_str().unwrap()).await);
    assert_eq!(
        (a[0].0.as_str(), a[0].2.as_deref()),
        ("alpha", Some("throttled"))
    );
    assert_eq!((a[1].0.as_str(), a[1].2.as_deref()), ("beta", None));
    tb.shutdown().await;
}

#[tokio::test]
async fn an_undeliverable_receipt_fails_over_at_once() {
    let tb = Testbed::start(|_| {}).await;
    let patch = json!({ "behaviour": { "outcomes": [{ "stat": "UNDELIV", "err": 1, "probability": 1.0 }] } });
    tb.patch_carrier("alpha", patch).await;
    let started = approve(&tb, MOBILE, "sms").await;
    let record = tb.record(started["id"].as_str().unwrap()).await;
    let a = attempts(&record);
    assert_eq!(
        (a[0].0.as_str(), a[0].2.as_deref()),
        ("alpha", Some("undeliverable")),
        "{record}"
    );
    assert_eq!(record["attempts"][0]["receipt_status"], "UNDELIV");
    assert_eq!((a[1].0.as_str(), a[1].2.as_deref()), ("beta", None));
    tb.shutdown().await;
}

#[tokio::test]
async fn a_step_without_receipt_times_out_to_the_next() {
    let tb = Testbed::with(alpha_beta(20.0, false), Duration::from_millis(800), |_| {}).await;
    // alpha accepts but the message never arrives and no receipt comes.
    let patch = json!({ "behaviour": { "loss": 1.0, "handset_latency": { "kind": "fixed", "value": "1h" } } });
    tb.patch_carrier("alpha", patch).await;
    let started = approve(&tb, MOBILE, "sms").await;
    let a = attempts(&tb.record(started["id"].as_str().unwrap()).await);
    assert_eq!(
        (a[0].0.as_str(), a[0].2.as_deref()),
        ("alpha", Some("step_timeout"))
    );
    assert_eq!((a[1].0.as_str(), a[1].2.as_deref()), ("beta", None));
    // A step that got its DELIVRD receipt does not time out. Its timeout is well past alpha's
    // slowest receipts here (p99 750 ms), so the receipt wins the race every time.
    let tb2 = Testbed::with(alpha_beta(20.0, false), Duration::from_secs(3), |_| {}).await;
    let (_, started) = tb2.start_verification(MOBILE, json!({})).await;
    let id = started["id"].as_str().unwrap().to_string();
    record_when(&tb2, &id, "DELIVRD", |r| {
        r["attempts"][0]["receipt_status"] == "DELIVRD"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let record = tb2.record(&id).await;
    assert_eq!(attempts(&record).len(), 1, "{record}");
    tb.shutdown().await;
    tb2.shutdown().await;
}

#[tokio::test]
async fn a_landline_gets_a_voice_call() {
    let tb = Testbed::start(|_| {}).await;
    let (status, body) = tb
        .start_verification(LANDLINE, json!({ "channel": "sms" }))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("sms_to_landline")),
        "{body}"
    );
    let (status, started) = tb
        .start_verification(LANDLINE, json!({ "channel": "auto" }))
        .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["channel"], "voice");
    let code = tb.code(LANDLINE, "voice", 1).await;
    // The call's outcome is polled from the control plane while the verification is pending.
    let id = started["id"].as_str().unwrap().to_string();
    let record = record_when(&tb, &id, "the call's outcome", |r| {
        r["attempts"][0]["receipt_status"] == "answered"
    })
    .await;
    let (_, checked) = tb.check(LANDLINE, &code).await;
    assert_eq!(checked["status"], "approved", "{checked}");
    assert_eq!(record["attempts"][0]["routed"], "landline", "{record}");
    assert_eq!(record["attempts"][0]["channel"], "voice");
    assert!(
        record["attempts"][0]["call_id"]
            .as_str()
            .is_some_and(|c| c.starts_with("CA"))
    );
    assert!(
        tb.inbox(LANDLINE, "sms").await.is_empty(),
        "no SMS to a landline"
    );
    assert_eq!(
        tb.metric("verifier_sends_total{channel=\"voice\",carrier=\"beta\"}")
            .await,
        1
    );
    tb.shutdown().await;
}

#[tokio::test]
async fn the_breaker_opens_on_failures_and_a_probe_closes_it() {
    let tb = Testbed::start(|c| {
        c.carriers[0].breaker.failures = 2;
        c.carriers[0].breaker.cool_down = Duration::from_millis(500);
    })
    .await;
    assert_eq!(
        tb.control(Method::POST, "/v1/carriers/alpha/outage", Some(json!({})))
            .await
            .0,
        200
    );
    eventually("alpha's binds drop", || async {
        tb.verifier.stats().carriers[0].binds_up == 0
    })
    .await;
    let mut causes = Vec::new();
    for i in 0..3 {
        let started = approve(&tb, &format!("+4477009003{i:02}"), "sms").await;
        let a = attempts(&tb.record(started["id"].as_str().unwrap()).await);
        assert_eq!(a[1].0, "beta");
        causes.push(a[0].2.clone().unwrap_or_default());
    }
    assert_eq!(causes, ["bind_lost", "bind_lost", "breaker_open"]);
    assert_eq!(
        tb.metric("verifier_breaker_state{carrier=\"alpha\"}").await,
        2
    );
    assert_eq!(
        tb.verifier.stats().carriers[0].breaker,
        verifier::BreakerState::Open
    );

    assert_eq!(
        tb.control(Method::DELETE, "/v1/carriers/alpha/outage", None)
            .await
            .0,
        200
    );
    eventually("alpha's binds are back", || async {
        tb.verifier.stats().carriers[0].binds_up > 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The next start is the half-open probe; it goes through alpha and closes the breaker.
    let started = approve(&tb, "+447700900399", "sms").await;
    let a = attempts(&tb.record(started["id"].as_str().unwrap()).await);
    assert_eq!((a[0].0.as_str(), a[0].2.as_deref()), ("alpha", None));
    assert_eq!(
        tb.verifier.stats().carriers[0].breaker,
        verifier::BreakerState::Closed
    );
    assert_eq!(
        tb.metric("verifier_breaker_state{carrier=\"alpha\"}").await,
        0
    );
    tb.shutdown().await;
}

#[tokio::test]
async fn a_control_plane_behind_a_token_is_reached_with_control_token() {
    let mut sim = alpha_beta(20.0, false);
    sim.http.token = Some(simulator::config::ControlToken::new("t0ken"));
    let tb = Testbed::with(sim, Duration::from_secs(5), |c| {
        for carrier in &mut c.carriers {
            carrier.control_token = Some("t0ken".into());
        }
    })
    .await;
    // Strangers are refused...
    assert_eq!(tb.control(Method::GET, "/v1/calls", None).await.0, 401);
    // ... the verifier is not: lookup says landline, and the call is placed.
    let (status, started) = tb
        .start_verification(LANDLINE, json!({ "channel": "auto" }))
        .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["channel"], "voice");
    let id = started["id"].as_str().unwrap().to_string();
    let record = record_when(&tb, &id, "the call is placed", |r| {
        r["attempts"][0]["call_id"]
            .as_str()
            .is_some_and(|c| c.starts_with("CA"))
    })
    .await;
    assert_eq!(record["attempts"][0]["routed"], "landline", "{record}");
    // Only the test's own request above was refused.
    assert_eq!(tb.sim.stats().http.unauthorized, 1);
    tb.shutdown().await;
}
