//! Bad input (issue 9, point 8): malformed JSON and form bodies, missing and unknown fields,
//! invalid numbers, oversized bodies, wrong credentials. Each gets a clear 4xx naming what was
//! wrong, and nothing changes: no verification is started, no message is sent.

mod common;

use common::{MOBILE, Testbed};
use serde_json::json;
use verifier::config::{ApiKey, TwilioAuth};

/// A bad request: path, body, expected status, the field named, words of the message.
type Case = (
    &'static str,
    Vec<u8>,
    u16,
    Option<&'static str>,
    &'static str,
);

const SERVICE: &str = "VA00000000000000000000000000000001";

#[tokio::test]
async fn bad_bodies_are_refused_with_the_field_named_and_change_nothing() {
    let tb = Testbed::start(|_| {}).await;
    let cases: Vec<Case> = vec![
        (
            "/v1/verifications",
            b"{\"to\": ".to_vec(),
            400,
            None,
            "invalid JSON",
        ),
        (
            "/v1/verifications",
            b"[1,2]".to_vec(),
            400,
            None,
            "invalid JSON",
        ),
        (
            "/v1/verifications",
            br#"{"channel":"sms"}"#.to_vec(),
            400,
            Some("to"),
            "missing field `to`",
        ),
        (
            "/v1/verifications",
            br#"{"to":"+447700900123","chanel":"sms"}"#.to_vec(),
            400,
            Some("chanel"),
            "unknown field",
        ),
        (
            "/v1/verifications",
            br#"{"to":"+44 7700 900123"}"#.to_vec(),
            400,
            Some("to"),
            "not an E.164 number",
        ),
        (
            "/v1/verifications",
            br#"{"to":"+4477009001234567"}"#.to_vec(),
            400,
            Some("to"),
            "at most 15",
        ),
        (
            "/v1/verifications",
            br#"{"to":42}"#.to_vec(),
            400,
            Some("to"),
            "",
        ),
        (
            "/v1/verifications",
            br#"{"to":"+447700900123","channel":"fax"}"#.to_vec(),
            400,
            Some("channel"),
            "not one of",
        ),
        (
            "/v1/verifications",
            br#"{"to":"+447700900123","amount":"10"}"#.to_vec(),
            400,
            Some("payee"),
            "go together",
        ),
        (
            "/v1/verifications",
            br#"{"to":"+447700900123","device_id":"a\u0000b"}"#.to_vec(),
            400,
            Some("device_id"),
            "control",
        ),
        (
            "/v1/verifications/check",
            br#"{"to":"+447700900123","code":"12ab56"}"#.to_vec(),
            400,
            Some("code"),
            "digits",
        ),
        (
            "/v1/verifications/check",
            br#"{"code":"123456"}"#.to_vec(),
            400,
            Some("to"),
            "give `to` or `id`",
        ),
        (
            "/v1/verifications/check",
            br#"{"id":"VE123","code":"123456"}"#.to_vec(),
            400,
            Some("id"),
            "verification id",
        ),
        (
            "/v1/blocklist",
            br#"{"number":"abc"}"#.to_vec(),
            400,
            Some("number"),
            "not an E.164",
        ),
        (
            "/v1/blocklist",
            br#"{"number":"+447700900123","ttl":"soon"}"#.to_vec(),
            400,
            Some("ttl"),
            "",
        ),
    ];
    for (path, body, status, field, message) in cases {
        let (s, answer) = tb.post_raw(path, "application/json", body.clone()).await;
        let what = String::from_utf8_lossy(&body);
        assert_eq!(s, status, "{path} {what}: {answer}");
        assert_eq!(answer["code"], "invalid_request", "{what}: {answer}");
        if let Some(f) = field {
            assert_eq!(answer["field"], f, "{what}: {answer}");
        }
        assert!(
            answer["error"].as_str().unwrap().contains(message),
            "{what}: {answer}"
        );
    }
    // Oversized: 413, counted.
    let big = format!(
        "{{\"to\":\"{MOBILE}\",\"payee\":\"{}\"}}",
        "x".repeat(20_000)
    );
    let (s, answer) = tb
        .post_raw("/v1/verifications", "application/json", big.into_bytes())
        .await;
    assert_eq!(
        (s, answer["code"].as_str()),
        (413, Some("body_too_large")),
        "{answer}"
    );
    assert_eq!(
        tb.metric("verifier_overload_total{what=\"body_too_large\"}")
            .await,
        1
    );
    // Queries and routes.
    assert_eq!(tb.get("/v1/decisions?rule=nope").await.0, 400);
    assert_eq!(tb.get("/v1/decisions?verdict=maybe").await.0, 400);
    assert_eq!(tb.get("/v1/blocklist?source=everyone").await.0, 400);
    assert_eq!(tb.get("/v1/nowhere").await.0, 404);
    let r = tb
        .http
        .delete(format!("{}/v1/blocklist?number=%2B447700900999", tb.api))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Nothing changed.
    assert_eq!(tb.metric("verifier_verifications_started_total").await, 0);
    assert_eq!(tb.verifier.stats().pending, 0);
    assert!(tb.inbox(MOBILE, "sms").await.is_empty());
    assert_eq!(tb.get("/v1/blocklist").await.1["counts"]["customer"], 0);
    tb.shutdown().await;
}

