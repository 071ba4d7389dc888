//! The in-process client (`Running::local`) answers as `/v1` does: the same verification is
//! seen by both, refusals carry the `/v1` status, code and rule, and the attempt record lists
//! the carrier that sent the code.

mod common;

use common::{LANDLINE, MOBILE, PREMIUM, Testbed};
use verifier::{LocalCheck, LocalStart};

#[tokio::test]
async fn local_calls_answer_as_the_http_api_does() {
    let tb = Testbed::start(|_| {}).await;
    let local = tb.verifier.local();

    let started = local
        .start(LocalStart {
            to: MOBILE.into(),
            channel: Some("sms".into()),
            ..LocalStart::default()
        })
        .await
        .expect("started");
    assert!(started.id.starts_with("VE"), "{started:?}");
    assert_eq!(started.channel, "sms");
    // The same verification over HTTP.
    let record = tb.record(&started.id).await;
    assert_eq!(record["to"], MOBILE);

    let code = tb.code(MOBILE, "sms", 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        local.check(Some(&started.id), None, wrong),
        Ok(LocalCheck::WrongCode)
    );
    assert_eq!(
        local.check(None, Some(MOBILE), &code),
        Ok(LocalCheck::Approved)
    );
    let attempts = local.attempts(&started.id).expect("a record");
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].channel, attempts[0].carrier.as_str()),
        ("sms", "alpha")
    );
    assert_eq!(attempts[0].failover_cause, None);

    // Ended: a check is a 404, as over HTTP.
    let gone = local
        .check(Some(&started.id), None, &code)
        .expect_err("ended");
    assert_eq!((gone.status, gone.code), (404, "not_found"));

    // Refusals: the /v1 status, code and rule.
    let blocked = local
        .start(LocalStart {
            to: PREMIUM.into(),
            ..LocalStart::default()
        })
        .await
        .expect_err("premium is refused");
    assert_eq!(
        (blocked.status, blocked.code, blocked.rule),
        (403, "blocked", Some("line_type"))
    );
    let landline = local
        .start(LocalStart {
            to: LANDLINE.into(),
            channel: Some("sms".into()),
            ..LocalStart::default()
        })
        .await
        .expect_err("no SMS to a landline");
    assert_eq!((landline.status, landline.code), (400, "sms_to_landline"));
    let bad = local
        .start(LocalStart {
            to: MOBILE.into(),
            channel: Some("pigeon".into()),
            ..LocalStart::default()
        })
        .await
        .expect_err("bad channel");
    assert_eq!((bad.status, bad.code), (400, "invalid_request"));
    assert!(bad.message.contains("pigeon"), "{bad}");
    assert!(local.attempts("VEnot-an-id").is_none());
    tb.shutdown().await;
}
