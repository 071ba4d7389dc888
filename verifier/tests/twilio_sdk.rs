//! The Twilio-compatible endpoints (issue 9, point 3) driven by Twilio's official Python SDK
//! (PyPI `twilio`, installed by `scripts/install-peers.sh`), pointed at the verifier through a
//! host-rewriting HTTP client: `verifications.create`, `fetch`, `update`, and
//! `verification_checks.create`, with Twilio's statuses and error codes, and Basic auth.
//! Without the SDK the test fails with the install hint: it must not pass by not running.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Testbed, alpha_beta};
use verifier::config::TwilioAuth;

const ACCOUNT_SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const AUTH_TOKEN: &str = "local-auth-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_twilio_sdk_creates_and_checks_verifications() {
    let probe = Command::new("python3")
        .args(["-c", "import twilio"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "python3 with Twilio's SDK is needed: run `bash scripts/install-peers.sh` (it installs the pinned `twilio` from PyPI)"
        ),
    }
    let tb = Testbed::with(alpha_beta(20.0, false), Duration::from_secs(5), |c| {
        c.api.twilio = Some(TwilioAuth {
            account_sid: ACCOUNT_SID.into(),
            auth_token: AUTH_TOKEN.into(),
        });
    })
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/twilio/verify_flow.py");
    let (api, control) = (tb.api.clone(), tb.control.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, &api, &control, ACCOUNT_SID, AUTH_TOKEN])
            .output()
    })
    .await
    .expect("join")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the SDK script failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all ok"), "{stdout}");
    tb.shutdown().await;
}
