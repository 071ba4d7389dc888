//! The verification semantics of issue 9, point 4, through HTTP against carrier-sim: codes
//! approved, wrong codes, the check limit, expiry, resends of the same code, the send limit,
//! amount and payee, TOTP codes, the pending cap, and 404 once a verification has ended.

mod common;

use std::time::Duration;

use common::{MOBILE, Testbed, eventually};
use serde_json::json;

#[tokio::test]
async fn a_code_read_from_the_handset_is_approved_once() {
    let tb = Testbed::start(|_| {}).await;
    let (status, started) = tb
        .start_verification(MOBILE, json!({ "channel": "sms" }))
        .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["status"], "pending");
    assert_eq!(started["channel"], "sms");
    let id = started["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("VE") && id.len() == 34, "{id}");
    let code = tb.code(MOBILE, "sms", 1).await;
    assert_eq!(code.len(), 6, "six digits by default");

    let (status, checked) = tb.check(MOBILE, &code).await;
    assert_eq!(
        (status, checked["status"].as_str()),
        (200, Some("approved")),
        "{checked}"
    );
    assert_eq!(checked["valid"], true);
    // Ended: a second check (even with the right code) finds nothing.
    let (status, _) = tb.check(MOBILE, &code).await;
    assert_eq!(status, 404);
    let (status, _) = tb
        .post(
            "/v1/verifications/check",
            &json!({ "id": id, "code": code }),
        )
        .await;
    assert_eq!(status, 404);

    // The record keeps the attempt with its carrier, message id and receipt.
    eventually("the receipt is recorded", || async {
        tb.record(&id).await["attempts"][0]["receipt_status"] == "DELIVRD"
    })
    .await;
    let record = tb.record(&id).await;
    assert_eq!(record["status"], "approved");
    let a = &record["attempts"][0];
    assert_eq!(
        (a["channel"].as_str(), a["carrier"].as_str()),
        (Some("sms"), Some("alpha"))
    );
    assert!(
        a["message_id"].as_str().is_some_and(|m| !m.is_empty()),
        "{a}"
    );
    assert!(
        a["submitted_at"].is_string() && a["receipt_at"].is_string(),
        "{a}"
    );
    assert_eq!(a["failover_cause"], serde_json::Value::Null);
    assert_eq!(
        tb.metric("verifier_checks_total{result=\"approved\"}")
            .await,
        1
    );
    assert_eq!(
        tb.metric("verifier_sends_total{channel=\"sms\",carrier=\"alpha\"}")
            .await,
        1
    );
    tb.shutdown().await;
}

#[tokio::test]
async fn wrong_codes_stay_pending_then_max_attempts_then_404() {
    let tb = Testbed::start(|_| {}).await;
    let (_, started) = tb.start_verification(MOBILE, json!({})).await;
    let code = tb.code(MOBILE, "sms", 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for i in 1..=5 {
        let (status, body) = tb.check(MOBILE, wrong).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("pending")),
            "check {i}: {body}"
        );
        assert_eq!(body["checks"], i);
    }
    // The sixth check is refused even with the right code.
    let (status, body) = tb.check(MOBILE, &code).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("max_attempts")),
        "{body}"
    );
    let (status, _) = tb.check(MOBILE, &code).await;
    assert_eq!(status, 404);
    let record = tb.record(started["id"].as_str().unwrap()).await;
    assert_eq!(record["status"], "max_attempts");
    assert_eq!(
        tb.metric("verifier_checks_total{result=\"wrong_code\"}")
            .await,
        5
    );
    assert_eq!(
        tb.metric("verifier_checks_total{result=\"max_attempts\"}")
            .await,
        1
    );
    tb.shutdown().await;
}

#[tokio::test]
async fn an_expired_code_is_refused_and_swept() {
    let tb = Testbed::start(|c| c.codes.expiry = Duration::from_millis(800)).await;
    let (_, started) = tb.start_verification(MOBILE, json!({})).await;
    let id = started["id"].as_str().unwrap().to_string();
    let code = tb.code(MOBILE, "sms", 1).await;
    eventually("swept as expired", || async {
        tb.record(&id).await["status"] == "expired"
    })
    .await;
    assert_eq!(
        tb.verifier.stats().pending,
        0,
        "expired verifications are swept"
    );
    let (status, body) = tb.check(MOBILE, &code).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("expired")),
        "{body}"
    );
    tb.shutdown().await;
}