#[tokio::test]
async fn bad_twilio_forms_and_credentials_get_twilios_errors() {
    let tb = Testbed::start(|c| {
        c.api.twilio = Some(TwilioAuth {
            account_sid: "AC".to_string() + &"b".repeat(32),
            auth_token: "token".into(),
        });
    })
    .await;
    let url = format!("{}/v2/Services/{SERVICE}/Verifications", tb.api);
    let send = |auth: Option<(&str, &str)>, body: &str| {
        let mut r = tb
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        if let Some((u, p)) = auth {
            r = r.basic_auth(u, Some(p));
        }
        common::send(r)
    };
    let sid = "AC".to_string() + &"b".repeat(32);
    let good = Some((sid.as_str(), "token"));
    for (auth, body, status, code, words) in [
        (
            None,
            "To=%2B447700900123&Channel=sms",
            401,
            20003,
            "Authentication",
        ),
        (
            Some((sid.as_str(), "wrong")),
            "To=%2B447700900123&Channel=sms",
            401,
            20003,
            "Authentication",
        ),
        (good, "Channel=sms", 400, 60200, "`To`"),
        (good, "To=%2B447700900123", 400, 60200, "`Channel`"),
        (
            good,
            "To=%2B447700900123&Channel=whatsapp",
            400,
            60200,
            "`Channel`",
        ),
        (good, "To=hello&Channel=sms", 400, 60200, "`To`"),
        (
            good,
            "To=%2B447700900123&Channel=sms&Amount=1",
            400,
            60200,
            "`Payee`",
        ),
    ] {
        let (s, answer) = send(auth, body).await;
        assert_eq!(
            (s, answer["code"].as_u64()),
            (status, Some(code)),
            "{body}: {answer}"
        );
        assert_eq!(answer["status"], status);
        assert!(
            answer["message"].as_str().unwrap().contains(words),
            "{body}: {answer}"
        );
        assert_eq!(
            answer["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}")
        );
    }
    let (s, answer) = send(
        good,
        &format!(
            "To=%2B447700900123&Channel=sms&Payee={}",
            "x".repeat(20_000)
        ),
    )
    .await;
    assert_eq!((s, answer["code"].as_u64()), (413, Some(60200)), "{answer}");
    let r = tb
        .http
        .post(format!("{}/v2/Services/nope/Verifications", tb.api))
        .basic_auth(&sid, Some("token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("To=%2B447700900123&Channel=sms")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], 20404);
    assert_eq!(tb.metric("verifier_verifications_started_total").await, 0);
    assert!(tb.inbox(MOBILE, "sms").await.is_empty());
    tb.shutdown().await;
}

#[tokio::test]
async fn api_keys_are_required_when_configured() {
    let key = "k-0123456789abcdef";
    let tb = Testbed::start(|c| {
        c.api.keys = vec![ApiKey {
            account: "acme".into(),
            key: key.into(),
        }]
    })
    .await;
    let start = |auth: Option<(&'static str, String)>| {
        let mut r = tb
            .http
            .post(format!("{}/v1/verifications", tb.api))
            .json(&json!({ "to": MOBILE }));
        if let Some((h, v)) = auth {
            r = r.header(h, v);
        }
        common::send(r)
    };
    assert_eq!(start(None).await.0, 401);
    assert_eq!(
        start(Some((
            "authorization",
            "Bearer wrong-key-0123456789".into()
        )))
        .await
        .0,
        401
    );
    assert_eq!(start(Some(("x-api-key", "wrong".into()))).await.0, 401);
    assert_eq!(tb.metric("verifier_verifications_started_total").await, 0);
    let (s, body) = start(Some(("authorization", format!("Bearer {key}")))).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["account"], "acme");
    let (s, _) = start(Some(("x-api-key", key.into()))).await;
    assert_eq!(s, 201);
    // /metrics stays open for scrapers.
    assert_eq!(tb.metric("verifier_verifications_started_total").await, 1);
    tb.shutdown().await;
}