#[tokio::test]
async fn a_resend_carries_the_same_code_and_the_send_limit_holds() {
    let tb = Testbed::start(|_| {}).await;
    let (_, first) = tb.start_verification(MOBILE, json!({})).await;
    let code = tb.code(MOBILE, "sms", 1).await;
    for n in 2..=5 {
        let (status, again) = tb.start_verification(MOBILE, json!({})).await;
        assert_eq!(status, 201, "{again}");
        assert_eq!(again["id"], first["id"], "a resend, not a new verification");
        assert_eq!(again["sends"], n);
        assert_eq!(
            tb.code(MOBILE, "sms", n as usize).await,
            code,
            "the same code"
        );
        // A check in between keeps the flooding rule quiet, as a real user's would.
        let (_, body) = tb.check(MOBILE, "000000").await;
        assert!(body["status"] == "pending" || code == "000000");
    }
    let (status, body) = tb.start_verification(MOBILE, json!({})).await;
    assert_eq!(status, 429, "a sixth send within 10 minutes: {body}");
    assert_eq!(body["code"], "max_send_attempts");
    assert_eq!(
        tb.metric("verifier_overload_total{what=\"max_sends\"}")
            .await,
        1
    );
    assert_eq!(tb.metric("verifier_verifications_started_total").await, 1);
    let (_, checked) = tb.check(MOBILE, &code).await;
    assert_eq!(checked["status"], "approved");
    tb.shutdown().await;
}

#[tokio::test]
async fn amount_and_payee_are_said_and_bind_the_code() {
    let tb = Testbed::start(|c| c.codes.length = 8).await;
    let (status, started) = tb
        .start_verification(
            MOBILE,
            json!({ "amount": "€49.99", "payee": "Acme Ltd", "locale": "en" }),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["amount"], "€49.99");
    let code = tb.code(MOBILE, "sms", 1).await;
    let text = tb.inbox(MOBILE, "sms").await;
    assert!(
        text[0].contains("€49.99") && text[0].contains("Acme Ltd"),
        "{text:?}"
    );
    assert_eq!(code.len(), 8);
    // The code checked for another amount is a wrong code.
    let (_, body) = tb
        .post(
            "/v1/verifications/check",
            &json!({ "to": MOBILE, "code": code, "amount": "€4999.00", "payee": "Acme Ltd" }),
        )
        .await;
    assert_eq!(body["status"], "pending", "{body}");
    let (_, body) = tb
        .post(
            "/v1/verifications/check",
            &json!({ "to": MOBILE, "code": code, "amount": "€49.99", "payee": "Acme Ltd" }),
        )
        .await;
    assert_eq!(body["status"], "approved", "{body}");
    tb.shutdown().await;
}

#[tokio::test]
async fn totp_codes_are_approved_in_their_window_only() {
    let tb = Testbed::start(|c| {
        c.codes.generator = verifier::config::Generator::Totp;
        // Longer than the carrier's slowest deliveries here (p99 750 ms at this time scale), so
        // a fresh code always reaches the check inside its window or the grace step.
        c.codes.totp_step = Duration::from_millis(1500);
    })
    .await;
    let (_, started) = tb.start_verification(MOBILE, json!({})).await;
    let id = started["id"].as_str().unwrap().to_string();
    let code = tb.code(MOBILE, "sms", 1).await;
    // Two windows later (the one after it is the grace step) the code is no longer good.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (_, body) = tb
        .post(
            "/v1/verifications/check",
            &json!({ "id": id, "code": code }),
        )
        .await;
    assert_eq!(body["status"], "pending", "a stale TOTP code: {body}");
    // A resend carries the code of the current window, which is approved.
    tb.start_verification(MOBILE, json!({})).await;
    let fresh = tb.code(MOBILE, "sms", 2).await;
    let (_, body) = tb
        .post(
            "/v1/verifications/check",
            &json!({ "id": id, "code": fresh }),
        )
        .await;
    assert_eq!(body["status"], "approved", "{body}");
    tb.shutdown().await;
}

#[tokio::test]
async fn the_pending_cap_answers_503_and_is_counted() {
    let tb = Testbed::start(|c| c.limits.max_pending = 2).await;
    for n in ["+447700900001", "+447700900002"] {
        assert_eq!(tb.start_verification(n, json!({})).await.0, 201);
    }
    let (status, body) = tb.start_verification("+447700900003", json!({})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "overloaded");
    assert_eq!(
        tb.metric("verifier_overload_total{what=\"pending_cap\"}")
            .await,
        1
    );
    // A resend of a pending one still works: it takes no new slot.
    assert_eq!(
        tb.start_verification("+447700900001", json!({})).await.0,
        201
    );
    tb.shutdown().await;
}

#[tokio::test]
async fn a_verification_is_found_by_id_and_unknown_ids_are_404() {
    let tb = Testbed::start(|_| {}).await;
    let (_, started) = tb
        .start_verification(MOBILE, json!({ "channel": "sms" }))
        .await;
    let id = started["id"].as_str().unwrap();
    let record = tb.record(id).await;
    assert_eq!(record["to"], MOBILE);
    let (status, _) = tb
        .get(&format!("/v1/verifications/VE{}", "0".repeat(32)))
        .await;
    assert_eq!(status, 404);
    let (status, body) = tb.get("/v1/verifications/nope").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("id")));
    tb.shutdown().await;
}
